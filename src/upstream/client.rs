//! The client that talks to the apps: HTTP/1.1 over kept-alive connections, bodies streamed
//! both ways.
//!
//! The pool is a list of connections per app rather than hyper-util's `legacy::Client`, which
//! per request hashed its pool key with SipHash several times, built a connect future to race
//! against the checkout, and spawned a task to put the connection back once its response was
//! read. Here a request takes a connection that is idle, hands it its request and puts it back
//! at once; hyper's connection says it is ready again only once that exchange is over, so the
//! next request passes it by until then. Two short locks are all the pool costs a request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::body::Body;
use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::timing::{Progress, WatchedBody};
use crate::error::error_chain;

/// How often idle connections are looked over: one found unused since the last look (idle
/// for 25 to 50 s) is closed. Apps commonly keep idle connections 60 to 75 s, so Sekisho
/// closes first and never sends a request on a connection the app is closing.
const SWEEP_EVERY: Duration = Duration::from_secs(25);

/// Why an exchange with an app failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Refused, reset, or not HTTP: the reason, with its causes.
    Unavailable(String),
    /// No progress within this long, or no connection within the connect timeout.
    TimedOut(Duration),
    /// The client went away while sending its body: the app is not to blame.
    ClientAborted,
}

/// Connections to the apps, shared by every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    connect_timeout: Duration,
    pools: Mutex<Vec<Pool>>,
    sweeping: AtomicBool,
}

/// The connections to one app (one authority), busy and idle alike, most recently used last.
#[derive(Debug)]
struct Pool {
    authority: Authority,
    connections: Vec<Pooled>,
}

#[derive(Debug)]
struct Pooled {
    sender: SendRequest<WatchedBody>,
    /// Put back since the last sweep.
    used: bool,
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                connect_timeout,
                pools: Mutex::new(Vec::new()),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` (its URI in origin form, `/path?query`, with a `Host` header) to the app at
    /// `authority` and waits for the response head, allowing the app `timeout` without
    /// progress.
    pub async fn send(
        &self,
        authority: &Authority,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Failure> {
        let progress = Progress::new();
        let req = req.map(|body| WatchedBody::new(body, Arc::clone(&progress)));
        tokio::select! {
            result = self.exchange(authority, req, &progress) => result,
            () = progress.stalled(timeout) => Err(Failure::TimedOut(timeout)),
        }
    }

    async fn exchange(
        &self,
        authority: &Authority,
        mut req: Request<WatchedBody>,
        progress: &Progress,
    ) -> Result<Response<Incoming>, Failure> {
        loop {
            let (mut sender, reused) = match self.shared.checkout(authority) {
                Some(sender) => (sender, true),
                None => (self.connect(authority).await?, false),
            };
            let response = sender.try_send_request(req);
            self.shared.put_back(authority, sender);
            match response.await {
                Ok(response) => return Ok(response),
                // A kept-alive connection the app closed before the request went out on it:
                // the request is untouched, so it goes on another connection.
                Err(mut error) if reused && error.message().is_some() => {
                    tracing::debug!(upstream = %authority, error = %error.error(), "kept-alive connection closed; retrying on another");
                    req = error.take_message().expect("checked above");
                }
                Err(error) => {
                    return Err(if progress.client_failed() {
                        Failure::ClientAborted
                    } else {
                        Failure::Unavailable(error_chain(&error.into_error()))
                    });
                }
            }
        }
    }

    /// A new connection to `authority`, its HTTP/1 side driven by a task of its own.
    async fn connect(&self, authority: &Authority) -> Result<SendRequest<WatchedBody>, Failure> {
        let timeout = self.shared.connect_timeout;
        let host = authority.host();
        // `[::1]` in a URL is `::1` to connect to.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
            Err(_) => return Err(Failure::TimedOut(timeout)),
            Ok(Err(error)) => {
                return Err(Failure::Unavailable(format!(
                    "cannot connect to {authority}: {}",
                    error_chain(&error)
                )));
            }
            Ok(Ok(stream)) => stream,
        };
        // Requests and responses are written whole; nothing is gained by waiting to coalesce.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Unavailable(error_chain(&e)))?;
        let upstream = authority.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%upstream, %error, "connection to the app ended with an error");
            }
        });
        Shared::sweep_from_now_on(&self.shared);
        Ok(sender)
    }
}

impl Shared {
    fn pools(&self) -> std::sync::MutexGuard<'_, Vec<Pool>> {
        self.pools.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection to `authority`, the most recently used first; closed ones are
    /// dropped on the way.
    fn checkout(&self, authority: &Authority) -> Option<SendRequest<WatchedBody>> {
        let mut pools = self.pools();
        let pool = pools.iter_mut().find(|p| p.authority == *authority)?;
        let connections = &mut pool.connections;
        let mut i = connections.len();
        while i > 0 {
            i -= 1;
            let sender = &connections[i].sender;
            if sender.is_closed() {
                connections.swap_remove(i);
            } else if sender.is_ready() {
                return Some(connections.swap_remove(i).sender);
            }
        }
        None
    }

    /// Keeps a connection that has been handed a request: it is ready for the next one once
    /// this exchange is over.
    fn put_back(&self, authority: &Authority, sender: SendRequest<WatchedBody>) {
        if sender.is_closed() {
            return;
        }
        let pooled = Pooled { sender, used: true };
        let mut pools = self.pools();
        match pools.iter_mut().find(|p| p.authority == *authority) {
            Some(pool) => pool.connections.push(pooled),
            None => pools.push(Pool {
                authority: authority.clone(),
                connections: vec![pooled],
            }),
        }
    }

    /// Closes connections that are closed on the app's side or were idle since the last sweep.
    fn sweep(&self) {
        for pool in self.pools().iter_mut() {
            pool.connections.retain_mut(|c| {
                let keep = !c.sender.is_closed() && (c.used || !c.sender.is_ready());
                c.used = false;
                keep
            });
        }
    }

    /// Starts the sweeps, once; they end with the client.
    fn sweep_from_now_on(shared: &Arc<Self>) {
        if shared.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let shared: Weak<Self> = Arc::downgrade(shared);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                shared.sweep();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn get(addr: SocketAddr) -> (Authority, Request<Body>) {
        get_path(addr, "/")
    }

    fn get_path(addr: SocketAddr, path: &str) -> (Authority, Request<Body>) {
        let req = Request::get(path)
            .header(http::header::HOST, addr.to_string())
            .body(Body::empty())
            .unwrap();
        (addr.to_string().parse().unwrap(), req)
    }

    #[tokio::test]
    async fn nobody_listening_is_unavailable() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        drop(listener);
        let (authority, req) = get(addr);
        let failure = UpstreamClient::new(Duration::from_secs(1))
            .send(&authority, req, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&failure, Failure::Unavailable(why) if why.contains("refused")),
            "{failure:?}"
        );
    }

    #[tokio::test]
    async fn silence_times_out() {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let quiet = tokio::spawn(async move {
            let (_stream, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let (authority, req) = get(addr);
        let started = std::time::Instant::now();
        let failure = UpstreamClient::new(Duration::from_secs(1))
            .send(&authority, req, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::TimedOut(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(2));
        quiet.abort();
    }

    /// An app that answers `count` requests on one connection with `200` and `ok` (`/slow`:
    /// `ok!!`, the `!!` 200 ms after the rest), then closes it; each accepted connection is
    /// reported.
    async fn app(count: usize) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, connections) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let _ = accepted.send(());
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    for _ in 0..count {
                        let mut head = Vec::new();
                        while !head.ends_with(b"\r\n\r\n") {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return;
                            }
                            head.extend_from_slice(&buf[..n]);
                        }
                        if head.starts_with(b"GET /slow") {
                            stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nok")
                                .await
                                .unwrap();
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            stream.write_all(b"!!").await.unwrap();
                        } else {
                            stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await
                                .unwrap();
                        }
                    }
                });
            }
        });
        (addr, connections)
    }

    async fn read_all(response: Response<Incoming>) -> String {
        use http_body_util::BodyExt;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// `GET path` through `client`, answered within five seconds.
    async fn send_get(client: &UpstreamClient, addr: SocketAddr, path: &str) -> Response<Incoming> {
        let (authority, req) = get_path(addr, path);
        client
            .send(&authority, req, Duration::from_secs(5))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn connections_are_reused_once_their_exchange_is_over() {
        let (addr, mut connections) = app(usize::MAX).await;
        let client = UpstreamClient::new(Duration::from_secs(1));
        for _ in 0..3 {
            let response = send_get(&client, addr, "/").await;
            assert_eq!(read_all(response).await, "ok");
        }
        connections.recv().await.unwrap();
        // A connection is busy until the app has sent the whole response: a request meanwhile
        // needs another.
        let slow = send_get(&client, addr, "/slow").await;
        let quick = send_get(&client, addr, "/").await;
        assert_eq!(read_all(quick).await, "ok");
        assert_eq!(read_all(slow).await, "ok!!");
        connections.recv().await.unwrap();
        let again = send_get(&client, addr, "/").await;
        assert_eq!(read_all(again).await, "ok");
        tokio::task::yield_now().await;
        assert!(connections.try_recv().is_err(), "only two connections");
    }

    #[tokio::test]
    async fn a_connection_the_app_closed_is_not_used_again() {
        let (addr, mut connections) = app(1).await;
        let client = UpstreamClient::new(Duration::from_secs(1));
        for _ in 0..3 {
            let response = send_get(&client, addr, "/").await;
            assert_eq!(read_all(response).await, "ok");
            // Let the connection see the app's close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for _ in 0..3 {
            connections.recv().await.unwrap();
        }
    }

    #[tokio::test]
    async fn idle_connections_are_closed_by_the_sweeps() {
        let (addr, _connections) = app(usize::MAX).await;
        let client = UpstreamClient::new(Duration::from_secs(1));
        let response = send_get(&client, addr, "/").await;
        assert_eq!(read_all(response).await, "ok");
        let pooled = || {
            client
                .shared
                .pools()
                .iter()
                .map(|p| p.connections.len())
                .sum::<usize>()
        };
        assert_eq!(pooled(), 1);
        client.shared.sweep();
        assert_eq!(pooled(), 1, "used since the last sweep");
        client.shared.sweep();
        assert_eq!(pooled(), 0, "idle through a whole sweep");
    }
}
