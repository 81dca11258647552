//! Envoy's gRPC ext_authz asked through the gate: the [`Checker`] behind the
//! `Authorization/Check` door.
//!
//! A `CheckRequest` names the client's address in `attributes.source`, which anyone who can
//! reach Sekisho's port could fill in. So it is believed only from a trusted proxy (the Envoy
//! in `client_ip.trusted_proxies`), and then read as Envoy's own `X-Forwarded-For` handling
//! leaves it: the source address is the nearest hop, and the chain in the request's headers is
//! walked from the right past trusted proxies, as for every other door.

use std::net::SocketAddr;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderName};
use http_body_util::BodyExt;
use tonic::Code;

use super::Doors;
use super::answer::{refusal, sign_in_redirect};
use super::ext_authz_grpc::{CheckAnswer, CheckFacts, Checker};
use crate::error::Error;
use crate::gate::{Decision, Facts, Location, Passage};

impl Checker for Doors {
    async fn check(&self, peer: SocketAddr, facts: CheckFacts) -> CheckAnswer {
        let door = &*self.inner;
        if !door.trusted_proxies.contains(peer.ip()) {
            let why = format!(
                "Envoy ext_authz (gRPC) asked from {}, which is not in client_ip.trusted_proxies: \
                 the addresses in its CheckRequest cannot be believed; add Envoy's address there",
                peer.ip()
            );
            return deny(&facts, Decision::misconfigured(why), door).await;
        }
        let client = facts
            .source
            .and_then(|source| door.resolver.resolve(source.ip(), &facts.headers));
        let path = facts.path.split('?').next().unwrap_or_default();
        let asked = Facts {
            client,
            method: &facts.method,
            path,
            headers: &facts.headers,
        };
        let decision = match door.gate.decide_now(&asked, &Location::ANY) {
            Some(decision) => decision,
            None => door.gate.decide(&asked, &Location::ANY).await,
        };
        match decision {
            Decision::Allow {
                passage,
                set_cookie,
                ..
            } => {
                let mut upstream = HeaderMap::new();
                if let Passage::User(session) = &passage {
                    door.write_identity(session, &mut upstream);
                }
                // A client's own identity headers never reach the app.
                let remove: Vec<HeaderName> = door
                    .identity
                    .all_names()
                    .into_iter()
                    .filter(|name| !upstream.contains_key(*name))
                    .cloned()
                    .collect();
                let mut client = HeaderMap::new();
                for line in set_cookie {
                    client.append(SET_COOKIE, line);
                }
                CheckAnswer::Allow {
                    upstream,
                    remove,
                    client,
                }
            }
            refused => deny(&facts, refused, door).await,
        }
    }
}

/// The HTTP answer Envoy gives the client, as the other browser-facing doors give it, and the
/// gRPC code that goes with it.
async fn deny(facts: &CheckFacts, decision: Decision, door: &super::Inner) -> CheckAnswer {
    let code = match &decision {
        Decision::SignIn { .. } | Decision::InvalidBearer(_) => Code::Unauthenticated,
        Decision::Forbidden { .. } => Code::PermissionDenied,
        Decision::Misconfigured(_) => Code::InvalidArgument,
        Decision::Unavailable(_) => Code::Unavailable,
        Decision::Allow { .. } => unreachable!("an allowed request is not denied"),
    };
    let asked = Some((&facts.method, &facts.headers));
    let response: Response = refusal(decision, asked, || match original_url(facts) {
        Some(url) => sign_in_redirect(&door.sign_in, &url),
        None => Error::Unauthenticated.into_response(),
    });
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    // Only what the client needs: where to go, cookies, and how to read the body.
    let mut headers = HeaderMap::new();
    for name in [
        LOCATION,
        SET_COOKIE,
        WWW_AUTHENTICATE,
        CONTENT_TYPE,
        CACHE_CONTROL,
    ] {
        for value in parts.headers.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    CheckAnswer::Deny {
        status: parts.status,
        headers,
        body,
        code,
    }
}

/// The page asked for, from what Envoy reports; `None` when it did not say enough.
fn original_url(facts: &CheckFacts) -> Option<String> {
    let scheme = match facts.scheme.as_deref()? {
        s if s.eq_ignore_ascii_case("https") => "https",
        s if s.eq_ignore_ascii_case("http") => "http",
        _ => return None,
    };
    let host = facts.host.as_deref()?;
    facts
        .path
        .starts_with('/')
        .then(|| format!("{scheme}://{host}{}", facts.path))
}
