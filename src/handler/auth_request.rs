//! `GET /oauth2/auth`: the nginx `auth_request` decision.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use super::AppState;
use crate::auth::{AuthReason, Authentication, Policy, Principal};
use crate::error::Error;
use crate::session::Session;
use crate::telemetry::record_auth_decision;

/// Per-location narrowing: `/oauth2/auth?allowed_groups=admins,dev&allowed_roles=editor`.
#[derive(Debug, Default, Deserialize)]
struct Narrowing {
    allowed_groups: Option<String>,
    allowed_roles: Option<String>,
    allowed_email_domains: Option<String>,
}

/// 202 with identity headers for a session or a trusted network, 401 without, 403 when the
/// policy refuses a signed-in user (never 401 then: nginx would loop through the login). nginx
/// reads only the status and headers, so bodies stay empty; the reason goes to logs and metrics.
pub async fn auth_request(State(state): State<AppState>, req: Request) -> Response {
    decide(state, req.into_parts().0).await
}

/// The answer for a trusted network: 202, no identity.
pub fn trusted(state: &AppState) -> Response {
    finish(
        state,
        StatusCode::ACCEPTED.into_response(),
        AuthReason::TrustedIp,
    )
}

/// Counts the decision, and hands its reason to the access log when there is one: a response
/// extension costs allocations this endpoint should not pay when nobody reads it.
fn finish(state: &AppState, mut response: Response, reason: AuthReason) -> Response {
    record_auth_decision(reason);
    if state.access_log {
        response.extensions_mut().insert(reason);
    }
    response
}

/// The decision itself, for the router and for the stack's direct path to this endpoint.
pub async fn decide(state: AppState, parts: http::request::Parts) -> Response {
    let authentication = state
        .authenticator
        .authenticate(&parts.extensions, &parts.headers)
        .await;
    respond(&state, authentication, parts.uri.query())
}

/// The response for an authentication outcome, with the policy applied.
pub fn respond(
    state: &AppState,
    authentication: Result<Authentication, Error>,
    query: Option<&str>,
) -> Response {
    let (response, reason) = match authentication {
        Ok(Authentication::Allowed {
            principal,
            reason,
            set_cookie,
        }) => match &principal {
            Principal::TrustedNetwork(_) => (StatusCode::ACCEPTED.into_response(), reason),
            Principal::User(session) => match authorize(state, session, query) {
                Ok(()) => (accepted(state, session, set_cookie), reason),
                Err(why) => {
                    tracing::info!(user = %session.user, reason = %why, "authenticated but not allowed");
                    (StatusCode::FORBIDDEN.into_response(), AuthReason::Forbidden)
                }
            },
        },
        Ok(Authentication::Denied(AuthReason::InvalidBearer)) => {
            let challenge = HeaderValue::from_static(r#"Bearer error="invalid_token""#);
            (
                (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)]).into_response(),
                AuthReason::InvalidBearer,
            )
        }
        Ok(Authentication::Denied(reason)) => (StatusCode::UNAUTHORIZED.into_response(), reason),
        Err(error) => (error.into_response(), AuthReason::StoreUnavailable),
    };
    finish(state, response, reason)
}

fn authorize(state: &AppState, session: &Session, query: Option<&str>) -> Result<(), String> {
    state.policy.check(session).map_err(|d| d.to_string())?;
    if let Some(query) = query {
        let narrowing: Narrowing = serde_urlencoded::from_str(query).unwrap_or_default();
        let local = Policy::from_lists(
            narrowing.allowed_groups.as_deref(),
            narrowing.allowed_roles.as_deref(),
            narrowing.allowed_email_domains.as_deref(),
        )
        .accepting_unverified_email(state.policy.accepts_unverified_email());
        local.check(session).map_err(|d| d.to_string())?;
    }
    Ok(())
}

fn accepted(state: &AppState, session: &Session, set_cookie: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    let headers = response.headers_mut();
    state.identity_headers.write(session, headers);
    let pass_token = state
        .oidc
        .as_ref()
        .is_some_and(|o| o.config().pass_access_token);
    if pass_token {
        state.identity_headers.write_access_token(session, headers);
    }
    for line in set_cookie {
        headers.append(SET_COOKIE, line);
    }
    response
}
