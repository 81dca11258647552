//! OpenID Connect against the real Keycloak (the run's, see `tests/common/keycloak.rs`): headless
//! Chromium on Keycloak's own sign-in page, through nginx (`config/nginx/oidc.conf`) and
//! Sekisho, each test in a realm of its own made from `config/keycloak/demo-realm.json`.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one), Chromium and the browser driver;
//! fails, saying how to get them, without.

mod common;

use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::keycloak::Keycloak;
use common::oidc_stack::{ALICE, OidcStack, StackOptions};
use serde_json::{Value, json};

/// Signs `user` in with Chromium at `path` on the stack, on Keycloak's sign-in page; returns
/// the driver's result (page text, cookies), asserting it came back to `path`.
async fn chromium_sign_in(stack: &OidcStack, path: &str, user: (&str, &str), shot: &str) -> Value {
    let target = stack.url(path);
    let screenshot = screenshot_path("keycloak_oidc", &format!("{shot}.png"));
    let result = run_driver(&json!({
        "start_url": target,
        "username": user.0,
        "password": user.1,
        "expect_url": exactly(&target),
        "screenshot": screenshot,
        "timeout_ms": 40_000,
    }))
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign {} in at Keycloak and land on {target}; the driver reported:\n{}\n\
         Sekisho's log:\n{}",
        user.0,
        serde_json::to_string_pretty(&result).unwrap_or_default(),
        stack.sekisho_log_excerpt("callback")
    );
    result
}

/// The `Cookie` header of the driver's cookies for Sekisho: cookies are per host, not port,
/// so Keycloak's (scoped to `/realms/...`) are left out by their path.
fn sekisho_cookies(result: &Value) -> String {
    result["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| !c["path"].as_str().unwrap_or("/").starts_with("/realms/"))
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap_or_default(),
                c["value"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_at_keycloak_and_the_app_gets_the_claims_of_keycloaks_tokens() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-signin", |_| {}).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let result = chromium_sign_in(&stack, "/app/page?x=1", ALICE, "alice-signed-in").await;
    let text = result["text"].as_str().unwrap_or_default();
    for expected in [
        "GET /app/page?x=1",
        "X-Auth-Request-User: alice",
        "X-Auth-Request-Email: alice@example.com",
        "X-Auth-Request-Groups: /admins",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "the app's page should show {expected:?}:\n{text}"
        );
    }
    let navigations = result["navigations"].to_string();
    assert!(
        navigations.contains(&format!("{}/protocol/openid-connect/auth", realm.issuer())),
        "Chromium should have been at Keycloak's authorization endpoint: {navigations}"
    );

    let cookie = sekisho_cookies(&result);
    let info = common::http::Client::new()
        .get(
            stack.nginx.addr(),
            "/oauth2/userinfo",
            &[("Cookie", &cookie)],
        )
        .await;
    assert_eq!(
        info.status, 200,
        "userinfo with Chromium's cookie: {info:?}"
    );
    let info: Value = serde_json::from_str(&info.body).expect("userinfo is JSON");
    let roles: Vec<&str> = info["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"editor"),
        "alice's realm role admin and client role editor, from Keycloak's access token: {info}"
    );
}
