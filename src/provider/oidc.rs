//! OpenID Connect against a Keycloak realm (or any OpenID provider): discovery, the
//! authorization code flow with PKCE and nonce, refresh, bearer tokens and logout URLs.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreErrorResponseType};
use openidconnect::reqwest;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::claims::{Identity, identity};
use super::keys::{Claims, Expect, JwtError, Keys};
use crate::config::OidcConfig;
use crate::readiness::ReadinessCheck;
use crate::session::{LoginAttempt, Session, Tokens, unix_now};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Clock skew tolerated on token times.
const LEEWAY_SECS: u64 = 60;
/// An unknown `kid` reloads the JWKS at most this often.
const JWKS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery has not succeeded (yet), or the provider did not answer.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer or the browser's callback failed a check.
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The provider no longer honours the refresh token: the session ended there.
    #[error("refresh refused: {0}")]
    Ended(String),
    /// The provider could not be asked; keep the session until it expires.
    #[error("refresh failed: {0}")]
    Transient(String),
}

struct Discovered {
    client: Client,
    end_session: Option<Url>,
    keys: Keys,
}

pub struct Oidc {
    config: OidcConfig,
    issuer: String,
    redirect_url: RedirectUrl,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    last_error: RwLock<String>,
    /// Serialises JWKS reloads; holds when the last one happened.
    reload: AsyncMutex<Option<Instant>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.issuer)
            .field("client_id", &self.config.client_id)
            .finish()
    }
}

/// What `/oauth2/start` needs: where to send the browser, and what to remember.
pub struct LoginRedirect {
    pub url: Url,
    pub attempt: LoginAttempt,
}

impl Oidc {
    pub fn new(config: OidcConfig, public_url: &Url) -> Result<Self, String> {
        let callback = public_url
            .join("oauth2/callback")
            .map_err(|e| e.to_string())?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("sekisho/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            issuer: config.issuer_url.as_str().trim_end_matches('/').to_owned(),
            redirect_url: RedirectUrl::from_url(callback),
            http: builder.build().map_err(|e| e.to_string())?,
            config,
            discovered: RwLock::new(None),
            last_error: RwLock::new("discovery has not run yet".into()),
            reload: AsyncMutex::new(None),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Loads the discovery document and the JWKS.
    pub async fn discover(&self) -> Result<(), OidcError> {
        let issuer = IssuerUrl::new(self.issuer.clone())
            .map_err(|e| OidcError::Unavailable(e.to_string()))?;
        let result = ProviderMetadataWithLogout::discover_async(issuer, &self.http).await;
        let metadata = match result {
            Ok(metadata) => metadata,
            Err(e) => {
                let reason = format!(
                    "discovery at {} failed: {}",
                    self.issuer,
                    crate::error::error_chain(&e)
                );
                *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = reason.clone();
                return Err(OidcError::Unavailable(reason));
            }
        };
        let keys = Keys::from_jwks(&serde_json::to_value(metadata.jwks()).unwrap_or_default());
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect_url.clone());
        *self.discovered.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Discovered {
            client,
            end_session,
            keys,
        }));
        tracing::info!(issuer = %self.issuer, "identity provider discovered");
        Ok(())
    }

    /// Retries discovery with backoff until it succeeds, then re-reads it now and then so
    /// rotated keys and changed endpoints are picked up.
    pub fn spawn_discovery(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                match this.discover().await {
                    Ok(()) => {
                        delay = Duration::from_millis(500);
                        tokio::time::sleep(Duration::from_secs(600)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?delay, "identity provider not reachable");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    }

    fn current(&self) -> Result<Arc<Discovered>, OidcError> {
        self.discovered
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                OidcError::Unavailable(
                    self.last_error
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                )
            })
    }

    /// The provider's authorization URL for a new attempt that returns to `rd`.
    pub fn login_redirect(&self, rd: String) -> Result<LoginRedirect, OidcError> {
        let discovered = self.current()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = discovered
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let attempt = LoginAttempt {
            provider: "oidc".into(),
            state: state.secret().clone(),
            nonce: Some(nonce.secret().clone()),
            pkce_verifier: Some(verifier.secret().clone()),
            rd,
            expires_at: LoginAttempt::expiry(),
        };
        Ok(LoginRedirect { url, attempt })
    }

    /// Checks the `iss` the provider put on the callback (RFC 9207), when it did.
    pub fn check_callback_issuer(&self, iss: Option<&str>) -> Result<(), OidcError> {
        match iss {
            Some(iss) if iss.trim_end_matches('/') != self.issuer => Err(OidcError::Rejected(
                format!("callback from issuer `{iss}`, expected `{}`", self.issuer),
            )),
            _ => Ok(()),
        }
    }

    /// Exchanges the code and verifies the ID token; the signed-in session on success.
    pub async fn finish_login(
        &self,
        code: String,
        attempt: &LoginAttempt,
        lifetime: Duration,
    ) -> Result<Session, OidcError> {
        let discovered = self.current()?;
        let verifier = attempt
            .pkce_verifier
            .clone()
            .ok_or_else(|| OidcError::Rejected("login state lacks PKCE".into()))?;
        let nonce = Nonce::new(
            attempt
                .nonce
                .clone()
                .ok_or_else(|| OidcError::Rejected("login state lacks a nonce".into()))?,
        );
        let request = discovered
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier));
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|e| token_error("code exchange", e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Rejected("token response has no ID token".into()))?;
        let claims = self
            .verify_id_token(&discovered, id_token, Some(&nonce))
            .await?;
        let access_token = response.access_token().secret().clone();
        let merged = self.merge_access_token_claims(&discovered, claims, &access_token);
        let identity = identity(&merged, &self.config.claims).map_err(OidcError::Rejected)?;
        // The access token is kept only when apps get it: it is the largest part of a cookie
        // session, and Sekisho itself needs only its expiry.
        let tokens = Tokens {
            access_token: self.config.pass_access_token.then_some(access_token),
            id_token: Some(id_token.to_string()),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            access_expires_at: response.expires_in().map(|d| unix_now() + d.as_secs()),
        };
        Ok(session_for(identity, tokens, lifetime))
    }

    /// A fresh session from the refresh token; identity re-read from the new tokens.
    pub async fn refresh(&self, session: &Session) -> Result<Session, RefreshError> {
        let discovered = self
            .current()
            .map_err(|e| RefreshError::Transient(e.to_string()))?;
        let old = session.tokens.clone().unwrap_or_else(empty_tokens);
        let refresh_token = old
            .refresh_token
            .clone()
            .ok_or_else(|| RefreshError::Ended("no refresh token".into()))?;
        let refresh_token = RefreshToken::new(refresh_token);
        let request = discovered
            .client
            .exchange_refresh_token(&refresh_token)
            .map_err(|e| RefreshError::Transient(e.to_string()))?;
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(ref r)
                    if *r.error() == CoreErrorResponseType::InvalidGrant =>
                {
                    RefreshError::Ended(r.to_string())
                }
                other => RefreshError::Transient(crate::error::error_chain(&other)),
            })?;
        let access_token = response.access_token().secret().clone();
        let mut claims = Claims::new();
        let mut id_token = old.id_token.clone();
        if let Some(new_id) = response.id_token() {
            // A refreshed ID token may omit the nonce; everything else is checked as at login.
            claims = self
                .verify_id_token(&discovered, new_id, None)
                .await
                .map_err(|e| RefreshError::Ended(e.to_string()))?;
            id_token = Some(new_id.to_string());
        }
        let merged = self.merge_access_token_claims(&discovered, claims, &access_token);
        let mut refreshed = session.clone();
        if let Ok(identity) = identity(&merged, &self.config.claims) {
            apply_identity(&mut refreshed, identity);
        }
        refreshed.tokens = Some(Tokens {
            access_token: self.config.pass_access_token.then_some(access_token),
            id_token,
            refresh_token: response
                .refresh_token()
                .map(|t| t.secret().clone())
                .or(old.refresh_token),
            access_expires_at: response.expires_in().map(|d| unix_now() + d.as_secs()),
        });
        Ok(refreshed)
    }

    /// The identity of an API client's bearer token, if the realm issued it for us.
    pub async fn verify_bearer(&self, token: &str) -> Result<Session, OidcError> {
        let audiences = self.config.bearer_audiences.clone();
        let expect = Expect {
            issuer: &self.issuer,
            audiences: Some(&audiences),
            leeway_secs: 0,
            require_exp: true,
        };
        let claims = self.verify_jwt(token, &expect).await?;
        // Only access tokens: an ID token (which travels in logout URLs and so in logs) or a
        // refresh token carries the same issuer and audience but must not open doors.
        let typ = claims.get("typ").and_then(serde_json::Value::as_str);
        if typ.is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) || claims.contains_key("nonce") {
            return Err(OidcError::Rejected(format!(
                "not an access token (typ {})",
                typ.unwrap_or("-")
            )));
        }
        let identity = identity(&claims, &self.config.claims).map_err(OidcError::Rejected)?;
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_else(unix_now);
        let mut session = session_for(identity, empty_tokens(), Duration::ZERO);
        session.expires_at = exp;
        session.provider = "bearer".into();
        Ok(session)
    }

    /// Verifies a JWT against the current keys, reloading them once if the key is unknown.
    pub async fn verify_jwt(&self, token: &str, expect: &Expect<'_>) -> Result<Claims, OidcError> {
        let discovered = self.current()?;
        match discovered.keys.verify(token, expect) {
            Err(JwtError::UnknownKey(kid)) => {
                self.reload_keys().await;
                self.current()?
                    .keys
                    .verify(token, expect)
                    .map_err(|e| OidcError::Rejected(format!("{e} (kid {kid})")))
            }
            other => other.map_err(|e| OidcError::Rejected(e.to_string())),
        }
    }

    /// Re-runs discovery unless that happened within the reload interval; concurrent callers
    /// wait for the one reload in progress.
    async fn reload_keys(&self) {
        let mut last = self.reload.lock().await;
        if last.is_some_and(|at| at.elapsed() < JWKS_RELOAD_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        tracing::info!("unknown signing key; reloading the provider's keys");
        if let Err(e) = self.discover().await {
            tracing::warn!(error = %e, "key reload failed");
        }
    }

    async fn verify_id_token(
        &self,
        discovered: &Discovered,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: Option<&Nonce>,
    ) -> Result<Claims, OidcError> {
        let check = |d: &Discovered| {
            let verifier = d.client.id_token_verifier();
            let result = match nonce {
                Some(nonce) => id_token.claims(&verifier, nonce).map(|_| ()),
                None => id_token
                    .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                    .map(|_| ()),
            };
            result.map_err(|e| e.to_string())
        };
        if let Err(first) = check(discovered) {
            if !first.contains("key") && !first.contains("signature") {
                return Err(OidcError::Rejected(format!("ID token: {first}")));
            }
            self.reload_keys().await;
            let reloaded = self.current()?;
            check(&reloaded).map_err(|e| OidcError::Rejected(format!("ID token: {e}")))?;
        }
        let claims = jwt_payload(&id_token.to_string())
            .ok_or_else(|| OidcError::Rejected("ID token payload unreadable".into()))?;
        // openidconnect leaves `azp` to the client: when present it must name us.
        if let Some(azp) = claims.get("azp").and_then(serde_json::Value::as_str) {
            if azp != self.config.client_id {
                return Err(OidcError::Rejected(format!(
                    "ID token issued to `{azp}`, not to us"
                )));
            }
        }
        Ok(claims)
    }

    /// Keycloak puts roles in the access token only (by default): add its claims where the
    /// ID token has none. The access token is used only if it verifies against the realm's keys.
    fn merge_access_token_claims(
        &self,
        discovered: &Discovered,
        mut claims: Claims,
        access_token: &str,
    ) -> Claims {
        let expect = Expect {
            issuer: &self.issuer,
            audiences: None,
            leeway_secs: LEEWAY_SECS,
            require_exp: false,
        };
        if let Ok(extra) = discovered.keys.verify(access_token, &expect) {
            for (key, value) in extra {
                claims.entry(key).or_insert(value);
            }
        }
        claims
    }

    /// Where to send the browser to end the provider's session, if the provider says.
    pub fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: &str) -> Option<Url> {
        let mut url = self.current().ok()?.end_session.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint);
            }
            query.append_pair("client_id", &self.config.client_id);
            query.append_pair("post_logout_redirect_uri", post_logout);
        }
        Some(url)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl ReadinessCheck for Oidc {
    fn name(&self) -> &str {
        "oidc"
    }

    fn status(&self) -> Result<(), String> {
        self.current().map(|_| ()).map_err(|e| e.to_string())
    }
}

fn token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    step: &str,
    e: RequestTokenError<RE, T>,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r) => OidcError::Rejected(format!("{step} refused: {r}")),
        RequestTokenError::Request(r) => {
            OidcError::Unavailable(format!("{step}: {}", crate::error::error_chain(&r)))
        }
        other => OidcError::Rejected(format!("{step}: {other}")),
    }
}

fn jwt_payload(jwt: &str) -> Option<Claims> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn empty_tokens() -> Tokens {
    Tokens {
        access_token: None,
        id_token: None,
        refresh_token: None,
        access_expires_at: None,
    }
}

fn session_for(identity: Identity, tokens: Tokens, lifetime: Duration) -> Session {
    let mut session = Session::new(identity.user.clone(), lifetime);
    session.provider = "oidc".into();
    apply_identity(&mut session, identity);
    session.tokens = Some(tokens);
    session
}

fn apply_identity(session: &mut Session, identity: Identity) {
    session.user = identity.user;
    session.email = identity.email;
    session.preferred_username = identity.preferred_username;
    session.groups = identity.groups;
    session.roles = identity.roles;
    session.subject = identity.subject;
    session.idp_session = identity.sid;
}
