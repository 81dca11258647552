//! Turns error responses into HTML pages for browsers, in their language. Other clients
//! (nginx sub-requests, API clients, curl) keep the short plain-text reason.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::page::{Lang, Page, render};

#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorPageLayer;

impl<S> Layer<S> for ErrorPageLayer {
    type Service = ErrorPages<S>;
    fn layer(&self, inner: S) -> ErrorPages<S> {
        ErrorPages { inner }
    }
}

#[derive(Clone, Debug)]
pub struct ErrorPages<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for ErrorPages<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ErrorPageFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let wants_html = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        let lang =
            wants_html.then(|| Lang::from_accept_language(req.headers().get(ACCEPT_LANGUAGE)));
        ErrorPageFuture {
            inner: self.inner.call(req),
            lang,
        }
    }
}

pin_project! {
    pub struct ErrorPageFuture<F> {
        #[pin]
        inner: F,
        lang: Option<Lang>,
    }
}

impl<F, E> Future for ErrorPageFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let (Some(lang), Some(page)) = (*this.lang, response.extensions_mut().remove::<Page>()) {
            let html = render(&page, lang);
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.remove(CONTENT_LENGTH);
            *response.body_mut() = Body::from(html);
        }
        Poll::Ready(Ok(response))
    }
}
