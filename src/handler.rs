//! HTTP endpoints, one per file, and the state they share.

mod auth_request;
mod health;

use axum::Router;
use axum::routing::get;

use crate::auth::IdentityHeaders;
use crate::readiness::Readiness;
use crate::session::Store;
use crate::telemetry::Metrics;

/// What handlers need, built once from the configuration.
#[derive(Clone, Debug)]
pub struct AppState {
    pub sessions: Store,
    pub identity_headers: IdentityHeaders,
    pub readiness: Readiness,
    pub metrics: Metrics,
}

/// Every route Sekisho answers itself.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/auth", get(auth_request::auth_request))
        .route("/ping", get(health::ping))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(health::not_found)
}
