//! What the example servers share: the listen address from the first argument, the bound
//! address announced on stdout once connections are accepted, and an accept loop that rides
//! out transient errors (too many open files) instead of ending.

use std::io::Write;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// The address in the first argument, or `default`.
pub fn address(default: &str) -> std::io::Result<SocketAddr> {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.into())
        .parse()
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("listen address: {e}"),
            )
        })
}

/// Binds `addr` and prints `announce` of the bound address on stdout (scripts wait for it).
pub async fn listen(
    addr: SocketAddr,
    announce: impl FnOnce(SocketAddr) -> String,
) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", announce(listener.local_addr()?))?;
    out.flush()?;
    Ok(listener)
}

/// The next connection; a failed accept is retried after a pause.
pub async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => return stream,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
