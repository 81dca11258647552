//! `client_ip.header = "forwarded"` end to end: whatever a client writes into RFC 7239
//! `Forwarded`, the element the proxy appends is what Sekisho reads, or nothing is; never the
//! client's choice, never a 500.
//!
//! How proxies append, and how each is played here:
//!
//! - nginx comma-joins: `proxy_set_header Forwarded "$http_forwarded, for=$remote_addr"`
//!   (tests/fixtures/nginx/forwarded.conf, a real nginx);
//! - nginx as its documentation suggests: the client's field kept only if a regex of RFC
//!   7239's grammar matches it, else replaced by nginx's element. Here nginx's regex and
//!   Sekisho's parser are compared: every prefix must come out as the attacker's address,
//!   never a forged one, and unreadable only where Sekisho is the stricter reader;
//! - a proxy that adds its own header line after the client's (HAProxy's
//!   `http-request add-header`, Apache's `RequestHeader add`): a client connecting to Sekisho
//!   from a trusted proxy's address sends both lines;
//! - Envoy and Traefik do not write `Forwarded` at all and pass the client's on unchanged, so
//!   behind them only `x-forwarded-for` can be believed (README, "The client address").
//!
//! Sekisho trusts 127.0.0.1 (nginx) and 127.0.0.2 (a CDN in front of nginx, or the proxy
//! adding a line); an attacker connects from 127.0.0.3.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::http::{Client, Response};
use common::nginx::Nginx;
use common::ports::loopback;
use common::sekisho::Sekisho;
use common::upstream::Upstream;
use serde_json::Value;

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/nginx/forwarded.conf"
);
const SECRET: &str = "end-to-end-test-secret-of-at-least-32-bytes";
const CDN: Ipv4Addr = loopback(2);
const ATTACKER: Ipv4Addr = loopback(3);
/// In `trusted_ips`: what every hostile prefix tries to be read as.
const TRUSTED_CLIENT: &str = "203.0.113.7";

/// Client prefixes that try to make the appended element disappear, or to be read instead of
/// it: unterminated and stray quotes, escapes at the end, separators inside and outside
/// quotes, whitespace the grammar does not have, repeated parameters.
const HOSTILE: &[&str] = &[
    r#"for="203.0.113.7"#,
    r#"for="203.0.113.7\""#,
    r#"for="203.0.113.7\"#,
    r#"for="203.0.113.7\\\"#,
    r#"for=203.0.113.7""#,
    r#"for="203.0.113.7, for=203.0.113.7"#,
    r#"for=203.0.113.7;by=""#,
    r#"for=203.0.113.7;x="a,b;c"#,
    r#"by="\"#,
    r#"""#,
    r#"\""#,
    r#";""#,
    r#",""#,
    r#"for=203.0.113.7,""#,
    r#"for=203.0.113.7;for=203.0.113.7"#,
    "for=203.0.113.7 ;",
    "for = 203.0.113.7",
    "for=203.0.113.7, for",
    "for=203.0.113.7, for=",
    "for=203.0.113.7;",
    "for=203.0.113.7,",
    "for=203.0.113.7,for=203.0.113.7,",
    "for=203.0.113.7;proto=https",
    r#"for="203.0.113.7";proto="https""#,
    r#"for="[2001:db8::1]:80", for=203.0.113.7"#,
    "for=203.0.113.7\tproto=https",
];

struct Stack {
    nginx: Nginx,
    sekisho: Sekisho,
    _upstream: Upstream,
}

impl Stack {
    async fn start() -> Self {
        let upstream = Upstream::start().await;
        let sekisho = Sekisho::start(&format!(
            r#"
public_url = "http://127.0.0.1/"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "forwarded"
trusted_proxies = ["127.0.0.1/32", "{CDN}/32"]

[session]
secret = "{SECRET}"
secure = false
"#
        ))
        .await;
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
            _upstream: upstream,
        }
    }

    /// A request tagged with a fresh request id, and Sekisho's access-log entry for it.
    async fn send(
        &self,
        from: Ipv4Addr,
        to: std::net::SocketAddr,
        path: &str,
        forwarded: &[&str],
    ) -> (Response, Value) {
        let id = uuid::Uuid::new_v4().to_string();
        let mut headers = vec![("X-Request-Id", id.as_str())];
        headers.extend(forwarded.iter().map(|f| ("Forwarded", *f)));
        let response = Client::from(from).get(to, path, &headers).await;
        let entry = self.sekisho.access_entry(&id).await;
        (response, entry)
    }
}

/// Refused, as nobody trusted: the client is the appended address or no one, never an
/// address the client wrote.
fn assert_refused(what: &str, response: &Response, entry: &Value, appended: &str) {
    assert_eq!(response.status, 401, "{what}: {response:?}\n{entry}");
    assert_eq!(entry["status"], 401, "{what}: {entry}");
    assert_ne!(entry["decision"], "trusted_ip", "{what}: {entry}");
    let client = entry["client_ip"].as_str().unwrap_or_default();
    assert!(
        client == appended || client == "-",
        "{what}: read the client as {client}: {entry}"
    );
}

#[tokio::test]
async fn nginx_comma_join_reads_its_own_element() {
    let stack = Stack::start().await;

    // Controls: what nginx appends is believed, and past the trusted CDN, the CDN's element.
    let (response, entry) = stack
        .send(ATTACKER, stack.nginx.addr(), "/join/x", &[])
        .await;
    assert_refused("no client field", &response, &entry, &ATTACKER.to_string());
    assert_eq!(entry["client_ip"], ATTACKER.to_string(), "{entry}");
    let cdn_element = format!("for={TRUSTED_CLIENT}");
    let (response, entry) = stack
        .send(CDN, stack.nginx.addr(), "/join/x", &[&cdn_element])
        .await;
    assert_eq!(response.status, 200, "{response:?}\n{entry}");
    assert_eq!(entry["decision"], "trusted_ip", "{entry}");
    assert_eq!(entry["client_ip"], TRUSTED_CLIENT, "{entry}");

    for prefix in HOSTILE {
        let (response, entry) = stack
            .send(ATTACKER, stack.nginx.addr(), "/join/x", &[prefix])
            .await;
        assert_refused(prefix, &response, &entry, &ATTACKER.to_string());
    }
}

#[tokio::test]
async fn a_proxy_adding_its_own_line_is_read_past_any_client_line() {
    let stack = Stack::start().await;
    // The proxy (trusted, 127.0.0.2) forwards for 192.0.2.50, after the client's line.
    let appended = "for=192.0.2.50";

    let (response, entry) = stack
        .send(CDN, stack.sekisho.addr(), "/oauth2/auth", &[appended])
        .await;
    assert_refused("no client line", &response, &entry, "192.0.2.50");
    assert_eq!(entry["client_ip"], "192.0.2.50", "{entry}");
    let (response, entry) = stack
        .send(
            CDN,
            stack.sekisho.addr(),
            "/oauth2/auth",
            &[&format!("for={TRUSTED_CLIENT}")],
        )
        .await;
    assert_eq!(response.status, 202, "control: {response:?}\n{entry}");

    for prefix in HOSTILE {
        let (response, entry) = stack
            .send(
                CDN,
                stack.sekisho.addr(),
                "/oauth2/auth",
                &[prefix, appended],
            )
            .await;
        assert_refused(prefix, &response, &entry, "192.0.2.50");
    }
}

#[tokio::test]
async fn nginx_checking_the_grammar_itself_agrees_with_sekisho() {
    let stack = Stack::start().await;

    let cdn_element = format!("for={TRUSTED_CLIENT}");
    let (response, entry) = stack
        .send(CDN, stack.nginx.addr(), "/checked/x", &[&cdn_element])
        .await;
    assert_eq!(response.status, 200, "{response:?}\n{entry}");
    assert_eq!(entry["client_ip"], TRUSTED_CLIENT, "{entry}");

    // Where the two readings differ, Sekisho must be the stricter one: a parameter twice in
    // one element is beyond a regex, so nginx keeps it and Sekisho reads no client at all.
    let mut unread = Vec::new();
    for prefix in [""].iter().chain(HOSTILE) {
        let forwarded: &[&str] = if prefix.is_empty() { &[] } else { &[prefix] };
        let (response, entry) = stack
            .send(ATTACKER, stack.nginx.addr(), "/checked/x", forwarded)
            .await;
        assert_refused(prefix, &response, &entry, &ATTACKER.to_string());
        if entry["client_ip"] == "-" {
            unread.push(*prefix);
        }
    }
    assert_eq!(unread, ["for=203.0.113.7;for=203.0.113.7"]);
}
