//! The one place the order of the request stack is written: the envelope every request passes
//! through (`envelope`, whose steps are listed in order there), then the bottom, Sekisho's own
//! route or the app's through the proxy. Requests pass top to bottom, responses bottom to top.
//!
//! Every part here is always ready (`poll_ready` never waits): the server calls the stack
//! without asking first (see `server::Connection`). A part that applies backpressure would
//! have to change that.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower::Service;

use crate::config::Config;
use crate::door::{Answer, Door, Doors};
use crate::error::Error;
use crate::gate::Gate;
use crate::handler::{self, AppState};
use crate::net::{ClientIpResolver, Origin};
use crate::route::is_own_path;
use crate::server::App;
use crate::upstream::{Proxy, ambiguous_host};

mod envelope;

use envelope::Envelope;

/// What the whole stack answers with.
pub type StackResponse = Response;

/// A request and the connection it came on (`None` for a caller in process that gave none),
/// as the envelope hands it to what answers it.
pub struct Arrival {
    pub req: Request<Body>,
    pub origin: Option<Origin>,
}

pub fn build(
    config: &Config,
    state: AppState,
) -> impl Service<Request<Body>, Response = StackResponse, Error = Infallible, Future: Send + 'static>
+ App<Body = Body>
+ Sync {
    let resolver = ClientIpResolver::new(
        config.client_ip.header,
        config.client_ip.trusted_proxies.clone(),
    );
    let gate = Gate::new(
        config.trusted_ips.clone(),
        state.authenticator.clone(),
        config.authorization.clone(),
    );
    let own = Own {
        doors: Doors::new(config, gate.clone()),
        router: handler::routes().with_state(state),
    };
    let proxy = Proxy::new(config, gate);
    // Around everything: the request id, the client address, the panic guard, the error page
    // and the observation, in the order `envelope` documents.
    Envelope::new(Dispatch { own, proxy }, resolver, config.log.access)
}

/// The bottom of the stack: Sekisho's own route, or the app's through the proxy.
#[derive(Clone)]
struct Dispatch {
    own: Own,
    proxy: Option<Proxy>,
}

impl Service<Arrival> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, Arrival { req, origin }: Arrival) -> Answer {
        // Every door below routes and decides by one host; a request naming two is refused.
        if let Some(reason) = ambiguous_host(&req) {
            return Answer::ready(Error::BadRequest(reason.into()).into_response());
        }
        match &self.proxy {
            Some(proxy) if !is_own_path(req.uri().path()) => {
                let proxy = proxy.clone();
                Answer::pending(async move { Ok(proxy.handle(req, origin).await) })
            }
            _ => self.own.call(req, origin),
        }
    }
}

/// Sekisho's own routes: the front doors, asked once for every request of every app, answered
/// without the router; everything else through it.
#[derive(Clone)]
struct Own {
    doors: Doors,
    router: Router,
}

impl Own {
    fn call(&mut self, req: Request<Body>, origin: Option<Origin>) -> Answer {
        match Door::of(req.method(), req.uri().path()) {
            Some(door) => self.doors.answer(door, req, origin),
            None => Answer::pending(self.router.call(req)),
        }
    }
}
