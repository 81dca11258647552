//! The sign-in in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/peers/browser/login.js`), through nginx (`config/nginx/oidc.conf`, `auth_request`)
//! and Sekisho to the real OpenID provider and back. What the scripted browser of
//! `tests/oidc_login.rs` cannot show: that a browser's own cookie, redirect and form handling
//! gets through.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM_BINARY`), Node.js, and
//! `tests/peers/browser/node_modules`; fails, saying how to install them, without.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::browser_driver::{DRIVER_DIR, check_driver, chromium};
use common::oidc_stack::{ALICE, OidcStack, StackOptions};
use common::process::Process;
use serde_json::{Value, json};

/// How long the driver may take for the whole sign-in.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(45);

/// The driver's `{"result": ...}` line, after it exits; panics with its output otherwise.
async fn run_driver(args: &Value, chromium: &Path) -> Value {
    let mut command = Command::new("node");
    command
        .arg(Path::new(DRIVER_DIR).join("login.js"))
        .arg(args.to_string())
        .current_dir(DRIVER_DIR)
        .env("CHROMIUM_BINARY", chromium);
    let mut driver = Process::spawn("browser driver (login.js)", command);
    let line = driver
        .wait_for_line("its result line", DRIVER_TIMEOUT, |line| {
            line.starts_with("{\"result\"")
        })
        .await;
    let parsed: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the driver's result is not JSON ({e}): {line}"));
    parsed["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_and_lands_on_the_page_it_asked_for() {
    let chromium = chromium();
    check_driver();
    let stack = OidcStack::start(StackOptions::default()).await;

    let target = stack.url("/app/page?x=1&lang=ja");
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser_login");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    let screenshot = screenshots.join("after-sign-in.png");
    let _ = std::fs::remove_file(&screenshot);
    let args = json!({
        "start_url": target,
        "username": ALICE.0,
        "password": ALICE.1,
        // The page itself, query string and all, not the callback or the provider.
        "expect_url": format!("^{}$", regex_escape(&target)),
        "screenshot": screenshot,
        "timeout_ms": 30_000,
    });
    let result = run_driver(&args, &chromium).await;

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

/// `text` with the regular-expression metacharacters escaped (JavaScript syntax).
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "\\^$.|?*+()[]{}/".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
