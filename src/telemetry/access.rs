use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::metrics::record_request;
use crate::auth::AuthReason;
use crate::net::{ClientIp, PeerAddr};
use crate::route::Route;

/// A bounded label for a path: Sekisho's own routes by name, everything else `other`, so a
/// scanner cannot blow up the metrics' cardinality.
pub fn route_label(path: &str) -> &'static str {
    match Route::of_prefixed(path) {
        Some(
            route @ (Route::Auth
            | Route::Traefik
            | Route::Caddy
            | Route::ExtAuthz
            | Route::EnvoyCheck
            | Route::Ping
            | Route::Ready
            | Route::Metrics),
        ) => route.path(),
        _ if path.starts_with("/oauth2/") => "/oauth2/*",
        _ => "other",
    }
}

/// Records every request in the metrics and, if enabled, the access log: route, status,
/// latency, the resolved client address and the authentication decision.
#[derive(Clone, Debug)]
pub struct ObserveLayer {
    access_log: bool,
}

impl ObserveLayer {
    pub fn new(access_log: bool) -> Self {
        Self { access_log }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            access_log: self.access_log,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    access_log: bool,
}

struct Seen {
    start: Instant,
    route: &'static str,
    /// Only with the access log on: the metrics need none of it.
    logged: Option<Logged>,
}

struct Logged {
    method: Method,
    uri: Uri,
    client: Option<ClientIp>,
    peer: Option<PeerAddr>,
    request_id: Option<HeaderValue>,
}

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let seen = Seen {
            start: Instant::now(),
            route: route_label(req.uri().path()),
            logged: self.access_log.then(|| Logged {
                method: req.method().clone(),
                uri: req.uri().clone(),
                client: req.extensions().get().copied(),
                peer: req.extensions().get().copied(),
                request_id: req.headers().get(super::X_REQUEST_ID).cloned(),
            }),
        };
        ObserveFuture {
            inner: self.inner.call(req),
            seen: Some(seen),
        }
    }
}

pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F, RB, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Some(seen), Ok(response)) = (this.seen.take(), &result) {
            record(seen, response);
        }
        Poll::Ready(result)
    }
}

fn record<B>(seen: Seen, response: &Response<B>) {
    let elapsed = seen.start.elapsed();
    let status = response.status();
    record_request(
        seen.route,
        status.as_u16(),
        status_label(status.as_u16()),
        elapsed.as_secs_f64(),
    );
    let Some(seen) = seen.logged else { return };
    let reason = response.extensions().get::<AuthReason>().copied();
    tracing::info!(
        target: "sekisho::access",
        method = %seen.method,
        path = seen.uri.path(),
        status = status.as_u16(),
        client_ip = %seen.client.map_or_else(|| "-".to_owned(), |c| c.0.to_string()),
        peer = %seen.peer.map_or_else(|| "-".to_owned(), |p| p.0.to_string()),
        decision = reason.map_or("-", AuthReason::as_str),
        request_id = seen.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
}

/// Static status labels for the common codes avoid formatting a string per request.
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        202 => "202",
        204 => "204",
        302 => "302",
        303 => "303",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_label("/oauth2/auth"), "/oauth2/auth");
        assert_eq!(route_label("/oauth2/whatever"), "/oauth2/*");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(202), "202");
    }
}
