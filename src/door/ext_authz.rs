//! Envoy's HTTP ext_authz, and Gateway API's `ExternalAuth` with `protocol: HTTP`: the auth
//! request is the original request, method and headers (those in `allowed_headers`, so
//! `cookie` must be one), its path after Envoy's `path_prefix` (`/oauth2/ext_authz`). Only
//! 200 lets it through; Envoy copies the headers named in `allowed_upstream_headers` onto it
//! and removes those named in `x-envoy-auth-headers-to-remove`, and passes any other answer to
//! the client.

use std::sync::Arc;

use axum::response::Response;
use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::Inner;
use super::answer::{Answer, refusal, sign_in_redirect};
use crate::auth::IdentityHeaders;
use crate::gate::{Decision, Facts, Location};
use crate::net::Origin;
use crate::route::Route;

/// Envoy removes the headers this names from the request it lets through.
const HEADERS_TO_REMOVE: HeaderName = HeaderName::from_static("x-envoy-auth-headers-to-remove");

pub(super) fn answer(door: &Arc<Inner>, parts: Parts, origin: Option<Origin>) -> Answer {
    let Some(path) = original_path(&parts) else {
        let why = format!(
            "Envoy ext_authz sent `{}`: set the filter's path_prefix (Gateway API: http.path) to \
             `{}` exactly, so the original path follows it",
            parts.uri.path(),
            Route::ExtAuthz.path()
        );
        return Answer::ready(door.respond_ext_authz(Decision::misconfigured(why), &parts, origin));
    };
    let facts = Facts {
        client: origin.and_then(|origin| origin.client()),
        method: &parts.method,
        path,
        headers: &parts.headers,
    };
    if let Some(decision) = door.gate.decide_now(&facts, &Location::ANY) {
        return Answer::ready(door.respond_ext_authz(decision, &parts, origin));
    }
    let door = door.clone();
    Answer::pending(async move {
        let facts = Facts {
            client: origin.and_then(|origin| origin.client()),
            method: &parts.method,
            path: original_path(&parts).unwrap_or("/"),
            headers: &parts.headers,
        };
        let decision = door.gate.decide(&facts, &Location::ANY).await;
        Ok(door.respond_ext_authz(decision, &parts, origin))
    })
}

/// The original path, after the prefix.
fn original_path(parts: &Parts) -> Option<&str> {
    Route::ExtAuthz.after_prefix(parts.uri.path())
}

impl Inner {
    fn respond_ext_authz(
        &self,
        decision: Decision,
        parts: &Parts,
        origin: Option<Origin>,
    ) -> Response {
        let reason = decision.reason();
        let response = match decision {
            Decision::Allow {
                passage,
                set_cookie,
                ..
            } => {
                let mut response = self.allowed(StatusCode::OK, &passage, set_cookie);
                let headers = response.headers_mut();
                // A client's own `X-Auth-Request-User` must not reach the app beside (or
                // instead of) the identity Sekisho vouches for.
                if let Some(names) = identity_not_written(&self.identity, headers) {
                    headers.insert(HEADERS_TO_REMOVE, names);
                }
                response
            }
            refused => refusal(refused, Some((&parts.method, &parts.headers)), || {
                sign_in_redirect(&self.sign_in, &self.original_url(parts, origin))
            }),
        };
        self.labelled(response, reason)
    }

    /// The page asked for: the scheme a trusted proxy (Envoy) reports, the `Host` Envoy passes
    /// on (always in its allowed headers), the path after the prefix.
    fn original_url(&self, parts: &Parts, origin: Option<Origin>) -> String {
        let peer = origin.map(|origin| origin.peer().ip());
        let trusted = peer.is_some_and(|ip| self.trusted_proxies.contains(ip));
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .filter(|_| trusted)
            .and_then(|p| match p.trim() {
                p if p.eq_ignore_ascii_case("https") => Some("https"),
                p if p.eq_ignore_ascii_case("http") => Some("http"),
                _ => None,
            })
            .unwrap_or(self.default_scheme);
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let path = original_path(parts).unwrap_or("/");
        match parts.uri.query() {
            Some(query) => format!("{scheme}://{host}{path}?{query}"),
            None => format!("{scheme}://{host}{path}"),
        }
    }
}

/// The identity header names this response does not set, for Envoy to remove.
fn identity_not_written(identity: &IdentityHeaders, headers: &HeaderMap) -> Option<HeaderValue> {
    let names: Vec<&str> = identity
        .all_names()
        .into_iter()
        .map(HeaderName::as_str)
        .filter(|name| !headers.contains_key(*name))
        .collect();
    (!names.is_empty())
        .then(|| HeaderValue::from_str(&names.join(",")).expect("header names are valid values"))
}
