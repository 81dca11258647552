//! Sekisho: an authentication gateway for apps behind nginx `auth_request` or in front of them
//! as a reverse proxy.
//!
//! [`app`] builds the whole HTTP service from a validated [`Config`]; [`server::run`] serves it.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod door;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod gate;
pub mod handler;
pub mod migrate;
pub mod net;
pub mod provider;
pub mod readiness;
pub mod response;
pub mod route;
pub mod server;
pub mod session;
pub mod stack;
pub mod telemetry;
pub mod upstream;

use std::sync::Arc;

pub use config::Config;

use auth::{Authenticator, IdentityHeaders, RedirectPolicy};
use config::StoreKind;
use handler::{AppState, SharedState};
use provider::{Oidc, Saml};
use readiness::Readiness;
use session::{
    CookieStore, CookieWriter, LoginCookies, RedisConnection, RedisStore, Replay, Sealer, Sessions,
};
use telemetry::Metrics;

/// The complete service for `config`: routes behind the full layer stack, as the server calls
/// it ([`server::App`]) and as a tower service (with the request's [`net::Origin`] in its
/// extensions). Must be called within a Tokio runtime: it starts the identity providers'
/// discovery in the background.
pub fn app(
    config: &Config,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = stack::StackResponse,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + server::App<Body = axum::body::Body>
+ Sync {
    stack::build(config, state(config))
}

fn state(config: &Config) -> AppState {
    let sealer = Sealer::new(&config.session.secret);
    let writer = CookieWriter::new(config.session.cookie.clone());
    let mut readiness = Readiness::default();
    let (sessions, login, replay) = match &config.session.store {
        StoreKind::Cookie => (
            Sessions::in_cookies(Arc::new(CookieStore::new(
                config.session.cookie.clone(),
                &config.session.secret,
            ))),
            LoginCookies::new(sealer, writer),
            Replay::default(),
        ),
        StoreKind::Redis(redis) => {
            let connection = Arc::new(
                RedisConnection::new(redis).expect("validated configuration builds a client"),
            );
            connection.spawn_upkeep();
            readiness.register(connection.clone());
            let store = Arc::new(RedisStore::new(
                connection,
                config.session.cookie.clone(),
                &config.session.secret,
                &redis.key_prefix,
                config.session.lifetime,
            ));
            (
                Sessions::in_redis(store.clone()),
                LoginCookies::new(sealer, writer).in_redis(store.clone()),
                Replay::Redis(store),
            )
        }
    };
    let oidc = config.oidc.clone().map(|oidc_config| {
        let oidc = Arc::new(
            Oidc::new(oidc_config, &config.public_url)
                .expect("validated configuration builds a client"),
        );
        oidc.spawn_discovery();
        readiness.register(oidc.clone());
        oidc
    });
    let saml = config.saml.clone().map(|saml_config| {
        let saml = Arc::new(Saml::new(saml_config, &config.public_url));
        saml.spawn_metadata_refresh();
        readiness.register(saml.clone());
        saml
    });
    AppState::new(SharedState {
        saml,
        authenticator: Authenticator::new(sessions, oidc.clone()),
        identity_headers: IdentityHeaders::auth_request(),
        policy: config.authorization.clone(),
        redirects: RedirectPolicy::new(&config.public_url, config.redirect_domains()),
        login,
        replay,
        oidc,
        public_url: config.public_url.clone(),
        session_lifetime: config.session.lifetime,
        readiness,
        metrics: Metrics::install(),
    })
}

/// Checks that need the network: metadata the IdP serves must be usable. Problems here stop
/// the start like configuration errors; an IdP that does not answer yet is not one.
pub async fn preflight(config: &Config) -> Vec<config::Problem> {
    let mut problems = Vec::new();
    if let Some(url) = config.saml.as_ref().and_then(|s| s.metadata_url.as_ref()) {
        if let Err(e) = provider::preflight_metadata(url).await {
            problems.push(config::Problem::new("saml.idp_metadata_url", e.to_string()));
        }
    }
    problems
}

/// A fresh random session secret: 32 bytes, base64.
pub fn generate_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
