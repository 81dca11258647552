//! What a front door tells the gate about the request it asks about.

use std::net::IpAddr;

use http::header::{ACCEPT, UPGRADE};
use http::{HeaderMap, Method};

use super::SkipRule;
use crate::auth::Policy;

/// The request being decided on, as its front door read it: the original request's, not the
/// subrequest's (nginx's `auth_request`, Traefik's `X-Forwarded-*`, Envoy's `CheckRequest`).
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The client's address, believed from forwarded headers only when a trusted proxy sent
    /// them; `None` when it could not be resolved (never trusted then).
    pub client: Option<IpAddr>,
    pub method: &'a Method,
    /// The path, without the query; `skip_auth` rules read it.
    pub path: &'a str,
    /// The headers that carry who it is: cookies, `Authorization`, and `Accept`.
    pub headers: &'a HeaderMap,
}

/// What the place being asked about adds to `[authorization]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Location<'a> {
    /// A narrower policy: an nginx location's `?allowed_groups=`, an upstream's own.
    pub policy: Option<&'a Policy>,
    /// Routes that need no session (an upstream's `skip_auth`).
    pub skip_auth: &'a [SkipRule],
}

impl Location<'_> {
    /// No narrowing, no routes without a session.
    pub const ANY: Location<'static> = Location {
        policy: None,
        skip_auth: &[],
    };
}

/// A browser navigating (not a script, not a WebSocket) is better served by the sign-in page
/// than by a 401; it comes back with `GET`, so only `GET` and `HEAD` are sent there.
/// (`Accept` is asked before `Upgrade`: scripts and API clients, most of the requests without
/// a session, stop at the first question.)
pub fn wants_sign_in_page(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
        && !headers.contains_key(UPGRADE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_navigations_are_sent_to_sign_in() {
        let headers = |accept: &str, upgrade: bool| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, accept.parse().unwrap());
            if upgrade {
                headers.insert(UPGRADE, "websocket".parse().unwrap());
            }
            headers
        };
        let html = "text/html,application/xhtml+xml";
        assert!(wants_sign_in_page(&Method::GET, &headers(html, false)));
        assert!(wants_sign_in_page(&Method::HEAD, &headers(html, false)));
        assert!(!wants_sign_in_page(&Method::POST, &headers(html, false)));
        assert!(!wants_sign_in_page(
            &Method::GET,
            &headers("application/json", false)
        ));
        assert!(!wants_sign_in_page(&Method::GET, &headers(html, true)));
        assert!(!wants_sign_in_page(&Method::GET, &HeaderMap::new()));
    }
}
