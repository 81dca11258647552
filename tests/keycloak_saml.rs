//! SAML 2.0 against the real Keycloak (the run's, see `tests/common/keycloak.rs`): sign-in on
//! Keycloak's own page, the ways Keycloak signs its documents, single logout in both
//! directions and the client misconfigured as users do, through nginx
//! (`config/nginx/saml.conf`) and Sekisho, each test in a realm of its own made from
//! `config/keycloak/demo-realm.json` (whose SAML client's ID is Sekisho's SP entity ID).
//!
//! Needs the run's Keycloak (`./scripts/test` starts one), and for the sign-in in a real
//! browser Chromium and the browser driver; fails, saying how to get them, without.

mod common;

use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::keycloak::{Keycloak, Realm};
use common::saml_stack::{ExternalIdp, SamlStack, SamlStackOptions};
use serde_json::{Value, json};

type KeycloakStack = SamlStack<ExternalIdp>;

const ALICE: (&str, &str) = ("alice", "alice-password");

/// Signs `user` in with Chromium at `path` on the stack, on Keycloak's sign-in page; returns
/// the driver's result (page text, cookies), asserting it came back to `path`.
async fn chromium_sign_in(
    stack: &KeycloakStack,
    path: &str,
    user: (&str, &str),
    shot: &str,
) -> Value {
    let target = stack.url(path);
    let screenshot = screenshot_path("keycloak_saml", &format!("{shot}.png"));
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
        stack.sekisho_log_excerpt("saml")
    );
    result
}

/// Asserts that the app's echo `text` has every line of `expected`.
fn assert_lines(text: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            text.lines().any(|l| l == *line),
            "the app's page should show {line:?}:\n{text}"
        );
    }
}

/// A realm of the test's own and a stack signing in at it.
async fn realm_and_stack(prefix: &str, options: SamlStackOptions) -> (Realm, KeycloakStack) {
    let realm = Keycloak::shared().create_realm(prefix, |_| {}).await;
    let stack = realm.saml_stack(options).await;
    (realm, stack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_at_keycloak_over_saml_and_the_app_gets_alices_attributes() {
    let (realm, stack) = realm_and_stack("saml-signin", SamlStackOptions::default()).await;

    let result = chromium_sign_in(&stack, "/admin/page?x=1", ALICE, "alice-signed-in").await;
    let text = result["text"].as_str().unwrap_or_default();
    // The realm's mappers: username and email as Basic attributes, groups with full path.
    assert_lines(
        text,
        &[
            "GET /admin/page?x=1",
            "X-Auth-Request-User: alice",
            "X-Auth-Request-Email: alice@example.com",
            "X-Auth-Request-Groups: /admins",
        ],
    );
    let navigations = result["navigations"].to_string();
    assert!(
        navigations.contains(&format!("{}/protocol/saml", realm.issuer())),
        "Chromium should have been at Keycloak's SAML endpoint: {navigations}"
    );
    assert_eq!(
        realm.sessions("alice").await.len(),
        1,
        "alice has one Keycloak session"
    );
}
