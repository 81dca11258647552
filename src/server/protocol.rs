//! Which HTTP a new connection speaks, found by looking at its first bytes without taking them,
//! and the two kinds of connection hyper then serves.
//!
//! hyper-util's auto builder does the same by reading the first bytes and handing them back
//! through a wrapper around the socket, which every later read of an HTTP/1 connection then
//! passes through, and a state machine around the connection that every poll passes through.
//! Peeking leaves the socket as it was, so hyper is given the socket itself; only a client
//! whose first bytes are part of the preface and no more goes to the auto builder.

use std::future::Future;
use std::io;
use std::pin::Pin;

use hyper::body::{Body, Incoming};
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::rt::{Read, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use tokio::net::TcpStream;

/// What an HTTP/2 client with prior knowledge (h2c, as gRPC clients speak) sends first.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    /// The bytes so far begin the preface but do not complete it: a client trickling its
    /// first bytes in. Rare; hyper-util's auto builder reads on until it knows.
    Undecided,
}

/// The connection's protocol as its first bytes show it: HTTP/2 if they are the preface,
/// HTTP/1 as soon as one differs (for any HTTP/1 method, the first or second byte), or if the
/// client closed.
pub async fn sniff(stream: &TcpStream) -> io::Result<Protocol> {
    let mut seen = [0u8; PREFACE.len()];
    let n = stream.peek(&mut seen).await?;
    Ok(if n == 0 || seen[..n] != PREFACE[..n] {
        Protocol::Http1
    } else if n == PREFACE.len() {
        Protocol::Http2
    } else {
        Protocol::Undecided
    })
}

/// A connection hyper serves in one protocol or the other.
pub trait Served: Future<Output = Result<(), Self::Error>> {
    type Error: std::fmt::Display;

    /// Finishes the requests in flight and closes: at once when there are none (HTTP/1),
    /// after a GOAWAY (HTTP/2).
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> Served for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Read + Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = hyper::Error;

    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<I, S, B, E> Served for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Read + Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<I, S, B, E> Served for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Http2ServerConnExec<S::Future, B>,
{
    type Error = hyper::Error;

    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn http1_is_told_by_its_first_bytes_which_stay_unread() {
        for first in [&b"GET / HTTP/1.1\r\n"[..], b"POST /x HTTP/1.1\r\n", b"PUT"] {
            let (mut client, mut server) = pair().await;
            client.write_all(first).await.unwrap();
            assert_eq!(sniff(&server).await.unwrap(), Protocol::Http1);
            let mut buf = vec![0u8; first.len()];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, first, "nothing was taken");
        }
    }

    #[tokio::test]
    async fn http2_prior_knowledge_is_told_by_its_preface() {
        let (mut client, server) = pair().await;
        client.write_all(PREFACE).await.unwrap();
        assert_eq!(sniff(&server).await.unwrap(), Protocol::Http2);
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..5]).await.unwrap();
        assert_eq!(sniff(&server).await.unwrap(), Protocol::Undecided);
        let (mut client, server) = pair().await;
        client.write_all(b"P").await.unwrap();
        assert_eq!(sniff(&server).await.unwrap(), Protocol::Undecided);
    }

    #[tokio::test]
    async fn a_client_that_closes_at_once_is_left_to_http1() {
        let (client, server) = pair().await;
        drop(client);
        assert_eq!(sniff(&server).await.unwrap(), Protocol::Http1);
    }
}
