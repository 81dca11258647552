//! An app to put behind Sekisho in proxy mode, on hyper: HTTP/1.1 with keep-alive (so a test
//! can count the connections the proxy opens), streaming large bodies both ways without
//! holding them, answering slowly on request. Its routes:
//!
//! - `GET /download?bytes=N`: N bytes of [`pattern`], streamed;
//! - `PUT` or `POST /upload`: reads the body as it comes, checks it against [`pattern`], and
//!   answers `{"bytes": N, "intact": true|false}`;
//! - `/slow?ms=N`: waits N ms, then echoes;
//! - `/set-cookies`: sets an app cookie and tries to set Sekisho's session cookie;
//! - anything else: 200 with the echo of what it received (see [`Received::echo`]), plus a
//!   hop-by-hop header of its own (`Connection: x-app-hop`, `X-App-Hop`) that must not reach
//!   the client.
//!
//! Every response carries `X-App: <name>`, so a test can tell which app answered.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::upstream::Received;

type AppBody = BoxBody<Bytes, std::io::Error>;

/// A running app; stopped on drop.
#[derive(Debug)]
pub struct AppServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    name: String,
    connections: AtomicUsize,
    received: Mutex<Vec<Received>>,
}

impl AppServer {
    /// Listens on an ephemeral port of 127.0.0.1; `name` is sent back in `X-App`.
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the app");
        let addr = listener.local_addr().expect("app address");
        let state = Arc::new(State {
            name: name.to_owned(),
            connections: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `upstream.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Every request that reached the app, in order of arrival of its head.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn hits(&self) -> usize {
        self.received().len()
    }

    /// The last request that reached the app; panics if none did.
    pub fn last(&self) -> Received {
        self.received()
            .pop()
            .unwrap_or_else(|| panic!("no request reached app {}", self.state.name))
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<AppBody>, Infallible> {
    let received = Received {
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(received.clone());
    let query = |name: &str| -> Option<u64> {
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse().ok())
    };
    let mut response = match req.uri().path() {
        "/download" => {
            let bytes = query("bytes").unwrap_or(0);
            Response::new(pattern::stream(bytes))
        }
        "/upload" => {
            let (bytes, intact) = pattern::check(req.into_body()).await;
            text(format!("{{\"bytes\": {bytes}, \"intact\": {intact}}}"))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query("ms").unwrap_or(0))).await;
            text(received.echo())
        }
        "/set-cookies" => {
            let mut response = text("cookies\n".into());
            for line in [
                "app_pref=dark; Path=/",
                "_sekisho=planted; Path=/",
                "_sekisho_0=x",
            ] {
                response
                    .headers_mut()
                    .append("set-cookie", line.parse().expect("header value"));
            }
            response
        }
        _ => {
            let mut response = text(received.echo());
            let headers = response.headers_mut();
            headers.insert("connection", "x-app-hop".parse().expect("header value"));
            headers.insert("x-app-hop", "1".parse().expect("header value"));
            response
        }
    };
    response.headers_mut().insert(
        "x-app",
        state.name.parse().expect("app names are header-safe"),
    );
    Ok(response)
}

fn text(body: String) -> Response<AppBody> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *response.status_mut() = StatusCode::OK;
    response
}

/// The bytes that large transfers carry: a fixed pseudo-random block of odd length repeated,
/// so a byte out of place, lost or doubled shows, and checking is a `memcmp` per piece.
pub mod pattern {
    use std::sync::OnceLock;

    use super::*;

    /// Prime, so chunk boundaries wander across the block.
    pub const BLOCK: usize = 65_521;

    pub fn block() -> &'static Bytes {
        static BLOCK_BYTES: OnceLock<Bytes> = OnceLock::new();
        BLOCK_BYTES.get_or_init(|| {
            let mut x: u32 = 0x9e37_79b9;
            let bytes: Vec<u8> = (0..BLOCK)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            Bytes::from(bytes)
        })
    }

    /// The first `total` bytes of the pattern, as block-sized (or smaller) pieces that share
    /// the block's memory.
    pub fn pieces(total: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
        let block = block().clone();
        let mut sent = 0u64;
        std::iter::from_fn(move || {
            if sent >= total {
                return None;
            }
            let start = (sent % BLOCK as u64) as usize;
            let len = (BLOCK - start).min((total - sent) as usize);
            sent += len as u64;
            Some(block.slice(start..start + len))
        })
    }

    /// A response body of `total` pattern bytes, made as it is read.
    pub fn stream(total: u64) -> AppBody {
        let frames = futures_util::stream::iter(pieces(total).map(|b| Ok(Frame::data(b))));
        StreamBody::new(frames).boxed()
    }

    /// Whether `data`, found at `offset` of a transfer, is the pattern there.
    pub fn matches_at(offset: u64, data: &[u8]) -> bool {
        let block = block();
        let mut at = (offset % BLOCK as u64) as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(BLOCK - at);
            if rest[..n] != block[at..at + n] {
                return false;
            }
            rest = &rest[n..];
            at = 0;
        }
        true
    }

    /// Reads `body` to the end as it arrives: how many bytes, and whether all were the pattern.
    pub async fn check<B>(mut body: B) -> (u64, bool)
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Debug,
    {
        let mut bytes = 0u64;
        let mut intact = true;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return (bytes, false);
            };
            if let Ok(data) = frame.into_data() {
                intact &= matches_at(bytes, &data);
                bytes += data.len() as u64;
            }
        }
        (bytes, intact)
    }
}
