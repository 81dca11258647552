//! `GET /oauth2/callback`: the provider sends the browser back with a code.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::SET_COOKIE;
use serde::Deserialize;

use super::AppState;
use super::start::oidc_error;
use crate::error::Error;
use crate::session::SessionStore;

#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Checks the state against this browser's login cookie, the issuer, then exchanges the code
/// and verifies the ID token; applies the authorization policy; stores the session and sends
/// the browser to where it was going. The login cookie is spent whatever the outcome.
pub async fn callback(
    State(state): State<AppState>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
) -> Response {
    let forget = params.state.as_deref().map(|s| state.login.forget(s));
    let mut response = match finish(&state, params, &headers).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(error = %error, "sign-in callback refused");
            error.into_response()
        }
    };
    if let Some(forget) = forget {
        response.headers_mut().append(SET_COOKIE, forget);
    }
    response
}

async fn finish(
    state: &AppState,
    params: CallbackParams,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let oidc = state.oidc.as_ref().ok_or(Error::NoProvider)?;
    let returned_state = params
        .state
        .ok_or_else(|| Error::LoginFailed("the callback has no state".into()))?;
    let attempt = state
        .login
        .recall(headers, &returned_state)
        .await
        .map_err(super::start::login_state_error)?;
    if let Some(error) = params.error {
        let description = params.error_description.unwrap_or_default();
        return Err(Error::LoginFailed(format!(
            "the identity provider answered `{error}` {description}"
        )));
    }
    oidc.check_callback_issuer(params.iss.as_deref())
        .map_err(oidc_error)?;
    let code = params
        .code
        .ok_or_else(|| Error::LoginFailed("the callback has no code".into()))?;
    let session = oidc
        .finish_login(code, &attempt, state.session_lifetime)
        .await
        .map_err(oidc_error)?;
    if let Err(denial) = state.policy.check(&session) {
        return Err(Error::NotAllowed {
            user: session.user.clone(),
            reason: denial.to_string(),
        });
    }
    let cookies = state
        .authenticator
        .store
        .save(headers, &session)
        .await
        .map_err(Error::SessionStore)?;
    tracing::info!(user = %session.user, provider = "oidc", "signed in");
    super::found(&attempt.rd, cookies)
}
