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
        // nginx passes the browser's headers to every `auth_request` sub-request, so most
        // requests want HTML; the language is only worked out for the few that fail.
        let accept_language = wants_html.then(|| req.headers().get(ACCEPT_LANGUAGE).cloned());
        ErrorPageFuture {
            inner: self.inner.call(req),
            accept_language,
        }
    }
}

pin_project! {
    pub struct ErrorPageFuture<F> {
        #[pin]
        inner: F,
        // `Some` when the client wants HTML: its `Accept-Language`, if it sent one.
        accept_language: Option<Option<HeaderValue>>,
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
        let page = match this.accept_language.take() {
            Some(accept_language) => response
                .extensions_mut()
                .remove::<Page>()
                .map(|page| (accept_language, page)),
            None => None,
        };
        if let Some((accept_language, page)) = page {
            let html = render(&page, Lang::from_accept_language(accept_language.as_ref()));
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
