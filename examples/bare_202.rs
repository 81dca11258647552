//! The physical limit of this stack: a bare hyper 1.x server that answers every request with
//! `202 Accepted`, three small headers and an empty body — no router, no layers, no session.
//!
//! It is served the way `sekisho::server::run` serves the app (tokio multi-thread runtime,
//! `hyper_util` auto HTTP/1+HTTP/2 builder, `TCP_NODELAY`, mimalloc), so the difference between the two
//! in `bench/auth.sh` is what Sekisho itself costs per request.
//!
//! Usage: `cargo run --release --example bare_202 -- [ADDR]` (default `127.0.0.1:0`); prints
//! the bound address on stdout.

#[path = "common/bare_answer.rs"]
mod bare_answer;
#[path = "common/listen.rs"]
mod listen;

use std::net::SocketAddr;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// The same allocator as the `sekisho` binary, so the comparison measures Sekisho's own work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let addr = listen::address("127.0.0.1:0")?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = listen::listen(addr, |bound| bound.to_string()).await?;
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = listen::accept(&listener).await;
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service_fn(bare_answer::answer))
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
