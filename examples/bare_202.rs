//! The physical limit of this stack: a bare hyper 1.x server that answers every request with
//! `202 Accepted`, three small headers and an empty body — no router, no layers, no session.
//!
//! It is served the way `sekisho::server::run` serves the app (tokio multi-thread runtime,
//! `hyper_util` auto HTTP/1+HTTP/2 builder, `TCP_NODELAY`, mimalloc), so the difference between the two
//! in `bench/auth.sh` is what Sekisho itself costs per request.
//!
//! Usage: `cargo run --release --example bare_202 -- [ADDR]` (default `127.0.0.1:0`); prints
//! the bound address on stdout.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// The same allocator as the `sekisho` binary, so the comparison measures Sekisho's own work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("listen address: {e}"),
            )
        })?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", listener.local_addr()?)?;
        out.flush()?;
    }
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service_fn(answer))
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

async fn answer(_req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::ACCEPTED;
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-auth-request-user"),
        HeaderValue::from_static("alice"),
    );
    headers.insert(
        HeaderName::from_static("x-auth-request-email"),
        HeaderValue::from_static("alice@example.com"),
    );
    headers.insert(
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    Ok(response)
}
