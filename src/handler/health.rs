//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri, header};

use super::AppState;
use crate::error::Error;

/// Liveness: the process answers.
pub async fn ping() -> &'static str {
    "OK\n"
}

/// Readiness: 503 with every reason until all configured dependencies are usable.
pub async fn ready(State(state): State<AppState>) -> Response {
    let failures = state.readiness.failures();
    if failures.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        tracing::debug!(?failures, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", failures.join("\n")),
        )
            .into_response()
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn not_found(uri: Uri) -> Error {
    crate::door::query_in_path(uri.path()).unwrap_or(Error::NotFound)
}
