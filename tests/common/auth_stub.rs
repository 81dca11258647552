//! A stand-in auth server for the front doors: records every question a door asks (request
//! line, headers, body, the door's address) and answers it as the test's function says, so a
//! test can see exactly what a real Traefik, Caddy or Envoy sends and what it does with each
//! kind of answer. HTTP/1.1 with keep-alive, as the doors expect.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::upstream::Received;

/// One question a door asked.
#[derive(Clone, Debug)]
pub struct Asked {
    /// Request line and headers (names lower-case, as hyper reads them).
    pub request: Received,
    pub body: Bytes,
    /// The door's end of the connection.
    pub peer: SocketAddr,
}

impl Asked {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }
}

/// The stub's answer to one question.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

type Answer = dyn Fn(&Asked) -> Reply + Send + Sync;

/// A running stub, a task of the test's runtime; stopped on drop.
pub struct AuthStub {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for AuthStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStub")
            .field("addr", &self.addr)
            .finish()
    }
}

impl AuthStub {
    /// Listens on an ephemeral port of 127.0.0.1 and answers each question with `answer`.
    pub async fn start(answer: impl Fn(&Asked) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the auth stub");
        let addr = listener.local_addr().expect("auth stub address");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let log = asked.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        handle(request, peer, log.clone(), answer.clone())
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, asked, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every question so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for AuthStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    log: Arc<Mutex<Vec<Asked>>>,
    answer: Arc<Answer>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let asked = Asked {
        request: Received {
            method: parts.method.to_string(),
            target: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        },
        body,
        peer,
    };
    let reply = answer(&asked);
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(asked);
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).expect("a valid status code"));
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a valid response"))
}
