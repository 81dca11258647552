//! Each front door's answer in process, through the real layer stack: what Traefik, Caddy and
//! Envoy are told for a session, a trusted address, a browser or a script without a session, a
//! policy's refusal, and a door that is set up wrong. (The real programs in front of Sekisho:
//! `tests/front_doors.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sekisho::Config;
use sekisho::config::{CookieSettings, Secret};
use sekisho::net::Origin;
use sekisho::session::{CookieStore, Session};
use tower::ServiceExt;

const SECRET: &str = "door-test-secret-0123456789abcdef0123";
const PROXY: &str = "127.0.0.1:40000";
const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

fn config() -> Config {
    let text = format!(
        "public_url = 'https://sso.example.com'\n\
         trusted_ips = ['198.51.100.0/24']\n\
         [client_ip]\ntrusted_proxies = ['127.0.0.1']\n\
         [session]\nsecret = '{SECRET}'\n"
    );
    Config::from_toml(&text, std::iter::empty()).unwrap()
}

fn cookie() -> String {
    let settings = CookieSettings {
        name: "_sekisho".into(),
        secure: true,
        domain: None,
        path: "/".into(),
    };
    let mut alice = Session::new("alice", Duration::from_secs(3600));
    alice.email = Some("alice@example.com".into());
    alice.groups = vec!["dev".into()];
    CookieStore::new(settings, &Secret::parse(SECRET).unwrap())
        .request_cookie(&alice)
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
}

async fn ask(method: &str, path: &str, peer: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(Origin::new(peer.parse::<SocketAddr>().unwrap()));
    let response = sekisho::app(&config()).oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    body.collect().await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
    }
}

/// The headers Traefik and Caddy describe the original request with.
fn forwarded<'a>(client: &'a str, method: &'a str, uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("x-forwarded-for", client),
        ("x-forwarded-method", method),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", uri),
    ]
}

#[tokio::test]
async fn forward_auth_lets_a_session_through_with_its_identity() {
    let cookie = cookie();
    for door in ["/oauth2/traefik", "/oauth2/caddy"] {
        let mut headers = forwarded("192.0.2.9", "POST", "/api/x");
        headers.push(("cookie", &cookie));
        let answer = ask("GET", door, PROXY, &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{door}");
        assert_eq!(answer.headers["x-auth-request-user"], "alice", "{door}");
        assert_eq!(answer.headers["x-auth-request-groups"], "dev", "{door}");
    }
}

#[tokio::test]
async fn forward_auth_sends_a_browser_to_sign_in_and_back_and_a_script_gets_401() {
    let mut headers = forwarded("192.0.2.9", "GET", "/projects/x?tab=1");
    headers.push(HTML);
    let answer = ask("GET", "/oauth2/traefik", PROXY, &headers).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.headers["location"],
        "https://sso.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fprojects%2Fx%3Ftab%3D1"
    );
    // The original method is what counts: a form post is not a navigation to come back to.
    let mut headers = forwarded("192.0.2.9", "POST", "/projects/x");
    headers.push(HTML);
    let answer = ask("GET", "/oauth2/caddy", PROXY, &headers).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = ask(
        "GET",
        "/oauth2/caddy",
        PROXY,
        &forwarded("192.0.2.9", "GET", "/"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forward_auth_lets_a_trusted_address_through_without_identity() {
    let answer = ask(
        "GET",
        "/oauth2/traefik",
        PROXY,
        &forwarded("198.51.100.7", "GET", "/"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.headers.contains_key("x-auth-request-user"));
}

#[tokio::test]
async fn forward_auth_believes_no_one_but_a_trusted_proxy() {
    // A client reaching Sekisho directly names a trusted address and a path: refused, whoever
    // it claims to be, session or not.
    let cookie = cookie();
    let mut headers = forwarded("198.51.100.7", "GET", "/");
    headers.push(("cookie", &cookie));
    let answer = ask("GET", "/oauth2/traefik", "192.0.2.50:1234", &headers).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // A proxy that leaves out what the door needs is refused too, not guessed at.
    let mut partial = forwarded("192.0.2.9", "GET", "/");
    partial.retain(|(name, _)| *name != "x-forwarded-uri");
    partial.push(("cookie", &cookie));
    let answer = ask("GET", "/oauth2/caddy", PROXY, &partial).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn forward_auth_narrowing_refuses_with_403_and_a_typo_fails_closed() {
    let cookie = cookie();
    let mut headers = forwarded("192.0.2.9", "GET", "/");
    headers.push(("cookie", &cookie));
    let answer = ask(
        "GET",
        "/oauth2/traefik?allowed_groups=admins",
        PROXY,
        &headers,
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = ask("GET", "/oauth2/traefik?allowed_groups=dev", PROXY, &headers).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = ask("GET", "/oauth2/traefik?allowed_group=dev", PROXY, &headers).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Caddy puts the client's own query there: it is the client's, and narrows nothing.
    let answer = ask(
        "GET",
        "/oauth2/caddy?tab=1&allowed_groups=admins",
        PROXY,
        &headers,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn ext_authz_allows_only_with_200_and_removes_what_it_does_not_vouch_for() {
    let cookie = cookie();
    let answer = ask(
        "DELETE",
        "/oauth2/ext_authz/api/x",
        PROXY,
        &[
            ("host", "app.example.com"),
            ("x-forwarded-for", "192.0.2.9"),
            ("cookie", &cookie),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-auth-request-user"], "alice");
    let removed = answer.headers["x-envoy-auth-headers-to-remove"]
        .to_str()
        .unwrap();
    assert!(removed.contains("x-auth-request-access-token"), "{removed}");
    assert!(!removed.contains("x-auth-request-user"), "{removed}");

    let answer = ask(
        "GET",
        "/oauth2/ext_authz/",
        PROXY,
        &[
            ("host", "app.example.com"),
            ("x-forwarded-for", "198.51.100.7"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let removed = answer.headers["x-envoy-auth-headers-to-remove"]
        .to_str()
        .unwrap();
    assert!(removed.contains("x-auth-request-user"), "{removed}");
}

#[tokio::test]
async fn ext_authz_sends_a_browser_back_to_the_original_page() {
    let answer = ask(
        "GET",
        "/oauth2/ext_authz/projects/x?tab=1",
        PROXY,
        &[
            ("host", "app.example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "192.0.2.9"),
            HTML,
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.headers["location"],
        "https://sso.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fprojects%2Fx%3Ftab%3D1"
    );
    let answer = ask(
        "POST",
        "/oauth2/ext_authz/api",
        PROXY,
        &[
            ("host", "app.example.com"),
            ("x-forwarded-for", "192.0.2.9"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ext_authz_without_the_original_path_fails_closed() {
    // A path_prefix that swallows the path (or a request for the bare prefix) names no page.
    let answer = ask(
        "GET",
        "/oauth2/ext_authz",
        PROXY,
        &[
            ("host", "app.example.com"),
            ("x-forwarded-for", "198.51.100.7"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}
