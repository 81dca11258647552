//! `GET /oauth2/auth`: the nginx `auth_request` decision.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::AppState;
use crate::auth::{AuthReason, Authentication, Principal, authenticate};

/// 202 with identity headers for a session or a trusted network, 401 without. nginx reads
/// only the status and headers, so the body stays empty; the reason goes to logs and metrics.
pub async fn auth_request(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (mut response, reason) =
        match authenticate(&parts.extensions, &parts.headers, &state.sessions).await {
            Ok(Authentication::Allowed(principal, reason)) => {
                let mut response = StatusCode::ACCEPTED.into_response();
                if let Principal::User(session) = &principal {
                    state
                        .identity_headers
                        .write(session, response.headers_mut());
                }
                (response, reason)
            }
            Ok(Authentication::Denied(reason)) => {
                (StatusCode::UNAUTHORIZED.into_response(), reason)
            }
            Err(error) => (error.into_response(), AuthReason::StoreUnavailable),
        };
    response.extensions_mut().insert(reason);
    response
}
