//! The whole sign-in stack on loopback, for the login end-to-end tests:
//!
//! - the OpenID provider ([`super::oidc_provider`], the real npm `oidc-provider` in Keycloak's
//!   layout), or, for the "issuer down" case, only the port it will later listen on;
//! - the app: the echoing [`super::upstream::Upstream`];
//! - Sekisho, configured for the provider, its `public_url` being nginx's address (so its
//!   redirect URI is `http://127.0.0.1:NGINX/oauth2/callback`);
//! - nginx with `config/nginx/oidc.conf`: `auth_request` on `/` and `/admin/` (the latter
//!   narrowed to `allowed_groups=admins`), 401 turned into `/oauth2/sign_in`, `/oauth2/`
//!   proxied to Sekisho;
//! - optionally the [`super::token_proxy::TokenProxy`] as Sekisho's `http_proxy`.
//!
//! nginx must know Sekisho's address before Sekisho knows nginx's, so Sekisho is given a port
//! that was free a moment before (retried if someone took it meanwhile).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use toml::Table;

use super::browser_client::{Browser, Page, query_param};
use super::http::{Client, Response};
use super::nginx::Nginx;
use super::oidc_provider::{OidcOptions, OidcProvider};
use super::ports::free_port;
use super::sekisho::Sekisho;
use super::token_proxy::TokenProxy;
use super::upstream::Upstream;

pub const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/nginx/oidc.conf");
pub const SECRET: &str = "oidc-end-to-end-test-secret-of-at-least-32-bytes";
/// In Sekisho's `trusted_ips`: let through without a session.
pub const TRUSTED_CLIENT: &str = "203.0.113.7";
pub const CLIENT_ID: &str = "sekisho";
pub const CLIENT_SECRET: &str = "sekisho-secret";

/// Users of the provider (its README).
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");

/// How long Sekisho may take to become ready (discovery, keys) once the provider is up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Attempts at giving Sekisho a port nobody else took.
const PORT_ATTEMPTS: usize = 3;

/// What to start, and how to configure Sekisho.
pub struct StackOptions {
    pub provider: OidcOptions,
    /// Do not start the provider; Sekisho's `issuer_url` names `provider.port` (which must
    /// then be set) where nothing listens yet. See [`OidcStack::start_provider`].
    pub provider_down: bool,
    /// A provider running elsewhere (Keycloak): Sekisho's `issuer_url`; no lookalike starts.
    pub external_issuer: Option<String>,
    /// Put a [`TokenProxy`] between Sekisho and the provider (`http_proxy`).
    pub token_proxy: bool,
    /// Sekisho settings on top of the base configuration: dotted keys
    /// (`oidc.accept_bearer_tokens`, `authorization.allowed_groups`).
    pub settings: Vec<(String, toml::Value)>,
    /// Wait until `/ready` answers 200 before returning (not when the provider is down).
    pub wait_ready: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            provider: OidcOptions::default(),
            provider_down: false,
            external_issuer: None,
            token_proxy: false,
            settings: Vec::new(),
            wait_ready: true,
        }
    }
}

impl StackOptions {
    /// The provider's access tokens live `secs` seconds (refresh tests).
    pub fn access_tokens_for(secs: u64) -> Self {
        Self {
            provider: OidcOptions {
                access_token_ttl: secs,
                ..OidcOptions::default()
            },
            ..Self::default()
        }
    }

    /// Sets Sekisho's `key` (dotted: `oidc.refresh_before_expiry`) to `value`.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.settings.push((key.to_owned(), value.into()));
        self
    }
}

/// A provider that prints everything it logged if the test panics.
pub struct Peer(pub OidcProvider);

impl std::ops::Deref for Peer {
    type Target = OidcProvider;
    fn deref(&self) -> &OidcProvider {
        &self.0
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- OIDC provider {} output -----\n{}----- end of OIDC provider output -----",
                self.0.issuer,
                self.0.output()
            );
        }
    }
}

/// Everything started for one test; stopped on drop (nginx, then Sekisho, then the rest).
pub struct OidcStack {
    pub nginx: Nginx,
    pub sekisho: Sekisho,
    pub provider: Option<Peer>,
    pub upstream: Upstream,
    pub proxy: Option<TokenProxy>,
    /// What Sekisho was configured with.
    pub config: String,
    issuer: String,
}

impl OidcStack {
    pub async fn start(options: StackOptions) -> Self {
        let provider = if options.external_issuer.is_some() {
            None
        } else if options.provider_down {
            assert_ne!(
                options.provider.port, 0,
                "provider_down needs the port the provider will listen on"
            );
            None
        } else {
            Some(Peer(OidcProvider::start(options.provider.clone())))
        };
        let issuer = match (&provider, &options.external_issuer) {
            (Some(provider), _) => provider.issuer.clone(),
            (None, Some(issuer)) => issuer.clone(),
            (None, None) => format!(
                "http://127.0.0.1:{}/realms/{}",
                options.provider.port, options.provider.realm
            ),
        };
        let upstream = Upstream::start().await;
        let proxy = if options.token_proxy {
            Some(TokenProxy::start().await)
        } else {
            None
        };

        let mut env: Vec<(String, String)> = Vec::new();
        match &proxy {
            // reqwest, like curl, takes `http_proxy` from the environment unless told not to.
            Some(proxy) => {
                for name in ["http_proxy", "HTTP_PROXY"] {
                    env.push((name.into(), proxy.url()));
                }
                for name in ["no_proxy", "NO_PROXY"] {
                    env.push((name.into(), String::new()));
                }
            }
            // Whatever proxy the machine running the tests has, the provider is local.
            None => {
                for name in ["no_proxy", "NO_PROXY"] {
                    env.push((name.into(), "127.0.0.1,localhost".into()));
                }
            }
        }

        let (nginx, sekisho, config) =
            start_behind_nginx(Path::new(TEMPLATE), &upstream, &env, |public_url| {
                sekisho_config(public_url, &issuer, &options.settings)
            })
            .await;
        let stack = Self {
            nginx,
            sekisho,
            provider,
            upstream,
            proxy,
            config,
            issuer,
        };
        if options.wait_ready && !options.provider_down {
            stack.wait_ready(READY_TIMEOUT).await;
        }
        stack
    }

    /// Starts the provider on the port Sekisho was told about (after `provider_down`).
    pub fn start_provider(&mut self, options: OidcOptions) {
        assert!(self.provider.is_none(), "the provider is already running");
        let provider = Peer(OidcProvider::start(options));
        assert_eq!(
            provider.issuer, self.issuer,
            "the provider came up with another issuer than the one Sekisho was given"
        );
        self.provider = Some(provider);
    }

    pub fn provider(&self) -> &OidcProvider {
        self.provider.as_deref().expect("the provider is running")
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn proxy(&self) -> &TokenProxy {
        self.proxy
            .as_ref()
            .expect("the stack was started with token_proxy")
    }

    /// nginx's URL for `path` (what a browser opens).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.nginx.addr())
    }

    /// `http://127.0.0.1:NGINX`
    pub fn origin(&self) -> String {
        format!("http://{}", self.nginx.addr())
    }

    /// Path of the provider's authorization endpoint.
    pub fn authorization_path(&self) -> String {
        format!("{}/protocol/openid-connect/auth", issuer_path(&self.issuer))
    }

    /// `GET path` straight to Sekisho (not through nginx), from 127.0.0.1.
    pub async fn sekisho_get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        Client::new().get(self.sekisho.addr(), path, headers).await
    }

    /// Polls `/ready` until it answers 200; panics with the last answer and Sekisho's log.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.sekisho_get("/ready", &[]).await;
            if response.status == 200 {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "sekisho's /ready still answers {} after {timeout:?} with the provider at {} up: {:?}",
                    response.status, self.issuer, response.body
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `path` on nginx in `browser`, signs in as `user` on the provider's form and
    /// follows every redirect; returns the last page. Panics, with the whole navigation,
    /// unless the form is shown and the browser ends up back at `path`.
    pub async fn login(&self, browser: &Browser, path: &str, user: (&str, &str)) -> Page {
        let target = self.url(path);
        let form = browser.navigate(&target).await;
        let page = browser.sign_in(&form, user.0, user.1).await;
        assert_eq!(
            (page.status, page.url.as_str()),
            (200, target.as_str()),
            "after signing in as {} the browser should be back at {target} with 200:\n{}{}",
            user.0,
            page.describe(),
            browser.describe_cookies()
        );
        page
    }

    /// Starts a login at `path` and stops just before the browser would request Sekisho's
    /// callback: the page's [`Page::next`] is the callback URL (code, state, iss).
    pub async fn login_until_callback(
        &self,
        browser: &Browser,
        path: &str,
        user: (&str, &str),
    ) -> Page {
        let form = browser.navigate(&self.url(path)).await;
        let page = browser
            .sign_in_until(&form, user.0, user.1, |url| {
                url.path() == "/oauth2/callback"
            })
            .await;
        assert!(
            page.next
                .as_ref()
                .is_some_and(|next| next.path() == "/oauth2/callback"),
            "signing in as {} should end in a redirect to Sekisho's callback:\n{}",
            user.0,
            page.describe()
        );
        page
    }

    /// `GET /oauth2/userinfo` through nginx with `browser`'s cookies.
    pub async fn userinfo(&self, browser: &Browser) -> Page {
        browser.get(&self.url("/oauth2/userinfo")).await
    }

    /// Asserts that `browser` holds no Sekisho session: no session cookie in its jar and
    /// `/oauth2/userinfo` answers 401. `context` says what just happened, for the message.
    pub async fn assert_no_session(&self, browser: &Browser, context: &str) {
        let cookies = browser.session_cookies();
        assert!(
            cookies.is_empty(),
            "{context}: the browser must not hold a session cookie, but has {}\n{}",
            cookies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            browser.describe_cookies()
        );
        let info = self.userinfo(browser).await;
        assert_eq!(
            info.status,
            401,
            "{context}: /oauth2/userinfo should answer 401 without a session:\n{}",
            info.describe()
        );
    }

    /// Sekisho's log lines (JSON) at warn level or above, and those mentioning `needle`,
    /// for failure messages.
    pub fn sekisho_log_excerpt(&self, needle: &str) -> String {
        self.sekisho
            .output()
            .lines()
            .into_iter()
            .filter(|line| {
                line.contains(needle)
                    || line.contains("\"WARN\"")
                    || line.contains("\"ERROR\"")
                    || !line.starts_with('{')
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The path part of an issuer URL (`/realms/demo`).
fn issuer_path(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// The base configuration, then `settings`.
pub fn sekisho_config(
    public_url: &str,
    issuer: &str,
    settings: &[(String, toml::Value)],
) -> String {
    let base = format!(
        r#"
public_url = "{public_url}"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["127.0.0.1/32"]

[session]
secret = "{SECRET}"
secure = false

[oidc]
issuer_url = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "profile", "email"]
user_claim = "preferred_username"
groups_claim = "groups"
"#
    );
    let mut table: Table = base.parse().expect("the base configuration is TOML");
    for (key, value) in settings {
        let mut path: Vec<&str> = key.split('.').collect();
        let last = path.pop().expect("a key");
        let mut current = &mut table;
        for section in path {
            current = current
                .entry(section)
                .or_insert_with(|| toml::Value::Table(Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{section} in {key} is not a table"));
        }
        current.insert(last.to_owned(), value.clone());
    }
    toml::to_string(&table).expect("configuration serialises")
}

/// nginx (`template`, in front of `upstream`) and Sekisho behind it, configured by `config`
/// for nginx's public URL: nginx must know Sekisho's address before Sekisho knows nginx's,
/// so Sekisho gets a port that was free a moment before, retried if another process took it
/// meanwhile. Returns them and the configuration Sekisho runs with.
pub async fn start_behind_nginx(
    template: &Path,
    upstream: &Upstream,
    env: &[(String, String)],
    config: impl Fn(&str) -> String,
) -> (Nginx, Sekisho, String) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sekisho_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let nginx = Nginx::start(
            template,
            &[
                ("SEKISHO", &sekisho_addr.to_string()),
                ("UPSTREAM", &upstream.addr().to_string()),
            ],
        )
        .await;
        let config = config(&format!("http://{}", nginx.addr()));
        let mut with_listen = env.to_vec();
        with_listen.push(("SEKISHO_LISTEN".into(), sekisho_addr.to_string()));
        match start_sekisho(config.clone(), with_listen).await {
            Ok(sekisho) => return (nginx, sekisho, config),
            Err(message) if attempt < PORT_ATTEMPTS && message.contains("in use") => continue,
            Err(message) => panic!(
                "sekisho did not start (attempt {attempt}): {message}\nits configuration:\n{config}"
            ),
        }
    }
}

/// Starts Sekisho in its own task so a failed start (the harness panics) can be retried.
pub async fn start_sekisho(config: String, env: Vec<(String, String)>) -> Result<Sekisho, String> {
    tokio::spawn(async move {
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Sekisho::start_with_env(&config, &env).await
    })
    .await
    .map_err(|e| match e.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "sekisho's start panicked".to_owned()),
        Err(e) => e.to_string(),
    })
}

/// Tokens for `user`, obtained from `provider` as client `client_id` with the authorization
/// code flow (no Sekisho involved): the provider's sign-in form submitted by a fresh browser,
/// the code exchanged at the token endpoint. `nonce` goes into the authorization request.
/// Returns the token response (`access_token`, `id_token`, `refresh_token`, ...).
pub async fn provider_tokens(
    provider: &OidcProvider,
    client: (&str, &str),
    user: (&str, &str),
    nonce: &str,
) -> Value {
    let (client_id, client_secret) = client;
    // Never contacted: the browser stops before following the redirect there.
    let redirect_uri = "http://127.0.0.1:9/direct-client/callback";
    let state = uuid::Uuid::new_v4().to_string();
    let mut auth = url::Url::parse(&provider.endpoint("auth")).expect("endpoint URL");
    auth.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &state)
        .append_pair("nonce", nonce);
    let browser = Browser::new();
    let is_redirect_uri = |url: &url::Url| url.as_str().starts_with(redirect_uri);
    let form = browser.navigate_until(auth.as_str(), is_redirect_uri).await;
    let page = browser
        .sign_in_until(&form, user.0, user.1, is_redirect_uri)
        .await;
    let callback = page.next.clone().unwrap_or_else(|| {
        panic!(
            "direct login as {} for client {client_id} did not come back with a code:\n{}",
            user.0,
            page.describe()
        )
    });
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(state.as_str())
    );
    let code = query_param(&callback, "code")
        .unwrap_or_else(|| panic!("no code in the provider's redirect {callback}"));

    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", redirect_uri)
        .finish();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{client_id}:{client_secret}"))
    );
    let response = Client::new()
        .request(
            SocketAddr::from((Ipv4Addr::LOCALHOST, provider.port)),
            "POST",
            &format!(
                "{}/protocol/openid-connect/token",
                issuer_path(&provider.issuer)
            ),
            &[
                ("Authorization", &basic),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .await
        .expect("token request to the provider");
    assert_eq!(
        response.status, 200,
        "code exchange for client {client_id} failed: {}",
        response.body
    );
    let tokens: Value = serde_json::from_str(&response.body).expect("token response is JSON");
    assert!(
        tokens["access_token"].is_string() && tokens["id_token"].is_string(),
        "token response without tokens: {tokens}"
    );
    tokens
}
