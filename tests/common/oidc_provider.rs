//! A real OpenID provider for end-to-end tests: `tests/peers/oidc/server.js`,
//! built on the npm package `oidc-provider` and shaped like Keycloak (issuer
//! `http://127.0.0.1:PORT/realms/<realm>`, `/protocol/openid-connect/...`
//! endpoints, Keycloak-style claims and login form). See
//! `tests/peers/oidc/README.md` for what it serves.
//!
//! ```ignore
//! let op = OidcProvider::start(OidcOptions { access_token_ttl: 5, ..Default::default() });
//! // point sekisho at op.issuer, log in as alice / alice-password ...
//! assert_eq!(op.token_requests("refresh_token"), 1);
//! ```
//!
//! Standalone: uses only std and serde_json.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// How long `start` waits for the provider's ready line. Node loads oidc-provider in about a
/// second; a test binary starting a dozen of them at once on a loaded two-core machine has
/// been seen to need more than ten.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One registered client (a Keycloak "confidential" client).
#[derive(Clone, Debug)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    /// Keycloak matching: exact, or a trailing `*` wildcard; a loopback
    /// `http://127.0.0.1/...` URI without a port matches any port.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are POSTed. Can also be set after
    /// start with [`OidcProvider::set_backchannel_logout_uri`].
    pub backchannel_logout_uri: Option<String>,
}

impl Default for OidcClient {
    fn default() -> Self {
        Self {
            client_id: "sekisho".into(),
            client_secret: "sekisho-secret".into(),
            redirect_uris: vec!["http://127.0.0.1/*".into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1/*".into()],
            backchannel_logout_uri: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct OidcOptions {
    /// 0 picks an ephemeral port.
    pub port: u16,
    pub realm: String,
    pub clients: Vec<OidcClient>,
    /// Seconds.
    pub access_token_ttl: u64,
    /// Seconds; `None` means the access token TTL, as in Keycloak.
    pub id_token_ttl: Option<u64>,
    /// Seconds.
    pub refresh_token_ttl: u64,
    /// Any further keys of the peer's JSON config (see its README), e.g.
    /// `{"rotate_refresh_tokens": false}` or `{"users": [...]}`.
    pub extra: serde_json::Map<String, Value>,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            port: 0,
            realm: "demo".into(),
            clients: vec![OidcClient::default()],
            access_token_ttl: 300,
            id_token_ttl: None,
            refresh_token_ttl: 1800,
            extra: serde_json::Map::new(),
        }
    }
}

impl OidcOptions {
    fn to_json(&self) -> Value {
        let clients: Vec<Value> = self
            .clients
            .iter()
            .map(|c| {
                json!({
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "redirect_uris": c.redirect_uris,
                    "post_logout_redirect_uris": c.post_logout_redirect_uris,
                    "backchannel_logout_uri": c.backchannel_logout_uri,
                })
            })
            .collect();
        let mut config = json!({
            "port": self.port,
            "realm": self.realm,
            "clients": clients,
            "access_token_ttl": self.access_token_ttl,
            "id_token_ttl": self.id_token_ttl,
            "refresh_token_ttl": self.refresh_token_ttl,
        });
        let map = config.as_object_mut().expect("object");
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        config
    }
}

/// A running provider. Killed (and reaped) on drop, also when a test panics.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT/realms/<realm>`
    pub issuer: String,
    pub port: u16,
    pub realm: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts `node tests/peers/oidc/server.js` and waits for its ready line.
    /// Panics, with install instructions, when node or the peer's
    /// node_modules are missing, and with the provider's output when it does
    /// not become ready within 10 s.
    pub fn start(opts: OidcOptions) -> OidcProvider {
        let dir = peer_dir();
        check_prerequisites(&dir);

        let config = opts.to_json().to_string();
        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .arg(&config)
            .current_dir(&dir)
            // With this set the peer exits when our end of its stdin closes,
            // so it cannot outlive a test process that dies without Drop.
            .env("OIDC_PEER_EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn node for the OIDC test provider: {e}"));

        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel::<String>();

        let out = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let is_ready = line.trim_start().starts_with("{\"ready\"");
                if let Some(tx) = ready_tx.take_if(|_| is_ready) {
                    let _ = tx.send(line.clone());
                }
                push_line(&out, "stdout", &line);
            }
        });
        let err = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                push_line(&err, "stderr", &line);
            }
        });

        // From here on, Drop kills the child if anything below panics.
        let mut provider = OidcProvider {
            issuer: String::new(),
            port: 0,
            realm: opts.realm.clone(),
            child,
            output,
        };

        let line = match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                // Give the drain threads a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(200));
                let why = match (e, provider.child.try_wait().ok().flatten()) {
                    (_, Some(status)) => format!("exited ({status}) before it was ready"),
                    (mpsc::RecvTimeoutError::Timeout, None) => {
                        format!("did not report ready within {READY_TIMEOUT:?}")
                    }
                    (mpsc::RecvTimeoutError::Disconnected, None) => {
                        "closed its stdout before it was ready".to_string()
                    }
                };
                panic!(
                    "OIDC test provider ({}) {why}; its output:\n{}",
                    peer_dir().join("server.js").display(),
                    provider.output()
                );
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "bad ready line from the OIDC test provider ({e}): {line}\n{}",
                provider.output()
            )
        });
        provider.issuer = ready["issuer"]
            .as_str()
            .expect("ready line has issuer")
            .to_string();
        provider.port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("ready line has port");
        provider
    }

    /// Everything the provider printed so far (stdout and stderr, one
    /// request log line per HTTP request); print it when a test fails.
    pub fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT` (the test admin endpoints live here).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `{issuer}/protocol/openid-connect/{name}`, e.g. `endpoint("token")`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer)
    }

    /// `GET /test/counters`: `{"token": {"authorization_code": n,
    /// "refresh_token": n}, "token_errors": {...}, "authorization": n,
    /// "login_success": n, "login_failure": n, "userinfo": n,
    /// "introspection": n, "revocation": n, "jwks": n, "discovery": n,
    /// "logout": n, "backchannel_logout": {"success": n, "error": n},
    /// "refresh_tokens": {"<fingerprint>": n}}`.
    pub fn counters(&self) -> Value {
        self.admin("GET", "/test/counters", None)
    }

    /// Requests that reached the token endpoint with this grant_type,
    /// failed ones included.
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.counters()["token"][grant_type].as_u64().unwrap_or(0)
    }

    /// Token endpoint requests with this grant_type that were refused.
    pub fn token_errors(&self, grant_type: &str) -> u64 {
        self.counters()["token_errors"][grant_type]
            .as_u64()
            .unwrap_or(0)
    }

    /// How many times each refresh token was presented at the token endpoint,
    /// largest first (one number per distinct token). A rotated refresh token
    /// presented twice shows as a 2: the provider refused it and revoked the
    /// whole login.
    pub fn refresh_token_uses(&self) -> Vec<u64> {
        let counters = self.counters();
        let mut uses: Vec<u64> = counters["refresh_tokens"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        uses.sort_unstable_by(|a, b| b.cmp(a));
        uses
    }

    pub fn reset_counters(&self) {
        self.admin("POST", "/test/counters/reset", None);
    }

    /// Switches to a new signing key and returns its kid. Older keys stay in
    /// the JWKS unless `retire_old`, which drops them (tokens they signed then
    /// no longer verify).
    pub fn rotate_keys(&self, retire_old: bool) -> String {
        let path = if retire_old {
            "/test/rotate-keys?retire=true"
        } else {
            "/test/rotate-keys"
        };
        self.admin("POST", path, None)["kid"]
            .as_str()
            .expect("kid in rotate-keys response")
            .to_string()
    }

    /// Sets (or with `None` clears) a client's back-channel logout URI, for
    /// when the relying party's port is only known after the provider started.
    pub fn set_backchannel_logout_uri(&self, client_id: &str, uri: Option<&str>) {
        let body = json!({ "backchannel_logout_uri": uri }).to_string();
        self.admin("POST", &format!("/test/clients/{client_id}"), Some(&body));
    }

    /// `claims` signed with the provider's current signing key (RS256, its `kid`), with
    /// header `typ` `typ`: a token as the provider would sign it, whatever it says.
    pub fn sign(&self, claims: &Value, typ: &str) -> String {
        let body = json!({ "claims": claims, "typ": typ }).to_string();
        self.admin("POST", "/test/sign", Some(&body))["token"]
            .as_str()
            .expect("token in the sign response")
            .to_string()
    }

    /// A blocking HTTP/1.1 request to the provider's test admin endpoints;
    /// panics unless it answers 200 with JSON.
    fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (status, text) = http_request(self.port, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on the OIDC test provider: {e}"));
        assert_eq!(
            status, 200,
            "{method} {path} on the OIDC test provider answered {status}: {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID (SIGKILL); wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc")
}

fn check_prerequisites(dir: &Path) {
    let how = "install Node.js >= 20.18 with npm (`apt-get install nodejs npm` where the \
               distribution's nodejs is new enough; Debian 12's own is 18, the project \
               machines carry NodeSource's 20), then `npm ci --prefix tests/peers/oidc` \
               (or just run ./scripts/test)";
    let version = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(version) = version else {
        panic!("the OIDC end-to-end tests need Node.js (`node`) on PATH: {how}");
    };
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(
        (major, minor) >= (20, 18),
        "the OIDC end-to-end tests need Node.js >= 20.18, found {version}: {how}"
    );
    assert!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "the OIDC end-to-end tests need {}/node_modules: {how}",
        dir.display()
    );
}

fn push_line(buf: &Mutex<String>, stream: &str, line: &str) {
    if let Ok(mut b) = buf.lock() {
        b.push_str("[oidc ");
        b.push_str(stream);
        b.push_str("] ");
        b.push_str(line);
        b.push('\n');
    }
}

/// Minimal blocking HTTP/1.1 client for 127.0.0.1 (Connection: close).
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, rest) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("malformed HTTP response: {raw}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("malformed status line: {head}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = s.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        s = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}
