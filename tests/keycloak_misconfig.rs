//! A Keycloak realm or client set up wrongly, against the real Keycloak (the run's, see
//! `tests/common/keycloak.rs`), each test in a realm of its own made from
//! `config/keycloak/demo-realm.json` with one setting spoiled. Whatever the mistake, the user
//! gets a clear page, Sekisho's log names the Keycloak setting to change, and nobody gets in;
//! never a 500.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one); fails, saying how to get one,
//! without.

mod common;

use common::browser_client::{Browser, Page};
use common::keycloak::{Keycloak, OIDC_CLIENT, Realm, consent_form};
use common::oidc_stack::{ALICE, OidcStack, StackOptions};
use serde_json::{Value, json};

/// A realm whose `sekisho` client is changed by `edit`.
async fn realm_with_client(prefix: &str, edit: impl FnOnce(&mut Value)) -> Realm {
    Keycloak::shared()
        .create_realm(prefix, |realm| {
            let client = realm["clients"]
                .as_array_mut()
                .expect("clients")
                .iter_mut()
                .find(|c| c["clientId"] == OIDC_CLIENT)
                .expect("the shipped realm has the sekisho client");
            edit(client);
        })
        .await
}

/// A browser as Chromium is on loopback: Keycloak's `Secure` cookies kept over plain http.
fn browser(realm: &Realm) -> Browser {
    Browser::new().with_secure_origin(&realm.keycloak.url)
}

/// How long a log line may take to reach the captured output after the answer it explains.
const LOG_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits (up to [`LOG_WAIT`]) until Sekisho logged a line containing `needle`.
async fn wait_logged(stack: &OidcStack, needle: &str) {
    let _ = stack
        .sekisho
        .output()
        .wait_for(LOG_WAIT, |line| line.contains(needle))
        .await;
}

/// Sekisho's JSON log lines whose `message` starts with `message`.
fn logged(stack: &OidcStack, message: &str) -> Vec<Value> {
    stack
        .sekisho
        .log()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        })
        .collect()
}

/// Asserts that `page` is Sekisho's own page at `path` with `status`, saying every one of
/// `says`, and that nobody got in (no session cookie, the app never reached).
fn assert_sekisho_page(
    stack: &OidcStack,
    browser: &Browser,
    page: &Page,
    path: &str,
    status: u16,
    says: &[&str],
) {
    assert_eq!(
        (page.status, page.url.path()),
        (status, path),
        "expected Sekisho's {status} page at {path}:\n{}\nSekisho's log:\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("refused")
    );
    for text in says {
        assert!(
            page.body.contains(text),
            "the page should say {text:?}:\n{}",
            page.body
        );
    }
    assert!(
        browser.session_cookies().is_empty(),
        "no session may be given:\n{}",
        browser.describe_cookies()
    );
    assert_eq!(stack.upstream.hits(), 0, "the app must not be reached");
}

/// Asserts that Keycloak sent the browser back with `error=says[0]` and that Sekisho's 400
/// page and log line say every one of `says`.
async fn assert_provider_error_page(
    stack: &OidcStack,
    browser: &Browser,
    page: &Page,
    says: [&str; 2],
) {
    let callback = page.hop("/oauth2/callback").unwrap_or_else(|| {
        panic!(
            "Keycloak should send the browser back to Sekisho:\n{}",
            page.describe()
        )
    });
    assert_eq!(
        callback.query("error").as_deref(),
        Some(says[0]),
        "{}",
        page.describe()
    );
    assert_sekisho_page(stack, browser, page, "/oauth2/callback", 400, &says);
    assert_callback_refusal_logged(stack, &says).await;
}

/// Asserts that Sekisho logged the callback's refusal with every one of `says` in its reason.
/// The line may reach the captured output a moment after the page reached the browser.
async fn assert_callback_refusal_logged(stack: &OidcStack, says: &[&str]) {
    wait_logged(stack, "sign-in callback refused").await;
    let refusals = logged(stack, "sign-in callback refused");
    let reason = refusals
        .last()
        // A refusal by the policy logs its `reason`, any other its `error`.
        .and_then(|l| l["reason"].as_str().or_else(|| l["error"].as_str()))
        .unwrap_or_else(|| {
            panic!(
                "Sekisho should log the callback's refusal:\n{}",
                stack.sekisho_log_excerpt("callback")
            )
        });
    for text in says {
        assert!(
            reason.contains(text),
            "the log line should say {text:?}: {reason}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (a) No groups mapper on the client

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_groups_mapper_gets_a_403_that_names_the_mapper() {
    let realm = realm_with_client("misconfig-groups", |client| {
        client["protocolMappers"] = json!([]);
    })
    .await;
    let stack = realm
        .oidc_stack(StackOptions::default().set("authorization.allowed_groups", vec!["admins"]))
        .await;

    // alice is in /admins, but the tokens do not say so.
    let browser = browser(&realm);
    let form = browser.navigate(&stack.url("/app/")).await;
    let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    let says = ["no `groups` claim", "Group Membership mapper"];
    assert_sekisho_page(&stack, &browser, &page, "/oauth2/callback", 403, &says);
    assert_callback_refusal_logged(&stack, &says).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_for_one_group_explains_a_missing_groups_mapper_too() {
    let realm = realm_with_client("misconfig-location", |client| {
        client["protocolMappers"] = json!([]);
    })
    .await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    // No global policy: alice signs in, then opens the location narrowed to `admins`.
    let browser = browser(&realm);
    stack.login(&browser, "/app/", ALICE).await;
    let page = browser.navigate(&stack.url("/admin/")).await;
    // nginx answers the browser itself (its 403 page); Sekisho's log says why.
    assert_eq!(page.status, 403, "{}", page.describe());
    wait_logged(&stack, "authenticated but not allowed").await;
    let log = stack.sekisho.log();
    let explained = log.iter().any(|l| {
        let reason = l["reason"].as_str().unwrap_or_default();
        l["message"] == "authenticated but not allowed"
            && reason.contains("no `groups` claim")
            && reason.contains("Group Membership mapper")
    });
    assert!(
        explained,
        "Sekisho's log should say the token carries no groups claim and name the Group \
         Membership mapper for the 403:\n{}",
        stack.sekisho_log_excerpt("groups")
    );
}

// ---------------------------------------------------------------------------------------------
// (b) A redirect URI the client does not list

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_uri_the_client_does_not_list_stops_at_keycloaks_page() {
    let realm = realm_with_client("misconfig-redirect", |client| {
        client["redirectUris"] = json!(["http://127.0.0.1:9/elsewhere/oauth2/callback"]);
    })
    .await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let browser = browser(&realm);
    let page = browser.navigate(&stack.url("/app/")).await;
    // Keycloak checks the redirect URI before anything else and answers on its own page: the
    // browser never comes back, so Sekisho cannot show anything.
    assert_eq!(page.status, 400, "{}", page.describe());
    assert!(
        page.url.as_str().starts_with(&realm.oidc_endpoint("auth")),
        "the browser should stay at Keycloak's authorization endpoint:\n{}",
        page.describe()
    );
    assert!(
        page.body.contains("Invalid parameter: redirect_uri"),
        "Keycloak's page should say what is wrong:\n{}",
        page.body
    );
    assert!(page.login_form().is_none(), "no sign-in form may be shown");
    assert_eq!(stack.upstream.hits(), 0, "the app must not be reached");

    // What Sekisho can do: name the redirect URI the client must list, in its log.
    let callback = stack.url("/oauth2/callback");
    let discovered = logged(&stack, "identity provider discovered");
    assert!(
        discovered
            .iter()
            .any(|l| l["redirect_uri"] == callback.as_str() && l["client_id"] == OIDC_CLIENT),
        "Sekisho's log should name its client id and the redirect URI {callback}: {discovered:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Clock skew

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_expired_on_arrival_names_the_clocks_and_the_token_lifespan() {
    // Keycloak with an Access Token Lifespan of 0 issues tokens with exp = iat: they arrive
    // expired, exactly as tokens do at a Sekisho whose clock runs ahead of Keycloak's by more
    // than the lifespan. Keycloak's own clock cannot be moved from outside.
    let born_expired = |realm: &mut Value| realm["accessTokenLifespan"] = json!(0);
    let keycloak = Keycloak::shared();
    {
        let realm = keycloak.create_realm("misconfig-clock", born_expired).await;
        let stack = realm
            .oidc_stack(StackOptions::default().set("oidc.clock_skew", "0s"))
            .await;
        let browser = browser(&realm);
        let form = browser.navigate(&stack.url("/app/")).await;
        let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
        let says = [
            "token expired on arrival",
            "clocks",
            "Access Token Lifespan",
            "oidc.clock_skew",
        ];
        assert_sekisho_page(&stack, &browser, &page, "/oauth2/callback", 400, &says);
        assert_callback_refusal_logged(&stack, &says).await;
    }

    // Sekisho's tolerance covers the same tokens: its clock_skew applies to Keycloak's exp.
    // (A realm of its own: the first stack's addresses are in the first realm's client.)
    let realm = keycloak.create_realm("misconfig-skew", born_expired).await;
    let stack = realm
        .oidc_stack(StackOptions::default().set("oidc.clock_skew", "30s"))
        .await;
    let browser = browser(&realm);
    let page = stack.login(&browser, "/app/", ALICE).await;
    assert!(
        page.body.contains("X-Auth-Request-User: alice"),
        "{}",
        page.describe()
    );
    // The session works, but its access token is due the moment it arrives: every request
    // refreshes at Keycloak. Sekisho says so at sign-in, naming both settings.
    wait_logged(&stack, "every request refreshes them").await;
    let warned = stack.sekisho.log().iter().any(|l| {
        l["level"] == "WARN"
            && l["message"].as_str().is_some_and(|m| {
                m.contains("every request refreshes them") && m.contains("Access Token Lifespan")
            })
    });
    assert!(
        warned,
        "Sekisho should warn that Keycloak's tokens are due on arrival:\n{}",
        stack.sekisho_log_excerpt("lifespan")
    );
    let again = browser.navigate(&stack.url("/app/again")).await;
    assert_eq!(again.status, 200, "{}", again.describe());
    let refreshes = logged(&stack, "tokens refreshed").len();
    assert!(
        refreshes >= 1,
        "the next request should have refreshed at Keycloak:\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
}

// ---------------------------------------------------------------------------------------------
// (d) Keycloak sends the browser back with an error

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_standard_flow_gets_a_page_naming_it() {
    let realm = realm_with_client("misconfig-flow", |client| {
        client["standardFlowEnabled"] = json!(false);
    })
    .await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let browser = browser(&realm);
    let page = browser.navigate(&stack.url("/app/")).await;
    assert_provider_error_page(
        &stack,
        &browser,
        &page,
        ["unauthorized_client", "turn on Standard flow"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_consent_gets_a_page_naming_the_setting() {
    let realm = realm_with_client("misconfig-consent", |client| {
        client["consentRequired"] = json!(true);
    })
    .await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let browser = browser(&realm);
    let form = browser.navigate(&stack.url("/app/")).await;
    let consent = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    let form = consent_form(&consent).unwrap_or_else(|| {
        panic!(
            "Keycloak should ask alice to consent:\n{}",
            consent.describe()
        )
    });
    let page = browser
        .submit_until(&form, &[("cancel", "No")], |_| false)
        .await;
    assert_provider_error_page(
        &stack,
        &browser,
        &page,
        ["access_denied", "Consent required"],
    )
    .await;
}
