//! What each real front door sends its auth server and what it does with each kind of
//! answer, recorded with a stand-in auth server (no Sekisho): the facts `docs/front-doors.md`
//! states, asserted here so a new Traefik, Caddy or Envoy that changes one fails.
//!
//! The doors run as `tests/common/front_door.rs` configures them (the recommended settings);
//! the client connects from 127.0.0.3, a browser no door trusts, with `Host: app.example`.
//! The stand-in answers by the path the client asked for:
//!
//! | path            | answer                                                           |
//! |-----------------|------------------------------------------------------------------|
//! | `/allow...`     | 200, identity headers, `Set-Cookie` for `_sekisho` and `other`    |
//! | `/accepted...`  | 202 with an identity header (what nginx's endpoint answers)      |
//! | `/redirect...`  | 302 to an absolute sign-in URL, a `Set-Cookie`, a body            |
//! | `/relative...`  | 302 to `/oauth2/start` (a relative Location)                     |
//! | `/unauthorized` | 401 with `WWW-Authenticate` and a body                           |
//! | `/unavailable`  | 503 with a body                                                  |

mod common;

use std::net::Ipv4Addr;

use common::auth_stub::{Asked, AuthStub, Reply};
use common::ext_authz::{self, ExtAuthzServer};
use common::front_door::{Door, FrontDoor, Wiring};
use common::http::{Client, Response};
use common::ports::loopback;
use common::problems::Problems;
use common::upstream::{Received, Upstream};
use serde_json::{Value, json};

/// The client: a browser that no door trusts.
const BROWSER: Ipv4Addr = loopback(3);
const HOST: &str = "app.example";
const SIGN_IN: &str = "http://sekisho.example/oauth2/start?rd=%2Fredirect";

/// The path the client asked for, as the door tells the auth server (the query included).
fn original_uri(door: Door, asked: &Asked) -> String {
    match door {
        Door::Traefik | Door::Caddy => asked
            .header("x-forwarded-uri")
            .unwrap_or_default()
            .to_owned(),
        Door::EnvoyHttp => asked
            .request
            .target
            .strip_prefix(Door::EnvoyHttp.auth_path())
            .unwrap_or_default()
            .to_owned(),
        Door::EnvoyGrpc => unreachable!("the gRPC door is recorded by ext_authz::ExtAuthzServer"),
    }
}

/// The stand-in's answers, by the path the client asked for (see the table above).
fn answer(door: Door, asked: &Asked) -> Reply {
    let uri = original_uri(door, asked);
    let path = uri.split('?').next().unwrap_or_default();
    match path.split('/').nth(1).unwrap_or_default() {
        "allow" => Reply::status(200)
            .header("X-Auth-Request-User", "alice")
            .header("X-Auth-Request-Groups", "admins")
            .header("X-Not-Listed", "from-auth")
            .header("x-envoy-auth-headers-to-remove", "x-secret")
            .header("Set-Cookie", "_sekisho=refreshed; Path=/; HttpOnly")
            .header("Set-Cookie", "other=1; Path=/"),
        "accepted" => Reply::status(202).header("X-Auth-Request-User", "alice"),
        "redirect" => Reply::status(302)
            .header("Location", SIGN_IN)
            .header("Set-Cookie", "_sekisho_login_1=state; Path=/; HttpOnly")
            .body("redirecting"),
        "relative" => Reply::status(302).header("Location", "/oauth2/start"),
        "unauthorized" => Reply::status(401)
            .header("WWW-Authenticate", "Bearer realm=\"sekisho\"")
            .body("sign in first"),
        "unavailable" => Reply::status(503).body("try later"),
        _ => Reply::status(500).body("the test sent an unexpected path"),
    }
}

/// A door between the stand-in and an echoing app.
struct Bench {
    door: Door,
    auth: AuthStub,
    app: Upstream,
    front: FrontDoor,
}

impl Bench {
    async fn start(door: Door) -> Self {
        Self::start_trusting(door, &[]).await
    }

    /// A door that believes the forwarding headers of `proxies`.
    async fn start_trusting(door: Door, proxies: &[Ipv4Addr]) -> Self {
        let auth = AuthStub::start(move |asked| answer(door, asked)).await;
        let app = Upstream::start().await;
        let wiring = proxies
            .iter()
            .fold(Wiring::new(auth.addr(), app.addr()), |wiring, proxy| {
                wiring.trusting(*proxy)
            });
        let front = FrontDoor::start(door, &wiring).await;
        Self {
            door,
            auth,
            app,
            front,
        }
    }

    /// `method path` from the browser, with `Host: app.example` and `headers`.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send_from(BROWSER, method, path, headers, body).await
    }

    /// `method path` from `from`, with `Host: app.example` and `headers`.
    async fn send_from(
        &self,
        from: Ipv4Addr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut all = vec![("Host", HOST)];
        all.extend_from_slice(headers);
        Client::from(from)
            .request(self.front.addr(), method, path, &all, body)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path} from {from} through {:?}: {e}\n{}",
                    self.door,
                    self.front.logs()
                )
            })
    }

    /// The question the door asked about `uri`.
    fn question(&self, uri: &str) -> Asked {
        self.auth
            .asked()
            .into_iter()
            .find(|asked| original_uri(self.door, asked) == uri)
            .unwrap_or_else(|| {
                panic!(
                    "{:?} asked nothing about {uri}; it asked {:#?}\n{}",
                    self.door,
                    self.auth.asked(),
                    self.front.logs()
                )
            })
    }

    /// What reached the app for `uri`, if anything did.
    fn app_got(&self, uri: &str) -> Option<Received> {
        self.app.received().into_iter().find(|r| r.target == uri)
    }
}

fn set_cookies(response: &Response) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Prints what the door asked, for the write-up (`--nocapture`).
fn show(door: Door, asked: &Asked) {
    eprintln!(
        "{door:?} asked: {} {} (body {} bytes, from {})",
        asked.request.method,
        asked.request.target,
        asked.body.len(),
        asked.peer
    );
    for (name, value) in &asked.request.headers {
        eprintln!("  {name}: {value}");
    }
}

/// The headers a client sends that a door must not let it choose.
const SPOOFED: [(&str, &str); 6] = [
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Uri", "/public"),
    ("X-Forwarded-Method", "OPTIONS"),
    ("X-Auth-Request-Email", "mallory@evil.example"),
];

/// What the doors ask, as a request with a query, a body, credentials and spoofed forwarding
/// and identity headers; returns the question, what the app got and what the client got.
async fn ask_allowed(bench: &Bench) -> (Asked, Received, Response) {
    let mut headers = vec![
        ("Cookie", "_sekisho=sealed; theme=dark"),
        ("Authorization", "Bearer token-1"),
        ("X-Request-Id", "req-1"),
        ("X-Secret", "client-credential"),
    ];
    headers.extend(SPOOFED);
    let response = bench
        .send("POST", "/allow/x?q=1&r=%2F", &headers, b"form=1")
        .await;
    assert_eq!(response.status, 200, "{response:?}\n{}", bench.front.logs());
    let asked = bench.question("/allow/x?q=1&r=%2F");
    show(bench.door, &asked);
    let got = bench
        .app_got("/allow/x?q=1&r=%2F")
        .expect("the allowed request reached the app");
    eprintln!("{:?}: the app got\n{}", bench.door, got.echo());
    (asked, got, response)
}

/// Facts every HTTP door shares: credentials reach the auth server, the client cannot choose
/// the forwarded address or URI, identity headers of an allowing answer replace the client's,
/// a header the door was not told to copy does not reach the app, the request body does not
/// go to the auth server.
fn assert_common_question(door: Door, asked: &Asked, got: &Received) {
    assert_eq!(
        asked.header("cookie"),
        Some("_sekisho=sealed; theme=dark"),
        "{door:?}"
    );
    assert_eq!(
        asked.header("authorization"),
        Some("Bearer token-1"),
        "{door:?}"
    );
    assert!(
        asked.body.is_empty(),
        "{door:?} sent the client's body: {asked:?}"
    );
    let xff = asked.header("x-forwarded-for").unwrap_or_default();
    assert!(
        xff.ends_with("127.0.0.3"),
        "{door:?}: the browser's address is not the right-most x-forwarded-for entry: {xff:?}"
    );
    assert_eq!(
        got.header("cookie"),
        Some("_sekisho=sealed; theme=dark"),
        "{door:?} passes the client's cookies on to the app, Sekisho's included"
    );
    assert_eq!(got.header("x-auth-request-user"), Some("alice"), "{door:?}");
    assert_eq!(
        got.header("x-auth-request-groups"),
        Some("admins"),
        "{door:?}"
    );
    assert_eq!(
        got.header("x-not-listed"),
        None,
        "{door:?} copied an unlisted header"
    );
    assert_eq!(
        got.header("x-auth-request-email"),
        None,
        "{door:?} let the client's own identity header reach the app"
    );
}

/// Whether the client's `X-Secret` reached the app though the allowing answer named it in
/// `x-envoy-auth-headers-to-remove`: only Envoy has that way for an auth server to remove a
/// client's header (Traefik and Caddy remove only the headers they copy from the answer).
fn assert_secret_removed(door: Door, got: &Received, removed: bool) {
    let expected = if removed {
        None
    } else {
        Some("client-credential")
    };
    assert_eq!(
        got.header("x-secret"),
        expected,
        "{door:?}: the client's header that the answer asked to remove"
    );
}

/// 302, 401 and 503 answers: status, Location, WWW-Authenticate and body reach the client,
/// and nothing reaches the app.
async fn assert_denials_pass_through(bench: &Bench) {
    let redirect = bench.send("GET", "/redirect", &[], b"").await;
    assert_eq!(redirect.status, 302, "{redirect:?}");
    assert_eq!(redirect.header("location"), Some(SIGN_IN), "{redirect:?}");
    assert_eq!(redirect.body, "redirecting", "{redirect:?}");
    assert_eq!(
        set_cookies(&redirect),
        ["_sekisho_login_1=state; Path=/; HttpOnly"],
        "{:?}: the sign-in cookie of a 302",
        bench.door
    );
    let unauthorized = bench.send("GET", "/unauthorized", &[], b"").await;
    assert_eq!(unauthorized.status, 401, "{unauthorized:?}");
    assert_eq!(
        unauthorized.header("www-authenticate"),
        Some("Bearer realm=\"sekisho\"")
    );
    assert_eq!(unauthorized.body, "sign in first", "{unauthorized:?}");
    for path in ["/redirect", "/unauthorized"] {
        assert!(
            bench.app_got(path).is_none(),
            "{:?} let {path} through",
            bench.door
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth() {
    let bench = Bench::start(Door::Traefik).await;
    let (asked, got, response) = ask_allowed(&bench).await;
    assert_common_question(Door::Traefik, &asked, &got);
    assert_secret_removed(Door::Traefik, &got, false);
    assert_eq!(
        (asked.request.method.as_str(), asked.request.target.as_str()),
        ("GET", "/oauth2/traefik"),
        "Traefik asks with GET at the configured address, no query"
    );
    assert_eq!(asked.header("x-forwarded-method"), Some("POST"));
    assert_eq!(asked.header("x-forwarded-proto"), Some("http"));
    assert_eq!(asked.header("x-forwarded-host"), Some(HOST));
    assert_eq!(
        asked.header("x-forwarded-for"),
        Some("127.0.0.3"),
        "the spoofed entry is dropped"
    );
    assert_eq!(
        asked.header("host"),
        Some(bench.auth.addr().to_string().as_str())
    );
    assert_eq!(
        set_cookies(&response),
        ["_sekisho=refreshed; Path=/; HttpOnly"],
        "Traefik passes on only the cookies named in addAuthCookiesToResponse"
    );

    let accepted = bench.send("GET", "/accepted", &[], b"").await;
    assert_eq!(accepted.status, 200, "any 2xx allows: {accepted:?}");
    assert!(bench.app_got("/accepted").is_some());

    assert_denials_pass_through(&bench).await;
    let relative = bench.send("GET", "/relative", &[], b"").await;
    assert_eq!(relative.status, 302);
    assert_eq!(
        relative.header("location"),
        Some(format!("http://{}/oauth2/start", bench.auth.addr()).as_str()),
        "Traefik resolves a relative Location against the auth server's address"
    );
    let unavailable = bench.send("GET", "/unavailable", &[], b"").await;
    assert_eq!(
        (unavailable.status, unavailable.body.as_str()),
        (503, "try later")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth() {
    let bench = Bench::start(Door::Caddy).await;
    let (asked, got, response) = ask_allowed(&bench).await;
    assert_common_question(Door::Caddy, &asked, &got);
    assert_secret_removed(Door::Caddy, &got, false);
    assert_eq!(
        (asked.request.method.as_str(), asked.request.target.as_str()),
        ("GET", "/oauth2/caddy?q=1&r=%2F"),
        "Caddy asks with GET at the configured uri, keeping the client's query"
    );
    assert_eq!(asked.header("x-forwarded-method"), Some("POST"));
    assert_eq!(asked.header("x-forwarded-proto"), Some("http"));
    assert_eq!(asked.header("x-forwarded-host"), Some(HOST));
    assert_eq!(
        asked.header("x-forwarded-for"),
        Some("127.0.0.3"),
        "the spoofed entry is dropped"
    );
    assert_eq!(
        asked.header("host"),
        Some(HOST),
        "Caddy keeps the client's Host"
    );
    assert!(
        set_cookies(&response).is_empty(),
        "Caddy drops the auth server's Set-Cookie on allow: {response:?}"
    );

    let accepted = bench.send("GET", "/accepted", &[], b"").await;
    assert_eq!(accepted.status, 200, "any 2xx allows: {accepted:?}");
    assert!(bench.app_got("/accepted").is_some());

    assert_denials_pass_through(&bench).await;
    let relative = bench.send("GET", "/relative", &[], b"").await;
    assert_eq!(
        (relative.status, relative.header("location")),
        (302, Some("/oauth2/start"))
    );
    let unavailable = bench.send("GET", "/unavailable", &[], b"").await;
    assert_eq!(
        (unavailable.status, unavailable.body.as_str()),
        (503, "try later")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz() {
    let bench = Bench::start(Door::EnvoyHttp).await;
    let (asked, got, response) = ask_allowed(&bench).await;
    assert_common_question(Door::EnvoyHttp, &asked, &got);
    assert_secret_removed(Door::EnvoyHttp, &got, true);
    assert_eq!(
        (asked.request.method.as_str(), asked.request.target.as_str()),
        ("POST", "/oauth2/ext_authz/allow/x?q=1&r=%2F"),
        "Envoy asks with the client's method, at path_prefix + the client's path and query"
    );
    assert_eq!(asked.header("host"), Some(HOST));
    assert_eq!(asked.header("content-length"), Some("0"));
    assert_eq!(asked.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        asked.header("x-forwarded-method"),
        None,
        "Envoy sends no X-Forwarded-Method"
    );
    assert_eq!(
        set_cookies(&response),
        ["_sekisho=refreshed; Path=/; HttpOnly", "other=1; Path=/"],
        "allowed_client_headers_on_success: set-cookie passes every cookie on"
    );

    let accepted = bench.send("GET", "/accepted", &[], b"").await;
    assert_eq!(
        accepted.status, 202,
        "only 200 allows; a 202 goes to the client: {accepted:?}"
    );
    assert!(bench.app_got("/accepted").is_none());

    assert_denials_pass_through(&bench).await;
    let relative = bench.send("GET", "/relative", &[], b"").await;
    assert_eq!(
        (relative.status, relative.header("location")),
        (302, Some("/oauth2/start"))
    );
    let unavailable = bench.send("GET", "/unavailable", &[], b"").await;
    assert_eq!(
        unavailable.status, 403,
        "a 5xx is an error: status_on_error (403): {unavailable:?}"
    );
}

/// The gRPC answers, by path: `/allow` OK with identity headers and a cookie; `/redirect`
/// denied with a 302; anything else denied with 401.
fn grpc_answers() -> Value {
    let header = |key: &str, value: &str| json!({"header": {"key": key, "value": value}});
    json!({
        "/allow/x": {
            "status": {"code": 0},
            "okResponse": {
                "headers": [header("x-auth-request-user", "alice"), header("x-auth-request-groups", "admins")],
                "headersToRemove": ["x-secret"],
                "responseHeadersToAdd": [header("set-cookie", "_sekisho=refreshed; Path=/; HttpOnly")]
            }
        },
        "/redirect": {
            "status": {"code": 7},
            "deniedResponse": {
                "status": {"code": 302},
                "headers": [header("location", SIGN_IN), header("set-cookie", "_sekisho_login_1=state; Path=/; HttpOnly")],
                "body": "redirecting"
            }
        },
        "*": {
            "status": {"code": 16},
            "deniedResponse": {
                "status": {"code": 401},
                "headers": [header("www-authenticate", "Bearer realm=\"sekisho\"")],
                "body": "sign in first"
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_ext_authz() {
    let auth = ExtAuthzServer::start(&grpc_answers()).await;
    let app = Upstream::start().await;
    let front = FrontDoor::start(Door::EnvoyGrpc, &Wiring::new(auth.addr(), app.addr())).await;
    let send =
        |method: &'static str, path: &'static str, headers: Vec<(&'static str, &'static str)>| {
            let addr = front.addr();
            async move {
                let mut all = vec![("Host", HOST)];
                all.extend(headers);
                // A body only where Envoy reads it: a denied request's unread body would make
                // Envoy reset the connection under the response.
                let body: &[u8] = if method == "POST" { b"form=1" } else { b"" };
                Client::from(BROWSER)
                    .request(addr, method, path, &all, body)
                    .await
                    .expect("a response through Envoy")
            }
        };
    let mut headers = vec![
        ("Cookie", "_sekisho=sealed; theme=dark"),
        ("Authorization", "Bearer token-1"),
        ("X-Secret", "client-credential"),
    ];
    headers.extend(SPOOFED);
    let allowed = send("POST", "/allow/x?q=1&r=%2F", headers).await;
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", front.logs());
    assert_eq!(
        set_cookies(&allowed),
        ["_sekisho=refreshed; Path=/; HttpOnly"]
    );
    let got = app
        .received()
        .into_iter()
        .next()
        .expect("the allowed request reached the app");
    assert_eq!(got.header("x-auth-request-user"), Some("alice"));
    assert_eq!(
        got.header("x-auth-request-email"),
        None,
        "the client's own identity header"
    );
    assert_eq!(
        got.header("x-secret"),
        None,
        "ok_response.headers_to_remove removes the client's header"
    );

    let checks = auth.checks();
    let check = &checks[0];
    eprintln!(
        "EnvoyGrpc asked: {}",
        serde_json::to_string_pretty(check).unwrap_or_default()
    );
    let attributes = &check["attributes"];
    let http = &attributes["request"]["http"];
    assert_eq!(
        attributes["source"]["address"]["socketAddress"]["address"],
        "127.0.0.3"
    );
    assert_eq!(
        attributes["destination"]["address"]["socketAddress"]["address"],
        "127.0.0.1"
    );
    assert_eq!(http["method"], "POST");
    assert_eq!(http["path"], "/allow/x?q=1&r=%2F");
    assert_eq!(http["host"], HOST);
    assert_eq!(http["scheme"], "http");
    assert_eq!(http["protocol"], "HTTP/1.1");
    assert_eq!(http["headers"][":authority"], HOST);
    assert_eq!(http["headers"][":method"], "POST");
    assert_eq!(http["headers"][":path"], "/allow/x?q=1&r=%2F");
    assert_eq!(http["headers"]["cookie"], "_sekisho=sealed; theme=dark");
    assert_eq!(http["headers"]["authorization"], "Bearer token-1");
    assert_eq!(http["headers"]["x-forwarded-for"], "203.0.113.7,127.0.0.3");
    assert!(
        http.get("body").is_none(),
        "no body without with_request_body: {http}"
    );

    let redirect = send("GET", "/redirect", vec![]).await;
    assert_eq!(redirect.status, 302, "{redirect:?}");
    assert_eq!(redirect.header("location"), Some(SIGN_IN));
    assert_eq!(redirect.body, "redirecting");
    assert_eq!(
        set_cookies(&redirect),
        ["_sekisho_login_1=state; Path=/; HttpOnly"]
    );
    let denied = send("GET", "/elsewhere", vec![]).await;
    assert_eq!(denied.status, 401, "{denied:?}");
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer realm=\"sekisho\"")
    );
    assert_eq!(denied.body, "sign in first");
    assert_eq!(app.hits(), 1, "a denied request reached the app");

    // The client role: the CheckRequest Envoy sent, replayed, gets the same answer.
    let replayed = ext_authz::check(auth.addr(), check)
        .await
        .expect("a CheckResponse");
    assert_eq!(
        replayed["okResponse"]["headers"][0]["header"]["value"], "alice",
        "{replayed}"
    );
}

/// The forwarding headers the auth server sees from a trusted proxy (a CDN at 127.0.0.2) and
/// from an untrusted peer (127.0.0.3), both sending `X-Forwarded-For: 198.51.100.9` and
/// `X-Forwarded-Proto: https`: (door, from, x-forwarded-for, x-forwarded-proto).
const FORWARDED: [(Door, Ipv4Addr, &str, &str); 6] = [
    (Door::Traefik, CDN, "198.51.100.9, 127.0.0.2", "https"),
    (Door::Traefik, BROWSER, "127.0.0.3", "http"),
    (Door::Caddy, CDN, "198.51.100.9, 127.0.0.2", "https"),
    (Door::Caddy, BROWSER, "127.0.0.3", "http"),
    (Door::EnvoyHttp, CDN, "198.51.100.9,127.0.0.2", "http"),
    (Door::EnvoyHttp, BROWSER, "198.51.100.9,127.0.0.3", "http"),
];

/// A proxy in front of the door.
const CDN: Ipv4Addr = loopback(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_trusted_and_untrusted_peers() {
    let mut problems = Problems::default();
    for door in [Door::Traefik, Door::Caddy, Door::EnvoyHttp] {
        let bench = Bench::start_trusting(door, &[CDN]).await;
        for (_, from, xff, proto) in FORWARDED.iter().filter(|(d, ..)| *d == door) {
            let path = format!("/allow/from-{from}");
            let headers = [
                ("X-Forwarded-For", "198.51.100.9"),
                ("X-Forwarded-Proto", "https"),
            ];
            let response = bench.send_from(*from, "GET", &path, &headers, b"").await;
            assert_eq!(response.status, 200, "{door:?} from {from}: {response:?}");
            let asked = bench.question(&path);
            let seen = (
                asked.header("x-forwarded-for"),
                asked.header("x-forwarded-proto"),
            );
            problems.check(seen == (Some(*xff), Some(*proto)), || {
                format!(
                    "{door:?} from {from}: the auth server saw {seen:?}, not ({xff:?}, {proto:?})"
                )
            });
        }
    }
    problems.assert_none("forwarded headers");
}

/// With the auth server down (nothing listens on its port) every door fails closed:
/// (door, the status the client gets).
const AUTH_DOWN: [(Door, u16); 4] = [
    (Door::Traefik, 500),
    (Door::Caddy, 502),
    (Door::EnvoyHttp, 403),
    (Door::EnvoyGrpc, 403),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_server_down() {
    let closed = std::net::SocketAddr::from((
        Ipv4Addr::LOCALHOST,
        common::ports::free_port(Ipv4Addr::LOCALHOST),
    ));
    let app = Upstream::start().await;
    let mut problems = Problems::default();
    for (door, status) in AUTH_DOWN {
        let front = FrontDoor::start(door, &Wiring::new(closed, app.addr())).await;
        let response = Client::from(BROWSER)
            .request(front.addr(), "GET", "/allow/x", &[("Host", HOST)], b"")
            .await
            .unwrap_or_else(|e| panic!("{door:?}: {e}\n{}", front.logs()));
        problems.check(response.status == status, || {
            format!(
                "{door:?}: {} instead of {status}: {response:?}",
                response.status
            )
        });
    }
    problems.check(app.hits() == 0, || {
        format!("{} request(s) reached the app", app.hits())
    });
    problems.assert_none("the auth server down");
}
