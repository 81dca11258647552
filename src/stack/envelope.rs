//! What every request passes through on its way in and its answer on the way out, whatever
//! answers it: its id, its real client address, the panic guard, the error page, and the
//! metrics and access log. In order, on the way in:
//!
//! 1. the id (an incoming `X-Request-Id` from nginx is kept), so every line logged for the
//!    request can carry it, and the response echoes it; a request going on to an app carries
//!    it to the app;
//! 2. the client address, believed from forwarded headers only when a trusted proxy sent them,
//!    before anything that logs or decides;
//! 3. the observation, which sees the final status of everything below, panics included;
//! 4. the panic guard: a panicking handler answers 500 instead of dropping the connection;
//! 5. the error page: browsers get it in their language, other clients the plain reason
//!    (nginx's `auth_request` answers get none: nginx never passes their body on).
//!
//! They are steps of one service rather than five layers: each layer's call and future cost
//! about 270 instructions per request in moves and polls, on the path every protected request
//! of every app takes, for work that is a few lines each.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use pin_project_lite::pin_project;
use tower::Service;

use super::Arrival;
use crate::net::{ClientIpResolver, Origin};
use crate::response::{PageWanted, guarded};
use crate::route::{Route, is_own_path};
use crate::server::App;
use crate::telemetry::{Observation, RequestId, RequestIds};

/// The envelope around the service that answers (see the module's documentation).
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    ids: RequestIds,
    resolver: ClientIpResolver,
    access_log: bool,
}

impl<S> Envelope<S> {
    pub fn new(inner: S, resolver: ClientIpResolver, access_log: bool) -> Self {
        Self {
            inner,
            ids: RequestIds::new(),
            resolver,
            access_log,
        }
    }
}

impl<S> Envelope<S>
where
    S: Service<Arrival, Response = Response, Error = Infallible>,
{
    /// The request on its way in (see the module's documentation), from `origin`.
    fn enter(&mut self, origin: Option<Origin>, mut req: Request<Body>) -> Sealed<S::Future> {
        let route = Route::of_prefixed(req.uri().path());
        let id = self.ids.of(&req);
        if route.is_none() && !is_own_path(req.uri().path()) {
            id.pass_on(&mut req);
        }
        let origin = origin.map(|origin| self.resolver.resolved(origin, req.headers()));
        let observation = Observation::begin(&req, origin, route, &id, self.access_log);
        // nginx reads only the status and headers of an `auth_request` answer, never its body:
        // no page is made for it, and its request's `Accept` is not asked.
        let page = match route {
            Some(Route::Auth) => None,
            _ => PageWanted::of(&req),
        };
        let answer = match guarded(|| self.inner.call(Arrival { req, origin })) {
            Ok(inner) => Answering::Running { inner },
            Err(panicked) => Answering::Panicked {
                response: Some(panicked.into_response()),
            },
        };
        Sealed {
            answer,
            page,
            observation: Some(observation),
            id: Some(id),
        }
    }
}

/// How the server calls it: the origin beside the request.
impl<S> App for Envelope<S>
where
    S: Service<Arrival, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Body = Body;
    type Future = Sealed<S::Future>;

    fn call(&mut self, origin: Origin, req: Request<Body>) -> Self::Future {
        self.enter(Some(origin), req)
    }
}

/// How a caller in process asks it: the origin, if any, in the request's extensions.
impl<S> Service<Request<Body>> for Envelope<S>
where
    S: Service<Arrival, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Sealed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let origin = req.extensions_mut().remove::<Origin>();
        self.enter(origin, req)
    }
}

pin_project! {
    /// The answer on its way out through the envelope.
    pub struct Sealed<F> {
        #[pin]
        answer: Answering<F>,
        page: Option<PageWanted>,
        observation: Option<Observation>,
        id: Option<RequestId>,
    }
}

pin_project! {
    #[project = AnsweringProjection]
    enum Answering<F> {
        Running { #[pin] inner: F },
        Panicked { response: Option<Response> },
    }
}

impl<F> Future for Sealed<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.answer.project() {
            AnsweringProjection::Running { inner } => {
                let page = this.page;
                let answered = guarded(|| match inner.poll(cx) {
                    Poll::Ready(Ok(response)) => Poll::Ready(match page.take() {
                        Some(page) => page.render(response),
                        None => response,
                    }),
                    Poll::Pending => Poll::Pending,
                });
                match answered {
                    Ok(Poll::Ready(response)) => response,
                    Ok(Poll::Pending) => return Poll::Pending,
                    Err(panicked) => panicked.into_response(),
                }
            }
            AnsweringProjection::Panicked { response } => {
                response.take().expect("a panicked answer is polled once")
            }
        };
        if let Some(observation) = this.observation.take() {
            observation.end(&response);
        }
        if let Some(id) = this.id.take() {
            id.echo(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{ForwardedHeader, Networks};
    use crate::response::Page;
    use crate::telemetry::X_REQUEST_ID;
    use http::header::{ACCEPT, CONTENT_TYPE};
    use http::{HeaderValue, StatusCode};
    use tower::ServiceExt;

    fn around<S>(inner: S) -> Envelope<S> {
        let trusted = Networks::parse(&["127.0.0.1"]).unwrap();
        Envelope::new(
            inner,
            ClientIpResolver::new(ForwardedHeader::XForwardedFor, trusted),
            false,
        )
    }

    fn request(accept: &str) -> Request<Body> {
        let mut req = Request::builder()
            .header(ACCEPT, accept)
            .header("x-forwarded-for", "203.0.113.7, 198.51.100.9")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(Origin::new("127.0.0.1:5000".parse().unwrap()));
        req
    }

    /// What the answering service saw of the request id, and what the answer echoed.
    async fn ids_seen(path: &str) -> (Option<HeaderValue>, HeaderValue) {
        let envelope = around(tower::service_fn(|Arrival { req, origin }| async move {
            let client = origin.and_then(|origin| origin.client());
            assert_eq!(client, Some("198.51.100.9".parse().unwrap()));
            let mut response = StatusCode::ACCEPTED.into_response();
            response
                .extensions_mut()
                .insert(req.headers().get(X_REQUEST_ID).cloned());
            Ok::<_, Infallible>(response)
        }));
        let mut req = request("*/*");
        *req.uri_mut() = path.parse().unwrap();
        let mut response = envelope.oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let seen = response
            .extensions_mut()
            .remove::<Option<HeaderValue>>()
            .unwrap();
        (seen, response.headers()[X_REQUEST_ID].clone())
    }

    #[tokio::test]
    async fn an_app_sees_the_id_the_answer_echoes_and_every_answer_carries_one() {
        let (seen, echoed) = ids_seen("/app/x").await;
        assert_eq!(seen.as_ref(), Some(&echoed));
        assert_eq!(echoed.len(), 33);
        let (seen, echoed) = ids_seen("/oauth2/auth").await;
        assert_eq!(seen, None, "Sekisho's own routes log the id without it");
        assert_eq!(echoed.len(), 33);
    }

    #[tokio::test]
    async fn a_panic_in_the_call_or_in_a_poll_is_a_500_that_still_carries_the_id() {
        let in_call = around(tower::service_fn(
            |_: Arrival| -> std::future::Ready<Result<Response, Infallible>> { panic!("in call") },
        ));
        let in_poll = around(tower::service_fn(|_: Arrival| async {
            if true {
                panic!("in poll");
            }
            Ok::<Response, Infallible>(StatusCode::OK.into_response())
        }));
        for response in [
            in_call.oneshot(request("text/html")).await.unwrap(),
            in_poll.oneshot(request("text/html")).await.unwrap(),
        ] {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(response.headers().contains_key(X_REQUEST_ID));
        }
    }

    #[tokio::test]
    async fn error_pages_only_for_browsers() {
        let failing = || {
            around(tower::service_fn(|_: Arrival| async {
                let mut response = (StatusCode::FORBIDDEN, "not allowed\n").into_response();
                response.extensions_mut().insert(Page::Error {
                    status: 403,
                    reason: "not allowed".into(),
                });
                Ok::<_, Infallible>(response)
            }))
        };
        let browser = failing().oneshot(request("text/html")).await.unwrap();
        assert_eq!(browser.status(), StatusCode::FORBIDDEN);
        assert_eq!(browser.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let api = failing()
            .oneshot(request("application/json"))
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::FORBIDDEN);
        assert_ne!(api.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let mut subrequest = request("text/html");
        *subrequest.uri_mut() = "/oauth2/auth".parse().unwrap();
        let nginx = failing().oneshot(subrequest).await.unwrap();
        assert_eq!(nginx.status(), StatusCode::FORBIDDEN);
        assert_ne!(
            nginx.headers()[CONTENT_TYPE],
            "text/html; charset=utf-8",
            "nginx passes the browser's Accept to auth_request but never the answer's body"
        );
    }
}
