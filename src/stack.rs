//! The one place the order of the request stack is written. Requests pass the layers top to
//! bottom, responses bottom to top.
//!
//! Every layer here is always ready (`poll_ready` never waits): the server calls the stack
//! without asking first (see `server::Connection`). A layer that applies backpressure would
//! have to change that.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request};
use tower::{Service, ServiceBuilder};

use crate::auth::{Principal, TrustedIpLayer};
use crate::config::Config;
use crate::error::Error;
use crate::handler::{self, AppState, CatchPanicLayer, ErrorPageLayer};
use crate::net::{ClientIpLayer, ClientIpResolver};
use crate::route::Route;
use crate::telemetry::{ObserveLayer, RequestIdLayer};
use crate::upstream::{Proxy, ambiguous_host};

/// What the whole stack answers with.
pub type StackResponse = Response;

pub fn build(
    config: &Config,
    state: AppState,
) -> impl Service<Request<Body>, Response = StackResponse, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let resolver = ClientIpResolver::new(
        config.client_ip.header,
        config.client_ip.trusted_proxies.clone(),
    );
    let router = handler::routes().with_state(state.clone());
    let proxy = Proxy::new(config, state.clone());
    ServiceBuilder::new()
        // Outermost, so every line logged for a request can carry its id (an incoming
        // `X-Request-Id` from nginx is kept), and the response echoes it.
        .layer(RequestIdLayer::new())
        // Before anything that logs or decides: the real client address, believed from
        // forwarded headers only when a trusted proxy sent them.
        .layer(ClientIpLayer::new(resolver))
        // Sees the final status of everything below, panics included.
        .layer(ObserveLayer::new(config.log.access))
        // A panicking handler answers 500 instead of dropping the connection.
        .layer(CatchPanicLayer)
        // Browsers get error pages in their language; other clients the plain reason.
        .layer(ErrorPageLayer)
        // Marks trusted networks before any handler looks for a session; needs no store,
        // so it keeps working when stores and identity providers are down.
        .layer(TrustedIpLayer::new(config.trusted_ips.clone()))
        .service(Dispatch {
            state,
            router,
            proxy,
        })
}

/// Sends `GET`/`HEAD /oauth2/auth`, asked once for every request of every protected app,
/// straight to its handler; with upstreams configured, requests for the apps to the proxy;
/// everything else through the router.
#[derive(Clone)]
struct Dispatch {
    state: AppState,
    router: Router,
    proxy: Option<Proxy>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// A trusted network's answer is known at once: it skips boxing the (large) future of a
    /// session decision.
    #[project = DispatchProjection]
    pub enum DispatchFuture {
        Ready { response: Option<Response> },
        Pending { #[pin] inner: BoxedResponse },
    }
}

impl Future for DispatchFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DispatchProjection::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("a ready dispatch future is polled once"))),
            DispatchProjection::Pending { inner } => inner.poll(cx),
        }
    }
}

impl Service<Request<Body>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // Every door below routes and decides by one host; a request naming two is refused.
        if let Some(reason) = ambiguous_host(&req) {
            return DispatchFuture::Ready {
                response: Some(Error::BadRequest(reason.into()).into_response()),
            };
        }
        let auth = req.uri().path() == Route::Auth.path()
            && matches!(*req.method(), Method::GET | Method::HEAD);
        if !auth {
            if let Some(proxy) = &self.proxy {
                if !handler::is_own_path(req.uri().path()) {
                    let proxy = proxy.clone();
                    return DispatchFuture::Pending {
                        inner: Box::pin(async move { Ok(proxy.handle(req).await) }),
                    };
                }
            }
            return DispatchFuture::Pending {
                inner: Box::pin(self.router.call(req)),
            };
        }
        if let Some(Principal::TrustedNetwork(_)) = req.extensions().get::<Principal>() {
            return DispatchFuture::Ready {
                response: Some(handler::auth_request::trusted(&self.state)),
            };
        }
        if let Some(now) = self.state.authenticator.authenticate_now(req.headers()) {
            let response = handler::auth_request::respond(&self.state, Ok(now), req.uri().query());
            return DispatchFuture::Ready {
                response: Some(response),
            };
        }
        let state = self.state.clone();
        let inner =
            Box::pin(
                async move { Ok(handler::auth_request::decide(state, req.into_parts().0).await) },
            );
        DispatchFuture::Pending { inner }
    }
}
