//! `GET /oauth2/sign_out?rd=URL`: end the session here and at the provider (OpenID Connect
//! end-session, or a SAML LogoutRequest).

use axum::extract::{Query, State};
use axum::response::Response;
use http::HeaderMap;
use serde::Deserialize;

use super::AppState;
use crate::error::Error;
use crate::session::{Loaded, ProviderKind};

#[derive(Debug, Deserialize)]
pub struct SignOutParams {
    rd: Option<String>,
}

/// Clears Sekisho's cookies, then sends the browser to the provider's end-session endpoint
/// (with `id_token_hint` and `post_logout_redirect_uri`) so the provider session ends too; to
/// `rd` directly when there is no provider session to end.
pub async fn sign_out(
    State(state): State<AppState>,
    Query(params): Query<SignOutParams>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let sessions = state.sessions();
    let rd = state
        .redirects
        .target_or_root(params.rd.as_deref().unwrap_or_default());
    let session = match sessions.load(&headers).await? {
        Loaded::Valid(session) => Some(session),
        _ => None,
    };
    let cleared = sessions.end(&headers).await?;
    let after = state
        .public_url
        .join(&rd)
        .map(String::from)
        .unwrap_or(rd.clone());
    let provider_logout = session.as_ref().and_then(|s| match s.provider? {
        ProviderKind::Oidc => {
            let hint = s.tokens.as_ref().and_then(|t| t.id_token.as_deref());
            state.oidc.as_ref()?.end_session_url(hint, &after)
        }
        ProviderKind::Saml => state.saml.as_ref()?.logout_redirect(
            s.subject.as_deref()?,
            s.idp_session.as_deref(),
            &rd,
        ),
        // A bearer token is no sign-in here, and is never stored as a session.
        ProviderKind::Bearer => None,
    });
    if let Some(session) = &session {
        tracing::info!(user = %session.user, "signed out");
    }
    let location = provider_logout.map(String::from).unwrap_or(rd);
    Ok(super::found(&location, cleared)?)
}
