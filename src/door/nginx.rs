//! nginx `auth_request` (`GET /oauth2/auth`): 202 with identity headers to let a request
//! through, 401 without a session, 403 when a policy refuses a signed-in user (never 401
//! then: nginx would loop through the login). nginx reads only the status and headers, and
//! turns anything but 2xx, 401 and 403 into a 500 for the client; bodies stay empty.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use http::request::Parts;

use super::Inner;
use super::answer::{Answer, with_cookies};
use crate::auth::bearer_challenge;
use crate::error::Error;
use crate::gate::{Decision, Facts, Location};
use crate::net::Origin;
use crate::route::Route;

/// The door's answer for an `auth_request` subrequest.
pub(super) fn answer(door: &Arc<Inner>, parts: Parts, origin: Option<Origin>) -> Answer {
    let narrowing = match door.narrowing(parts.uri.query()) {
        Ok(narrowing) => narrowing,
        // The location is misconfigured: fail closed, for everyone, and say how.
        Err(refusal) => return Answer::ready(respond(door, refusal)),
    };
    let location = Location {
        policy: narrowing.as_ref(),
        skip_auth: &[],
    };
    if let Some(decision) = door.gate.decide_now(&facts(&parts, origin), &location) {
        return Answer::ready(respond(door, decision));
    }
    let door = door.clone();
    Answer::pending(async move {
        let location = Location {
            policy: narrowing.as_ref(),
            skip_auth: &[],
        };
        let decision = door.gate.decide(&facts(&parts, origin), &location).await;
        Ok(respond(&door, decision))
    })
}

/// nginx passes the original request's headers; the client address is the one resolved from
/// them past trusted proxies.
fn facts(parts: &Parts, origin: Option<Origin>) -> Facts<'_> {
    Facts {
        client: origin.and_then(|origin| origin.client()),
        method: &parts.method,
        path: parts.uri.path(),
        headers: &parts.headers,
    }
}

fn respond(door: &Inner, decision: Decision) -> Response {
    let reason = decision.reason();
    let response = match decision {
        Decision::Allow {
            passage,
            set_cookie,
            ..
        } => door.allowed(StatusCode::ACCEPTED, &passage, set_cookie),
        // nginx's `error_page 401` sends the browser to sign in.
        Decision::SignIn { .. } => StatusCode::UNAUTHORIZED.into_response(),
        Decision::InvalidBearer(why) => (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, bearer_challenge(&why))],
        )
            .into_response(),
        Decision::Forbidden { set_cookie, .. } => {
            let mut response = StatusCode::FORBIDDEN.into_response();
            with_cookies(&mut response, set_cookie);
            response
        }
        Decision::Misconfigured(why) => Error::BadRequest(why).into_response(),
        Decision::Unavailable(error) => error.into_response(),
    };
    door.labelled(response, reason)
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
    use super::query_in_path;

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
