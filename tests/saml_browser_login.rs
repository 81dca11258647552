//! The SAML sign-in in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/peers/browser/login.js`), through nginx (`config/nginx/saml.conf`, `auth_request`)
//! and Sekisho to the lookalike SAML IdP (SimpleSAMLphp, `tests/peers/saml`) and back: a
//! second IdP implementation, run on another site than Sekisho. Chromium at Keycloak over SAML
//! is `tests/keycloak_saml.rs`; this file keeps the cross-site case below, which the Keycloak
//! tests do not set up.
//!
//! As in production, the IdP is another *site* than Sekisho: the browser reaches it as
//! `localhost`, Sekisho (nginx) as `127.0.0.1`, so Chromium applies its SameSite rules to the
//! IdP's POST to the ACS, a cross-site navigation. Sekisho runs with `session.secure = true`,
//! as in production (Chromium keeps `Secure` cookies from `http://127.0.0.1`, a potentially
//! trustworthy origin): its login-state cookie must be `SameSite=None; Secure` to come back
//! with that POST. (With `session.secure = false` it is `SameSite=Lax`, and a cross-site IdP
//! cannot complete a sign-in.)
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM_BINARY`), Node.js,
//! `tests/peers/browser/node_modules`, and what the IdP needs (PHP, SimpleSAMLphp); fails,
//! saying how to install them, without.

mod common;

use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::saml_idp::ALICE;
use common::saml_stack::{SamlStack, SamlStackOptions};
use serde_json::{Value, json};

/// Lookalike: a second IdP on another site (`localhost`), so Chromium's SameSite rules apply to
/// its POST to the ACS; the Keycloak tests run Keycloak on Sekisho's own site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_at_the_saml_idp_and_lands_on_the_page_it_asked_for() {
    let stack = SamlStack::start(SamlStackOptions {
        idp_host: Some("localhost".into()),
        ..SamlStackOptions::default().set("session.secure", true)
    })
    .await;
    let idp_origin = format!("http://localhost:{}", stack.idp.port);

    let target = stack.url("/app/page?x=1&lang=ja");
    let screenshot = screenshot_path("saml_browser_login", "after-sign-in.png");
    let args = json!({
        "start_url": target,
        "username": ALICE.0,
        "password": ALICE.1,
        // SimpleSAMLphp's UserPass form.
        "username_selector": "#username",
        "password_selector": "#password",
        "submit_selector": "#submit_button",
        // The page itself, query string and all, not the ACS or the IdP.
        "expect_url": exactly(&target),
        "screenshot": screenshot,
        "timeout_ms": 30_000,
    });
    let result = run_driver(&args).await;

    let shown = serde_json::to_string_pretty(&result).unwrap_or_default();
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign in as alice at the SAML IdP and land back on {target}; the driver reported:\n{shown}\n\
         screenshot: {}\nsekisho:\n{}",
        screenshot.display(),
        stack.sekisho_log_excerpt("saml")
    );
    let text = result["text"].as_str().unwrap_or_default();
    assert!(
        text.lines().next() == Some("GET /app/page?x=1&lang=ja")
            && text.lines().any(|l| l == "X-Auth-Request-User: alice")
            && text
                .lines()
                .any(|l| l == "X-Auth-Request-Groups: /admins,/dev"),
        "the app's echo page, as Chromium shows it, should be the request with alice's identity:\n{text}\n\
         screenshot: {}",
        screenshot.display()
    );
    let navigations: Vec<&str> = result["navigations"]
        .as_array()
        .map(|n| n.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        navigations.iter().any(|url| {
            url.starts_with(&format!(
                "{idp_origin}/simplesaml/module.php/core/loginuserpass.php"
            ))
        }),
        "Chromium should have shown the IdP's login page (at {idp_origin}) on the way: {navigations:?}"
    );
    assert!(
        text.lines().any(|l| l == "Sec-Fetch-Site: cross-site"),
        "test premise: the navigation that came back from the IdP should be cross-site (the IdP at {idp_origin}, Sekisho at {}):\n{text}",
        stack.origin()
    );
    let responses = result["responses"].as_array().cloned().unwrap_or_default();
    assert!(
        responses.iter().any(|r| {
            r["url"].as_str() == Some(stack.acs_url().as_str()) && r["status"] == json!(302)
        }),
        "Chromium should have posted the IdP's form to the ACS ({}), answered with 302: {responses:?}",
        stack.acs_url()
    );
    let received = stack.upstream.received();
    assert!(
        received.iter().any(|r| r.target == "/app/page?x=1&lang=ja"
            && r.header("X-Auth-Request-User") == Some("alice")),
        "the app should have received the page's request with alice's identity: {received:?}"
    );
}
