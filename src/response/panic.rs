//! A panicking handler answers 500 instead of dropping the connection.
//!
//! tower-http's `CatchPanic` does the same but boxes every response body a second time, on the
//! path every protected request takes; the stack's bodies are already `axum::body::Body`, so
//! this one passes them through untouched.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

#[derive(Clone, Copy, Debug, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for CatchPanic<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(inner) => CatchPanicFuture::Running { inner },
            Err(panic) => CatchPanicFuture::Panicked {
                response: Some(panic_response(panic)),
            },
        }
    }
}

pin_project! {
    #[project = CatchPanicProjection]
    pub enum CatchPanicFuture<F> {
        Running { #[pin] inner: F },
        Panicked { response: Option<Response> },
    }
}

impl<F> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CatchPanicProjection::Running { inner } => {
                match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(poll) => poll,
                    Err(panic) => Poll::Ready(Ok(panic_response(panic))),
                }
            }
            CatchPanicProjection::Panicked { response } => Poll::Ready(Ok(response
                .take()
                .expect("a panicked future is polled once"))),
        }
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{ServiceBuilder, ServiceExt};

    async fn status_of<S>(svc: S) -> StatusCode
    where
        S: Service<Request<()>, Response = Response, Error = Infallible>,
    {
        svc.oneshot(Request::new(())).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_panic_while_calling_or_polling_answers_500() {
        let in_call = ServiceBuilder::new()
            .layer(CatchPanicLayer)
            .service(tower::service_fn(
                |_: Request<()>| -> std::future::Ready<Result<Response, Infallible>> {
                    panic!("in call")
                },
            ));
        assert_eq!(status_of(in_call).await, StatusCode::INTERNAL_SERVER_ERROR);

        let in_poll =
            ServiceBuilder::new()
                .layer(CatchPanicLayer)
                .service_fn(|_: Request<()>| async {
                    if true {
                        panic!("in poll");
                    }
                    Ok::<Response, Infallible>(StatusCode::OK.into_response())
                });
        assert_eq!(status_of(in_poll).await, StatusCode::INTERNAL_SERVER_ERROR);

        let fine =
            ServiceBuilder::new()
                .layer(CatchPanicLayer)
                .service_fn(|_: Request<()>| async {
                    Ok::<Response, Infallible>(StatusCode::ACCEPTED.into_response())
                });
        assert_eq!(status_of(fine).await, StatusCode::ACCEPTED);
    }
}
