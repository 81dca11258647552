//! The listener: accepts connections within the connection limit, records each one's peer
//! address, closes connections that are slow to send a request head or idle too long, and
//! drains in-flight requests on shutdown.

mod activity;
mod app;
mod capacity;
pub mod open_files;
mod protocol;
mod request_body;
mod tracking;
mod watchdog;

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::ConnectionsConfig;
use crate::net::Origin;
use activity::{Activity, Expiry};
use capacity::{Admission, Capacity};
use protocol::{Protocol, Served};
use request_body::TimedBody;
use tracking::{TrackedBody, TrackedIo, TrackedResponse};
use watchdog::{Either, Watched};

pub use app::{App, OriginInExtensions};

/// How often, at most, a full connection table is reported at warning level.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops accepting
/// and waits up to `grace` for open requests to finish.
pub async fn run<S, B>(
    listener: TcpListener,
    app: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: ConnectionsConfig,
) where
    S: App<Body = B>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builders = Arc::new(builders(&limits));
    let capacity = Capacity::new(limits.max);
    let (stop, stopping) = watch::channel(());
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Activity::new();
        let slot = match capacity.admit(&activity) {
            Ok((slot, Admission::Room)) => slot,
            Ok((slot, Admission::Evicted)) => {
                tracing::debug!(%peer, limit = limits.max, "connection limit reached; closed a waiting connection to make room");
                slot
            }
            Err(capacity::Full) => {
                if last_full_warning.is_none_or(|at| at.elapsed() >= FULL_WARNING_INTERVAL) {
                    last_full_warning = Some(Instant::now());
                    tracing::warn!(%peer, limit = limits.max, "connection limit reached and every connection is busy; refusing new connections (connections.max)");
                }
                crate::telemetry::record_connection_closed("refused");
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            Arc::clone(&builders),
            stream,
            slot,
            Connection {
                app: RefCell::new(app.clone()),
                peer,
                activity,
                body_read_timeout: limits.body_read_timeout,
            },
            Timeouts::from(&limits),
            stopping.clone(),
        ));
    }
    drop(listener);
    drop(stopping);
    tracing::info!("shutting down; finishing in-flight requests");
    let _ = stop.send(());
    tokio::select! {
        () = stop.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; closing remaining connections"),
    }
}

/// hyper's settings for every connection: one builder per protocol, and the auto builder
/// (the same settings) for the rare connection whose first bytes do not tell it yet.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    auto: auto::Builder<TokioExecutor>,
}

fn builders(limits: &ConnectionsConfig) -> Builders {
    let max_header_list = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
    let mut auto = auto::Builder::new(TokioExecutor::new());
    auto.http1()
        // Kept by `Activity` instead: hyper's clock would also cut idle keep-alive connections.
        .header_read_timeout(None)
        // A head that does not fit is answered 431, as are too many header fields.
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    auto.http2().max_header_list_size(max_header_list);
    let mut http1 = http1::Builder::new();
    http1
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2.max_header_list_size(max_header_list);
    Builders { http1, http2, auto }
}

#[derive(Clone, Copy, Debug)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

impl From<&ConnectionsConfig> for Timeouts {
    fn from(limits: &ConnectionsConfig) -> Self {
        Self {
            header_read: limits.header_read_timeout,
            idle: limits.idle_timeout,
        }
    }
}

/// What may end a connection besides its client.
enum News {
    Expired(Expiry),
    /// The server is stopping (`true`), or its signal is gone (`false`).
    Stopping(bool),
}

/// A connection's watchdog and the server's shutdown signal, for as long as either may still
/// have news.
struct Watch<'a, E> {
    expired: Pin<&'a mut E>,
    stopping: watch::Receiver<()>,
    watching: bool,
    stop_heard: bool,
}

impl<E: Future<Output = Expiry>> Watch<'_, E> {
    /// The next news; pending for ever once neither has any left to give.
    async fn news(&mut self) -> News {
        tokio::select! {
            why = self.expired.as_mut(), if self.watching => {
                self.watching = false;
                News::Expired(why)
            }
            changed = self.stopping.changed(), if !self.stop_heard => {
                self.stop_heard = true;
                News::Stopping(changed.is_ok())
            }
            else => std::future::pending().await,
        }
    }

    /// Runs `main` to its end while listening for news, which the watchdog and the signal are
    /// asked for only when they have some: the connection is what wakes the task, once per
    /// request or more. `Err` carries news that `main` could not be left running through.
    async fn run<F: Future>(
        &mut self,
        mut main: Pin<&mut F>,
        mut on_news: impl FnMut(&News, Pin<&mut F>) -> bool,
    ) -> Result<F::Output, News> {
        loop {
            let news = {
                let side = self.news();
                tokio::pin!(side);
                match Watched::new(main.as_mut(), side).await {
                    Either::Main(out) => return Ok(out),
                    Either::Side(news) => news,
                }
            };
            if !on_news(&news, main.as_mut()) {
                return Err(news);
            }
        }
    }
}

/// Drives one connection until it ends, its client outstays the timeouts, it is closed to
/// make room, or the server stops.
async fn serve_connection<S, B>(
    builders: Arc<Builders>,
    stream: TcpStream,
    slot: capacity::Slot,
    connection: Connection<S>,
    timeouts: Timeouts,
    stopping: watch::Receiver<()>,
) where
    S: App<Body = B>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let peer = connection.peer;
    let activity = Arc::clone(&connection.activity);
    let expired = activity.expired(timeouts.header_read, timeouts.idle);
    tokio::pin!(expired);
    let mut watch = Watch {
        expired,
        stopping,
        watching: true,
        stop_heard: false,
    };
    // Nothing is in flight before the first request: any news but a vanished signal closes.
    let sniffed = {
        let sniff = protocol::sniff(&stream);
        tokio::pin!(sniff);
        watch
            .run(sniff, |news, _| matches!(news, News::Stopping(false)))
            .await
    };
    let protocol = match sniffed {
        Ok(Ok(protocol)) => protocol,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "connection ended before its first request");
            return;
        }
        Err(news) => {
            if let News::Expired(why) = news {
                closing(peer, why);
            }
            return;
        }
    };
    let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&activity), slot));
    match protocol {
        Protocol::Http1 => {
            let http = builders
                .http1
                .serve_connection(io, connection)
                .with_upgrades();
            serve(http, &mut watch, peer).await;
        }
        Protocol::Http2 => {
            let http = builders.http2.serve_connection(io, connection);
            serve(http, &mut watch, peer).await;
        }
        Protocol::Undecided => {
            let http = builders.auto.serve_connection_with_upgrades(io, connection);
            serve(http, &mut watch, peer).await;
        }
    }
}

/// Serves the requests of a connection in its protocol until it ends or is closed.
async fn serve<C: Served, E: Future<Output = Expiry>>(
    http: C,
    watch: &mut Watch<'_, E>,
    peer: SocketAddr,
) {
    tokio::pin!(http);
    let served = watch
        .run(http, |news, http| match news {
            // Nothing is lost by closing at once: no request is in flight.
            News::Expired(why @ (Expiry::HeadTimeout | Expiry::Evicted)) => {
                closing(peer, *why);
                false
            }
            // hyper closes an idle HTTP/1 connection at once; HTTP/2 gets a GOAWAY.
            News::Expired(Expiry::Idle) => {
                crate::telemetry::record_connection_closed("idle");
                http.graceful_shutdown();
                true
            }
            News::Stopping(sent) => {
                if *sent {
                    http.graceful_shutdown();
                }
                true
            }
        })
        .await;
    if let Ok(Err(error)) = served {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// A connection closed at once by its watchdog.
fn closing(peer: SocketAddr, why: Expiry) {
    tracing::debug!(%peer, reason = ?why, "closing connection");
    crate::telemetry::record_connection_closed(match why {
        Expiry::Evicted => "evicted",
        Expiry::HeadTimeout => "header_timeout",
        Expiry::Idle => "idle",
    });
}

/// The app as one connection sees it: every request is handed over with the connection's
/// peer, and counted in flight until its response has been sent.
///
/// hyper-util's `TowerToHyperService` would clone the whole stack and drive `poll_ready`
/// through every layer for each request; the stack's layers are always ready, so one copy per
/// connection is called directly.
struct Connection<S> {
    app: RefCell<S>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
}

impl<S: App> hyper::service::Service<Request<Incoming>> for Connection<S> {
    type Response = http::Response<TrackedBody<S::Body>>;
    type Error = Infallible;
    type Future = TrackedResponse<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        // Most requests have no body (GET, HEAD): those need neither the timer nor the box.
        let req = req.map(|body| {
            if body.is_end_stream() {
                Body::empty()
            } else {
                Body::new(TimedBody::new(body, self.body_read_timeout))
            }
        });
        if req.version() == http::Version::HTTP_2 {
            self.activity.multiplex();
        }
        // Not re-entered: hyper calls a connection's service from that connection's task
        // only, and the borrow ends when `call` returns the future.
        let response = self.app.borrow_mut().call(Origin::new(self.peer), req);
        TrackedResponse::new(response, &self.activity)
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives once the startup line is out must stop
/// Sekisho cleanly, not kill it with the default action. Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        let (interrupt, terminate) = (
            wait_for(interrupt, "SIGINT"),
            wait_for(terminate, "SIGTERM"),
        );
        #[cfg(not(unix))]
        let (interrupt, terminate) = (
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            std::future::pending::<()>(),
        );
        tokio::select! {
            () = interrupt => tracing::info!("SIGINT received"),
            () = terminate => tracing::info!("SIGTERM received"),
        }
    }
}

#[cfg(unix)]
async fn wait_for(signal: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match signal {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}
