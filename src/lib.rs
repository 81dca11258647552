//! Sekisho: an authentication gateway for apps behind nginx `auth_request` or in front of them
//! as a reverse proxy.
//!
//! [`app`] builds the whole HTTP service from a validated [`Config`]; [`server::run`] serves it.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod handler;
pub mod net;
pub mod readiness;
pub mod server;
pub mod session;
pub mod stack;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
pub use config::Config;

use auth::IdentityHeaders;
use config::StoreKind;
use handler::AppState;
use readiness::Readiness;
use session::{CookieStore, Store};
use telemetry::Metrics;

/// The complete service for `config`: routes behind the full layer stack.
pub fn app(config: &Config) -> Router {
    stack::build(config, state(config))
}

fn state(config: &Config) -> AppState {
    let sessions = match config.session.store {
        StoreKind::Cookie => Store::Cookie(Arc::new(CookieStore::new(
            config.session.cookie.clone(),
            &config.session.secret,
        ))),
    };
    AppState {
        sessions,
        identity_headers: IdentityHeaders::auth_request(),
        readiness: Readiness::default(),
        metrics: Metrics::install(),
    }
}

/// A fresh random session secret: 32 bytes, base64.
pub fn generate_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
