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
use crate::net::PeerAddr;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Serves `Authorization/Check` with a [`Checker`]; made by [`super::service`]. Requests must
/// carry the connection's [`PeerAddr`] extension. Messages up to tonic's default 4 MiB are
/// read (Envoy sends a request body only when `with_request_body` asks it to).
#[derive(Clone)]
pub struct GrpcCheck<C> {
    checker: C,
}

impl<C: Checker> GrpcCheck<C> {
    pub(super) fn new(checker: C) -> Self {
        Self { checker }
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
        if let Some(refusal) = refusal(&request) {
            return Box::pin(std::future::ready(Ok(refusal)));
        }
        let Some(&PeerAddr(peer)) = request.extensions().get() else {
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
            let answer = match facts::read_or_refuse(request.into_inner()) {
                Ok(facts) => checker.check(peer, facts).await,
                Err(refusal) => refusal,
            };
            Ok(tonic::Response::new(answer::render(answer)))
        })
    }
}
