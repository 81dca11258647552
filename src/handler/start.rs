//! `GET /oauth2/start?rd=URL`: begin a sign-in at the identity provider.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use crate::error::Error;
use crate::provider::OidcError;

#[derive(Debug, Deserialize)]
pub struct StartParams {
    pub rd: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Query(params): Query<StartParams>,
) -> Result<Response, Error> {
    begin(&state, params.rd.as_deref().unwrap_or_default())
}

/// Redirects to the provider, remembering the attempt in its own login cookie. A refused `rd`
/// becomes `/` (and is logged) rather than failing the sign-in.
pub(super) fn begin(state: &AppState, rd: &str) -> Result<Response, Error> {
    let oidc = state.oidc.as_ref().ok_or(Error::NoProvider)?;
    let rd = state.redirects.target_or_root(rd);
    let redirect = oidc.login_redirect(rd).map_err(provider_error)?;
    let cookie = state.login.remember(&redirect.attempt);
    super::found(redirect.url.as_str(), vec![cookie])
}

pub(super) fn provider_error(error: OidcError) -> Error {
    match error {
        OidcError::Unavailable(why) => Error::ProviderUnavailable(why),
        OidcError::Rejected(why) => Error::LoginFailed(why),
    }
}
