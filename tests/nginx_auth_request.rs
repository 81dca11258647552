//! End to end against a real nginx using `auth_request`: client → nginx → (Sekisho for the
//! decision) → app. Every test builds its own stack on loopback with ephemeral ports:
//!
//! - the app: an in-process upstream that echoes the headers it received and counts hits;
//! - Sekisho: `trusted_ips = ["203.0.113.7"]`, trusting forwarded headers from nginx
//!   (127.0.0.1) and from a "CDN" (127.0.0.2) in front of nginx;
//! - nginx, with `config/nginx/auth_request.conf`, listening on 127.0.0.1.
//!
//! Clients bind their source address to play the CDN (127.0.0.2), an attacker connecting to
//! nginx directly (127.0.0.3), or a browser (127.0.0.1).

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::http::{Client, Response};
use common::nginx::Nginx;
use common::ports::loopback;
use common::sekisho::Sekisho;
use common::session;
use common::upstream::{Upstream, echoed_header_all};
use serde_json::Value;

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/nginx/auth_request.conf"
);
const SECRET: &str = "end-to-end-test-secret-of-at-least-32-bytes";

/// A browser on the same host as nginx (and Sekisho sees nginx at this address).
const BROWSER: Ipv4Addr = loopback(1);
/// A CDN in front of nginx: a trusted proxy.
const CDN: Ipv4Addr = loopback(2);
/// Anyone else connecting to nginx directly: not a trusted proxy.
const ATTACKER: Ipv4Addr = loopback(3);
/// In `trusted_ips`: let through without a session.
const TRUSTED_CLIENT: &str = "203.0.113.7";

fn sekisho_config() -> String {
    format!(
        r#"
public_url = "http://127.0.0.1/"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["{BROWSER}/32", "{CDN}/32"]

[session]
secret = "{SECRET}"
secure = false
"#
    )
}

/// Upstream, Sekisho and nginx, wired together; all stopped on drop (nginx first).
struct Stack {
    nginx: Nginx,
    sekisho: Sekisho,
    upstream: Upstream,
}

/// A response from nginx and the request id it was sent with.
struct Exchange {
    response: Response,
    request_id: String,
}

impl Stack {
    async fn start() -> Self {
        let upstream = Upstream::start().await;
        let sekisho = Sekisho::start(&sekisho_config()).await;
        let nginx = Nginx::start(
            Path::new(TEMPLATE),
            &[
                ("SEKISHO", &sekisho.addr().to_string()),
                ("UPSTREAM", &upstream.addr().to_string()),
            ],
        )
        .await;
        Self {
            nginx,
            sekisho,
            upstream,
        }
    }

    /// `GET path` to nginx from `source`, tagged with a fresh `X-Request-Id` so Sekisho's
    /// access-log entry for its auth subrequest can be found.
    async fn get(&self, source: Ipv4Addr, path: &str, headers: &[(&str, &str)]) -> Exchange {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut all = vec![("X-Request-Id", request_id.as_str())];
        all.extend_from_slice(headers);
        let response = Client::from(source)
            .get(self.nginx.addr(), path, &all)
            .await;
        Exchange {
            response,
            request_id,
        }
    }

    /// Sekisho's access-log entry for the auth subrequest of `exchange`.
    async fn decision(&self, exchange: &Exchange) -> Value {
        self.sekisho.access_entry(&exchange.request_id).await
    }
}

/// Asserts what Sekisho decided, and for which client address.
fn assert_decision(entry: &Value, client_ip: &str, decision: &str, status: u16) {
    assert_eq!(entry["path"], "/oauth2/auth", "{entry}");
    assert_eq!(
        entry["client_ip"], client_ip,
        "resolved client address: {entry}"
    );
    assert_eq!(entry["decision"], decision, "{entry}");
    assert_eq!(entry["status"], status, "{entry}");
    let peer = entry["peer"].as_str().unwrap_or_default();
    assert!(
        peer.starts_with("127.0.0.1:"),
        "sekisho should be reached from nginx, not {peer}: {entry}"
    );
}

#[tokio::test]
async fn cdn_forwarding_a_trusted_client_reaches_the_upstream() {
    let stack = Stack::start().await;

    let exchange = stack
        .get(CDN, "/app?x=1", &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;

    let response = &exchange.response;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(stack.upstream.hits(), 1);
    assert_eq!(
        response.body.lines().next(),
        Some("GET /app?x=1"),
        "the upstream's echo: {}",
        response.body
    );
    // Let in by address, not as anyone: no identity reaches the app.
    assert_eq!(
        echoed_header_all(&response.body, "X-Auth-Request-User"),
        Vec::<&str>::new(),
        "{}",
        response.body
    );
    assert_decision(
        &stack.decision(&exchange).await,
        TRUSTED_CLIENT,
        "trusted_ip",
        202,
    );
}

#[tokio::test]
async fn attacker_claiming_a_trusted_address_is_refused_before_the_upstream() {
    let stack = Stack::start().await;

    let exchange = stack
        .get(ATTACKER, "/app", &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;

    assert_eq!(exchange.response.status, 401, "{:?}", exchange.response);
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the upstream must never see a refused request"
    );
    // The header was not believed: the attacker is an untrusted hop, so it is the client.
    assert_decision(
        &stack.decision(&exchange).await,
        &ATTACKER.to_string(),
        "no_session",
        401,
    );
}

#[tokio::test]
async fn spoofed_leftmost_address_behind_the_cdn_is_refused() {
    let stack = Stack::start().await;

    // The CDN appends the real client (192.0.2.50) to a chain that client made up.
    let chain = format!("{TRUSTED_CLIENT}, 192.0.2.50");
    let exchange = stack.get(CDN, "/app", &[("X-Forwarded-For", &chain)]).await;

    assert_eq!(exchange.response.status, 401, "{:?}", exchange.response);
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the upstream must never see a refused request"
    );
    assert_decision(
        &stack.decision(&exchange).await,
        "192.0.2.50",
        "no_session",
        401,
    );
}

#[tokio::test]
async fn valid_session_cookie_reaches_the_upstream_with_identity_headers() {
    let stack = Stack::start().await;
    let cookie = session::cookie(
        SECRET,
        &session::session("alice", Some("alice@example.com"), &["admins", "dev"]),
    );

    let exchange = stack.get(BROWSER, "/app", &[("Cookie", &cookie)]).await;

    let response = &exchange.response;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(stack.upstream.hits(), 1);
    for (header, want) in [
        ("X-Auth-Request-User", "alice"),
        ("X-Auth-Request-Email", "alice@example.com"),
        ("X-Auth-Request-Groups", "admins,dev"),
        ("X-Auth-Request-Preferred-Username", "alice"),
    ] {
        assert_eq!(
            echoed_header_all(&response.body, header),
            [want],
            "{header} at the upstream:\n{}",
            response.body
        );
    }
    // Without a forwarded chain from the client, nginx's own entry is all there is.
    assert_decision(
        &stack.decision(&exchange).await,
        &BROWSER.to_string(),
        "session",
        202,
    );
}

#[tokio::test]
async fn tampered_foreign_expired_or_missing_cookies_are_refused() {
    let stack = Stack::start().await;
    let alice = session::session("alice", Some("alice@example.com"), &["admins"]);
    let valid = session::cookie(SECRET, &alice);
    let mut expired = alice.clone();
    expired.expires_at = sekisho::session::unix_now() - 1;

    let cases = [
        (
            "tampered",
            Some(session::tampered(&valid)),
            "session_invalid",
        ),
        (
            "sealed with another secret",
            Some(session::cookie(
                "some-other-secret-also-32-bytes-long",
                &alice,
            )),
            "session_invalid",
        ),
        (
            "expired",
            Some(session::cookie(SECRET, &expired)),
            "session_expired",
        ),
        (
            "garbage",
            Some(format!("{}=garbage", session::COOKIE_NAME)),
            "session_invalid",
        ),
        ("missing", None, "no_session"),
    ];
    for (case, cookie, decision) in cases {
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        let exchange = stack.get(BROWSER, "/app", &headers).await;
        assert_eq!(
            exchange.response.status, 401,
            "{case} cookie: {:?}",
            exchange.response
        );
        assert_decision(
            &stack.decision(&exchange).await,
            &BROWSER.to_string(),
            decision,
            401,
        );
    }
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the upstream must never see a refused request"
    );

    // The same stack still lets the untampered cookie through.
    let exchange = stack.get(BROWSER, "/app", &[("Cookie", &valid)]).await;
    assert_eq!(exchange.response.status, 200, "{:?}", exchange.response);
    assert_eq!(stack.upstream.hits(), 1);
}

#[tokio::test]
async fn identity_headers_sent_by_clients_never_reach_the_upstream() {
    let stack = Stack::start().await;
    let forged = [
        ("X-Auth-Request-User", "mallory"),
        ("X-Auth-Request-Email", "mallory@example.com"),
        ("X-Auth-Request-Groups", "admins"),
        ("X-Auth-Request-Preferred-Username", "mallory"),
    ];

    // Let in by address: the forged headers are dropped, none replaces them.
    let mut headers = vec![("X-Forwarded-For", TRUSTED_CLIENT)];
    headers.extend(forged);
    let exchange = stack.get(CDN, "/app", &headers).await;
    assert_eq!(exchange.response.status, 200, "{:?}", exchange.response);
    for (header, _) in forged {
        assert_eq!(
            echoed_header_all(&exchange.response.body, header),
            Vec::<&str>::new(),
            "{header} at the upstream"
        );
    }

    // Signed in as alice: the forged headers are replaced by alice's.
    let cookie = session::cookie(
        SECRET,
        &session::session("alice", Some("alice@example.com"), &["dev"]),
    );
    let mut headers = vec![("Cookie", cookie.as_str())];
    headers.extend(forged);
    let exchange = stack.get(BROWSER, "/app", &headers).await;
    assert_eq!(exchange.response.status, 200, "{:?}", exchange.response);
    let body = &exchange.response.body;
    assert_eq!(
        echoed_header_all(body, "X-Auth-Request-User"),
        ["alice"],
        "{body}"
    );
    assert_eq!(
        echoed_header_all(body, "X-Auth-Request-Email"),
        ["alice@example.com"],
        "{body}"
    );
    assert_eq!(
        echoed_header_all(body, "X-Auth-Request-Groups"),
        ["dev"],
        "{body}"
    );
    assert_eq!(
        echoed_header_all(body, "X-Auth-Request-Preferred-Username"),
        ["alice"],
        "{body}"
    );
    assert_eq!(stack.upstream.hits(), 2);
}

#[tokio::test]
async fn the_auth_endpoint_is_internal_to_nginx() {
    let stack = Stack::start().await;

    let exchange = stack
        .get(CDN, "/oauth2/auth", &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;

    assert_eq!(exchange.response.status, 404, "{:?}", exchange.response);
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn a_query_written_into_auth_request_is_explained_not_let_through() {
    let upstream = Upstream::start().await;
    let sekisho = Sekisho::start(&sekisho_config()).await;
    let nginx = Nginx::start(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nginx/auth-query.conf"
        )),
        &[
            ("SEKISHO", &sekisho.addr().to_string()),
            ("UPSTREAM", &upstream.addr().to_string()),
        ],
    )
    .await;

    // Even a client let in by address: the decision was never asked properly.
    let response = Client::from(CDN)
        .get(nginx.addr(), "/app", &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;

    // nginx answers anything but 2xx, 401 and 403 from an auth subrequest with a 500 and
    // logs the status it got.
    assert_eq!(response.status, 500, "{response:?}");
    assert_eq!(upstream.hits(), 0);
    let logged = sekisho
        .output()
        .wait_for(std::time::Duration::from_secs(5), |line| {
            line.contains("auth_request with a query in its path")
        })
        .await
        .unwrap_or_else(|| panic!("no explanation logged:\n{}", sekisho.output().text()));
    assert!(
        logged.contains("location = /oauth2/auth-x")
            && logged.contains("proxy_pass http://sekisho/oauth2/auth?allowed_groups=admins;"),
        "{logged}"
    );
    assert!(
        nginx
            .error_log()
            .contains("auth request unexpected status: 400"),
        "{}",
        nginx.error_log()
    );

    // Asked directly, as an administrator would to find out why, the body says the same.
    let direct = Client::new()
        .get(sekisho.addr(), "/oauth2/auth%3Fallowed_groups=admins", &[])
        .await;
    assert_eq!(direct.status, 400, "{direct:?}");
    assert!(
        direct.body.contains("auth_request /oauth2/auth-x;"),
        "{direct:?}"
    );
}

#[tokio::test]
async fn the_app_gets_its_own_cookies_but_none_of_sekishos() {
    let stack = Stack::start().await;
    let session_cookie = session::cookie(
        SECRET,
        &session::session("alice", Some("alice@example.com"), &["dev"]),
    );
    // A signed-in browser with the app's cookies around Sekisho's session and sign-in attempt.
    let cookie = format!(
        "theme=dark; {session_cookie}; _sekisho_login_abc=x; app_session=s1; x_sekisho=mine; _sekishoX=mine"
    );
    let exchange = stack.get(BROWSER, "/app", &[("Cookie", &cookie)]).await;
    assert_eq!(exchange.response.status, 200, "{:?}", exchange.response);
    assert_decision(
        &stack.decision(&exchange).await,
        &BROWSER.to_string(),
        "session",
        202,
    );
    assert_eq!(
        echoed_header_all(&exchange.response.body, "Cookie"),
        ["theme=dark; app_session=s1; x_sekisho=mine; _sekishoX=mine"],
        "{}",
        exchange.response.body
    );

    // Let in by address, with a chunked session in several places, over two Cookie lines.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["_sekisho_0=a; _sekisho_1=b; a=1", "_sekisho_2=c; b=2"],
            &["a=1; b=2"],
        ),
        (
            &["_sekisho_0=a; a=1; _sekisho_1=b; b=2; _sekisho_2=c; c=3; _sekisho_3=d"],
            &["a=1; b=2; c=3;"],
        ),
        (&["_sekisho=a; _sekisho_login_q=b"], &[]),
        (&["a=_sekisho_0=v; _sekisho_0v=1"], &["a=_sekisho_0=v;"]),
        // More runs than the maps remove: the app gets no cookies rather than Sekisho's.
        (
            &[
                "_sekisho_0=a; a=1; _sekisho_1=b; b=2; _sekisho_2=c; c=3; _sekisho_3=d; d=4; _sekisho_4=e; e=5",
            ],
            &[],
        ),
    ];
    for (lines, want) in cases {
        let mut headers = vec![("X-Forwarded-For", TRUSTED_CLIENT)];
        headers.extend(lines.iter().map(|l| ("Cookie", *l)));
        let exchange = stack.get(CDN, "/app", &headers).await;
        assert_eq!(exchange.response.status, 200, "{:?}", exchange.response);
        assert_eq!(
            echoed_header_all(&exchange.response.body, "Cookie"),
            *want,
            "{lines:?}: {}",
            exchange.response.body
        );
    }
}
