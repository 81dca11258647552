//! `GET /oauth2/sign_in`: where nginx sends a 401 (`error_page 401 = /oauth2/sign_in`). The
//! target comes from `X-Auth-Request-Redirect` (nginx's `$request_uri`), so the nginx
//! configuration needs no URL escaping; `rd` works too.

use axum::extract::{Query, State};
use axum::response::Response;
use http::HeaderMap;

use super::AppState;
use super::start::{StartParams, begin};
use crate::error::Error;

pub async fn sign_in(
    State(state): State<AppState>,
    Query(params): Query<StartParams>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let from_header = headers
        .get("x-auth-request-redirect")
        .and_then(|v| v.to_str().ok());
    let rd = from_header.or(params.rd.as_deref()).unwrap_or_default();
    begin(&state, rd, params.provider.as_deref(), &headers).await
}
