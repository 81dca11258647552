//! A request that names two hosts (two `Host` headers, or an absolute-form target whose
//! authority is not its `Host`) is refused with a 400 at every door, before anything routes or
//! decides by either host. Sent over raw TCP, so what reaches Sekisho is exactly what a client
//! can send (hyper passes both shapes on).

mod common;

use common::http::{Client, Response};
use common::ports::loopback;
use common::sekisho::Sekisho;
use common::upstream::Upstream;

const SECRET: &str = "end-to-end-test-secret-of-at-least-32-bytes";
const TRUSTED_CLIENT: &str = "203.0.113.7";

async fn start() -> (Sekisho, Upstream) {
    let app = Upstream::start().await;
    let sekisho = Sekisho::start(&format!(
        r#"
public_url = "http://sekisho.example.com/"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["127.0.0.1/32"]

[session]
secret = "{SECRET}"
secure = false

[[upstream]]
host = "app.example.com"
url = "http://{}"
"#,
        app.addr()
    ))
    .await;
    (sekisho, app)
}

/// `GET target` from a trusted proxy, for the trusted client, with `hosts` as `Host` lines.
async fn get(sekisho: &Sekisho, target: &str, hosts: &[&str]) -> Response {
    let mut headers = vec![("X-Forwarded-For", TRUSTED_CLIENT)];
    headers.extend(hosts.iter().map(|h| ("Host", *h)));
    Client::from(loopback(1))
        .get(sekisho.addr(), target, &headers)
        .await
}

#[tokio::test]
async fn two_hosts_are_refused_at_every_door() {
    let (sekisho, app) = start().await;

    // Controls: one host, let in by address at both doors.
    let response = get(&sekisho, "/oauth2/auth", &["app.example.com"]).await;
    assert_eq!(response.status, 202, "{response:?}");
    let response = get(&sekisho, "/page", &["app.example.com"]).await;
    assert_eq!(response.status, 200, "{response:?}");
    let response = get(
        &sekisho,
        "http://app.example.com/page",
        &["app.example.com"],
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(app.hits(), 2);

    let cases: &[(&str, &[&str], &str)] = &[
        (
            "/oauth2/auth",
            &["app.example.com", "evil.example.com"],
            "more than one Host",
        ),
        (
            "/page",
            &["app.example.com", "evil.example.com"],
            "more than one Host",
        ),
        (
            "/page",
            &["evil.example.com", "app.example.com"],
            "more than one Host",
        ),
        (
            "/page",
            &["app.example.com", "app.example.com"],
            "more than one Host",
        ),
        (
            "http://evil.example.com/oauth2/auth",
            &["app.example.com"],
            "another host",
        ),
        (
            "http://evil.example.com/page",
            &["app.example.com"],
            "another host",
        ),
        (
            "http://app.example.com/page",
            &["evil.example.com"],
            "another host",
        ),
        (
            "http://app.example.com:81/page",
            &["app.example.com"],
            "another host",
        ),
    ];
    for (target, hosts, reason) in cases {
        let response = get(&sekisho, target, hosts).await;
        assert_eq!(response.status, 400, "{target} {hosts:?}: {response:?}");
        assert!(
            response.body.contains(reason),
            "{target} {hosts:?}: the reason is told: {response:?}"
        );
    }
    assert_eq!(app.hits(), 2, "no refused request reaches the app");
    let refusals = sekisho
        .wait_logged_count(cases.len(), |l| {
            l["message"] == "request refused"
                && l["error"]
                    .as_str()
                    .is_some_and(|e| e.to_ascii_lowercase().contains("host"))
        })
        .await;
    assert_eq!(
        refusals,
        cases.len(),
        "one log line per refusal:\n{}",
        sekisho.output().text()
    );
}
