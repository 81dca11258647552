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

#[path = "common/bare_answer.rs"]
mod bare_answer;
#[path = "common/listen.rs"]
mod listen;

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

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
    loop {
        let stream = listen::accept(&listener).await;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(bare_answer::answer))
                .await;
        });
    }
}
