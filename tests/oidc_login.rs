//! OpenID Connect sign-in against the lookalike provider (npm `oidc-provider` in Keycloak's
//! layout, `tests/peers/oidc`), for what Keycloak cannot be made to do: forged, replayed and
//! altered callbacks and tokens (the token proxy), hostile redirect targets, and counts of what
//! reached the provider (code exchanges, each refresh token's uses). A scripted browser (cookie
//! jar, redirects followed by hand) → nginx (`config/nginx/oidc.conf`, `auth_request`) →
//! Sekisho → the provider → back; each test starts its own provider, Sekisho, nginx and app on
//! loopback ports (`tests/common/oidc_stack.rs`) and stops them all when it ends.
//!
//! Whatever Keycloak does itself (sign-in and sign-out, groups and roles, refresh, bearer
//! tokens, key rotation, the provider down) is tested against the real Keycloak in
//! `tests/keycloak_oidc.rs`, `keycloak_tokens.rs` and `keycloak_sessions.rs`; those are the
//! tests that count there.
//!
//! Users (the provider's README): alice / alice-password in `/admins`, bob / bob-password in
//! `/dev`.

mod common;

use std::time::{Duration, Instant};

use common::browser_client::{
    Browser, Hop, Page, is_session_cookie, percent_encode, query_param, with_query_param,
};
use common::http::Response;
use common::oidc_provider::{OidcClient, OidcOptions};
use common::oidc_stack::{
    ALICE, BOB, CLIENT_ID, CLIENT_SECRET, OidcStack, StackOptions, provider_tokens,
};
use common::problems::Problems;
use common::token_proxy::jwt;
use common::upstream::echoed_header_all;
use serde_json::{Value, json};
use url::Url;

/// The hop of `page` that requested Sekisho's callback; panics, with the navigation, if none.
fn callback_hop(page: &Page) -> &Hop {
    page.hop("/oauth2/callback").unwrap_or_else(|| {
        panic!(
            "the browser never reached /oauth2/callback:\n{}",
            page.describe()
        )
    })
}

/// The identity headers the app received, from its echo body.
fn assert_identity_at_app(page: &Page, user: &str, email: &str, groups: &str) {
    for (header, want) in [
        ("X-Auth-Request-User", user),
        ("X-Auth-Request-Email", email),
        ("X-Auth-Request-Groups", groups),
        ("X-Auth-Request-Preferred-Username", user),
    ] {
        assert_eq!(
            echoed_header_all(&page.body, header),
            [want],
            "{header} as the app received it (the app's echo of its request):\n{}",
            page.body
        );
    }
}

/// The parameters of Sekisho's authorization request: code flow, PKCE S256, state, nonce, the
/// redirect URI on nginx.
fn check_authorization_request(stack: &OidcStack, authorize: &Url, problems: &mut Problems) {
    let param = |name: &str| query_param(authorize, name);
    let expect = [
        ("client_id", CLIENT_ID.to_owned()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", stack.url("/oauth2/callback")),
        ("code_challenge_method", "S256".to_owned()),
    ];
    for (name, want) in expect {
        problems.check(param(name).as_deref() == Some(want.as_str()), || {
            format!(
                "authorization request: {name} should be {want:?}, is {:?}\n  {authorize}",
                param(name)
            )
        });
    }
    for name in ["state", "nonce"] {
        problems.check(param(name).is_some_and(|v| v.len() >= 16), || {
            format!(
                "authorization request: {name} should be a random value (16+ characters), is {:?}\n  {authorize}",
                param(name)
            )
        });
    }
    // S256 of a 43..128-character verifier: 32 bytes, base64url without padding.
    problems.check(
        param("code_challenge").is_some_and(|c| c.len() == 43),
        || {
            format!(
                "authorization request: code_challenge should be a base64url SHA-256 (43 characters), is {:?}\n  {authorize}",
                param("code_challenge")
            )
        },
    );
    problems.check(
        param("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")),
        || {
            format!(
                "authorization request: scope should include openid, is {:?}",
                param("scope")
            )
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The sign-in itself

/// Lookalike: Sekisho's side of a sign-in in detail (its authorization request with PKCE, state and
/// nonce, the login-state and session cookies, one code exchange counted by the provider), which
/// `tests/keycloak_oidc.rs` does not assert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_nginx_returns_to_the_page_with_its_query() {
    let stack = OidcStack::start(StackOptions::default()).await;
    let browser = Browser::new();
    let target = stack.url("/app/page?x=1");

    // Not signed in: nginx's 401 becomes /oauth2/sign_in, which redirects to the provider.
    let form = browser.navigate(&target).await;
    let first = &form.hops[0];
    assert!(
        matches!(first.status, 302 | 303),
        "an unauthenticated browser should be redirected to sign in (auth 401 → error_page → /oauth2/sign_in → 302):\n{}",
        form.describe()
    );
    let authorize = form.hop(&stack.authorization_path()).unwrap_or_else(|| {
        panic!(
            "the browser never reached the provider's authorization endpoint {}:\n{}",
            stack.authorization_path(),
            form.describe()
        )
    });
    let mut problems = Problems::default();
    check_authorization_request(&stack, &authorize.url, &mut problems);
    problems.assert_none("the redirect to the provider");
    let login_cookies: Vec<String> = first.set_cookie_names();
    assert!(
        !login_cookies.is_empty() && login_cookies.iter().all(|n| !is_session_cookie(n)),
        "the redirect to the provider should set a login-state cookie (and no session cookie); it set {login_cookies:?}:\n{}",
        form.describe()
    );
    assert!(
        form.login_form().is_some(),
        "the provider should show its sign-in form:\n{}",
        form.describe()
    );
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the app must not be reached before signing in"
    );

    let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, target.as_str()),
        "after signing in, the browser should be back at the page it asked for, query included:\n{}{}",
        page.describe(),
        browser.describe_cookies()
    );
    let callback = callback_hop(&page);
    let back_to = callback
        .location
        .as_deref()
        .and_then(|l| callback.url.join(l).ok());
    assert_eq!(
        (callback.status, back_to.as_ref().map(Url::as_str)),
        (302, Some(target.as_str())),
        "the callback should answer 302 to the page first asked for:\n{}",
        page.describe()
    );
    assert_eq!(
        query_param(&callback.url, "iss").as_deref(),
        Some(stack.issuer()),
        "the provider's redirect carries iss (RFC 9207)"
    );

    let session = browser.session_cookies();
    assert!(
        !session.is_empty(),
        "the callback should set the session cookie (_sekisho or _sekisho_0..):\n{}",
        browser.describe_cookies()
    );
    for cookie in &session {
        assert!(
            cookie.http_only && cookie.path == "/",
            "session cookies are HttpOnly with Path=/: {cookie}"
        );
    }
    let left: Vec<String> = browser
        .cookies()
        .into_iter()
        .filter(|c| login_cookies.contains(&c.name))
        .map(|c| c.to_string())
        .collect();
    assert!(
        left.is_empty(),
        "the callback should clear the login-state cookie, still there: {left:?}"
    );

    // The app got the request as asked, with alice's identity.
    assert_eq!(
        page.body.lines().next(),
        Some("GET /app/page?x=1"),
        "the app's echo:\n{}",
        page.body
    );
    assert_identity_at_app(&page, "alice", "alice@example.com", "/admins");

    // /oauth2/userinfo through nginx.
    let info = stack.userinfo(&browser).await;
    assert_eq!(info.status, 200, "/oauth2/userinfo:\n{}", info.describe());
    let info = info.json();
    assert_eq!(info["user"], "alice", "/oauth2/userinfo: {info}");
    assert_eq!(
        info["preferred_username"], "alice",
        "/oauth2/userinfo: {info}"
    );
    assert_eq!(
        info["email"], "alice@example.com",
        "/oauth2/userinfo: {info}"
    );
    assert!(
        info["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("/admins"))),
        "/oauth2/userinfo groups: {info}"
    );
    assert!(
        info["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("admin")) && r.contains(&json!("editor"))),
        "/oauth2/userinfo roles: alice's realm role admin and client role editor: {info}"
    );

    // The decision itself, asked directly: identity headers, no access token by default.
    let cookie = browser
        .cookie_header(&stack.url("/oauth2/auth"))
        .unwrap_or_default();
    let auth = stack
        .sekisho_get("/oauth2/auth", &[("Cookie", &cookie)])
        .await;
    assert_eq!(
        (auth.status, auth.header("x-auth-request-user")),
        (202, Some("alice")),
        "/oauth2/auth with alice's session: {auth:?}"
    );
    assert_eq!(
        auth.header("x-auth-request-access-token"),
        None,
        "pass_access_token is off by default: {auth:?}"
    );

    // Signed in: the next page needs no trip to the provider.
    let before = stack.provider().counters()["authorization"].clone();
    let next = browser.navigate(&stack.url("/app/other")).await;
    assert_eq!(
        (next.status, next.hops.len()),
        (200, 1),
        "a signed-in browser goes straight through:\n{}",
        next.describe()
    );
    assert_eq!(stack.provider().counters()["authorization"], before);
    assert_eq!(
        stack.provider().token_requests("authorization_code"),
        1,
        "exactly one code exchange for one sign-in"
    );
}

// ---------------------------------------------------------------------------------------------
// The callback under attack

/// What a refused callback must look like: 4xx (the spec says 400), no session cookie,
/// `/oauth2/userinfo` 401.
async fn check_refused(
    stack: &OidcStack,
    case: &str,
    browser: &Browser,
    page: &Page,
    problems: &mut Problems,
) {
    let context = || format!("{case}:\n{}{}", page.describe(), browser.describe_cookies());
    let Some(callback) = page.hop("/oauth2/callback") else {
        problems.check(false, || {
            format!("{} (never reached the callback)", context())
        });
        return;
    };
    problems.check((400..500).contains(&callback.status), || {
        format!(
            "callback answered {} instead of 4xx (400 per the spec) — {}",
            callback.status,
            context()
        )
    });
    let session = browser.session_cookies();
    problems.check(session.is_empty(), || {
        format!("a session cookie was set — {}", context())
    });
    let info = stack.userinfo(browser).await;
    problems.check(info.status == 401, || {
        format!(
            "/oauth2/userinfo answered {} afterwards, not 401 — {}",
            info.status,
            context()
        )
    });
}

/// Lookalike: forged callbacks (state, code, iss, cookies tampered with), which no provider sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_broken_callbacks_are_refused_without_a_session() {
    let stack = OidcStack::start(StackOptions::default()).await;
    let mut problems = Problems::default();

    // Control: the untouched callback signs in.
    let browser = Browser::new();
    let stopped = stack.login_until_callback(&browser, "/app/", ALICE).await;
    let page = browser.resume(&stopped, |_| false).await;
    assert_eq!(
        (callback_hop(&page).status, page.status),
        (302, 200),
        "control: the untouched callback should sign in:\n{}",
        page.describe()
    );

    type Forge = fn(&Url) -> Url;
    let cases: [(&str, Forge); 6] = [
        ("state changed", |cb| {
            let state = query_param(cb, "state").unwrap_or_default();
            let mut forged: Vec<char> = state.chars().collect();
            if let Some(last) = forged.last_mut() {
                *last = if *last == 'A' { 'B' } else { 'A' };
            }
            with_query_param(cb, "state", Some(&forged.into_iter().collect::<String>()))
        }),
        ("state missing", |cb| with_query_param(cb, "state", None)),
        ("code missing", |cb| with_query_param(cb, "code", None)),
        ("code unknown to the provider", |cb| {
            with_query_param(cb, "code", Some("not-a-code-the-provider-issued"))
        }),
        ("error from the provider (error=access_denied)", |cb| {
            let cb = with_query_param(cb, "code", None);
            let cb = with_query_param(&cb, "error", Some("access_denied"));
            with_query_param(&cb, "error_description", Some("the user said no"))
        }),
        ("iss of another issuer (RFC 9207 mix-up)", |cb| {
            with_query_param(cb, "iss", Some("http://127.0.0.1:1/realms/demo"))
        }),
    ];
    for (case, forge) in cases {
        let browser = Browser::new();
        let stopped = stack.login_until_callback(&browser, "/app/", ALICE).await;
        let forged = forge(stopped.next.as_ref().expect("stopped at the callback"));
        let page = browser.navigate(forged.as_str()).await;
        check_refused(&stack, case, &browser, &page, &mut problems).await;
        if case == "state changed" {
            // A browser (Accept: text/html) gets a page, not bare text.
            let html = page
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/html"))
                && page.body.to_ascii_lowercase().contains("<html");
            problems.check(html, || {
                format!(
                    "{case}: with Accept: text/html the 400 should be an HTML page, got Content-Type {:?}:\n{}",
                    page.header("content-type"),
                    page.describe()
                )
            });
        }
    }

    // The login-state cookie removed before the callback.
    let browser = Browser::new();
    let stopped = stack.login_until_callback(&browser, "/app/", ALICE).await;
    let login_cookies: Vec<String> = stopped.hops[0]
        .set_cookie_names()
        .into_iter()
        .filter(|n| !is_session_cookie(n))
        .collect();
    problems.check(!login_cookies.is_empty(), || {
        format!(
            "no login-state cookie was set on the way to the provider:\n{}",
            stopped.describe()
        )
    });
    browser.remove_cookies(|c| login_cookies.contains(&c.name));
    let page = browser.resume(&stopped, |_| false).await;
    check_refused(
        &stack,
        "login-state cookie missing",
        &browser,
        &page,
        &mut problems,
    )
    .await;

    // Two sign-ins under way in one browser (two tabs): the code of the first with the state
    // of the second. The second's login cookie is found, but its PKCE verifier and nonce
    // belong to another authorization request.
    let browser = Browser::new();
    let first = stack
        .login_until_callback(&browser, "/app/one", ALICE)
        .await;
    let second = browser
        .navigate_until(&stack.url("/app/two"), |url| {
            url.path() == "/oauth2/callback"
        })
        .await;
    match (first.next.as_ref(), second.next.as_ref()) {
        (Some(one), Some(two)) => {
            let code_one = query_param(one, "code").unwrap_or_default();
            let crossed = with_query_param(two, "code", Some(&code_one));
            let page = browser.navigate(crossed.as_str()).await;
            check_refused(
                &stack,
                "one tab's code with another tab's state (PKCE verifier and nonce of another request)",
                &browser,
                &page,
                &mut problems,
            )
            .await;
        }
        _ => problems.check(false, || {
            format!(
                "a second sign-in in the same browser should come straight back with a code (provider SSO):\n{}",
                second.describe()
            )
        }),
    }

    // Login CSRF: the attacker's callback (their code and state) opened in a victim's browser
    // that has a login of its own under way.
    let attacker = Browser::new();
    let stopped = stack.login_until_callback(&attacker, "/app/", BOB).await;
    let victim = Browser::new();
    let victim_form = victim.navigate(&stack.url("/app/")).await;
    problems.check(victim_form.login_form().is_some(), || {
        format!(
            "the victim's login should be at the form:\n{}",
            victim_form.describe()
        )
    });
    let page = victim
        .navigate(stopped.next.as_ref().expect("stopped").as_str())
        .await;
    check_refused(
        &stack,
        "another browser's callback (login CSRF)",
        &victim,
        &page,
        &mut problems,
    )
    .await;

    problems.assert_none("forged callbacks");
    assert!(
        stack
            .upstream
            .received()
            .iter()
            .filter(|r| r.header("X-Auth-Request-User").is_some())
            .count()
            == 1,
        "only the control sign-in may reach the app: {:?}",
        stack.upstream.received()
    );
}

/// Lookalike: a callback replayed with its cookies, an attacker's act, not the provider's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_yields_no_second_session() {
    let stack = OidcStack::start(StackOptions::default()).await;
    let browser = Browser::new();
    let stopped = stack.login_until_callback(&browser, "/app/", ALICE).await;
    // Everything the browser holds before the callback: the login-state cookie included.
    let replayer = browser.fork();

    let first = browser.resume(&stopped, |_| false).await;
    assert_eq!(
        (callback_hop(&first).status, first.status),
        (302, 200),
        "the first use of the callback signs in:\n{}",
        first.describe()
    );

    // The same request again, cookies and all (a replay from history, a proxy log...).
    let replay = replayer.resume(&stopped, |_| false).await;
    let mut problems = Problems::default();
    check_refused(
        &stack,
        "the same callback URL with the same cookies, a second time",
        &replayer,
        &replay,
        &mut problems,
    )
    .await;
    problems.assert_none("replayed callback");

    // And in the browser that signed in: whatever it answers, no new session.
    let again = browser.get(stopped.next.as_ref().unwrap().as_str()).await;
    let new_session: Vec<&String> = again.hops[0]
        .set_cookies
        .iter()
        .filter(|c| {
            let (name, value) = c
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .unwrap_or_default();
            is_session_cookie(name.trim())
                && !value.trim().is_empty()
                && !c.to_ascii_lowercase().contains("max-age=0")
        })
        .collect();
    assert!(
        new_session.is_empty() && again.status != 500,
        "the callback used a second time in the signed-in browser must not set a new session: {new_session:?}\n{}",
        again.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// ID token checks, with the real provider's token response altered on its way to Sekisho

/// One sign-in whose code exchange `arm` alters through the stack's token proxy (`arm` gets
/// the nonce of Sekisho's authorization request). Returns the browser and its last page.
async fn sign_in_with_altered_tokens(
    stack: &OidcStack,
    label: &str,
    arm: impl AsyncFnOnce(&str),
) -> (Browser, Page) {
    let browser = Browser::new();
    let authorization = stack.authorization_path();
    let before = browser
        .navigate_until(&stack.url("/app/"), |url| url.path() == authorization)
        .await;
    let auth_url = before.next.clone().unwrap_or_else(|| {
        panic!(
            "{label}: no redirect to the provider's authorization endpoint:\n{}",
            before.describe()
        )
    });
    let nonce = query_param(&auth_url, "nonce").unwrap_or_else(|| {
        panic!("{label}: Sekisho's authorization request has no nonce: {auth_url}")
    });
    arm(&nonce).await;
    let form = browser.resume(&before, |_| false).await;
    let stopped = browser
        .sign_in_until(&form, ALICE.0, ALICE.1, |url| {
            url.path() == "/oauth2/callback"
        })
        .await;
    let page = browser.resume(&stopped, |_| false).await;
    let applied = stack.proxy().applied();
    if applied.last().map(String::as_str) != Some(label) {
        let pending = stack.proxy().disarm();
        panic!(
            "{label}: the token response was not altered (armed and unused: {pending:?}): Sekisho's \
             code exchange did not go through the test's http_proxy ({}). These cases need Sekisho's \
             HTTP client to honour http_proxy/HTTP_PROXY (reqwest does unless built with .no_proxy()).\n\
             requests the proxy forwarded: {:#?}\n{}",
            stack.proxy().url(),
            stack.proxy().seen(),
            page.describe()
        );
    }
    (browser, page)
}

/// Keycloak answers `expires_in: -1` when its Access Token Lifespan is 0 and a second turns
/// between issuing and answering: the sign-in goes through, with tokens read as already due
/// (and the warning that names the lifespan), instead of failing to parse the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_expires_in_reads_as_already_expired() {
    let stack = OidcStack::start(StackOptions {
        token_proxy: true,
        ..StackOptions::default()
    })
    .await;
    let label = "expires_in -1";
    let (_, page) = sign_in_with_altered_tokens(&stack, label, async |_: &str| {
        stack.proxy().arm(label, |mut body| {
            body["expires_in"] = json!(-1);
            body
        });
    })
    .await;
    assert_eq!(
        (callback_hop(&page).status, page.status),
        (302, 200),
        "a token response with expires_in -1 should sign in:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("callback")
    );
    let warned = stack
        .sekisho
        .wait_logged(|l| {
            l["level"] == "WARN"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("access tokens live 0s"))
        })
        .await;
    assert!(
        warned.is_some(),
        "the tokens should be read as due on arrival, with the warning naming the lifespan:\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
}

/// Lookalike: ID tokens altered on their way through the token proxy, which Keycloak never issues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_or_foreign_id_tokens_are_refused_at_the_callback() {
    let mut provider = OidcOptions::default();
    provider.clients.push(OidcClient {
        client_id: "other-app".into(),
        client_secret: "other-app-secret".into(),
        ..OidcClient::default()
    });
    let stack = OidcStack::start(StackOptions {
        provider,
        token_proxy: true,
        ..StackOptions::default()
    })
    .await;

    // Control: the proxy passes the response on unchanged, and the sign-in works.
    let (_, page) = sign_in_with_altered_tokens(&stack, "unchanged", async |_: &str| {
        stack.proxy().arm("unchanged", |body| body);
    })
    .await;
    assert_eq!(
        (callback_hop(&page).status, page.status),
        (302, 200),
        "control: an unaltered token response through the proxy should sign in:\n{}",
        page.describe()
    );

    let mut problems = Problems::default();
    let edit_id_token = |edit: fn(&str) -> String| {
        move |mut body: Value| {
            let token = body["id_token"].as_str().expect("id_token").to_owned();
            body["id_token"] = json!(edit(&token));
            body
        }
    };
    type Edit = fn(&str) -> String;
    let cases: [(&str, Edit); 3] = [
        ("ID token signature altered", jwt::flip_signature),
        (
            "ID token claims altered (preferred_username, sub), signature kept",
            |token| {
                jwt::edit_claims(token, |claims| {
                    claims["preferred_username"] = json!("mallory");
                    claims["sub"] = json!("00000000-0000-4000-8000-00000000beef");
                })
            },
        ),
        ("ID token unsigned (alg none)", jwt::unsigned),
    ];
    for (label, edit) in cases {
        let (browser, page) = sign_in_with_altered_tokens(&stack, label, async |_: &str| {
            stack.proxy().arm(label, edit_id_token(edit));
        })
        .await;
        check_refused(&stack, label, &browser, &page, &mut problems).await;
    }

    let label = "no ID token in the token response";
    let (browser, page) = sign_in_with_altered_tokens(&stack, label, async |_: &str| {
        stack.proxy().arm(label, |mut body| {
            body.as_object_mut().expect("object").remove("id_token");
            body
        });
    })
    .await;
    check_refused(&stack, label, &browser, &page, &mut problems).await;

    // A genuine token response of the same provider, for alice, with Sekisho's nonce, but
    // issued to another client: only aud (and azp) are wrong.
    let label = "tokens issued to another client (aud = other-app)";
    let (browser, page) = sign_in_with_altered_tokens(&stack, label, async |nonce: &str| {
        let foreign = provider_tokens(
            stack.provider(),
            ("other-app", "other-app-secret"),
            ALICE,
            nonce,
        )
        .await;
        assert_eq!(
            jwt::claims(foreign["id_token"].as_str().unwrap())["aud"],
            "other-app"
        );
        stack.proxy().arm(label, move |_| foreign);
    })
    .await;
    check_refused(&stack, label, &browser, &page, &mut problems).await;

    problems.assert_none("altered token responses");
}

/// Lookalike: an authorization request tampered with on its way to the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_changed_in_the_authorization_request_is_refused() {
    let stack = OidcStack::start(StackOptions::default()).await;
    let browser = Browser::new();
    let authorization = stack.authorization_path();
    let before = browser
        .navigate_until(&stack.url("/app/"), |url| url.path() == authorization)
        .await;
    let auth_url = before.next.clone().expect("redirect to the provider");
    let nonce = query_param(&auth_url, "nonce").expect("a nonce in the authorization request");
    // The provider puts this nonce in the ID token; everything else (state, PKCE) is intact.
    let forged = with_query_param(&auth_url, "nonce", Some(&format!("{nonce}-forged")));

    let form = browser.navigate(forged.as_str()).await;
    let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
    let mut problems = Problems::default();
    check_refused(
        &stack,
        "ID token with another nonce than Sekisho sent",
        &browser,
        &page,
        &mut problems,
    )
    .await;
    problems.assert_none("nonce mismatch");
}

// ---------------------------------------------------------------------------------------------
// Open redirects

/// Lookalike: hostile `rd` targets, Sekisho's own check; the provider only completes the sign-ins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_targets_off_the_site_fall_back_to_the_root() {
    let stack = OidcStack::start(
        StackOptions::default().set("allowed_redirect_domains", vec!["good.example.com"]),
    )
    .await;
    let root = stack.url("/");

    /// Completes a sign-in started at /oauth2/start with `query` and returns where the
    /// callback sends the browser (its Location, resolved) with the page.
    async fn sign_in_with(stack: &OidcStack, query: &str) -> Result<(String, Url, Page), String> {
        let browser = Browser::new();
        let form = browser
            .navigate(&stack.url(&format!("/oauth2/start?{query}")))
            .await;
        if form.login_form().is_none() {
            return Err(format!(
                "/oauth2/start?{query} did not lead to the sign-in form (the spec: fall back to /, not refuse):\n{}",
                form.describe()
            ));
        }
        let page = browser.sign_in(&form, ALICE.0, ALICE.1).await;
        let Some(callback) = page.hop("/oauth2/callback") else {
            return Err(format!("never reached the callback:\n{}", page.describe()));
        };
        let location = callback.location.clone().unwrap_or_default();
        match (callback.status, callback.url.join(&location)) {
            (302 | 303, Ok(resolved)) => Ok((location, resolved, page)),
            (status, _) => Err(format!(
                "the callback answered {status} with Location {location:?}:\n{}",
                page.describe()
            )),
        }
    }

    let mut problems = Problems::default();
    // Allowed targets are kept as they are.
    for (rd, want) in [
        ("/app/page?x=1&y=%2F", stack.url("/app/page?x=1&y=%2F")),
        (
            "https://good.example.com/ok?z=1",
            "https://good.example.com/ok?z=1".to_owned(),
        ),
    ] {
        match sign_in_with(&stack, &format!("rd={}", percent_encode(rd))).await {
            Ok((_, resolved, page)) => problems.check(resolved.as_str() == want, || {
                format!(
                    "allowed rd {rd:?}: the callback should send the browser to {want}, sent it to {resolved}\n{}",
                    page.describe()
                )
            }),
            Err(e) => problems.check(false, || format!("allowed rd {rd:?}: {e}")),
        }
    }
    // Everything else falls back to "/".
    let hostile = [
        "//evil.com",
        "/\\evil.com",
        "https:evil.com",
        "javascript:alert(1)",
        "/%2F%2Fevil.com",
        " https://evil.com",
        "https://127.0.0.1.evil.com/",
        "https://good.example.com@evil.com/",
    ];
    let mut queries: Vec<(String, String)> = hostile
        .iter()
        .map(|rd| (format!("{rd:?}"), format!("rd={}", percent_encode(rd))))
        .collect();
    // Sent as is: Sekisho decodes `///evil.com` and `//evil.com`.
    for raw in ["/%2F%2Fevil.com", "%2F%2Fevil.com"] {
        queries.push((
            format!("{raw:?} unencoded in the query"),
            format!("rd={raw}"),
        ));
    }
    for (case, query) in queries {
        match sign_in_with(&stack, &query).await {
            Ok((location, resolved, page)) => {
                problems.check(resolved.as_str() == root, || {
                    format!(
                        "rd {case}: the callback should fall back to Location \"/\", sent {location:?} (a browser goes to {resolved})\n{}",
                        page.describe()
                    )
                });
            }
            Err(e) => problems.check(false, || format!("rd {case}: {e}")),
        }
    }
    problems.assert_none("redirect targets");
}

// ---------------------------------------------------------------------------------------------
// Token refresh

/// `GET path` through nginx with exactly `cookie`, as a client that never stores the cookies
/// it is sent back (nginx in front of it without `Set-Cookie` forwarding behaves so).
async fn replay(stack: &OidcStack, path: &str, cookie: &str) -> Response {
    common::http::Client::new()
        .get(stack.nginx.addr(), path, &[("Cookie", cookie)])
        .await
}

/// Lookalike: counts how often each refresh token is presented, which Keycloak does not expose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_cookie_lasts_only_as_long_as_the_refreshed_tokens_and_the_provider_session() {
    // Access tokens live 8 s and are due 4 s before they expire: 3 to 4 s after issue (the
    // expiry is kept in whole seconds), so never during the sign-in itself.
    const TTL: u64 = 8;
    const DUE_AFTER: Duration = Duration::from_millis(4_500);
    let stack = OidcStack::start(
        StackOptions::access_tokens_for(TTL).set("oidc.refresh_before_expiry", "4s"),
    )
    .await;
    let provider = stack.provider();
    let browser = Browser::new();
    stack.login(&browser, "/app/", ALICE).await;
    let signed_in = Instant::now();
    // The cookie of the sign-in, replayed as it is from now on.
    let first = browser
        .cookie_header(&stack.url("/app/"))
        .expect("the browser has a session cookie");
    let refreshes = || provider.token_requests("refresh_token");
    let context = |what: &str, response: &Response| {
        format!(
            "{what}: {} {:?}\nprovider counters: {}\n{}",
            response.status,
            response.header("location"),
            provider.counters(),
            stack.sekisho_log_excerpt("refresh")
        )
    };

    // Due: the first refresh, with the sign-in's refresh token.
    tokio::time::sleep_until((signed_in + DUE_AFTER).into()).await;
    let response = replay(&stack, "/app/first-refresh", &first).await;
    let refreshed = Instant::now();
    assert_eq!(response.status, 200, "{}", context("due", &response));
    assert_eq!(refreshes(), 1, "{}", context("due", &response));
    // The same cookie again, while the refreshed tokens are fresh: the remembered refresh
    // spares a second use of the rotated refresh token.
    let response = replay(&stack, "/app/remembered", &first).await;
    assert_eq!(response.status, 200, "{}", context("remembered", &response));
    assert_eq!(
        refreshes(),
        1,
        "the old cookie right after the refresh must not refresh again: {}",
        context("remembered", &response)
    );

    // The refreshed tokens are due in turn: the old cookie no longer rides on them; it is
    // refreshed again, with the NEWEST refresh token (the old one would be refused).
    tokio::time::sleep_until((refreshed + DUE_AFTER).into()).await;
    let response = replay(&stack, "/app/second-refresh", &first).await;
    let refreshed = Instant::now();
    assert_eq!(response.status, 200, "{}", context("due again", &response));
    assert_eq!(
        (refreshes(), provider.token_errors("refresh_token")),
        (2, 0),
        "once the refreshed tokens are due, the old cookie must lead to a new refresh with the \
         newest refresh token, not to the remembered result: {}",
        context("due again", &response)
    );

    // The user signs out at the provider itself: the login's refresh tokens die there.
    let confirm = browser.navigate(&provider.endpoint("logout")).await;
    browser.confirm_logout(&confirm).await;
    assert_eq!(
        provider.counters()["logout"],
        1,
        "the provider session ended"
    );

    // When the newest tokens are due, their refresh is refused, and the old cookie with it:
    // nginx sends the client to sign in instead of to the app.
    tokio::time::sleep_until((refreshed + DUE_AFTER).into()).await;
    for attempt in 0..3 {
        let response = replay(&stack, "/app/after-logout", &first).await;
        let what = format!("after the provider's logout, attempt {attempt}");
        assert_eq!(response.status, 302, "{}", context(&what, &response));
        assert!(
            response
                .header("location")
                .is_some_and(|l| l.contains(&stack.authorization_path())),
            "{}",
            context(&what, &response)
        );
    }
    assert_eq!(
        (refreshes(), provider.token_errors("refresh_token")),
        (3, 1),
        "one refused refresh, remembered: the dead token is not presented again: {}",
        provider.counters()
    );
    let uses = provider.refresh_token_uses();
    assert!(
        uses.len() == 3 && uses.iter().all(|&n| n == 1),
        "each refresh token is presented to the provider at most once: {uses:?}"
    );
    assert_eq!(
        provider.token_requests("authorization_code"),
        1,
        "one sign-in only"
    );
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
fn invalid_token(response: &Response) -> bool {
    let challenge = response.header("www-authenticate").unwrap_or_default();
    response.status == 401
        && challenge.starts_with("Bearer")
        && challenge.contains("error=\"invalid_token\"")
}

/// Lookalike: tokens Keycloak never issues (altered, unsigned, not a JWT), and Sekisho's own ID
/// token presented as a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_unsigned_or_id_tokens_are_refused_as_bearer_tokens() {
    let stack =
        OidcStack::start(StackOptions::default().set("oidc.accept_bearer_tokens", true)).await;
    let tokens = provider_tokens(stack.provider(), (CLIENT_ID, CLIENT_SECRET), ALICE, "n-1").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Control.
    let response = stack
        .sekisho_get("/oauth2/auth", &[("Authorization", &bearer(&access))])
        .await;
    assert_eq!(
        response.status,
        202,
        "control: a fresh access token of the realm should pass: {response:?}\n{}",
        stack.sekisho_log_excerpt("bearer")
    );

    let cases = [
        ("signature altered", jwt::flip_signature(&access)),
        (
            "claims altered, signature kept",
            jwt::edit_claims(&access, |c| c["preferred_username"] = json!("mallory")),
        ),
        ("unsigned (alg none)", jwt::unsigned(&access)),
        ("not a JWT", "not-a-jwt".to_owned()),
        (
            "alice's ID token instead of an access token (aud = sekisho, typ = ID: meant for the \
             client, not a credential; Keycloak's access tokens have typ = Bearer)",
            tokens["id_token"].as_str().unwrap().to_owned(),
        ),
    ];
    let mut problems = Problems::default();
    for (case, token) in &cases {
        let response = stack
            .sekisho_get("/oauth2/auth", &[("Authorization", &bearer(token))])
            .await;
        problems.check(invalid_token(&response), || {
            format!(
                "{case}: /oauth2/auth should answer 401 with WWW-Authenticate: Bearer error=\"invalid_token\", got {response:?}"
            )
        });
    }
    problems.assert_none("refused bearer tokens");
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/// Lookalike: a bearer token alone brings the unknown `kid`; in `tests/keycloak_tokens.rs` a
/// sign-in reloads the keys first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_a_rotated_key_reloads_the_keys() {
    let stack =
        OidcStack::start(StackOptions::default().set("oidc.accept_bearer_tokens", true)).await;
    // Sekisho has discovered the realm's keys; the realm now signs with a new one and drops the old.
    let new_kid = stack.provider().rotate_keys(true);
    let tokens = provider_tokens(
        stack.provider(),
        (CLIENT_ID, CLIENT_SECRET),
        ALICE,
        "rotation-nonce",
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    let response = stack
        .sekisho_get("/oauth2/auth", &[("Authorization", &bearer(&access))])
        .await;
    assert_eq!(
        response.status,
        202,
        "a token signed with the new key {new_kid} should pass after a key reload: {response:?}\n{}",
        stack.sekisho_log_excerpt("key")
    );
    assert!(
        stack.sekisho_log_excerpt("reloading").contains("reloading"),
        "the unknown kid should have triggered a key reload"
    );
}
