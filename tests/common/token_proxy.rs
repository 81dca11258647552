//! An HTTP forward proxy, in process, that Sekisho is pointed at with `http_proxy`: it passes
//! every request on to the real OpenID provider unchanged, except that a test can arm it to
//! alter the next successful authorization-code (or refresh) response of the token endpoint
//! (flip a signature byte, substitute another client's or another user's tokens...). That is
//! how the callback's and the refresh's token checks are tested against the real provider:
//! the provider still authenticates the user and issues the code and the tokens; only what
//! reaches Sekisho differs, as if the provider misbehaved.
//!
//! Loopback targets only; plain http only (no `CONNECT`); one request per connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

use super::http::Client;

const MAX_HEAD: usize = 64 * 1024;

/// Rewrites a token response (the parsed JSON body).
pub type Mutation = Box<dyn FnOnce(Value) -> Value + Send>;

#[derive(Default)]
struct State {
    /// The grant type whose next response to alter, a label, and how.
    armed: Option<(&'static str, String, Mutation)>,
    applied: Vec<String>,
    seen: Vec<String>,
}

/// The proxy, a task of the test's runtime; stopped on drop.
pub struct TokenProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl TokenProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the token proxy");
        let addr = listener.local_addr().expect("token proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`, for `http_proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Alters the next successful `grant_type=authorization_code` token response with
    /// `mutation`; `label` names it in [`Self::applied`].
    pub fn arm(&self, label: &str, mutation: impl FnOnce(Value) -> Value + Send + 'static) {
        self.state().armed = Some(("authorization_code", label.to_owned(), Box::new(mutation)));
    }

    /// Alters the next successful `grant_type=refresh_token` token response with `mutation`.
    pub fn arm_refresh(&self, label: &str, mutation: impl FnOnce(Value) -> Value + Send + 'static) {
        self.state().armed = Some(("refresh_token", label.to_owned(), Box::new(mutation)));
    }

    /// Drops an armed mutation that was not used; returns its label.
    pub fn disarm(&self) -> Option<String> {
        self.state().armed.take().map(|(_, label, _)| label)
    }

    /// Labels of the mutations applied so far, in order.
    pub fn applied(&self) -> Vec<String> {
        self.state().applied.clone()
    }

    /// Every request the proxy forwarded: `METHOD URL -> status`.
    pub fn seen(&self) -> Vec<String> {
        self.state().seen.clone()
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let response = match forward(&mut stream, &state).await {
        Ok(response) => response,
        Err(message) => {
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .seen
                .push(format!("refused: {message}"));
            format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
                message.len()
            )
        }
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one proxy request, forwards it, and returns the (possibly altered) response.
async fn forward(stream: &mut TcpStream, state: &Mutex<State>) -> Result<String, String> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("connection closed before a full request head".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if header("transfer-encoding").is_some() {
        return Err(format!(
            "{request_line}: chunked request bodies are not supported"
        ));
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("connection closed inside the request body".into()),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);

    let url = Url::parse(&target)
        .map_err(|e| format!("{request_line}: not an absolute-form proxy request ({e})"))?;
    let ip: IpAddr = url
        .host_str()
        .and_then(|h| h.parse().ok())
        .filter(|ip: &IpAddr| ip.is_loopback())
        .ok_or_else(|| format!("{target}: the test proxy only forwards to loopback addresses"))?;
    let addr = SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80));
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    const HOP_BY_HOP: &[&str] = &[
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
    ];
    let forwarded: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(n, _)| !HOP_BY_HOP.contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let response = Client::new()
        .request(addr, &method, &path, &forwarded, &body)
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;

    let mut response_body = response.body.clone();
    let mut note = String::new();
    let grant = (method == "POST" && url.path().ends_with("/protocol/openid-connect/token"))
        .then(|| {
            url::form_urlencoded::parse(&body)
                .find(|(n, _)| n == "grant_type")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    if let (Some(grant), 200) = (grant, response.status) {
        let armed = {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            match &state.armed {
                Some((wanted, _, _)) if *wanted == grant => state.armed.take(),
                _ => None,
            }
        };
        if let Some((_, label, mutation)) = armed {
            let json: Value = serde_json::from_str(&response.body)
                .map_err(|e| format!("token response is not JSON ({e}): {}", response.body))?;
            response_body = mutation(json).to_string();
            note = format!(" [altered: {label}]");
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .applied
                .push(label);
        }
    }
    state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .seen
        .push(format!("{method} {url} -> {}{note}", response.status));

    let mut out = format!("HTTP/1.1 {} Proxied\r\n", response.status);
    for (name, value) in &response.headers {
        if !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{response_body}",
        response_body.len()
    ));
    Ok(out)
}

/// Helpers to alter JWTs without re-signing them.
pub mod jwt {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    fn part(token: &str, i: usize) -> Value {
        let segment = token.split('.').nth(i).expect("a JWT has three parts");
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .expect("JWT part is base64url");
        serde_json::from_slice(&bytes).expect("JWT part is JSON")
    }

    /// The decoded header of `token`.
    pub fn header(token: &str) -> Value {
        part(token, 0)
    }

    /// The decoded claims of `token`.
    pub fn claims(token: &str) -> Value {
        part(token, 1)
    }

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// `token` with one character in the middle of its signature changed: still base64url,
    /// same length, no longer a valid signature.
    pub fn flip_signature(token: &str) -> String {
        let (signed, signature) = token.rsplit_once('.').expect("a JWT has three parts");
        let mut bytes = signature.as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        format!(
            "{signed}.{}",
            String::from_utf8(bytes).expect("base64url is ASCII")
        )
    }

    /// `token` with its claims passed through `edit`, keeping the original signature.
    pub fn edit_claims(token: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut parts = token.split('.');
        let (header, _, signature) = (
            parts.next().expect("header"),
            parts.next().expect("claims"),
            parts.next().expect("signature"),
        );
        let mut claims = claims(token);
        edit(&mut claims);
        format!("{header}.{}.{signature}", encode(&claims))
    }

    /// `token` re-issued unsigned: header `{"alg":"none"}`, same claims, empty signature.
    pub fn unsigned(token: &str) -> String {
        let claims = claims(token);
        format!(
            "{}.{}.",
            encode(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            encode(&claims)
        )
    }
}
