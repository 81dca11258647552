//! The whole service in process: routes behind the real layer stack, driven with `oneshot`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sekisho::Config;
use sekisho::config::{CookieSettings, Secret};
use sekisho::net::Origin;
use sekisho::session::{CookieStore, Session};
use tower::ServiceExt;

const SECRET: &str = "app-test-secret-0123456789abcdef0123";

fn config() -> Config {
    let text = format!(
        "trusted_ips = ['198.51.100.0/24']\n\
         [client_ip]\ntrusted_proxies = ['127.0.0.1']\n\
         [session]\nsecret = '{SECRET}'\nsecure = false\n"
    );
    Config::from_toml(&text, std::iter::empty()).unwrap()
}

fn store() -> CookieStore {
    let settings = CookieSettings {
        name: "_sekisho".into(),
        secure: false,
        domain: None,
        path: "/".into(),
    };
    CookieStore::new(settings, &Secret::parse(SECRET).unwrap())
}

fn request(path: &str, peer: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(Origin::new(peer.parse::<SocketAddr>().unwrap()));
    req
}

async fn send(req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = sekisho::app(&config()).oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn alice() -> Session {
    let mut s = Session::new("alice", Duration::from_secs(3600));
    s.email = Some("alice@example.com".into());
    s.groups = vec!["/admins".into(), "dev".into()];
    s.preferred_username = Some("alice.a".into());
    s
}

#[tokio::test]
async fn valid_session_gets_202_with_identity() {
    let cookie = store().request_cookie(&alice()).unwrap();
    let (status, headers, body) = send(request(
        "/oauth2/auth",
        "192.0.2.1:1000",
        &[("cookie", &cookie)],
    ))
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["x-auth-request-user"], "alice");
    assert_eq!(headers["x-auth-request-email"], "alice@example.com");
    assert_eq!(headers["x-auth-request-groups"], "/admins,dev");
    assert_eq!(headers["x-auth-request-preferred-username"], "alice.a");
    assert!(body.is_empty());
}

#[tokio::test]
async fn head_is_answered_like_get() {
    let cookie = store().request_cookie(&alice()).unwrap();
    let mut req = request("/oauth2/auth", "192.0.2.1:1000", &[("cookie", &cookie)]);
    *req.method_mut() = http::Method::HEAD;
    let (status, headers, _) = send(req).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["x-auth-request-user"], "alice");
}

#[tokio::test]
async fn no_tampered_or_foreign_session_gets_401_with_empty_body() {
    let cookie = store().request_cookie(&alice()).unwrap();
    let mut tampered = cookie.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let foreign = CookieStore::new(
        CookieSettings {
            name: "_sekisho".into(),
            secure: false,
            domain: None,
            path: "/".into(),
        },
        &Secret::parse("some-other-deployment-secret-0123456789").unwrap(),
    )
    .request_cookie(&alice())
    .unwrap();
    for cookie in [
        None,
        Some(tampered.as_str()),
        Some(foreign.as_str()),
        Some("_sekisho="),
    ] {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        let (status, response_headers, body) =
            send(request("/oauth2/auth", "192.0.2.1:1000", &headers)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "cookie {cookie:?}");
        assert!(response_headers.get("x-auth-request-user").is_none());
        assert!(body.is_empty());
    }
}

#[tokio::test]
async fn trusted_client_behind_a_trusted_proxy_gets_202_without_a_session() {
    let (status, headers, _) = send(request(
        "/oauth2/auth",
        "127.0.0.1:5000",
        &[("x-forwarded-for", "198.51.100.20")],
    ))
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(headers.get("x-auth-request-user").is_none());
}

#[tokio::test]
async fn trusted_ip_claimed_by_an_untrusted_peer_is_ignored() {
    let (status, ..) = send(request(
        "/oauth2/auth",
        "192.0.2.66:5000",
        &[("x-forwarded-for", "198.51.100.20")],
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn spoofed_left_most_entry_does_not_bypass() {
    let (status, ..) = send(request(
        "/oauth2/auth",
        "127.0.0.1:5000",
        &[("x-forwarded-for", "198.51.100.20, 192.0.2.66")],
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbage_chain_does_not_bypass() {
    let (status, ..) = send(request(
        "/oauth2/auth",
        "127.0.0.1:5000",
        &[("x-forwarded-for", "198.51.100.20, bogus")],
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn trusted_peer_itself_is_the_client() {
    let (status, ..) = send(request("/oauth2/auth", "198.51.100.9:5000", &[])).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn operations_endpoints() {
    let (status, _, body) = send(request("/ping", "192.0.2.1:1", &[])).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK\n"));
    let (status, _, body) = send(request("/ready", "192.0.2.1:1", &[])).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));
    let (status, _, body) = send(request("/nope", "192.0.2.1:1", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "not found\n");
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let (_, headers, _) = send(request(
        "/ping",
        "192.0.2.1:1",
        &[("x-request-id", "abc-123")],
    ))
    .await;
    assert_eq!(headers["x-request-id"], "abc-123");
    let (_, headers, _) = send(request("/ping", "192.0.2.1:1", &[])).await;
    let generated = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(!generated.is_empty() && generated != "abc-123");
}

#[tokio::test]
async fn metrics_count_requests_and_decisions() {
    let app = sekisho::app(&config());
    for _ in 0..3 {
        app.clone()
            .oneshot(request("/oauth2/auth", "192.0.2.1:1", &[]))
            .await
            .unwrap();
    }
    app.clone()
        .oneshot(request("/oauth2/auth", "198.51.100.1:1", &[]))
        .await
        .unwrap();
    let response = app
        .oneshot(request("/metrics", "192.0.2.1:1", &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    // Other tests in this process share the registry, so only lower bounds hold.
    assert!(value(r#"sekisho_auth_decisions_total{reason="no_session"}"#) >= 3.0);
    assert!(value(r#"sekisho_auth_decisions_total{reason="trusted_ip"}"#) >= 1.0);
    assert!(value(r#"sekisho_http_requests_total{route="/oauth2/auth",status="401"}"#) >= 3.0);
    assert!(
        text.contains("sekisho_http_request_duration_seconds_bucket{route=\"/oauth2/auth\""),
        "{text}"
    );
}

#[tokio::test]
async fn browsers_get_error_pages_in_their_language() {
    let (status, headers, body) = send(request(
        "/nope",
        "192.0.2.1:1",
        &[("accept", "text/html"), ("accept-language", "ja,en;q=0.5")],
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("lang=\"ja\""), "{body}");
    let (_, headers, body) = send(request("/nope", "192.0.2.1:1", &[("accept", "*/*")])).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(body, "not found\n");
}

#[tokio::test]
async fn login_without_a_provider_is_a_clear_404() {
    let (status, _, body) = send(request("/oauth2/start?rd=/x", "192.0.2.1:1", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "no identity provider is configured\n");
}
