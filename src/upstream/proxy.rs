//! The reverse proxy. A request for an app passes when it comes from a trusted network, is on
//! one of the app's `skip_auth` routes, or carries a session (or an accepted bearer token)
//! that `[authorization]` and the app's own policy allow. It is then rewritten for the app and
//! forwarded, its body streamed both ways.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CONTENT_LENGTH, EXPECT, HOST, SET_COOKIE, UPGRADE, WWW_AUTHENTICATE};
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
use super::skip_auth;
use super::timing::IdleTimeout;
use super::upgrade;
use crate::auth::{AuthReason, Authentication, IdentityHeaders, Principal, bearer_challenge};
use crate::config::Config;
use crate::error::Error;
use crate::handler::{self, AppState};
use crate::net::{ClientIp, PeerAddr};
use crate::session::Session;

/// Forwards requests to the configured upstreams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: AppState,
    routes: Routes,
    client: UpstreamClient,
    identity: IdentityHeaders,
    pass_access_token: bool,
    own_cookies: OwnCookies,
    forwarding: Forwarding,
    /// `/oauth2/start` at `public_url`: sign-in must start where the provider sends the
    /// browser back to, or the sign-in attempt's cookie would not be there.
    sign_in: Url,
}

/// What the gate decided: let through, and how; or Sekisho's answer.
enum Admission {
    Pass(Passage, AuthReason),
    Refuse(Response),
}

/// How a request got past the gate.
enum Passage {
    TrustedNetwork,
    SkipAuth,
    User {
        session: Arc<Session>,
        /// A refreshed session for the browser.
        set_cookie: Vec<HeaderValue>,
    },
}

impl Proxy {
    /// `None` when no upstream is configured: Sekisho then proxies nothing.
    pub fn new(config: &Config, state: AppState) -> Option<Self> {
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
            state,
        };
        Some(Self {
            inner: Arc::new(inner),
        })
    }

    /// The app's response, or Sekisho's refusal; either way labelled with the decision for
    /// the access log and metrics.
    pub async fn handle(self, req: Request<Body>) -> Response {
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
        let (passage, reason) = match inner.admit(route, &parts, host.as_ref()).await {
            Admission::Pass(passage, reason) => (passage, reason),
            Admission::Refuse(response) => return response,
        };
        let mut response = inner.forward(route, host, passage, parts, body).await;
        response.extensions_mut().insert(reason);
        response
    }
}

impl Inner {
    /// Lets the request through, or answers it: 401 (a browser is sent to sign in instead),
    /// 403 when a policy refuses, 503 when the session store fails.
    async fn admit(&self, route: &Route, req: &Parts, host: Option<&RequestHost>) -> Admission {
        if let Some(Principal::TrustedNetwork(_)) = req.extensions.get::<Principal>() {
            return Admission::Pass(Passage::TrustedNetwork, AuthReason::TrustedIp);
        }
        let rules = &route.config.skip_auth;
        if let Some(i) = skip_auth::any_matches(rules, &req.method, req.uri.path()) {
            tracing::debug!(upstream = %route.label, rule = %rules[i], "route needs no session");
            return Admission::Pass(Passage::SkipAuth, AuthReason::SkipAuth);
        }
        let refuse = |mut response: Response, reason: AuthReason| {
            response.extensions_mut().insert(reason);
            Admission::Refuse(response)
        };
        let authentication = self
            .state
            .authenticator
            .authenticate(&req.extensions, &req.headers)
            .await;
        match authentication {
            Ok(Authentication::Allowed {
                principal: Principal::TrustedNetwork(_),
                ..
            }) => Admission::Pass(Passage::TrustedNetwork, AuthReason::TrustedIp),
            Ok(Authentication::Allowed {
                principal: Principal::User(session),
                reason,
                set_cookie,
            }) => {
                let allowed = self
                    .state
                    .policy
                    .check(&session)
                    .and_then(|()| route.config.policy.check(&session));
                match allowed {
                    Ok(()) => Admission::Pass(
                        Passage::User {
                            session,
                            set_cookie,
                        },
                        reason,
                    ),
                    Err(denial) => {
                        let error = Error::NotAllowed {
                            user: session.user.clone(),
                            reason: denial.to_string(),
                        };
                        refuse(error.into_response(), AuthReason::Forbidden)
                    }
                }
            }
            Ok(Authentication::InvalidBearer(why)) => {
                let mut response = Error::Unauthenticated.into_response();
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, bearer_challenge(&why));
                refuse(response, AuthReason::InvalidBearer)
            }
            Ok(Authentication::Denied(reason)) if wants_sign_in_page(req) => {
                refuse(self.sign_in_redirect(req, host), reason)
            }
            Ok(Authentication::Denied(reason)) => {
                refuse(Error::Unauthenticated.into_response(), reason)
            }
            Err(error) => refuse(error.into_response(), AuthReason::StoreUnavailable),
        }
    }

    /// A 302 to sign-in that comes back to the page asked for.
    fn sign_in_redirect(&self, req: &Parts, host: Option<&RequestHost>) -> Response {
        let path = req.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let rd = match host {
            Some(host) => {
                let peer = req.extensions.get::<PeerAddr>().map(|p| p.0.ip());
                let proto = self.forwarding.proto(&req.headers, peer);
                format!(
                    "{}://{}{path}",
                    proto.to_str().unwrap_or("http"),
                    host.authority
                )
            }
            None => path.to_owned(),
        };
        let mut location = self.sign_in.clone();
        location.query_pairs_mut().append_pair("rd", &rd);
        handler::found(location.as_str(), Vec::new()).unwrap_or_else(IntoResponse::into_response)
    }

    async fn forward(
        &self,
        route: &Route,
        host: Option<RequestHost>,
        passage: Passage,
        mut parts: Parts,
        body: Body,
    ) -> Response {
        let config = &route.config;
        let client_upgrade = parts.extensions.remove::<OnUpgrade>();
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        let client = parts.extensions.get::<ClientIp>().map(|c| c.0);

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
        let mut set_cookie = Vec::new();
        if let Passage::User {
            session,
            set_cookie: refreshed,
        } = passage
        {
            self.identity.write(&session, headers);
            if self.pass_access_token {
                self.identity.write_access_token(&session, headers);
            }
            set_cookie = refreshed;
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

/// A browser navigating (not a script, not a WebSocket) is better served by the sign-in page
/// than by a 401; it comes back with `GET`, so only `GET` and `HEAD` are sent there.
fn wants_sign_in_page(req: &Parts) -> bool {
    matches!(req.method, Method::GET | Method::HEAD)
        && !req.headers.contains_key(UPGRADE)
        && req
            .headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
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

    #[test]
    fn only_navigations_are_sent_to_sign_in() {
        let req = |method: Method, accept: &str, upgrade: bool| {
            let mut req = Request::builder().method(method).header(ACCEPT, accept);
            if upgrade {
                req = req.header(UPGRADE, "websocket");
            }
            req.body(()).unwrap().into_parts().0
        };
        assert!(wants_sign_in_page(&req(
            Method::GET,
            "text/html,*/*",
            false
        )));
        assert!(wants_sign_in_page(&req(Method::HEAD, "text/html", false)));
        assert!(!wants_sign_in_page(&req(Method::POST, "text/html", false)));
        assert!(!wants_sign_in_page(&req(
            Method::GET,
            "application/json",
            false
        )));
        assert!(!wants_sign_in_page(&req(Method::GET, "text/html", true)));
    }
}
