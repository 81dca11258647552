//! `GET /oauth2/auth`: the nginx `auth_request` decision.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use super::AppState;
use crate::auth::{AuthReason, Authentication, Policy, Principal, bearer_challenge};
use crate::error::Error;
use crate::route::Route;
use crate::session::Session;
use crate::telemetry::record_auth_decision;

/// Per-location narrowing: `/oauth2/auth?allowed_groups=admins,dev&allowed_roles=editor`.
/// Only these keys, each at most once and naming at least one entry: a typo, a repeated key or
/// an empty value (an nginx variable that came out empty) would otherwise narrow nothing, and
/// a location meant for one group would let in every signed-in user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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
    let unverified = state.policy.accepts_unverified_email();
    let narrowing = match query.map(|q| narrowing(q, unverified)).transpose() {
        Ok(narrowing) => narrowing,
        Err(why) => {
            // The location is misconfigured: fail closed, for everyone, and say how.
            tracing::warn!(reason = %why, "auth_request narrowing query refused");
            let response = Error::BadRequest(why).into_response();
            return finish(state, response, AuthReason::Misconfigured);
        }
    };
    let (response, reason) = match authentication {
        Ok(Authentication::Allowed {
            principal,
            reason,
            set_cookie,
        }) => match &principal {
            Principal::TrustedNetwork(_) => (StatusCode::ACCEPTED.into_response(), reason),
            Principal::User(session) => match authorize(state, session, narrowing.as_ref()) {
                Ok(()) => (accepted(state, session, set_cookie), reason),
                Err(why) => {
                    tracing::info!(user = %session.user, reason = %why, "authenticated but not allowed");
                    (refused(set_cookie), AuthReason::Forbidden)
                }
            },
        },
        Ok(Authentication::InvalidBearer(why)) => (
            (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, bearer_challenge(&why))],
            )
                .into_response(),
            AuthReason::InvalidBearer,
        ),
        Ok(Authentication::Denied(reason)) => (StatusCode::UNAUTHORIZED.into_response(), reason),
        Err(error) => (error.into_response(), AuthReason::StoreUnavailable),
    };
    finish(state, response, reason)
}

fn authorize(
    state: &AppState,
    session: &Session,
    narrowing: Option<&Policy>,
) -> Result<(), String> {
    state.policy.check(session).map_err(|d| d.to_string())?;
    if let Some(local) = narrowing {
        local.check(session).map_err(|d| d.to_string())?;
    }
    Ok(())
}

/// The location's narrowing, read strictly (see [`Narrowing`]).
fn narrowing(query: &str, accept_unverified_email: bool) -> Result<Policy, String> {
    let narrowing: Narrowing = serde_urlencoded::from_str(query)
        .map_err(|e| format!("`/oauth2/auth?{query}`: {e}; the keys are allowed_groups, allowed_roles and allowed_email_domains, each once"))?;
    for (key, value) in [
        ("allowed_groups", &narrowing.allowed_groups),
        ("allowed_roles", &narrowing.allowed_roles),
        ("allowed_email_domains", &narrowing.allowed_email_domains),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.split(',').all(|entry| entry.trim().is_empty()))
        {
            return Err(format!("`/oauth2/auth?{query}`: `{key}` names nothing"));
        }
    }
    Ok(Policy::from_lists(
        narrowing.allowed_groups.as_deref(),
        narrowing.allowed_roles.as_deref(),
        narrowing.allowed_email_domains.as_deref(),
    )
    .accepting_unverified_email(accept_unverified_email))
}

/// 403 for a signed-in user the policy refuses. A session refreshed while deciding (the
/// groups of the new tokens are what refused it, typically) still goes back in `Set-Cookie`:
/// the refresh token the browser holds was spent, and a provider that rotates refresh tokens
/// (Keycloak's `revokeRefreshToken`) ends the login when it is presented again.
fn refused(set_cookie: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::FORBIDDEN.into_response();
    for line in set_cookie {
        response.headers_mut().append(SET_COOKIE, line);
    }
    response
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

/// nginx's `auth_request /oauth2/auth?allowed_groups=x;` does not send a query: the whole
/// text is the subrequest's path, which nginx escapes to `/oauth2/auth%3Fallowed_groups=x`.
/// Answered with how to write it instead of a bare 404. nginx turns any status but 2xx, 401
/// and 403 into a 500 for the client and logs "auth request unexpected status"; 400 keeps it
/// failing closed, names a client-side mistake in that log line (a 404 reads as a missing
/// route), and this body and log line say what to change.
pub fn query_in_path(path: &str) -> Option<Error> {
    let rest = path.strip_prefix(Route::Auth.path())?;
    let query = rest
        .get(..3)
        .filter(|escaped| escaped.eq_ignore_ascii_case("%3F"))
        .map(|_| &rest[3..])?;
    let fix = format!(
        "nginx sent `{path}`: `auth_request` takes a location, not a query string. \
         Add `location = /oauth2/auth-x {{ internal; proxy_pass http://sekisho/oauth2/auth?{query}; }}` \
         (with the proxy settings of your /oauth2/auth location) and write `auth_request /oauth2/auth-x;`"
    );
    tracing::warn!(path, "auth_request with a query in its path; {fix}");
    Some(Error::BadRequest(fix))
}

#[cfg(test)]
mod tests {
    use super::{narrowing, query_in_path};

    #[test]
    fn a_narrowing_query_that_would_narrow_nothing_is_refused() {
        for query in [
            "allowed_group=admins",
            "allowed_groups=admins&allowed_groups=dev",
            "allowed_groups=",
            "allowed_groups=,%20,",
            "allowed_roles=&allowed_groups=admins",
            "allowed_groups=admins&rd=/x",
        ] {
            assert!(narrowing(query, false).is_err(), "{query} must be refused");
        }
        for query in [
            "",
            "allowed_groups=admins",
            "allowed_groups=admins,dev&allowed_roles=editor",
            "allowed_email_domains=example.com",
        ] {
            assert!(narrowing(query, false).is_ok(), "{query} must be read");
        }
        assert!(narrowing("allowed_groups=admins", false).is_ok_and(|p| !p.is_empty()));
    }

    #[test]
    fn a_query_nginx_escaped_into_the_path_is_explained() {
        for (path, query) in [
            ("/oauth2/auth%3Fallowed_groups=x", Some("allowed_groups=x")),
            (
                "/oauth2/auth%3fallowed_roles=a%2Cb",
                Some("allowed_roles=a%2Cb"),
            ),
            ("/oauth2/auth%3F", Some("")),
            ("/oauth2/auth", None),
            ("/oauth2/auth/x", None),
            ("/oauth2/authx", None),
            ("/oauth2/auth%3", None),
            ("/oauth2/sign_in%3Fx", None),
        ] {
            let got = query_in_path(path).map(|e| e.to_string());
            match query {
                Some(query) => {
                    let text = got.unwrap_or_else(|| panic!("{path} not explained"));
                    assert!(
                        text.contains(&format!("proxy_pass http://sekisho/oauth2/auth?{query};")),
                        "{text}"
                    );
                }
                None => assert_eq!(got, None, "{path}"),
            }
        }
    }
}
