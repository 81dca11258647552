//! What the server serves: each request handed over with the connection it came on.

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use http::{Request, Response};
use tower::Service;

use crate::net::Origin;

/// A service the server calls with each request and its [`Origin`]. The origin is handed over
/// beside the request rather than in its extensions: the first extension of a request costs
/// three allocations, on the path every request of every app takes.
pub trait App: Clone + Send + 'static {
    type Body;
    type Future: Future<Output = Result<Response<Self::Body>, Infallible>> + Send + 'static;

    fn call(&mut self, origin: Origin, req: Request<Body>) -> Self::Future;
}

/// A tower service served as an [`App`]: the origin goes into each request's extensions,
/// where [`Origin::peer_ip`] finds it.
#[derive(Clone)]
pub struct OriginInExtensions<S>(pub S);

impl<S, B> App for OriginInExtensions<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Body = B;
    type Future = S::Future;

    fn call(&mut self, origin: Origin, mut req: Request<Body>) -> S::Future {
        req.extensions_mut().insert(origin);
        self.0.call(req)
    }
}
