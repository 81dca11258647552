//! The gRPC framing: a tower service that takes Envoy's unary Check call over HTTP/2, and
//! refuses in plain HTTP what is not one.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use tonic::server::{Grpc, UnaryService};
use tonic_prost::ProstCodec;

use super::{CHECK_PATH, Checker, answer, facts};
use crate::door::envoy_proto::{CheckRequest, CheckResponse};
use crate::net::Origin;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Serves `Authorization/Check` with a [`Checker`]; made by [`super::service`]. Called with the
/// connection's peer ([`GrpcCheck::check`]), or as a tower service with the connection's
/// [`Origin`] in the request's extensions. Messages up to tonic's default 4 MiB are read
/// (Envoy sends a request body only when `with_request_body` asks it to).
#[derive(Clone)]
pub struct GrpcCheck<C> {
    checker: C,
}

impl<C: Checker> GrpcCheck<C> {
    pub(super) fn new(checker: C) -> Self {
        Self { checker }
    }

    /// The answer to one call that came from `peer` (`None`: unknown, refused).
    pub fn check(
        &self,
        peer: Option<SocketAddr>,
        request: Request<Body>,
    ) -> BoxFuture<Result<Response<Body>, Infallible>> {
        if let Some(refusal) = refusal(&request) {
            return Box::pin(std::future::ready(Ok(refusal)));
        }
        let Some(peer) = peer else {
            tracing::error!("check call without the connection's peer address");
            let status = tonic::Status::internal("peer address unknown");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let call = Call {
            checker: self.checker.clone(),
            peer,
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<CheckResponse, CheckRequest>::default());
            Ok(grpc.unary(call, request).await.map(Body::new))
        })
    }
}

impl<C: Checker> tower::Service<Request<Body>> for GrpcCheck<C> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let peer = request.extensions().get::<Origin>().map(Origin::peer);
        self.check(peer, request)
    }
}

/// The plain-HTTP answer to a request that is not a gRPC call of this method, if it is not.
/// gRPC needs HTTP/2; a content type other than `application/grpc[+proto]` gets 415, as the
/// gRPC over HTTP/2 specification asks; another path gets gRPC's UNIMPLEMENTED.
fn refusal(request: &Request<Body>) -> Option<Response<Body>> {
    if request.version() != Version::HTTP_2 {
        return Some(plain(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "gRPC needs HTTP/2 (h2c with prior knowledge)\n",
        ));
    }
    if request.method() != Method::POST {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "gRPC calls are POST\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Some(response);
    }
    if !is_grpc_proto(request.headers().get(CONTENT_TYPE)) {
        return Some(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type must be application/grpc\n",
        ));
    }
    if request.uri().path() != CHECK_PATH {
        return Some(tonic::Status::unimplemented("unknown method").into_http());
    }
    None
}

fn is_grpc_proto(content_type: Option<&HeaderValue>) -> bool {
    let Some(Ok(content_type)) = content_type.map(HeaderValue::to_str) else {
        return false;
    };
    let (media, _params) = content_type.split_once(';').unwrap_or((content_type, ""));
    matches!(
        media.trim().to_ascii_lowercase().as_str(),
        "application/grpc" | "application/grpc+proto"
    )
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One Check call: read the facts, ask the checker (unless they cannot be read), render.
struct Call<C> {
    checker: C,
    peer: SocketAddr,
}

impl<C: Checker> UnaryService<CheckRequest> for Call<C> {
    type Response = CheckResponse;
    type Future = BoxFuture<Result<tonic::Response<CheckResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<CheckRequest>) -> Self::Future {
        let checker = self.checker.clone();
        let peer = self.peer;
        Box::pin(async move {
            let request = request.into_inner();
            let answer = match facts::read(&request) {
                Ok(facts) => checker.check(peer, facts).await,
                Err(why) => facts::refuse(&request, &why),
            };
            Ok(tonic::Response::new(answer::render(answer)))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::HeaderMap;
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::{Service, ServiceExt};

    use super::*;
    use crate::door::envoy_proto::attribute_context::{HttpRequest, Peer, Request as Attributes};
    use crate::door::envoy_proto::check_response::HttpResponse;
    use crate::door::envoy_proto::{Address, AttributeContext, SocketAddress};
    use crate::door::ext_authz_grpc::{CheckAnswer, CheckFacts, service};

    /// Lets in requests carrying the cookie `sekisho=ok`, sends the rest to sign in; records
    /// every call.
    #[derive(Clone, Default)]
    struct CookieChecker {
        calls: Arc<Mutex<Vec<(SocketAddr, CheckFacts)>>>,
    }

    impl Checker for CookieChecker {
        async fn check(&self, peer: SocketAddr, facts: CheckFacts) -> CheckAnswer {
            let signed_in = facts
                .headers
                .get("cookie")
                .is_some_and(|c| c == "sekisho=ok");
            self.calls.lock().unwrap().push((peer, facts));
            if signed_in {
                let mut upstream = HeaderMap::new();
                upstream.insert("x-auth-request-user", HeaderValue::from_static("alice"));
                let mut client = HeaderMap::new();
                client.append("set-cookie", HeaderValue::from_static("a=1"));
                client.append("set-cookie", HeaderValue::from_static("b=2"));
                CheckAnswer::Allow {
                    upstream,
                    remove: vec![http::HeaderName::from_static("x-auth-request-email")],
                    client,
                }
            } else {
                let mut headers = HeaderMap::new();
                headers.insert(
                    "location",
                    HeaderValue::from_static("https://auth.test/start"),
                );
                CheckAnswer::Deny {
                    status: StatusCode::FOUND,
                    headers,
                    body: "sign in".into(),
                    code: tonic::Code::Unauthenticated,
                }
            }
        }
    }

    /// Serves the door with hyper's HTTP/2 server on 127.0.0.1, each request carrying its
    /// connection's peer address, as Sekisho's server does.
    async fn serve(checker: CookieChecker) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let door = service(checker.clone());
                let per_request = hyper::service::service_fn(move |request: Request<_>| {
                    let mut request = request.map(Body::new);
                    request.extensions_mut().insert(Origin::new(peer));
                    door.clone().oneshot(request)
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), per_request),
                );
            }
        });
        addr
    }

    /// An h2c connection to `addr`, and the local address it comes from.
    async fn connect(
        addr: SocketAddr,
    ) -> (hyper::client::conn::http2::SendRequest<Body>, SocketAddr) {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        (sender, local)
    }

    /// Calls Check through tonic's client over `sender`.
    async fn check(
        sender: &hyper::client::conn::http2::SendRequest<Body>,
        addr: SocketAddr,
        request: CheckRequest,
    ) -> Result<CheckResponse, tonic::Status> {
        let sender = sender.clone();
        let transport = tower::service_fn(move |request: Request<tonic::body::Body>| {
            let mut sender = sender.clone();
            async move { sender.send_request(request.map(Body::new)).await }
        });
        let origin = format!("http://{addr}").parse().unwrap();
        let mut client = tonic::client::Grpc::with_origin(transport, origin);
        client.ready().await.unwrap();
        let codec = ProstCodec::<CheckRequest, CheckResponse>::default();
        let path = http::uri::PathAndQuery::from_static(CHECK_PATH);
        let response = client
            .unary(tonic::Request::new(request), path, codec)
            .await?;
        Ok(response.into_inner())
    }

    fn check_request(cookie: Option<&str>, method: &str) -> CheckRequest {
        let mut http = HttpRequest {
            id: "req-1".into(),
            method: method.into(),
            path: "/reports?q=1".into(),
            host: "app.example.com".into(),
            scheme: "https".into(),
            ..HttpRequest::default()
        };
        http.headers.insert(":path".into(), "/reports?q=1".into());
        if let Some(cookie) = cookie {
            http.headers.insert("cookie".into(), cookie.into());
        }
        CheckRequest {
            attributes: Some(AttributeContext {
                source: Some(Peer {
                    address: Some(Address {
                        socket_address: Some(SocketAddress {
                            address: "203.0.113.9".into(),
                            port_value: Some(4242),
                        }),
                    }),
                }),
                request: Some(Attributes { http: Some(http) }),
                ..AttributeContext::default()
            }),
        }
    }

    #[tokio::test]
    async fn allowed_request_round_trips() {
        let checker = CookieChecker::default();
        let addr = serve(checker.clone()).await;
        let (sender, local) = connect(addr).await;

        let response = check(&sender, addr, check_request(Some("sekisho=ok"), "GET"))
            .await
            .unwrap();

        assert_eq!(response.status.unwrap().code, 0);
        let Some(HttpResponse::OkResponse(ok)) = response.http_response else {
            panic!("an OK response: {:?}", response.http_response);
        };
        let upstream: Vec<_> = ok
            .headers
            .iter()
            .map(|o| o.header.clone().unwrap())
            .collect();
        assert_eq!(upstream.len(), 1);
        assert_eq!(
            (upstream[0].key.as_str(), upstream[0].value.as_str()),
            ("x-auth-request-user", "alice")
        );
        assert_eq!(ok.headers[0].append_action, 2, "OVERWRITE_IF_EXISTS_OR_ADD");
        assert_eq!(ok.headers_to_remove, ["x-auth-request-email"]);
        let cookies: Vec<_> = ok
            .response_headers_to_add
            .iter()
            .map(|o| (o.header.clone().unwrap().value, o.append_action, o.append))
            .collect();
        assert_eq!(
            cookies,
            [("a=1".to_owned(), 0, None), ("b=2".to_owned(), 0, None)]
        );

        let calls = checker.calls.lock().unwrap();
        let (peer, facts) = &calls[0];
        assert_eq!(*peer, local, "the TCP peer of the gRPC connection");
        assert_eq!(facts.source, Some("203.0.113.9:4242".parse().unwrap()));
        assert_eq!(facts.path, "/reports?q=1");
        assert_eq!(facts.host.as_deref(), Some("app.example.com"));
        assert_eq!(facts.headers.len(), 1, "cookie only; :path dropped");
    }

    #[tokio::test]
    async fn denied_request_round_trips() {
        let addr = serve(CookieChecker::default()).await;
        let (sender, _) = connect(addr).await;

        let response = check(&sender, addr, check_request(None, "GET"))
            .await
            .unwrap();

        assert_eq!(
            response.status.unwrap().code,
            tonic::Code::Unauthenticated as i32
        );
        let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
            panic!("a denied response: {:?}", response.http_response);
        };
        assert_eq!(denied.status.unwrap().code, 302);
        assert_eq!(denied.body, "sign in");
        let location = denied.headers[0].header.clone().unwrap();
        assert_eq!(
            (location.key.as_str(), location.value.as_str()),
            ("location", "https://auth.test/start")
        );
    }

    #[tokio::test]
    async fn unreadable_request_refused_without_asking() {
        let checker = CookieChecker::default();
        let addr = serve(checker.clone()).await;
        let (sender, _) = connect(addr).await;

        let response = check(&sender, addr, check_request(Some("sekisho=ok"), "GE T"))
            .await
            .unwrap();

        assert_eq!(
            response.status.unwrap().code,
            tonic::Code::InvalidArgument as i32
        );
        let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
            panic!("a denied response: {:?}", response.http_response);
        };
        assert_eq!(denied.status.unwrap().code, 400);
        assert_eq!(denied.body, "bad request: bad method\n");
        assert!(checker.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn wrong_content_type_over_h2_refused() {
        let addr = serve(CookieChecker::default()).await;
        let (mut sender, _) = connect(addr).await;
        let request = Request::post(format!("http://{addr}{CHECK_PATH}"))
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();

        let response = sender.send_request(request).await.unwrap();

        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            body,
            Bytes::from_static(b"content type must be application/grpc\n")
        );
    }

    fn grpc_request(
        version: Version,
        method: Method,
        path: &str,
        content_type: &str,
    ) -> Request<Body> {
        let mut request = Request::builder()
            .version(version)
            .method(method)
            .uri(path)
            .header(CONTENT_TYPE, content_type)
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(Origin::new("127.0.0.1:5000".parse().unwrap()));
        request
    }

    async fn call(request: Request<Body>) -> Response<Body> {
        service(CookieChecker::default())
            .call(request)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn non_grpc_requests_refused() {
        let cases = [
            (
                "HTTP/1.1",
                grpc_request(
                    Version::HTTP_11,
                    Method::POST,
                    CHECK_PATH,
                    "application/grpc",
                ),
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ),
            (
                "GET",
                grpc_request(Version::HTTP_2, Method::GET, CHECK_PATH, "application/grpc"),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "gRPC-Web",
                grpc_request(
                    Version::HTTP_2,
                    Method::POST,
                    CHECK_PATH,
                    "application/grpc-web",
                ),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "JSON codec",
                grpc_request(
                    Version::HTTP_2,
                    Method::POST,
                    CHECK_PATH,
                    "application/grpc+json",
                ),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
        ];
        for (name, request, expected) in cases {
            let response = call(request).await;
            assert_eq!(response.status(), expected, "{name}");
            assert_eq!(
                response.headers()[CONTENT_TYPE],
                "text/plain; charset=utf-8",
                "{name}"
            );
        }
    }

    #[test]
    fn grpc_content_types() {
        let cases = [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC; charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/grpc+json", false),
            ("application/grpcx", false),
            ("", false),
        ];
        for (content_type, expected) in cases {
            let value = HeaderValue::from_str(content_type).unwrap();
            assert_eq!(is_grpc_proto(Some(&value)), expected, "{content_type}");
        }
        assert!(!is_grpc_proto(None));
    }

    fn grpc_status(response: &Response<Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn other_methods_unimplemented() {
        let request = grpc_request(
            Version::HTTP_2,
            Method::POST,
            "/envoy.service.auth.v2.Authorization/Check",
            "application/grpc",
        );
        let response = call(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(grpc_status(&response), Some("12"), "UNIMPLEMENTED");
    }

    #[tokio::test]
    async fn mounts_as_an_axum_route() {
        let mut router =
            axum::Router::new().route_service(CHECK_PATH, service(CookieChecker::default()));
        let request = grpc_request(
            Version::HTTP_11,
            Method::POST,
            CHECK_PATH,
            "application/grpc",
        );
        let response = router.call(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    }

    #[tokio::test]
    async fn missing_peer_address_is_an_internal_error_not_an_answer() {
        let mut request = grpc_request(
            Version::HTTP_2,
            Method::POST,
            CHECK_PATH,
            "application/grpc",
        );
        request.extensions_mut().remove::<Origin>();
        let response = call(request).await;
        assert_eq!(grpc_status(&response), Some("13"), "INTERNAL");
    }
}
