//! `GET /oauth2/callback`: the provider sends the browser back with a code.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::SET_COOKIE;
use serde::Deserialize;

use super::AppState;
use crate::error::Error;
use crate::provider::Oidc;
use crate::response::Page;
use crate::session::{ProviderKind, Session};

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
    let attempt = state.login.recall(headers, &returned_state).await?;
    if let Some(error) = params.error {
        return Err(Error::LoginFailed(provider_error(
            &error,
            params.error_description.as_deref(),
        )));
    }
    oidc.check_callback_issuer(params.iss.as_deref())?;
    let code = params
        .code
        .ok_or_else(|| Error::LoginFailed("the callback has no code".into()))?;
    let session = oidc
        .finish_login(code, &attempt, state.session_lifetime)
        .await?;
    if let Err(denial) = state.policy.check(&session) {
        return Ok(not_allowed(
            state,
            oidc,
            &session,
            &attempt.rd,
            denial.to_string(),
        ));
    }
    let cookies = state.sessions().save(headers, &session).await?;
    tracing::info!(user = %session.user, provider = %ProviderKind::Oidc, "signed in");
    Ok(super::found(&attempt.rd, cookies)?)
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

/// The reason for a callback that brings the provider's `error` (RFC 6749, 4.1.2.1) instead of
/// a code, with the Keycloak setting that usually causes it.
fn provider_error(error: &str, description: Option<&str>) -> String {
    let mut reason = format!("the identity provider answered `{error}`");
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        reason.push_str(&format!(" ({})", description.trim()));
    }
    if let Some(hint) = provider_error_hint(error) {
        reason.push_str(": ");
        reason.push_str(hint);
    }
    reason
}

/// What an authorization error from Keycloak points at, for the administrator who reads the
/// page or the log; `None` where no client setting explains it.
fn provider_error_hint(error: &str) -> Option<&'static str> {
    Some(match error {
        "unauthorized_client" => {
            "the client may not use the browser sign-in; turn on Standard flow for it in \
             Keycloak (Clients > the client > Settings > Capability config)"
        }
        "access_denied" => {
            "the sign-in was refused at the identity provider (consent declined, or access \
             denied); check the client's Consent required setting and the user's account in \
             Keycloak"
        }
        "invalid_scope" => {
            "a scope in oidc.scopes is not one of the client's client scopes in Keycloak \
             (Clients > the client > Client scopes)"
        }
        "invalid_request" | "unsupported_response_type" => {
            "Keycloak refused the sign-in request; check the client's settings (Standard flow \
             on, PKCE method S256 or unset under Advanced) and oidc.scopes"
        }
        "login_required" | "interaction_required" | "consent_required" => {
            "the identity provider wants the user to sign in or consent again; try again"
        }
        "temporarily_unavailable" | "server_error" => {
            "the identity provider failed; its log says why"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_error_names_the_keycloak_setting() {
        let reason = provider_error(
            "unauthorized_client",
            Some(
                "Client is not allowed to initiate browser login with given response_type. Standard flow is disabled for the client.",
            ),
        );
        assert!(
            reason.starts_with(
                "the identity provider answered `unauthorized_client` (Client is not allowed"
            ) && reason.contains("turn on Standard flow"),
            "{reason}"
        );
        let reason = provider_error("access_denied", None);
        assert!(reason.contains("Consent required"), "{reason}");
        assert!(provider_error("invalid_scope", Some(" ")).contains("oidc.scopes"));
        // An error nobody documented: what the provider said, no guess.
        assert_eq!(
            provider_error("weird", Some("why")),
            "the identity provider answered `weird` (why)"
        );
    }
}
