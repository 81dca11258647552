//! A WebSocket app (what Mattermost's `/api/v4/websocket` is to its clients): greets each
//! connection with the identity it was handed, then echoes every text and binary message.
//! The greeting is `hello <X-Auth-Request-User or "nobody">; sekisho cookie: yes|no`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};

/// A handshake's headers: lower-case names and values.
type Headers = Vec<(String, String)>;
type Handshakes = Arc<Mutex<Vec<Headers>>>;

/// The echo app; stopped on drop.
#[derive(Debug)]
pub struct WsEcho {
    addr: SocketAddr,
    handshakes: Handshakes,
    task: JoinHandle<()>,
}

impl WsEcho {
    pub async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the WebSocket app");
        let addr = listener.local_addr().expect("WebSocket app address");
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let log = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone()));
            }
        });
        Self {
            addr,
            handshakes,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The headers of every completed handshake, names lower case.
    pub fn handshakes(&self) -> Vec<Headers> {
        self.handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps the headers of the handshake it is handed.
struct Record<'a>(&'a mut Headers);

impl Callback for Record<'_> {
    fn on_request(self, req: &Request, response: Response) -> Result<Response, ErrorResponse> {
        *self.0 = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(response)
    }
}

async fn serve(stream: tokio::net::TcpStream, log: Handshakes) {
    let mut seen = Vec::new();
    let accepted = tokio_tungstenite::accept_hdr_async(stream, Record(&mut seen)).await;
    let Ok(mut socket) = accepted else {
        return;
    };
    let header = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let user = header("x-auth-request-user").unwrap_or_else(|| "nobody".into());
    let cookie = header("cookie").unwrap_or_default();
    let ours = if cookie.contains("_sekisho") {
        "yes"
    } else {
        "no"
    };
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(seen.clone());
    if socket
        .send(Message::text(format!(
            "hello {user}; sekisho cookie: {ours}"
        )))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        let echo = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(echo).await.is_err() {
            break;
        }
    }
}
