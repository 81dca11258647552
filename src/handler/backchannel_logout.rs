//! `POST /oauth2/backchannel_logout`: the OpenID provider ends sessions here, server to
//! server, when a user signs out at the provider or an admin ends their session. Every
//! Sekisho session of that provider session (`sid`), or else of that user (`sub`), ends on
//! every replica. Answers as OpenID Connect Back-Channel Logout 1.0 asks: 200 when done, 400
//! with a short reason for a token that does not verify, never cached.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CACHE_CONTROL;
use serde::Deserialize;

use super::AppState;
use crate::error::Error;
use crate::provider::OidcError;
use crate::session::SessionIndex;

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    logout_token: Option<String>,
}

pub async fn backchannel_logout(
    State(state): State<AppState>,
    Form(form): Form<LogoutForm>,
) -> Result<Response, Error> {
    let oidc = state.oidc.as_ref().ok_or(Error::NoProvider)?;
    if !state.sessions().can_end_by_provider_session() {
        // Cookie sessions live in browsers: nothing here can end them.
        return Err(Error::NotSupported(
            "back-channel logout needs session.store = \"redis\"; with cookie sessions, clear \
             the client's Backchannel logout URL in Keycloak"
                .into(),
        ));
    }
    let token = form
        .logout_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::BadRequest("no logout_token".into()))?;
    let logout = oidc.verify_logout_token(&token).await.map_err(|e| {
        tracing::warn!(error = %e, "logout token refused");
        match e {
            // A logout token is no sign-in: refused, it is a bad request.
            OidcError::Rejected(why) => Error::BadRequest(why),
            unavailable => unavailable.into(),
        }
    })?;
    let first_use = state
        .replay
        .first_time("logout-token", &logout.jti, logout.valid_for)
        .await?;
    if !first_use {
        tracing::warn!(jti = %logout.jti, "logout token replayed");
        return Err(Error::BadRequest("logout token already used".into()));
    }
    let index = match (&logout.sid, &logout.sub) {
        (Some(sid), _) => SessionIndex::OidcSession(sid),
        (None, Some(sub)) => SessionIndex::OidcSubject(sub),
        (None, None) => return Err(Error::BadRequest("logout token names no session".into())),
    };
    let ended = state.sessions().end_by_provider_session(index).await?;
    tracing::info!(sid = ?logout.sid, sub = ?logout.sub, ended, "provider ended the session (back-channel logout)");
    Ok((StatusCode::OK, [(CACHE_CONTROL, "no-store")]).into_response())
}
