//! `GET /oauth2/callback`: the provider sends the browser back with a code.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::SET_COOKIE;
use serde::Deserialize;

use super::AppState;
use super::page::Page;
use super::start::oidc_error;
use crate::error::Error;
use crate::provider::Oidc;
use crate::session::{Session, SessionStore};

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
        return Ok(not_allowed(
            state,
            oidc,
            &session,
            &attempt.rd,
            denial.to_string(),
        ));
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

/// 403 for a user the policy refuses at sign-in, whose "sign out" ends the provider's session
/// too (the ID token as hint: Keycloak then asks nothing) and comes back to `rd`. Sekisho keeps
/// no session for the refused user, so `/oauth2/sign_out` would have nothing to end, and the
/// provider would sign the same user in again at once: nobody else could sign in in this
/// browser until the provider's session expired.
fn not_allowed(
    state: &AppState,
    oidc: &Oidc,
    session: &Session,
    rd: &str,
    reason: String,
) -> Response {
    tracing::warn!(user = %session.user, reason = %reason, "sign-in callback refused: not allowed");
    let user = session.user.clone();
    let mut response = Error::NotAllowed {
        user: user.clone(),
        reason: reason.clone(),
    }
    .into_response();
    let hint = session.tokens.as_ref().and_then(|t| t.id_token.as_deref());
    let after = state
        .public_url
        .join(rd)
        .unwrap_or_else(|_| state.public_url.clone());
    if let Some(end_session) = oidc.end_session_url(hint, after.as_str()) {
        response.extensions_mut().insert(Page::NotAllowed {
            user,
            reason,
            sign_out_href: end_session.into(),
        });
    }
    response
}
