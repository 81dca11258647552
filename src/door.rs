//! The front doors: each asks the [`Gate`] in its own way, and each is answered in the form
//! it can pass on. A door only translates: its request into [`Facts`], the [`Decision`] back.
//!
//! | door | asks | allows on | a browser without a session gets |
//! |---|---|---|---|
//! | nginx `auth_request` | `GET /oauth2/auth`, the original headers | 2xx (202) | 401; nginx's `error_page` sends it to sign in |
//! | Traefik ForwardAuth | `/oauth2/traefik`, `X-Forwarded-Method/-Proto/-Host/-Uri` | 2xx (200) | Sekisho's 302 to sign in, passed through |
//! | Caddy `forward_auth` | `/oauth2/caddy`, the same headers | 2xx (200) | the same |
//! | Envoy HTTP ext_authz, Gateway API `ExternalAuth` (HTTP) | the original method and path after `/oauth2/ext_authz` | 200 only | the same |
//! | Envoy gRPC ext_authz, Gateway API `ExternalAuth` (GRPC) | `Authorization/Check` over h2c, a `CheckRequest` | `OK` | the same, in the `DeniedHttpResponse` |

mod answer;
pub mod envoy_proto;
mod ext_authz;
pub mod ext_authz_grpc;
mod ext_authz_grpc_check;
mod forward_auth;
mod forwarded_request;
mod narrowing;
mod nginx;

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};
use http::{Method, Request};
use url::Url;

use crate::auth::{IdentityHeaders, Policy};
use crate::config::Config;
use crate::gate::{Decision, Gate, Passage};
use crate::net::{ClientIpResolver, Networks, Origin};
use crate::route::Route;
use crate::session::Session;

pub use answer::{Answer, refusal, sign_in_redirect};
pub use nginx::query_in_path;

/// Which front door a request comes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    Nginx,
    Traefik,
    Caddy,
    ExtAuthz,
    ExtAuthzGrpc,
}

impl Door {
    /// The door a request to Sekisho's own `path` is asked through, if any. nginx's is only
    /// `GET`/`HEAD`: anything else at its path is the router's 405.
    pub fn of(method: &Method, path: &str) -> Option<Door> {
        match Route::of_prefixed(path)? {
            Route::Auth if matches!(*method, Method::GET | Method::HEAD) => Some(Door::Nginx),
            Route::Traefik => Some(Door::Traefik),
            Route::Caddy => Some(Door::Caddy),
            Route::ExtAuthz => Some(Door::ExtAuthz),
            Route::EnvoyCheck => Some(Door::ExtAuthzGrpc),
            _ => None,
        }
    }

    /// The name logs give it.
    pub fn name(self) -> &'static str {
        match self {
            Door::Nginx => "nginx auth_request",
            Door::Traefik => "Traefik ForwardAuth",
            Door::Caddy => "Caddy forward_auth",
            Door::ExtAuthz => "Envoy ext_authz",
            Door::ExtAuthzGrpc => "Envoy ext_authz (gRPC)",
        }
    }
}

/// Answers every front door. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Doors {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gate: Gate,
    identity: IdentityHeaders,
    pass_access_token: bool,
    /// Whether the access log wants each decision's reason on the response: a response
    /// extension costs allocations the auth endpoints should not pay when nobody reads it.
    access_log: bool,
    accept_unverified_email: bool,
    /// `/oauth2/start` at `public_url`: sign-in must start where the provider sends the
    /// browser back to.
    sign_in: Url,
    /// Only these peers' `X-Forwarded-*` headers are believed.
    trusted_proxies: Networks,
    /// Reads a client address out of a forwarded chain, for the doors that report one
    /// without a connection of its own (Envoy's `CheckRequest`).
    resolver: ClientIpResolver,
    /// The scheme assumed when a trusted proxy does not say (`public_url`'s).
    default_scheme: &'static str,
}

impl Doors {
    pub fn new(config: &Config, gate: Gate) -> Self {
        let sign_in = config
            .public_url
            .join(Route::Start.relative())
            .expect("a validated public_url takes a relative path");
        let inner = Inner {
            gate,
            identity: IdentityHeaders::auth_request(),
            pass_access_token: config.oidc.as_ref().is_some_and(|o| o.pass_access_token),
            access_log: config.log.access,
            accept_unverified_email: config.authorization.accepts_unverified_email(),
            sign_in,
            trusted_proxies: config.client_ip.trusted_proxies.clone(),
            resolver: ClientIpResolver::new(
                config.client_ip.header,
                config.client_ip.trusted_proxies.clone(),
            ),
            default_scheme: if config.public_url.scheme() == "https" {
                "https"
            } else {
                "http"
            },
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The door's answer: at once when the gate needs no waiting, else a future.
    pub fn answer(&self, door: Door, req: Request<Body>, origin: Option<Origin>) -> Answer {
        if door == Door::ExtAuthzGrpc {
            let check = ext_authz_grpc::service(self.clone());
            return Answer::pending(check.check(origin.map(|o| o.peer()), req));
        }
        let (parts, _body) = req.into_parts();
        match door {
            Door::Nginx => nginx::answer(&self.inner, parts, origin),
            Door::Traefik | Door::Caddy => forward_auth::answer(&self.inner, door, parts, origin),
            Door::ExtAuthz => ext_authz::answer(&self.inner, parts, origin),
            Door::ExtAuthzGrpc => unreachable!("answered above, with its body"),
        }
    }
}

impl Inner {
    /// The answer that lets a request through: `status` (what the door takes for "allow"),
    /// the user's identity headers, and a refreshed session's cookies.
    fn allowed(
        &self,
        status: StatusCode,
        passage: &Passage,
        set_cookie: Vec<HeaderValue>,
    ) -> Response {
        let mut response = status.into_response();
        if let Passage::User(session) = passage {
            self.write_identity(session, response.headers_mut());
        }
        for line in set_cookie {
            response.headers_mut().append(SET_COOKIE, line);
        }
        response
    }

    /// The identity headers of `session`, and its access token when configured to pass it on.
    fn write_identity(&self, session: &Session, headers: &mut HeaderMap) {
        self.identity.write(session, headers);
        if self.pass_access_token {
            self.identity.write_access_token(session, headers);
        }
    }

    /// The narrowing an auth address's query asks for; an unreadable one refuses the door's
    /// request (a location meant for one group must not let in everyone).
    fn narrowing(&self, query: Option<&str>) -> Result<Option<Policy>, Decision> {
        query
            .map(|query| narrowing::narrowing(query, self.accept_unverified_email))
            .transpose()
            .map_err(Decision::misconfigured)
    }

    /// The response labelled with its decision's reason for the access log, when it wants it.
    fn labelled(&self, mut response: Response, reason: crate::auth::AuthReason) -> Response {
        if self.access_log {
            response.extensions_mut().insert(reason);
        }
        response
    }
}
