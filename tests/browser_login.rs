//! The sign-in in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/peers/browser/login.js`), through nginx (`config/nginx/oidc.conf`, `auth_request`)
//! and Sekisho to the real OpenID provider and back. What the scripted browser of
//! `tests/oidc_login.rs` cannot show: that a browser's own cookie, redirect and form handling
//! gets through.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM_BINARY`), Node.js, and
//! `tests/peers/browser/node_modules`; fails, saying how to install them, without.

mod common;

use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::oidc_stack::{ALICE, OidcStack, StackOptions};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_and_lands_on_the_page_it_asked_for() {
    let stack = OidcStack::start(StackOptions::default()).await;

    let target = stack.url("/app/page?x=1&lang=ja");
    let screenshot = screenshot_path("browser_login", "after-sign-in.png");
    let args = json!({
        "start_url": target,
        "username": ALICE.0,
        "password": ALICE.1,
        // The page itself, query string and all, not the callback or the provider.
        "expect_url": exactly(&target),
        "screenshot": screenshot,
        "timeout_ms": 30_000,
    });
    let result = run_driver(&args).await;

    let shown = serde_json::to_string_pretty(&result).unwrap_or_default();
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign in as alice and land back on {target}; the driver reported:\n{shown}\n\
         screenshot: {}",
        screenshot.display()
    );
    let text = result["text"].as_str().unwrap_or_default();
    assert!(
        text.lines().next() == Some("GET /app/page?x=1&lang=ja")
            && text.lines().any(|l| l == "X-Auth-Request-User: alice")
            && text.lines().any(|l| l == "X-Auth-Request-Groups: /admins"),
        "the app's echo page, as Chromium shows it, should be the request with alice's identity:\n{text}\n\
         screenshot: {}",
        screenshot.display()
    );
    let navigations: Vec<&str> = result["navigations"]
        .as_array()
        .map(|n| n.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        navigations
            .iter()
            .any(|url| url.starts_with(&format!("{}/login-actions/", stack.issuer()))),
        "Chromium should have shown the provider's sign-in page on the way: {navigations:?}"
    );
    let received = stack.upstream.received();
    assert!(
        received.iter().any(|r| r.target == "/app/page?x=1&lang=ja"
            && r.header("X-Auth-Request-User") == Some("alice")),
        "the app should have received the page's request with alice's identity: {received:?}"
    );
}
