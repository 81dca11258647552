//! OpenID Connect against a Keycloak realm (or any OpenID provider): discovery, the
//! authorization code flow with PKCE and nonce, refresh, bearer tokens and logout URLs.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::reqwest;
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutProviderMetadata, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::claims::{Identity, identity};
use super::keys::{Claims, Expect, JwtError, Keys, TokenKind, at_hash_matches};
use super::token_endpoint::TokenEndpoint;
use crate::config::OidcConfig;
use crate::readiness::ReadinessCheck;
use crate::route::Route;
use crate::session::{LoginAttempt, ProviderKind, Session, Tokens, unix_now};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery tells beyond the core metadata: the end-session endpoint, and whether the
/// provider puts `iss` on every authorization response (RFC 9207).
type Metadata = ProviderMetadata<
    LogoutProviderMetadata<IssParameter>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct IssParameter {
    /// Kept as any JSON value so a malformed one does not fail discovery; only `true` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_response_iss_parameter_supported: Option<Value>,
}

impl AdditionalProviderMetadata for IssParameter {}
/// An unknown `kid` reloads the JWKS at most this often.
const JWKS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// How often discovery is read again once it succeeded (rotated keys, changed endpoints).
const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(600);
/// How often a discovered provider is asked whether it still answers: an outage that began
/// after discovery is noticed within this long (and its end too), so sign-in shows the
/// unavailable page instead of sending browsers to a provider that is not there.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// The first wait before discovery is tried again; doubled up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

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
    /// The provider promises `iss` on every callback (RFC 9207): one without is refused.
    callback_iss_required: bool,
}

pub struct Oidc {
    config: OidcConfig,
    issuer: String,
    redirect_url: RedirectUrl,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    last_error: RwLock<String>,
    /// Why the provider did not answer the latest probe; `None` while it answers. Discovery
    /// stays as it was meanwhile: sessions and tokens are still checked with the keys known.
    outage: RwLock<Option<String>>,
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
            .join(Route::Callback.relative())
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
            outage: RwLock::new(None),
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
        let result = Metadata::discover_async(issuer, &self.http).await;
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
        let callback_iss_required = metadata
            .additional_metadata()
            .additional_metadata
            .authorization_response_iss_parameter_supported
            == Some(Value::Bool(true));
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
            callback_iss_required,
        }));
        // The redirect URI is named once here: a client at the provider that does not list it
        // stops every sign-in on the provider's own page ("Invalid parameter: redirect_uri"
        // at Keycloak), which Sekisho never sees.
        tracing::info!(
            issuer = %self.issuer,
            client_id = %self.config.client_id,
            redirect_uri = %self.redirect_url.as_str(),
            "identity provider discovered"
        );
        Ok(())
    }

    /// Retries discovery with backoff until it succeeds, then re-reads it now and then so
    /// rotated keys and changed endpoints are picked up, probing the provider in between.
    pub fn spawn_discovery(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = FIRST_RETRY_DELAY;
            loop {
                match this.discover().await {
                    Ok(()) => {
                        delay = FIRST_RETRY_DELAY;
                        this.note_probe(Ok(()));
                        this.watch(REDISCOVERY_INTERVAL).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?delay, "identity provider not reachable");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_RETRY_DELAY);
                    }
                }
            }
        })
    }

    /// Probes the provider every [`PROBE_INTERVAL`] for `period`.
    async fn watch(&self, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            tokio::time::sleep(PROBE_INTERVAL).await;
            let answer = self.probe().await;
            self.note_probe(answer);
        }
    }

    /// Asks for the discovery document: whether the provider answers, nothing else read.
    async fn probe(&self) -> Result<(), String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::error::error_chain(&e)))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url} answered {}", response.status()))
        }
    }

    /// Remembers a probe's answer; the start and the end of an outage are logged once each.
    fn note_probe(&self, answer: Result<(), String>) {
        let mut outage = self.outage.write().unwrap_or_else(|p| p.into_inner());
        match (answer, outage.is_some()) {
            (Ok(()), true) => {
                tracing::info!(issuer = %self.issuer, "identity provider reachable again");
                *outage = None;
            }
            (Err(why), false) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %why,
                    "identity provider unreachable; sign-in is unavailable until it answers, \
                     sessions stand"
                );
                *outage = Some(why);
            }
            (Err(why), true) => *outage = Some(why),
            (Ok(()), false) => {}
        }
    }

    /// The provider, if discovered and answering probes.
    fn answering(&self) -> Result<Arc<Discovered>, OidcError> {
        let discovered = self.current()?;
        match &*self.outage.read().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Err(OidcError::Unavailable(why.clone())),
            None => Ok(discovered),
        }
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

    /// The provider's authorization URL for a new attempt that returns to `rd`; refused while
    /// the provider does not answer (a browser sent there would find nothing).
    pub fn login_redirect(&self, rd: String) -> Result<LoginRedirect, OidcError> {
        let discovered = self.answering()?;
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
            provider: ProviderKind::Oidc,
            state: state.secret().clone(),
            nonce: Some(nonce.secret().clone()),
            pkce_verifier: Some(verifier.secret().clone()),
            rd,
            expires_at: LoginAttempt::expiry(),
        };
        Ok(LoginRedirect { url, attempt })
    }

    /// Checks the `iss` the provider put on the callback (RFC 9207): when present it must be
    /// ours, and when discovery promised it (`authorization_response_iss_parameter_supported`)
    /// it must be present, so that a response from another provider cannot be mixed in.
    pub fn check_callback_issuer(&self, iss: Option<&str>) -> Result<(), OidcError> {
        let required = self.current()?.callback_iss_required;
        check_iss_parameter(&self.issuer, required, iss)
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
            .request_async(&TokenEndpoint(&self.http))
            .await
            .map_err(|e| token_error("code exchange", e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Rejected("token response has no ID token".into()))?
            .to_string();
        let claims = self
            .verify_id_token(&id_token, Some(nonce.secret()))
            .await?;
        let access_token = response.access_token().secret().clone();
        if !at_hash_matches(&id_token, &claims, &access_token) {
            return Err(OidcError::Rejected(
                "the access token is not the one the ID token names (at_hash)".into(),
            ));
        }
        let merged = self.merge_access_token_claims(claims, &access_token).await;
        let identity = self.identity(&merged).map_err(OidcError::Rejected)?;
        if let Some(why) = response
            .expires_in()
            .and_then(|lifespan| always_due(lifespan, self.config.refresh_before_expiry))
        {
            tracing::warn!(user = %identity.user, "{why}");
        }
        // The access token is kept only when apps get it: it is the largest part of a cookie
        // session, and Sekisho itself needs only its expiry.
        let tokens = Tokens {
            access_token: self.config.pass_access_token.then_some(access_token),
            id_token: Some(id_token),
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
            .request_async(&TokenEndpoint(&self.http))
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
        let new_id_token = response.id_token().map(ToString::to_string);
        let claims = self
            .refreshed_claims(session, new_id_token.as_deref(), &access_token)
            .await
            .map_err(|why| {
                // Not a routine end: the provider answered with tokens this session may not have.
                tracing::warn!(user = %session.user, reason = %why, "refreshed tokens refused; ending the session");
                RefreshError::Ended(why)
            })?;
        let mut refreshed = session.clone();
        if let Ok(identity) = self.identity(&claims) {
            apply_identity(&mut refreshed, identity);
        }
        refreshed.tokens = Some(Tokens {
            access_token: self.config.pass_access_token.then_some(access_token),
            id_token: new_id_token.or(old.id_token),
            refresh_token: response
                .refresh_token()
                .map(|t| t.secret().clone())
                .or(old.refresh_token),
            access_expires_at: response.expires_in().map(|d| unix_now() + d.as_secs()),
        });
        Ok(refreshed)
    }

    /// The claims of a refresh's tokens, once they are shown to be about the user who signed
    /// in (OpenID Connect Core 12.2): a new ID token must verify and name the same `sub` (its
    /// `iss` is checked against ours with every token); without one, an access token that
    /// names anyone else ends the session too, verified or not. Empty claims when nothing
    /// verifiable came back: the identity then stays as it was.
    async fn refreshed_claims(
        &self,
        session: &Session,
        id_token: Option<&str>,
        access_token: &str,
    ) -> Result<Claims, String> {
        let subject = session.subject.as_deref().unwrap_or_default();
        let about = |claims: &Claims| claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        if let Some(id_token) = id_token {
            // A refreshed ID token may omit the nonce; everything else is checked as at login.
            let claims = self
                .verify_id_token(id_token, None)
                .await
                .map_err(|e| e.to_string())?;
            if about(&claims).as_deref() != Some(subject) {
                return Err(format!(
                    "the refreshed ID token is about `{}`, not the signed-in `{subject}`",
                    about(&claims).unwrap_or_default()
                ));
            }
            if !at_hash_matches(id_token, &claims, access_token) {
                return Err("the refreshed access token is not the one the ID token names".into());
            }
            return Ok(self.merge_access_token_claims(claims, access_token).await);
        }
        // No ID token: read what the access token says, before trusting any of it.
        if let Some(unverified) = jwt_payload(access_token) {
            let iss = unverified.get("iss").and_then(Value::as_str);
            let sub = about(&unverified);
            if sub.as_deref().is_some_and(|s| s != subject)
                || iss.is_some_and(|i| i.trim_end_matches('/') != self.issuer)
            {
                return Err(format!(
                    "the refreshed access token is about `{}` of `{}`, not the signed-in `{subject}`",
                    sub.unwrap_or_default(),
                    iss.unwrap_or_default()
                ));
            }
        }
        match self
            .verify_jwt(access_token, &self.expect(TokenKind::Access, None, None))
            .await
        {
            Ok(claims) if about(&claims).as_deref() == Some(subject) => Ok(claims),
            // Opaque, unverifiable, or without a subject: nothing in it is taken.
            _ => Ok(Claims::new()),
        }
    }

    /// The identity of an API client's bearer token, if the realm issued it for us as an
    /// access token (never an ID or logout token: see [`TokenKind::Access`]).
    pub async fn verify_bearer(&self, token: &str) -> Result<Session, OidcError> {
        let expect = self.expect(TokenKind::Access, Some(&self.config.bearer_audiences), None);
        let claims = self.verify_jwt(token, &expect).await?;
        let identity = self.identity(&claims).map_err(OidcError::Rejected)?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_else(unix_now);
        let mut session = session_for(identity, empty_tokens(), Duration::ZERO);
        session.expires_at = exp;
        session.provider = Some(ProviderKind::Bearer);
        Ok(session)
    }

    /// What a token of `kind` from this provider must satisfy.
    pub(super) fn expect<'a>(
        &'a self,
        kind: TokenKind,
        audiences: Option<&'a [String]>,
        nonce: Option<&'a str>,
    ) -> Expect<'a> {
        Expect {
            kind,
            issuer: &self.issuer,
            client_id: &self.config.client_id,
            audiences,
            nonce,
            clock_skew: self.config.clock_skew.as_secs(),
        }
    }

    /// Verifies a JWT against the current keys. A `kid` our JWKS does not hold reloads the
    /// keys (at most once per interval) and tries again: that is how a key the provider added
    /// after we started is picked up.
    pub async fn verify_jwt(&self, token: &str, expect: &Expect<'_>) -> Result<Claims, OidcError> {
        let discovered = self.current()?;
        match discovered.keys.verify(token, expect) {
            // Another issuer's token (another realm's): its keys are not ours to look for, and
            // reloading for it would spend the reload interval a real key rotation may need.
            Err(JwtError::UnknownKey(_)) if !issued_by(token, expect.issuer) => {
                Err(OidcError::Rejected("wrong issuer".into()))
            }
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

    /// An ID token's claims, checked like every other token (see [`Keys::verify`]); with the
    /// login attempt's nonce at sign-in.
    async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<Claims, OidcError> {
        self.verify_jwt(id_token, &self.expect(TokenKind::Id, None, nonce))
            .await
            .map_err(|e| match e {
                OidcError::Rejected(why) => OidcError::Rejected(format!("ID token: {why}")),
                other => other,
            })
    }

    /// Keycloak puts roles in the access token only (by default): add its claims where the
    /// ID token has none. They count only when the access token verifies and is bound to the
    /// ID token's user: same `sub` and `iss` (`at_hash`, when there is one, is checked by the
    /// caller). Otherwise the ID token's claims stand alone.
    async fn merge_access_token_claims(&self, mut claims: Claims, access_token: &str) -> Claims {
        let expect = self.expect(TokenKind::Access, None, None);
        let extra = match self.verify_jwt(access_token, &expect).await {
            Ok(extra) => extra,
            Err(e) => {
                tracing::debug!(error = %e, "access token claims not used");
                return claims;
            }
        };
        let bound = ["sub", "iss"]
            .iter()
            .all(|name| extra.get(*name).is_some() && extra.get(*name) == claims.get(*name));
        if !bound {
            tracing::warn!(
                "access token is about another user than the ID token; its claims are not used"
            );
            return claims;
        }
        for (key, value) in extra {
            claims.entry(key).or_insert(value);
        }
        claims
    }

    fn identity(&self, claims: &Claims) -> Result<Identity, String> {
        identity(claims, &self.config.claims)
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
        ProviderKind::Oidc.as_str()
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

/// RFC 9207: `iss` on the callback, when present, must be `issuer`; when `required` (the
/// provider advertises it) it must be present.
fn check_iss_parameter(issuer: &str, required: bool, iss: Option<&str>) -> Result<(), OidcError> {
    match iss {
        Some(iss) if iss.trim_end_matches('/') != issuer => Err(OidcError::Rejected(format!(
            "callback from issuer `{iss}`, expected `{issuer}`"
        ))),
        None if required => Err(OidcError::Rejected(
            "callback without iss, which the provider promises on every response (RFC 9207)".into(),
        )),
        _ => Ok(()),
    }
}

/// Why an access token that lives `lifespan` is due for refresh the moment it arrives (it
/// lives no longer than `oidc.refresh_before_expiry`, the `margin`): every request of the
/// session would then go to the provider. `None` when it is not.
fn always_due(lifespan: Duration, margin: Duration) -> Option<String> {
    (lifespan <= margin).then(|| {
        format!(
            "the provider's access tokens live {}s, no longer than oidc.refresh_before_expiry \
             ({}s): every request refreshes them; lengthen the provider's token lifespan \
             (Keycloak: Realm settings > Tokens > Access Token Lifespan, or the client's \
             Advanced settings) or shorten oidc.refresh_before_expiry",
            lifespan.as_secs(),
            margin.as_secs()
        )
    })
}

/// Whether `jwt` says (unverified) that `issuer` issued it: only ever used to refuse early.
fn issued_by(jwt: &str, issuer: &str) -> bool {
    jwt_payload(jwt).is_some_and(|claims| claims.get("iss").and_then(Value::as_str) == Some(issuer))
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
    session.provider = Some(ProviderKind::Oidc);
    apply_identity(&mut session, identity);
    session.tokens = Some(tokens);
    session
}

fn apply_identity(session: &mut Session, identity: Identity) {
    session.user = identity.user;
    session.email = identity.email;
    session.email_verified = identity.email_verified;
    session.preferred_username = identity.preferred_username;
    session.groups = identity.groups;
    session.roles = identity.roles;
    session.subject = identity.subject;
    session.idp_session = identity.sid;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://idp.example/realms/demo";

    #[test]
    fn callback_iss_parameter() {
        let cases = [
            (false, None, true),
            (false, Some(ISSUER), true),
            (false, Some("https://idp.example/realms/demo/"), true),
            (false, Some("https://evil.example/realms/demo"), false),
            (true, None, false),
            (true, Some(ISSUER), true),
            (true, Some("https://idp.example/realms/other"), false),
            (true, Some(""), false),
        ];
        for (required, iss, ok) in cases {
            assert_eq!(
                check_iss_parameter(ISSUER, required, iss).is_ok(),
                ok,
                "required {required}, iss {iss:?}"
            );
        }
    }

    #[test]
    fn another_issuers_token_is_told_apart_before_its_keys_are_looked_for() {
        let token = |claims: serde_json::Value| {
            let b64 = |v: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            format!(
                "{}.{}.sig",
                b64(r#"{"alg":"RS256","kid":"k9"}"#.into()),
                b64(claims.to_string())
            )
        };
        assert!(issued_by(
            &token(serde_json::json!({"iss": ISSUER})),
            ISSUER
        ));
        for other in [
            token(serde_json::json!({"iss": "https://idp.example/realms/other"})),
            token(serde_json::json!({"iss": format!("{ISSUER}/")})),
            token(serde_json::json!({"sub": "no issuer"})),
            "not-a-jwt".to_owned(),
        ] {
            assert!(!issued_by(&other, ISSUER), "{other}");
        }
    }

    #[test]
    fn access_tokens_due_on_arrival_are_told() {
        let secs = Duration::from_secs;
        assert_eq!(always_due(secs(300), secs(60)), None);
        assert_eq!(always_due(secs(61), secs(60)), None);
        let why = always_due(secs(60), secs(60)).expect("due on arrival");
        assert!(
            why.contains("live 60s") && why.contains("Access Token Lifespan"),
            "{why}"
        );
        assert!(always_due(secs(0), secs(60)).is_some());
    }

    #[test]
    fn discovery_reads_the_iss_promise() {
        let read = |doc: serde_json::Value| {
            serde_json::from_value::<IssParameter>(doc)
                .unwrap()
                .authorization_response_iss_parameter_supported
                == Some(Value::Bool(true))
        };
        assert!(read(
            serde_json::json!({"authorization_response_iss_parameter_supported": true})
        ));
        assert!(!read(
            serde_json::json!({"authorization_response_iss_parameter_supported": false})
        ));
        assert!(!read(
            serde_json::json!({"authorization_response_iss_parameter_supported": "yes"})
        ));
        assert!(!read(serde_json::json!({})));
    }
}
