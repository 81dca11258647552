//! HTTP endpoints, one per file, and the state they share.

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
use crate::session::{LoginCookies, Replay, Sessions};
use crate::telemetry::Metrics;
pub use error_page::ErrorPageLayer;
pub use panic::CatchPanicLayer;

/// What handlers need, built once from the configuration. Cloned for every request the router
/// serves, so it is one shared pointer.
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
}

impl SharedState {
    /// The sessions: what signing in saves, signing out ends, and a provider's logout finds.
    pub fn sessions(&self) -> &Sessions {
        self.authenticator.sessions()
    }
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

pub use crate::route::{Route, is_own_path};

/// Every route Sekisho answers itself (their paths: [`Route`]).
pub fn routes() -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route(Route::Start.path(), get(start::start))
        .route(Route::SignIn.path(), get(sign_in::sign_in))
        .route(Route::Callback.path(), get(callback::callback))
        .route(Route::SignOut.path(), get(sign_out::sign_out))
        .route(
            Route::BackchannelLogout.path(),
            post(backchannel_logout::backchannel_logout),
        )
        .route(Route::Userinfo.path(), get(userinfo::userinfo))
        .route(Route::SamlLogin.path(), get(saml::login))
        .route(Route::SamlAcs.path(), post(saml::acs))
        .route(Route::SamlMetadata.path(), get(saml::metadata))
        .route(Route::SamlSlo.path(), get(saml::slo))
        .route(Route::Ping.path(), get(health::ping))
        .route(Route::Ready.path(), get(health::ready))
        .route(Route::Metrics.path(), get(health::metrics))
        .fallback(health::not_found)
}
