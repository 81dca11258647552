//! Request ids: an incoming `X-Request-Id` is kept, otherwise one is made; either way the
//! request carries it (for logs) and the response echoes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// New ids are a random per-process prefix and a counter: unique across replicas in practice,
/// and cheaper than a UUID per request, which costs a system call for randomness on the path
/// every protected request takes.
#[derive(Clone, Debug)]
pub struct RequestIdLayer {
    /// The prefix in hex, and the dash after it.
    prefix: [u8; 17],
    next: Arc<AtomicU64>,
}

impl RequestIdLayer {
    pub fn new() -> Self {
        let mut prefix = [b'-'; 17];
        hex(rand::random(), &mut prefix[..16]);
        Self {
            prefix,
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `<prefix>-<counter>`, both as 16 hex digits. Written by hand into a buffer because
    /// `format!` costs several times more than the rest of this layer.
    fn make(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0; 33];
        id[..17].copy_from_slice(&self.prefix);
        hex(n, &mut id[17..]);
        HeaderValue::from_bytes(&id).expect("hex digits and a dash are a valid header value")
    }
}

fn hex(mut n: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;
    fn layer(&self, inner: S) -> RequestIds<S> {
        RequestIds {
            inner,
            ids: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestIds<S> {
    inner: S,
    ids: RequestIdLayer,
}

impl<S, B, RB> Service<Request<B>> for RequestIds<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = match req.headers().get(&X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.make();
                req.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        RequestIdFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project! {
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, RB, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(X_REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn exchange(incoming: Option<&str>) -> (Option<String>, Option<String>) {
        let svc = ServiceBuilder::new()
            .layer(RequestIdLayer::new())
            .service_fn(|req: Request<()>| async move {
                let seen = req
                    .headers()
                    .get(X_REQUEST_ID)
                    .map(|v| v.to_str().unwrap().to_owned());
                Ok::<_, Infallible>(Response::new(seen))
            });
        let mut req = Request::new(());
        if let Some(id) = incoming {
            req.headers_mut()
                .insert(X_REQUEST_ID, HeaderValue::from_str(id).unwrap());
        }
        let response = svc.oneshot(req).await.unwrap();
        let echoed = response
            .headers()
            .get(X_REQUEST_ID)
            .map(|v| v.to_str().unwrap().to_owned());
        (response.into_body(), echoed)
    }

    #[tokio::test]
    async fn kept_or_made_and_echoed() {
        assert_eq!(
            exchange(Some("abc")).await,
            (Some("abc".into()), Some("abc".into()))
        );
        let (seen, echoed) = exchange(None).await;
        assert!(seen.is_some());
        assert_eq!(seen, echoed);
        let (other, _) = exchange(None).await;
        assert_ne!(seen, other, "each request gets its own id");
    }

    #[test]
    fn made_ids_are_prefix_and_counter() {
        let ids = RequestIdLayer::new();
        let first = ids.make();
        let second = ids.make();
        let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
        assert_eq!(first.len(), 33);
        assert_eq!(first[..17], second[..17]);
        assert!(first.ends_with("0000000000000001"), "{first}");
        assert!(second.ends_with("0000000000000002"), "{second}");
        assert!(first.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    }
}
