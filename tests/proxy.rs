//! End to end in proxy mode: Sekisho alone in front of apps, no nginx. Every test starts its
//! own apps (the keep-alive [`AppServer`], the [`WsEcho`] WebSocket app) and its own Sekisho
//! on loopback with ephemeral ports; the sign-in and refresh tests also start the lookalike
//! OpenID provider (`tests/peers/oidc`): no Keycloak test runs proxy mode, and there the
//! provider only signs alice in and counts its refresh grants.
//!
//! Clients bind their source address to play a trusted proxy in front of Sekisho
//! (127.0.0.1, in `client_ip.trusted_proxies`) or anyone else (127.0.0.3).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::app_server::{AppServer, pattern};
use common::browser_client::Browser;
use common::http::{Client, Response};
use common::memory::{mb, resident};
use common::oidc_provider::{OidcOptions, OidcProvider};
use common::oidc_stack::{
    ALICE, BOB, CLIENT_ID, CLIENT_SECRET, Peer, provider_tokens, start_sekisho,
};
use common::ports::{free_port, loopback};
use common::sekisho::Sekisho;
use common::session;
use common::upstream::echoed_header_all;
use common::ws_echo::WsEcho;
use futures_util::{SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

const SECRET: &str = "proxy-end-to-end-test-secret-of-at-least-32-bytes";
/// In Sekisho's `trusted_ips`: let through without a session.
const TRUSTED_CLIENT: &str = "203.0.113.7";
/// A trusted proxy in front of Sekisho.
const PROXY: Ipv4Addr = loopback(1);
/// Anyone else.
const STRANGER: Ipv4Addr = loopback(3);

const GIB: u64 = 1 << 30;
/// What Sekisho may hold while a gibibyte passes through it.
const RSS_LIMIT: u64 = 100_000_000;

/// Sekisho's configuration: the base (trusted network, trusted proxy, session secret), then
/// `sections` (`[oidc]`, `[proxy]`, `[[upstream]]` ...), which must start with a table header.
fn config(sections: &str) -> String {
    format!(
        r#"
public_url = "http://127.0.0.1/"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["{PROXY}/32"]

[session]
secret = "{SECRET}"
secure = false

{sections}
"#
    )
}

/// An `[[upstream]]` table: `host`, `url`, then any further `key = value` lines.
fn upstream(host: &str, url: &str, extra: &[&str]) -> String {
    format!(
        "[[upstream]]\nhost = \"{host}\"\nurl = \"{url}\"\n{}\n",
        extra.join("\n")
    )
}

fn cookie_for(user: &str, groups: &[&str]) -> String {
    let email = format!("{user}@example.com");
    session::cookie(SECRET, &session::session(user, Some(&email), groups))
}

/// `method path` to Sekisho from `source` with `headers` and `body`.
async fn send(
    sekisho: &Sekisho,
    source: Ipv4Addr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    Client::from(source)
        .request(sekisho.addr(), method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} to sekisho failed: {e}"))
}

async fn get(sekisho: &Sekisho, path: &str, headers: &[(&str, &str)]) -> Response {
    send(sekisho, PROXY, "GET", path, headers, b"").await
}

/// The one value of `name` in an echo body; panics, showing the body, on none or several.
fn echoed<'a>(body: &'a str, name: &str) -> &'a str {
    match echoed_header_all(body, name)[..] {
        [one] => one,
        ref other => panic!("expected one {name} at the app, got {other:?} in:\n{body}"),
    }
}

/// Header names the app received, lower case and with `_` read as `-` (as Rack and CGI do).
fn received_names(body: &str) -> Vec<String> {
    body.lines()
        .skip(1)
        .filter_map(|line| line.split_once(": "))
        .map(|(n, _)| n.to_ascii_lowercase().replace('_', "-"))
        .collect()
}

/// Starts Sekisho on a port free a moment ago, with `public_url` at that port (the sign-in
/// redirect must come back to it); retried if someone took the port meanwhile.
async fn start_on_free_port(config: &str) -> Sekisho {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let env = vec![
            ("SEKISHO_LISTEN".to_owned(), addr.to_string()),
            ("SEKISHO_PUBLIC_URL".to_owned(), format!("http://{addr}")),
            ("no_proxy".to_owned(), "127.0.0.1,localhost".to_owned()),
            ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
        ];
        match start_sekisho(config.to_owned(), env).await {
            Ok(sekisho) => return sekisho,
            Err(message) if attempt < 3 && message.contains("in use") => continue,
            Err(message) => panic!("sekisho did not start: {message}\nconfiguration:\n{config}"),
        }
    }
}

async fn wait_ready(sekisho: &Sekisho) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = get(sekisho, "/ready", &[]).await;
        if response.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sekisho is not ready: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Signing in

/// Lookalike: proxy mode, which no Keycloak test runs; the provider only signs alice in (and signs
/// the bearer tokens the test needs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_and_the_app_sees_who_it_is_but_no_sekisho_cookie() {
    let provider = Peer(OidcProvider::start(OidcOptions::default()));
    let app = AppServer::start("app").await;
    let sekisho = start_on_free_port(&config(&format!(
        "[oidc]\nissuer_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\naccept_bearer_tokens = true\n\n{}",
        provider.issuer,
        upstream("*", &app.url(), &[])
    )))
    .await;
    wait_ready(&sekisho).await;
    let origin = format!("http://{}", sekisho.addr());
    let page_url = format!("{origin}/group/project/-/issues?state=opened");

    // No session: the browser is sent to sign in, to come back to the page.
    let browser = Browser::new();
    let first = browser.get(&page_url).await;
    let location = first.header("location").unwrap_or_default().to_owned();
    assert_eq!(first.status, 302, "{}", first.describe());
    let location = url::Url::parse(&location).expect("absolute sign-in URL");
    assert_eq!(
        (location.origin().ascii_serialization(), location.path()),
        (origin.clone(), "/oauth2/start")
    );
    assert_eq!(
        common::browser_client::query_param(&location, "rd").as_deref(),
        Some(page_url.as_str())
    );
    assert_eq!(app.hits(), 0, "nothing reaches the app without a session");

    // An API client without a session gets 401, not a sign-in page.
    let api = get(&sekisho, "/api/v4/user", &[("Accept", "application/json")]).await;
    assert_eq!(api.status, 401, "{api:?}");
    assert_eq!(app.hits(), 0);

    // Sign in at the provider; the browser ends on the page it asked for, served by the app.
    let form = browser.navigate(&page_url).await;
    let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, page_url.as_str()),
        "after signing in the app's page should be shown:\n{}{}",
        page.describe(),
        browser.describe_cookies()
    );
    assert_eq!(page.header("x-app"), Some("app"));
    assert!(
        page.body
            .starts_with("GET /group/project/-/issues?state=opened\n"),
        "{}",
        page.body
    );
    assert_eq!(echoed(&page.body, "x-auth-request-user"), "alice");
    assert_eq!(
        echoed(&page.body, "x-auth-request-email"),
        "alice@example.com"
    );
    assert_eq!(echoed(&page.body, "x-auth-request-groups"), "/admins");
    assert!(
        !browser.session_cookies().is_empty(),
        "the browser holds a session"
    );
    let sent_to_app = echoed_header_all(&page.body, "cookie").join("; ");
    assert!(
        !sent_to_app.contains("_sekisho"),
        "Sekisho's cookies must not reach the app: {sent_to_app}"
    );

    // The app's own cookies do pass, and the app cannot plant Sekisho's.
    let planted = browser.get(&format!("{origin}/set-cookies")).await;
    let set_cookies: Vec<&str> = planted
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        set_cookies,
        ["app_pref=dark; Path=/"],
        "{}",
        planted.describe()
    );
    let again = browser
        .navigate_with(
            &format!("{origin}/again"),
            &[("X-Auth-Request-User", "admin")],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.describe());
    let cookies = echoed(&again.body, "cookie");
    assert!(
        cookies.contains("app_pref=dark") && !cookies.contains("_sekisho"),
        "{cookies}"
    );
    assert_eq!(
        echoed(&again.body, "x-auth-request-user"),
        "alice",
        "the client's X-Auth-Request-User must be replaced by Sekisho's"
    );

    // API clients with a token of the realm pass too, as themselves.
    let tokens = provider_tokens(&provider, (CLIENT_ID, CLIENT_SECRET), BOB, "proxy-nonce").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let bearer = format!("Bearer {access}");
    let api = get(&sekisho, "/api/v4/user", &[("Authorization", &bearer)]).await;
    assert_eq!(api.status, 200, "{api:?}");
    assert_eq!(echoed(&api.body, "x-auth-request-user"), "bob");
    assert_eq!(echoed(&api.body, "x-auth-request-groups"), "/dev");
    let forged = get(
        &sekisho,
        "/api/v4/user",
        &[("Authorization", "Bearer not.a.token")],
    )
    .await;
    assert_eq!(forged.status, 401, "{forged:?}");
    assert!(
        forged
            .header("www-authenticate")
            .is_some_and(|c| c.contains("invalid_token")),
        "{forged:?}"
    );
}

/// Lookalike: proxy mode, which no Keycloak test runs, with refresh grants counted at the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_refreshed_on_the_way_to_the_app_comes_back_with_its_response() {
    const TTL: u64 = 6;
    let provider = Peer(OidcProvider::start(OidcOptions {
        access_token_ttl: TTL,
        ..OidcOptions::default()
    }));
    let app = AppServer::start("app").await;
    // Due 3 s before expiry: not during the sign-in itself, even on a slow machine.
    let sekisho = start_on_free_port(&config(&format!(
        "[oidc]\nissuer_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nrefresh_before_expiry = \"3s\"\n\n{}",
        provider.issuer,
        upstream("*", &app.url(), &[])
    )))
    .await;
    wait_ready(&sekisho).await;
    let page_url = format!("http://{}/dashboard", sekisho.addr());
    let browser = Browser::new();
    let form = browser.navigate(&page_url).await;
    let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let signed_in = Instant::now();
    assert_eq!(provider.token_requests("refresh_token"), 0);
    let before = browser.session_cookies();

    tokio::time::sleep_until((signed_in + Duration::from_millis(3500)).into()).await;
    let page = browser.get(&page_url).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_eq!(page.header("x-app"), Some("app"));
    assert_eq!(echoed(&page.body, "x-auth-request-user"), "alice");
    assert_eq!(provider.token_requests("refresh_token"), 1);
    let renewed = page
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .any(|(_, v)| v.starts_with("_sekisho"));
    assert!(
        renewed,
        "the refreshed session is set with the app's response:\n{}",
        page.describe()
    );
    assert_ne!(
        browser.session_cookies(),
        before,
        "the browser holds the refreshed session"
    );

    let page = browser.get(&page_url).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_eq!(
        provider.token_requests("refresh_token"),
        1,
        "the refreshed session is not due again"
    );
}

// ---------------------------------------------------------------------------------------------
// Identity headers

#[tokio::test]
async fn identity_headers_from_the_client_never_reach_the_app() {
    let app = AppServer::start("app").await;
    let sekisho = Sekisho::start(&config(&upstream(
        "*",
        &app.url(),
        &["skip_auth = [\"^/public/\"]"],
    )))
    .await;
    let spoofed: &[(&str, &str)] = &[
        ("X-Auth-Request-User", "admin"),
        ("X-Auth-Request-Groups", "/admins"),
        ("X-Auth-Request-Email", "admin@example.com"),
        ("X-Auth-Request-Email-Verified", "true"),
        ("X-Auth-Request-Access-Token", "forged"),
        ("X-Auth-Request_User", "admin"),
        ("X_Auth_Request_Preferred_Username", "admin"),
        ("X-Forwarded-User", "admin"),
        ("X-Forwarded-Groups", "/admins"),
        ("X_Forwarded_Email_Verified", "true"),
    ];
    let identity = |body: &str| -> Vec<String> {
        received_names(body)
            .into_iter()
            .filter(|n| {
                n.starts_with("x-auth-request-")
                    || n == "x-forwarded-user"
                    || n == "x-forwarded-groups"
                    || n == "x-forwarded-email-verified"
            })
            .collect()
    };

    // Signed in as bob: the app sees bob, once, and nothing the client made up.
    let cookie = cookie_for("bob", &["/dev"]);
    let mut headers = spoofed.to_vec();
    headers.push(("Cookie", &cookie));
    let response = get(&sekisho, "/dashboard", &headers).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(echoed(&response.body, "x-auth-request-user"), "bob");
    assert_eq!(echoed(&response.body, "x-auth-request-groups"), "/dev");
    assert_eq!(
        echoed(&response.body, "x-auth-request-email"),
        "bob@example.com"
    );
    assert_eq!(
        echoed(&response.body, "x-auth-request-preferred-username"),
        "bob"
    );
    // The minted session does not say its address is verified: the app is told so.
    assert_eq!(
        echoed(&response.body, "x-auth-request-email-verified"),
        "false"
    );
    let mut names = identity(&response.body);
    names.sort();
    assert_eq!(
        names,
        [
            "x-auth-request-email",
            "x-auth-request-email-verified",
            "x-auth-request-groups",
            "x-auth-request-preferred-username",
            "x-auth-request-user"
        ],
        "{}",
        response.body
    );

    // A trusted network and a skip_auth route pass without a session, and without identity.
    let mut from_trusted = spoofed.to_vec();
    from_trusted.push(("X-Forwarded-For", TRUSTED_CLIENT));
    for (path, headers) in [
        ("/dashboard", &from_trusted),
        ("/public/logo.png", &spoofed.to_vec()),
    ] {
        let response = get(&sekisho, path, headers).await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(
            identity(&response.body),
            Vec::<String>::new(),
            "{path}: {}",
            response.body
        );
    }

    // Without a session, spoofing gets nowhere.
    let hits = app.hits();
    let response = get(&sekisho, "/dashboard", spoofed).await;
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(app.hits(), hits);
}

// ---------------------------------------------------------------------------------------------
// WebSockets

async fn ws_connect(
    sekisho: &Sekisho,
    cookie: Option<&str>,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        tungstenite::handshake::client::Response,
    ),
    tungstenite::Error,
> {
    let mut request = format!("ws://{}/api/v4/websocket", sekisho.addr())
        .into_client_request()
        .expect("WebSocket request");
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("cookie header"));
    }
    let stream = tokio::net::TcpStream::connect(sekisho.addr())
        .await
        .expect("connect to sekisho");
    tokio_tungstenite::client_async(request, stream).await
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Message {
    tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .expect("the socket is open")
        .expect("a message, not an error")
}

#[tokio::test]
async fn websockets_upgrade_through_with_a_session_and_are_refused_without() {
    let chat = WsEcho::start().await;
    let sekisho = Sekisho::start(&config(&upstream(
        "*",
        &chat.url(),
        &["allowed_groups = [\"dev\"]"],
    )))
    .await;

    let cookie = cookie_for("bob", &["/dev"]);
    let (mut socket, response) = ws_connect(&sekisho, Some(&cookie))
        .await
        .expect("the upgrade succeeds with a session");
    assert_eq!(response.status(), 101);
    assert_eq!(
        next_text(&mut socket).await,
        Message::text("hello bob; sekisho cookie: no"),
        "the app greets with the identity Sekisho sent, and saw no Sekisho cookie"
    );
    for i in 0..100 {
        let text = format!("message {i}");
        socket
            .send(Message::text(text.clone()))
            .await
            .expect("send");
        assert_eq!(next_text(&mut socket).await, Message::text(text));
    }
    let binary = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    socket
        .send(Message::Binary(binary.clone()))
        .await
        .expect("send binary");
    assert_eq!(next_text(&mut socket).await, Message::Binary(binary));
    socket.close(None).await.expect("close");
    let handshake = &chat.handshakes()[0];
    let header = |name: &str| {
        handshake
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    assert_eq!(header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(header("x-auth-request-groups").as_deref(), Some("/dev"));

    for (who, cookie, status) in [
        ("no session", None, 401),
        (
            "alice, not in dev",
            Some(cookie_for("alice", &["/admins"])),
            403,
        ),
    ] {
        match ws_connect(&sekisho, cookie.as_deref()).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), status, "{who}: {response:?}")
            }
            Err(other) => panic!("{who}: expected an HTTP refusal, got {other}"),
            Ok((_, response)) => panic!("{who}: the upgrade must be refused: {response:?}"),
        }
    }
    assert_eq!(
        chat.handshakes().len(),
        1,
        "refused upgrades never reach the app"
    );
}

// ---------------------------------------------------------------------------------------------
// Streaming

/// Samples Sekisho's resident memory every 50 ms until dropped; keeps the largest sample.
struct RssWatch {
    task: tokio::task::JoinHandle<()>,
    max: std::sync::Arc<std::sync::atomic::AtomicU64>,
    samples: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        use std::sync::atomic::Ordering;
        let max = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let samples = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (m, s) = (max.clone(), samples.clone());
        let task = tokio::spawn(async move {
            while let Some(now) = resident(pid) {
                m.fetch_max(now.now, Ordering::Relaxed);
                s.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { task, max, samples }
    }

    fn max(&self) -> u64 {
        self.max.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn samples(&self) -> u64 {
        self.samples.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Upload = BoxBody<Bytes, std::io::Error>;

/// `total` bytes of the pattern, made as they are sent.
fn upload_body(total: u64) -> Upload {
    let frames = pattern::pieces(total).map(|b| Ok(Frame::data(b)));
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

fn no_body() -> Upload {
    Empty::new().map_err(|e| match e {}).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_streams_up_and_down_while_sekisho_stays_under_100_mb() {
    let app = AppServer::start("storage").await;
    let sekisho = Sekisho::start(&config(&upstream("*", &app.url(), &[]))).await;
    let cookie = cookie_for("alice", &["/admins"]);
    let client: HyperClient<HttpConnector, Upload> =
        HyperClient::builder(TokioExecutor::new()).build(HttpConnector::new());
    let base = format!("http://{}", sekisho.addr());
    let watch = RssWatch::start(sekisho.pid());
    let before = resident(sekisho.pid()).expect("sekisho is running");

    // Up: a git push or a large upload, with its length announced.
    let started = Instant::now();
    let request = http::Request::put(format!("{base}/upload"))
        .header("cookie", &cookie)
        .header("content-length", GIB.to_string())
        .body(upload_body(GIB))
        .expect("request");
    let response = client
        .request(request)
        .await
        .expect("upload through sekisho");
    assert_eq!(response.status(), 200);
    let answer = response
        .into_body()
        .collect()
        .await
        .expect("answer")
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{{\"bytes\": {GIB}, \"intact\": true}}"),
        "the app must receive the whole gibibyte, unchanged"
    );
    let up = started.elapsed();

    // Down: a clone or an artifact download.
    let started = Instant::now();
    let request = http::Request::get(format!("{base}/download?bytes={GIB}"))
        .header("cookie", &cookie)
        .body(no_body())
        .expect("request");
    let response = client
        .request(request)
        .await
        .expect("download through sekisho");
    assert_eq!(response.status(), 200);
    let (bytes, intact) = pattern::check(response.into_body()).await;
    assert_eq!(
        (bytes, intact),
        (GIB, true),
        "the whole gibibyte, unchanged"
    );
    let down = started.elapsed();

    // Chunked, without a length, as clients that stream from a pipe send; and asking to be
    // told to go on first, as curl does with large bodies.
    let request = http::Request::post(format!("{base}/upload"))
        .header("cookie", &cookie)
        .header("expect", "100-continue")
        .body(upload_body(8 << 20))
        .expect("request");
    let response = client.request(request).await.expect("chunked upload");
    let answer = response
        .into_body()
        .collect()
        .await
        .expect("answer")
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{{\"bytes\": {}, \"intact\": true}}", 8 << 20)
    );
    let chunked = app.last();
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        chunked.header("expect"),
        None,
        "Sekisho answers Expect itself"
    );

    let after = resident(sekisho.pid()).expect("sekisho is still running");
    eprintln!(
        "up {up:?}, down {down:?}; sekisho RSS before {:.1} MB, sampled max {:.1} MB over {} samples, peak (VmHWM) {:.1} MB",
        mb(before.now),
        mb(watch.max()),
        watch.samples(),
        mb(after.peak)
    );
    assert!(
        watch.samples() >= 10,
        "RSS was sampled during the transfers"
    );
    assert!(
        watch.max() < RSS_LIMIT && after.peak < RSS_LIMIT,
        "sekisho must not hold the transfer in memory: sampled max {:.1} MB, peak {:.1} MB, limit {:.0} MB",
        mb(watch.max()),
        mb(after.peak),
        mb(RSS_LIMIT)
    );
    assert!(
        app.connections() <= 2,
        "the three exchanges should reuse pooled connections, not open {}",
        app.connections()
    );
}

// ---------------------------------------------------------------------------------------------
// skip_auth

#[tokio::test]
async fn skip_auth_routes_pass_only_for_their_method_and_normalised_path() {
    let app = AppServer::start("gitlab").await;
    let sekisho = Sekisho::start(&config(&upstream(
        "*",
        &app.url(),
        &["skip_auth = [\"^/api/v4/\", \"POST ^/hooks/\"]"],
    )))
    .await;

    for (method, path) in [
        ("GET", "/api/v4/projects"),
        ("DELETE", "/api/v4/projects/7"),
        ("GET", "/api/v4/projects/group%2Fproject/repository/tree"),
        ("GET", "/api/v4/projects?search=a%2Fb"),
        ("POST", "/hooks/gitlab"),
        ("GET", "/api/v4/projects/7/../8"),
    ] {
        let request_id = uuid::Uuid::new_v4().to_string();
        let response = send(
            &sekisho,
            STRANGER,
            method,
            path,
            &[("X-Request-Id", &request_id)],
            b"{}",
        )
        .await;
        assert_eq!(response.status, 200, "{method} {path}: {response:?}");
        let reached = app.last();
        assert_eq!(
            (reached.method.as_str(), reached.target.as_str()),
            (method, path),
            "the app gets the path exactly as sent"
        );
        let entry = sekisho.access_entry(&request_id).await;
        assert_eq!(entry["decision"], "skip_auth", "{entry}");
    }

    let hits = app.hits();
    for (method, path) in [
        ("GET", "/hooks/gitlab"),
        ("PUT", "/hooks/gitlab"),
        ("GET", "/admin"),
        ("GET", "/api/v4/../admin"),
        ("GET", "/api/v4/../../admin"),
        ("GET", "/api/v4//../admin"),
        ("GET", "/x/../api/v4/version"),
        ("GET", "/api/v4/%2e%2e/admin"),
        ("GET", "/api/v4/%2E%2E/%2E%2E/admin"),
        ("GET", "/api/v4/..%2fadmin"),
        ("GET", "/api/v4/%2e%2e%2f%2e%2e%2fadmin"),
        ("GET", "/api/v4/%252e%252e/admin"),
        ("GET", "/api/v4/..;/admin"),
        ("GET", "/api%2fv4/admin"),
        ("GET", "/api/v4%2f..%2f..%2fadmin"),
        ("GET", "/API/v4/projects"),
        ("GET", "/v1/api/v4/projects"),
        ("POST", "/hooks/../admin/users"),
        ("POST", "/hooks/%2e%2e/admin/users"),
        ("POST", "/hooks%2f..%2fadmin"),
    ] {
        let response = send(&sekisho, STRANGER, method, path, &[], b"{}").await;
        assert_eq!(
            response.status, 401,
            "{method} {path} must need a session: {response:?}"
        );
    }
    assert_eq!(app.hits(), hits, "none of those reached the app");

    // A browser on a route that needs a session is sent to sign in.
    let response = send(
        &sekisho,
        STRANGER,
        "GET",
        "/api/v4/../admin",
        &[("Accept", "text/html")],
        b"",
    )
    .await;
    assert_eq!(response.status, 302, "{response:?}");
    assert!(
        response
            .header("location")
            .is_some_and(|l| l.starts_with("http://127.0.0.1/oauth2/start?rd=")),
        "{response:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hosts

#[tokio::test]
async fn two_hosts_reach_two_apps_each_with_its_own_groups() {
    let gitlab = AppServer::start("gitlab").await;
    let chat = AppServer::start("chat").await;
    let sekisho = Sekisho::start(&config(&format!(
        "[proxy]\nidentity_headers = \"x-forwarded\"\n\n{}{}",
        upstream(
            "gitlab.test",
            &gitlab.url(),
            &["allowed_groups = [\"admins\"]"]
        ),
        upstream(
            "chat.test",
            &chat.url(),
            &["allowed_groups = [\"dev\"]", "preserve_host = false"]
        ),
    )))
    .await;
    let alice = cookie_for("alice", &["/admins"]);
    let bob = cookie_for("bob", &["/dev"]);
    let visit = |host: &'static str, cookie: &str| {
        let cookie = cookie.to_owned();
        let sekisho = &sekisho;
        async move { get(sekisho, "/", &[("Host", host), ("Cookie", &cookie)]).await }
    };

    let response = visit("gitlab.test", &alice).await;
    assert_eq!(
        (response.status, response.header("x-app")),
        (200, Some("gitlab")),
        "{response:?}"
    );
    assert_eq!(
        echoed(&response.body, "host"),
        "gitlab.test",
        "Host is preserved"
    );
    assert_eq!(echoed(&response.body, "x-forwarded-user"), "alice");
    assert_eq!(echoed(&response.body, "x-forwarded-groups"), "/admins");
    assert!(echoed_header_all(&response.body, "x-auth-request-user").is_empty());

    let response = visit("chat.test:8080", &bob).await;
    assert_eq!(
        (response.status, response.header("x-app")),
        (200, Some("chat")),
        "{response:?}"
    );
    assert_eq!(
        echoed(&response.body, "host"),
        chat.addr().to_string(),
        "preserve_host = false sends the app's own address"
    );
    assert_eq!(echoed(&response.body, "x-forwarded-host"), "chat.test:8080");
    assert_eq!(echoed(&response.body, "x-forwarded-user"), "bob");

    let (gitlab_hits, chat_hits) = (gitlab.hits(), chat.hits());
    for (host, cookie, who) in [("chat.test", &alice, "alice"), ("gitlab.test", &bob, "bob")] {
        let response = visit(host, cookie).await;
        assert_eq!(response.status, 403, "{who} at {host}: {response:?}");
        assert!(
            response.body.contains(&format!("signed in as {who}")),
            "{response:?}"
        );
    }
    let page = get(
        &sekisho,
        "/",
        &[
            ("Host", "chat.test"),
            ("Cookie", &alice),
            ("Accept", "text/html"),
        ],
    )
    .await;
    assert_eq!(page.status, 403);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "browsers get the not-allowed page: {page:?}"
    );
    let unknown = visit("wiki.test", &alice).await;
    assert_eq!(
        unknown.status, 404,
        "no upstream serves wiki.test: {unknown:?}"
    );
    assert_eq!((gitlab.hits(), chat.hits()), (gitlab_hits, chat_hits));
}

// ---------------------------------------------------------------------------------------------
// Failing apps

#[tokio::test]
async fn an_app_that_is_down_is_a_502_and_a_slow_one_a_504_within_the_timeout() {
    let slow = AppServer::start("slow").await;
    let down = {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        format!("http://{addr}")
    };
    let sekisho = Sekisho::start(&config(&format!(
        "[proxy]\ntimeout = \"1s\"\n\n{}{}",
        upstream("down.test", &down, &[]),
        upstream("slow.test", &slow.url(), &[]),
    )))
    .await;
    let cookie = cookie_for("alice", &["/admins"]);

    let response = get(&sekisho, "/", &[("Host", "down.test"), ("Cookie", &cookie)]).await;
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(
        response.body.trim(),
        "the application is unavailable; try again shortly"
    );
    let page = get(
        &sekisho,
        "/",
        &[
            ("Host", "down.test"),
            ("Cookie", &cookie),
            ("Accept", "text/html"),
        ],
    )
    .await;
    assert_eq!(page.status, 502);
    assert!(page.body.contains("<html"), "browsers get a page: {page:?}");
    let logged = sekisho
        .output()
        .wait_for(Duration::from_secs(5), |line| {
            line.contains("ERROR") && line.contains("down.test") && line.contains("unavailable")
        })
        .await;
    assert!(
        logged.is_some(),
        "the failure is logged:\n{}",
        sekisho.output().text()
    );

    let started = Instant::now();
    let response = get(
        &sekisho,
        "/slow?ms=5000",
        &[("Host", "slow.test"), ("Cookie", &cookie)],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(response.status, 504, "{response:?}");
    assert_eq!(
        response.body.trim(),
        "the application did not answer in time"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "504 after the 1 s timeout, not after the app's 5 s: took {took:?}"
    );
    let logged = sekisho
        .output()
        .wait_for(Duration::from_secs(5), |line| {
            line.contains("ERROR")
                && line.contains("slow.test")
                && line.contains("did not answer within 1s")
        })
        .await;
    assert!(
        logged.is_some(),
        "the timeout is logged:\n{}",
        sekisho.output().text()
    );

    // A quick answer from the same app is fine.
    let response = get(
        &sekisho,
        "/slow?ms=10",
        &[("Host", "slow.test"), ("Cookie", &cookie)],
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
}

// ---------------------------------------------------------------------------------------------
// Forwarding

#[tokio::test]
async fn forwarded_headers_are_set_hop_by_hop_headers_dropped_and_connections_reused() {
    let app = AppServer::start("app").await;
    let sekisho = Sekisho::start(&config(&upstream("*", &app.url(), &[]))).await;
    let cookie = cookie_for("alice", &["/admins"]);

    // Through a trusted proxy: the chain is extended with it.
    let response = send(
        &sekisho,
        PROXY,
        "GET",
        "/page",
        &[
            ("Host", "gitlab.example.com"),
            ("Cookie", &cookie),
            ("X-Forwarded-For", "198.51.100.9"),
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "for=10.9.9.9"),
            ("Connection", "x-client-hop"),
            ("X-Client-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("TE", "trailers"),
        ],
        b"",
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let body = &response.body;
    assert_eq!(
        echoed(body, "x-forwarded-for"),
        format!("198.51.100.9, {PROXY}")
    );
    assert_eq!(echoed(body, "x-real-ip"), "198.51.100.9");
    assert_eq!(echoed(body, "x-forwarded-proto"), "https");
    assert_eq!(echoed(body, "x-forwarded-host"), "gitlab.example.com");
    assert_eq!(echoed(body, "host"), "gitlab.example.com");
    for hop in [
        "x-client-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "forwarded",
        "connection",
    ] {
        assert!(
            echoed_header_all(body, hop).is_empty(),
            "{hop} must not reach the app:\n{body}"
        );
    }
    assert!(
        response.header("x-app-hop").is_none(),
        "nor the app's hop-by-hop headers the client: {response:?}"
    );

    // From anyone else, what the client claims is dropped.
    let response = send(
        &sekisho,
        STRANGER,
        "GET",
        "/page",
        &[
            ("Cookie", &cookie),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Proto", "https"),
        ],
        b"",
    )
    .await;
    assert_eq!(
        echoed(&response.body, "x-forwarded-for"),
        STRANGER.to_string()
    );
    assert_eq!(echoed(&response.body, "x-real-ip"), STRANGER.to_string());
    assert_eq!(echoed(&response.body, "x-forwarded-proto"), "http");

    // A trusted network goes straight through, with no identity.
    let response = get(&sekisho, "/page", &[("X-Forwarded-For", TRUSTED_CLIENT)]).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(echoed_header_all(&response.body, "x-auth-request-user").is_empty());

    // Sekisho's own routes stay its own on every host.
    let ping = get(&sekisho, "/ping", &[("Host", "gitlab.example.com")]).await;
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK\n"));
    let userinfo = get(&sekisho, "/oauth2/userinfo", &[("Cookie", &cookie)]).await;
    assert_eq!(userinfo.status, 200, "{userinfo:?}");
    assert!(
        userinfo.header("x-app").is_none(),
        "answered by Sekisho: {userinfo:?}"
    );

    // Every client connection above was new; the app saw one, kept alive and reused.
    let before = app.connections();
    for _ in 0..5 {
        let response = get(&sekisho, "/again", &[("Cookie", &cookie)]).await;
        assert_eq!(response.status, 200);
    }
    assert_eq!(
        (before, app.connections()),
        (1, 1),
        "sekisho should reuse one pooled connection to the app"
    );
}
