//! HTTP endpoints, one per file, and the state they share.

pub mod auth_request;
mod backchannel_logout;
mod callback;
mod error_page;
mod health;
pub mod page;
mod panic;
mod saml;
mod sign_in;
mod sign_out;
mod start;
mod userinfo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use url::Url;

use crate::auth::{Authenticator, IdentityHeaders, Policy, RedirectPolicy};
use crate::error::Error;
use crate::provider::{Oidc, Saml};
use crate::readiness::Readiness;
use crate::session::{LoginCookies, Replay};
use crate::telemetry::Metrics;
pub use error_page::ErrorPageLayer;
pub use panic::CatchPanicLayer;

/// What handlers need, built once from the configuration. Cloned for every request (by the
/// router and the `/oauth2/auth` fast path), so it is one shared pointer.
#[derive(Clone, Debug)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

#[derive(Debug)]
pub struct SharedState {
    pub authenticator: Authenticator,
    pub identity_headers: IdentityHeaders,
    pub policy: Policy,
    pub redirects: RedirectPolicy,
    pub login: LoginCookies,
    /// One-time tokens already used: SAML assertions, logout tokens.
    pub replay: Replay,
    pub oidc: Option<Arc<Oidc>>,
    pub saml: Option<Arc<Saml>>,
    pub public_url: Url,
    pub session_lifetime: Duration,
    pub readiness: Readiness,
    pub metrics: Metrics,
    /// Whether the access log wants each `/oauth2/auth` decision's reason on the response.
    pub access_log: bool,
}

/// A `302 Found` to `location` that sets `cookies`; never cached, since it carries session state.
pub(crate) fn found(location: &str, cookies: Vec<HeaderValue>) -> Result<Response, Error> {
    let location = HeaderValue::try_from(location)
        .map_err(|_| Error::BadRequest("redirect target is not a valid header".into()))?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for line in cookies {
        headers.append(SET_COOKIE, line);
    }
    Ok(response)
}

/// Whether `path` is Sekisho's own, on every host, rather than an app's behind the proxy:
/// everything under `/oauth2/` and `/saml/`, and the health and metrics endpoints. Keep in
/// step with [`routes`].
pub fn is_own_path(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under("/oauth2") || under("/saml") || matches!(path, "/ping" | "/ready" | "/metrics")
}

/// Every route Sekisho answers itself.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/auth", get(auth_request::auth_request))
        .route("/oauth2/start", get(start::start))
        .route("/oauth2/sign_in", get(sign_in::sign_in))
        .route("/oauth2/callback", get(callback::callback))
        .route("/oauth2/sign_out", get(sign_out::sign_out))
        .route(
            "/oauth2/backchannel_logout",
            axum::routing::post(backchannel_logout::backchannel_logout),
        )
        .route("/oauth2/userinfo", get(userinfo::userinfo))
        .route("/saml/login", get(saml::login))
        .route("/saml/acs", axum::routing::post(saml::acs))
        .route("/saml/metadata", get(saml::metadata))
        .route("/saml/slo", get(saml::slo))
        .route("/ping", get(health::ping))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(health::not_found)
}

#[cfg(test)]
mod tests {
    use super::is_own_path;

    #[test]
    fn own_paths() {
        for own in [
            "/oauth2/auth",
            "/oauth2/start",
            "/oauth2",
            "/oauth2/../admin",
            "/saml/acs",
            "/ping",
            "/ready",
            "/metrics",
        ] {
            assert!(is_own_path(own), "{own}");
        }
        for app in [
            "/",
            "/oauth2x",
            "/api/v4/oauth2/x",
            "/pings",
            "/metrics/x",
            "/samlx",
        ] {
            assert!(!is_own_path(app), "{app}");
        }
    }
}
