//! The app behind the gateway in bench/faults.sh: it answers `200 ok` to every request and
//! counts what reached it by the `X-Load-Kind` header the load generator sends (a forged,
//! expired, tampered or session-less request counted here got past the gateway), and it can be
//! told to reset every connection instead of answering, as an app that crashes under its
//! proxy does.
//!
//! Usage: `fault_app [ADDR]` (default `127.0.0.1:0`). Prints `fault_app listening on ADDR
//! control on ADDR` once both accept connections. The control address answers
//! `GET /counts` (one `kind count` line per kind seen, `unknown` for requests without the
//! header), `GET /reset/on` and `GET /reset/off`: while on, every request is answered with a
//! TCP reset (`SO_LINGER` 0, then close), on new and kept-alive connections alike. A request
//! whose path starts with `/slow` is answered after 2 s. Loopback only.

#[path = "common/listen.rs"]
mod listen;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a request whose path starts with `/slow` takes: long enough to be in flight while
/// a replica in front is told to stop.
const SLOW: std::time::Duration = std::time::Duration::from_secs(2);

/// What the app and its control port share.
#[derive(Default)]
struct State {
    resetting: AtomicBool,
    reached: Mutex<BTreeMap<String, u64>>,
}

fn main() -> std::io::Result<()> {
    let addr = listen::address("127.0.0.1:0")?;
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other("fault_app listens on loopback only"));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let control = TcpListener::bind((addr.ip(), 0)).await?;
    let control_addr = control.local_addr()?;
    let app = listen::listen(addr, |bound| {
        format!("fault_app listening on {bound} control on {control_addr}")
    })
    .await?;
    let state = Arc::new(State::default());
    let for_control = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let stream = listen::accept(&control).await;
            tokio::spawn(control_connection(stream, Arc::clone(&for_control)));
        }
    });
    loop {
        let stream = listen::accept(&app).await;
        tokio::spawn(app_connection(stream, Arc::clone(&state)));
    }
}

/// A request head: the path and the headers the app looks at.
struct Head {
    path: String,
    kind: Option<String>,
    body: usize,
}

/// Reads the next request head (and skips its body); `None` when the peer closed or sent
/// something that is not HTTP/1.1.
async fn next_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Head> {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 65_536 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    let path = text.split(' ').nth(1)?.to_owned();
    let header = |wanted: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_owned())
        })
    };
    let head = Head {
        path,
        kind: header("x-load-kind"),
        body: header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    };
    buf.drain(..end);
    while buf.len() < head.body {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head.body);
    Some(head)
}

async fn app_connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::with_capacity(1024);
    while let Some(head) = next_head(&mut stream, &mut buf).await {
        if state.resetting.load(Ordering::Relaxed) {
            // Closing with a zero linger sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            return;
        }
        if head.path.starts_with("/slow") {
            tokio::time::sleep(SLOW).await;
        }
        let kind = head.kind.unwrap_or_else(|| "unknown".into());
        *state
            .reached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
        let answer =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

async fn control_connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    while let Some(head) = next_head(&mut stream, &mut buf).await {
        let body = match head.path.as_str() {
            "/counts" => state
                .reached
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(kind, n)| format!("{kind} {n}\n"))
                .collect(),
            "/reset/on" | "/reset/off" => {
                let on = head.path.ends_with("on");
                state.resetting.store(on, Ordering::Relaxed);
                format!("resetting {on}\n")
            }
            _ => "unknown control path\n".to_owned(),
        };
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
