//! The client that talks to the apps: HTTP/1.1 with pooled keep-alive connections, bodies
//! streamed both ways.

use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::timing::{Progress, WatchedBody};
use crate::error::error_chain;

/// Idle connections to an app are closed after this long; apps commonly keep them 60 to 75 s.
const POOL_IDLE: Duration = Duration::from_secs(50);

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

#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, WatchedBody>,
    connect_timeout: Duration,
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self {
            client,
            connect_timeout,
        }
    }

    /// Sends `req` (an absolute `http://` URI) and waits for the response head, allowing the
    /// app `timeout` without progress.
    pub async fn send(
        &self,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Failure> {
        let progress = Progress::new();
        let req = req.map(|body| WatchedBody::new(body, progress.clone()));
        tokio::select! {
            result = self.client.request(req) => result.map_err(|e| self.classify(&e, &progress)),
            () = progress.stalled(timeout) => Err(Failure::TimedOut(timeout)),
        }
    }

    fn classify(&self, error: &hyper_util::client::legacy::Error, progress: &Progress) -> Failure {
        if progress.client_failed() {
            return Failure::ClientAborted;
        }
        if error.is_connect() && timed_out(error) {
            return Failure::TimedOut(self.connect_timeout);
        }
        Failure::Unavailable(error_chain(error))
    }
}

fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    #[tokio::test]
    async fn nobody_listening_is_unavailable() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        drop(listener);
        let req = Request::get(format!("http://{addr}/"))
            .body(Body::empty())
            .unwrap();
        let failure = UpstreamClient::new(Duration::from_secs(1))
            .send(req, Duration::from_secs(5))
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
        let req = Request::get(format!("http://{addr}/"))
            .body(Body::empty())
            .unwrap();
        let started = std::time::Instant::now();
        let failure = UpstreamClient::new(Duration::from_secs(1))
            .send(req, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::TimedOut(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(2));
        quiet.abort();
    }
}
