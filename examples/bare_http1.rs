//! An independent reference for the benchmarks: the plainest hyper 1.x HTTP/1.1 server, as
//! hyper's own examples write one (`hyper::server::conn::http1`, no protocol detection, no
//! hyper-util connection builder), answering every request with `202 Accepted` and the same
//! three small headers as `bare_202`.
//!
//! `bare_202` serves the way Sekisho serves (the HTTP/1+2 auto builder), so "vs bare_202" is
//! Sekisho's own work on top of that serving path; this one shows what the serving path itself
//! costs. It keeps the same allocator (mimalloc) and runtime (tokio multi-thread) so that those
//! two are not what the comparison measures.
//!
//! Usage: `cargo run --release --example bare_http1 -- [ADDR]` (default `127.0.0.1:0`); prints
//! the bound address on stdout.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

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
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
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
