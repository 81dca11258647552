//! Traefik's ForwardAuth and Caddy's `forward_auth`: the auth request carries the original
//! request's headers (cookies included) and describes it in `X-Forwarded-*`. Any 2xx lets it
//! through, with the identity headers copied onto it (`authResponseHeaders`,
//! `copy_headers`); anything else is passed to the client as it is, so a browser without a
//! session gets Sekisho's 302 to sign in and comes back to the page it asked for.
//!
//! Traefik's `address` may narrow the location (`/oauth2/traefik?allowed_groups=admins`), as
//! nginx's does. Caddy sends the client's query after its `uri`, so its query is the client's
//! and is not read.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use super::answer::{Answer, refusal, sign_in_redirect};
use super::forwarded_request::ForwardedRequest;
use super::{Door, Inner};
use crate::gate::{Decision, Facts, Location};
use crate::net::Origin;

pub(super) fn answer(
    door: &Arc<Inner>,
    which: Door,
    parts: Parts,
    origin: Option<Origin>,
) -> Answer {
    let peer = origin.map(|origin| origin.peer().ip());
    // Caddy appends the client's own query to `uri`: it cannot carry a narrowing there.
    let query = parts.uri.query().filter(|_| which == Door::Traefik);
    let narrowing = match door.narrowing(query) {
        Ok(narrowing) => narrowing,
        Err(refusal) => return Answer::ready(door.respond(refusal, None, &parts.headers)),
    };
    let original = match ForwardedRequest::read(&parts, peer, &door.trusted_proxies, which) {
        Ok(original) => original,
        Err(why) => {
            return Answer::ready(door.respond(Decision::misconfigured(why), None, &parts.headers));
        }
    };
    let location = Location {
        policy: narrowing.as_ref(),
        skip_auth: &[],
    };
    if let Some(decision) = door
        .gate
        .decide_now(&facts(&parts, &original, origin), &location)
    {
        return Answer::ready(door.respond(decision, Some(&original), &parts.headers));
    }
    let door = door.clone();
    Answer::pending(async move {
        let original = ForwardedRequest::read(&parts, peer, &door.trusted_proxies, which)
            .expect("read once already");
        let location = Location {
            policy: narrowing.as_ref(),
            skip_auth: &[],
        };
        let decision = door
            .gate
            .decide(&facts(&parts, &original, origin), &location)
            .await;
        Ok(door.respond(decision, Some(&original), &parts.headers))
    })
}

fn facts<'a>(
    parts: &'a Parts,
    original: &'a ForwardedRequest<'a>,
    origin: Option<Origin>,
) -> Facts<'a> {
    Facts {
        client: origin.and_then(|origin| origin.client()),
        method: &original.method,
        path: original.path(),
        headers: &parts.headers,
    }
}

impl Inner {
    /// 200 with the identity headers (and a refreshed session's cookies) to let it through;
    /// otherwise the client's answer. `original` is `None` when the door's request could not
    /// be read, which is never a sign-in.
    fn respond(
        &self,
        decision: Decision,
        original: Option<&ForwardedRequest<'_>>,
        headers: &HeaderMap,
    ) -> Response {
        let reason = decision.reason();
        let response = match decision {
            Decision::Allow {
                passage,
                set_cookie,
                ..
            } => self.allowed(StatusCode::OK, &passage, set_cookie),
            refused => refusal(
                refused,
                original.map(|o| (&o.method, headers)),
                || match original {
                    Some(original) => sign_in_redirect(&self.sign_in, &original.url()),
                    None => crate::error::Error::Unauthenticated.into_response(),
                },
            ),
        };
        self.labelled(response, reason)
    }
}
