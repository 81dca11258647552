//! The reverse proxy. A request for an app passes when it comes from a trusted network, is on
//! one of the app's `skip_auth` routes, or carries a session (or an accepted bearer token)
//! that `[authorization]` and the app's own policy allow. It is then rewritten for the app and
//! forwarded, its body streamed both ways.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, EXPECT, HOST, SET_COOKIE};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use url::Url;

use super::client::{Failure, UpstreamClient};
use super::cookies::OwnCookies;
use super::forwarding::Forwarding;
use super::hop_by_hop;
use super::host::RequestHost;
use super::routes::{Route, Routes};
use super::timing::IdleTimeout;
use super::upgrade;
use crate::auth::IdentityHeaders;
use crate::config::Config;
use crate::door::{refusal, sign_in_redirect};
use crate::error::Error;
use crate::gate::{Decision, Facts, Gate, Location, Passage};
use crate::net::Origin;

/// Forwards requests to the configured upstreams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gate: Gate,
    routes: Routes,
    client: UpstreamClient,
    identity: IdentityHeaders,
    pass_access_token: bool,
    own_cookies: OwnCookies,
    forwarding: Forwarding,
    /// `/oauth2/start` at `public_url`: sign-in must start where the provider sends the
    /// browser back to, or the sign-in attempt's cookie would not be there.
    sign_in: Url,
    /// Whether the access log wants each decision's reason on the response: a response
    /// extension costs allocations nobody else reads.
    access_log: bool,
}

impl Proxy {
    /// `None` when no upstream is configured: Sekisho then proxies nothing.
    pub fn new(config: &Config, gate: Gate) -> Option<Self> {
        if config.upstreams.is_empty() {
            return None;
        }
        let sign_in = config
            .public_url
            .join("oauth2/start")
            .expect("a validated public_url takes a relative path");
        let inner = Inner {
            routes: Routes::new(&config.upstreams),
            client: UpstreamClient::new(config.proxy.connect_timeout),
            identity: IdentityHeaders::new(config.proxy.identity_headers),
            pass_access_token: config.oidc.as_ref().is_some_and(|o| o.pass_access_token),
            own_cookies: OwnCookies::new(&config.session.cookie.name),
            forwarding: Forwarding::new(
                config.client_ip.trusted_proxies.clone(),
                config.public_url.scheme(),
            ),
            sign_in,
            access_log: config.log.access,
            gate,
        };
        Some(Self {
            inner: Arc::new(inner),
        })
    }

    /// The app's response, or Sekisho's refusal; either way labelled with the decision for
    /// the access log and metrics.
    pub async fn handle(self, req: Request<Body>, origin: Option<Origin>) -> Response {
        let inner = &*self.inner;
        if req.method() == Method::CONNECT {
            return Error::BadRequest("CONNECT is not proxied".into()).into_response();
        }
        let host = match RequestHost::of(&req) {
            Ok(host) => host,
            Err(bad) => return Error::BadRequest(bad.to_string()).into_response(),
        };
        let Some(route) = inner.routes.select(host.as_ref()) else {
            tracing::debug!(host = ?host.as_ref().map(|h| h.authority.as_str()), "no upstream serves this host");
            return Error::NotFound.into_response();
        };
        // Parts only: the body is not `Sync`, so a reference to the whole request could not
        // be held across the session lookup.
        let (parts, body) = req.into_parts();
        let location = Location {
            policy: Some(&route.config.policy),
            skip_auth: &route.config.skip_auth,
        };
        let facts = Facts {
            client: origin.and_then(|origin| origin.client()),
            method: &parts.method,
            path: parts.uri.path(),
            headers: &parts.headers,
        };
        let decision = match inner.gate.decide_now(&facts, &location) {
            Some(decision) => decision,
            None => inner.gate.decide(&facts, &location).await,
        };
        let reason = decision.reason();
        let mut response = match decision {
            Decision::Allow {
                passage,
                set_cookie,
                ..
            } => {
                inner
                    .forward(
                        route,
                        host,
                        passage,
                        set_cookie,
                        Request::from_parts(parts, body),
                        origin,
                    )
                    .await
            }
            refused => refusal(refused, Some((&parts.method, &parts.headers)), || {
                inner.sign_in_redirect(&parts, origin, host.as_ref())
            }),
        };
        if inner.access_log {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

impl Inner {
    /// A 302 to sign-in that comes back to the page asked for.
    fn sign_in_redirect(
        &self,
        req: &Parts,
        origin: Option<Origin>,
        host: Option<&RequestHost>,
    ) -> Response {
        let path = req.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let rd = match host {
            Some(host) => {
                let peer = origin.map(|origin| origin.peer().ip());
                let proto = self.forwarding.proto(&req.headers, peer);
                format!(
                    "{}://{}{path}",
                    proto.to_str().unwrap_or("http"),
                    host.authority
                )
            }
            None => path.to_owned(),
        };
        sign_in_redirect(&self.sign_in, &rd)
    }

    async fn forward(
        &self,
        route: &Route,
        host: Option<RequestHost>,
        passage: Passage,
        set_cookie: Vec<HeaderValue>,
        req: Request<Body>,
        origin: Option<Origin>,
    ) -> Response {
        let config = &route.config;
        let (mut parts, body) = req.into_parts();
        let client_upgrade = parts.extensions.remove::<OnUpgrade>();
        let peer = origin.map(|origin| origin.peer().ip());
        let client = origin.and_then(|origin| origin.client());

        let headers = &mut parts.headers;
        let hops = hop_by_hop::strip(headers);
        let upgrade = hops.upgrade.filter(|_| client_upgrade.is_some());
        if hops.chunked {
            // The body is framed anew on the way out; a length beside chunking is a lie.
            headers.remove(CONTENT_LENGTH);
        }
        // The client has its `100 Continue` from Sekisho when the body is first read.
        headers.remove(EXPECT);
        IdentityHeaders::remove_all(headers);
        self.own_cookies.strip_request(headers);
        let asked_for = host.as_ref().and_then(RequestHost::header_value);
        let preserved = asked_for.clone().filter(|_| config.preserve_host);
        self.forwarding.apply(headers, peer, client, asked_for);
        headers.insert(
            HOST,
            preserved.unwrap_or_else(|| config.authority_header.clone()),
        );
        if let Passage::User(session) = passage {
            self.identity.write(&session, headers);
            if self.pass_access_token {
                self.identity.write_access_token(&session, headers);
            }
        }
        if let Some(protocol) = &upgrade {
            hop_by_hop::set_upgrade(headers, protocol.clone());
        }
        parts.uri = upstream_uri(&parts.uri);
        parts.version = Version::HTTP_11;

        match self
            .client
            .send(
                &config.authority,
                Request::from_parts(parts, body),
                config.timeout,
            )
            .await
        {
            Ok(response) => self.respond(route, response, client_upgrade, set_cookie),
            Err(failure) => failed(route, failure),
        }
    }

    /// The app's response for the client: hop-by-hop headers and Sekisho's cookies removed,
    /// a refreshed session added, the body streamed; a protocol switch is spliced through.
    fn respond(
        &self,
        route: &Route,
        mut response: http::Response<Incoming>,
        client_upgrade: Option<OnUpgrade>,
        set_cookie: Vec<HeaderValue>,
    ) -> Response {
        let app_upgrade = (response.status() == StatusCode::SWITCHING_PROTOCOLS)
            .then(|| hyper::upgrade::on(&mut response));
        let (mut parts, body) = response.into_parts();
        let protocol = hop_by_hop::strip(&mut parts.headers).upgrade;
        self.own_cookies.strip_response(&mut parts.headers);
        for line in set_cookie {
            parts.headers.append(SET_COOKIE, line);
        }
        let Some(app_upgrade) = app_upgrade else {
            let body = IdleTimeout::new(body, route.config.timeout, route.label.clone());
            return Response::from_parts(parts, Body::new(body));
        };
        // Only a switch the client asked for, to a protocol the app names, can be spliced.
        let (Some(client_upgrade), Some(protocol)) = (client_upgrade, protocol) else {
            return Error::UpstreamUnavailable {
                upstream: route.label.to_string(),
                reason: "the app switched protocols without being asked to".into(),
            }
            .into_response();
        };
        hop_by_hop::set_upgrade(&mut parts.headers, protocol);
        upgrade::splice(client_upgrade, app_upgrade, route.label.clone());
        Response::from_parts(parts, Body::empty())
    }
}

fn failed(route: &Route, failure: Failure) -> Response {
    let upstream = route.label.to_string();
    match failure {
        Failure::TimedOut(timeout) => Error::UpstreamTimeout { upstream, timeout },
        Failure::Unavailable(reason) => Error::UpstreamUnavailable { upstream, reason },
        Failure::ClientAborted => {
            Error::BadRequest("the request body was not received in full".into())
        }
    }
    .into_response()
}

/// The request target for the app, in origin form (`/path?query`), whatever form the client
/// used: the connection already says which app it is.
fn upstream_uri(uri: &Uri) -> Uri {
    Uri::from(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_their_path_and_query() {
        let uri = upstream_uri(&"/api/v4/projects/a%2Fb?per_page=100".parse().unwrap());
        assert_eq!(uri.to_string(), "/api/v4/projects/a%2Fb?per_page=100");
        let absolute: Uri = "http://chat.example.com/x?y".parse().unwrap();
        assert_eq!(upstream_uri(&absolute).to_string(), "/x?y");
        let bare: Uri = "http://chat.example.com".parse().unwrap();
        assert_eq!(upstream_uri(&bare).to_string(), "/");
    }
}
