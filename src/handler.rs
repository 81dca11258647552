//! HTTP endpoints, one per file, and the state they share.

mod backchannel_logout;
mod callback;
mod health;
mod saml;
mod sign_in;
mod sign_out;
mod start;
mod userinfo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use url::Url;

use crate::auth::{Authenticator, IdentityHeaders, Policy, RedirectPolicy};
use crate::provider::{Oidc, Saml};
use crate::readiness::Readiness;
/// A `302 Found` that sets cookies (it lives in [`crate::response`]).
pub(crate) use crate::response::found;
use crate::session::{LoginCookies, Replay, Sessions};
use crate::telemetry::Metrics;

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
