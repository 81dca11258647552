//! What a provider may not make Sekisho believe, end to end through real nginx
//! (`config/nginx/oidc.conf`): the lookalike OpenID provider (`tests/peers/oidc`) signs in the
//! users and misbehaves on purpose where a test makes it, which Keycloak cannot be made to do:
//! by its own test switches (users with unverified addresses, tokens signed with any claims)
//! or through the token proxy (`tests/common/token_proxy.rs`), which swaps what its token
//! endpoint answers for other tokens it signed: another user's, ones without `typ` or `nonce`,
//! ones issued in the future.
//!
//! A key rotated at the provider, which Keycloak does too, is tested against Keycloak in
//! `tests/keycloak_tokens.rs`.
//!
//! Each class is checked as the app behind nginx sees it: what reaches it, with which headers.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::browser_client::{Browser, Page, query_param, with_query_param};
use common::http::{Client, Response};
use common::oidc_provider::OidcOptions;
use common::oidc_stack::{
    ALICE, BOB, CLIENT_ID, CLIENT_SECRET, OidcStack, StackOptions, TRUSTED_CLIENT, provider_tokens,
};
use common::problems::Problems;
use common::token_proxy::jwt;
use common::upstream::echoed_header_all;
use serde_json::{Value, json};

/// alice's `sub` at the provider (its README).
const ALICE_SUB: &str = "a11ce000-0000-4000-8000-000000000001";
const MALLORY: (&str, &str) = ("mallory", "mallory-password");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The values of `header` the app received, from its echo of the request.
fn at_app<'a>(page: &'a Page, header: &str) -> Vec<&'a str> {
    echoed_header_all(&page.body, header)
}

/// Signs in `user` at `path` through the stack and follows every redirect; returns the last
/// page, whatever happened at the callback.
async fn sign_in(stack: &OidcStack, browser: &Browser, path: &str, user: (&str, &str)) -> Page {
    let stopped = stack.login_until_callback(browser, path, user).await;
    browser.resume(&stopped, |_| false).await
}

/// The callback's status in `page`'s navigation.
fn callback_status(page: &Page) -> u16 {
    page.hop("/oauth2/callback")
        .unwrap_or_else(|| panic!("never reached the callback:\n{}", page.describe()))
        .status
}

// ---------------------------------------------------------------------------------------------
// Addresses the provider did not verify

fn users_with_mallory() -> Value {
    json!([
        {"id": ALICE_SUB, "username": "alice", "password": "alice-password",
         "email": "alice@example.com", "email_verified": true, "groups": ["/admins"]},
        // Keycloak lets users edit their own address: mallory typed in one of our domain.
        {"username": "mallory", "password": "mallory-password",
         "email": "mallory@example.com", "email_verified": false, "groups": ["/dev"]},
    ])
}

async fn email_stack(allow_unverified: bool) -> OidcStack {
    let mut provider = OidcOptions::default();
    provider.extra.insert("users".into(), users_with_mallory());
    let mut options = StackOptions {
        provider,
        ..StackOptions::default()
    }
    .set("authorization.allowed_email_domains", vec!["example.com"]);
    if allow_unverified {
        options = options.set("oidc.allow_unverified_email", true);
    }
    OidcStack::start(options).await
}

/// Lookalike: a user with an unverified address of our domain, set up per test in the provider's
/// user list; no Keycloak test has such a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_address_passes_no_domain_rule_and_apps_are_told() {
    let stack = email_stack(false).await;
    let mut problems = Problems::default();

    let alice = Browser::new();
    let page = sign_in(&stack, &alice, "/app/", ALICE).await;
    problems.check(
        page.status == 200 && at_app(&page, "X-Auth-Request-Email-Verified") == ["true"],
        || {
            format!(
                "alice (verified) should reach the app told `Email-Verified: true`:\n{}",
                page.describe()
            )
        },
    );
    // The client's own copy never reaches the app: nginx overwrites it with Sekisho's.
    let spoofed = alice
        .navigate_with(
            &stack.url("/app/"),
            &[("X-Auth-Request-Email-Verified", "false")],
        )
        .await;
    problems.check(
        at_app(&spoofed, "X-Auth-Request-Email-Verified") == ["true"],
        || {
            format!(
                "a client's X-Auth-Request-Email-Verified reached the app:\n{}",
                spoofed.body
            )
        },
    );

    let info = stack.userinfo(&alice).await;
    problems.check(info.json()["email_verified"] == true, || {
        format!(
            "/oauth2/userinfo should say alice's address is verified:\n{}",
            info.body
        )
    });

    let mallory = Browser::new();
    let page = sign_in(&stack, &mallory, "/app/", MALLORY).await;
    problems.check(callback_status(&page) == 403, || {
        format!(
            "mallory's unverified mallory@example.com must not satisfy allowed_email_domains \
             (callback 403 expected):\n{}",
            page.describe()
        )
    });
    problems.check(mallory.session_cookies().is_empty(), || {
        format!("mallory got a session:\n{}", mallory.describe_cookies())
    });

    // Let in by trusted_ips, so no identity at all: a client's claim of verification is dropped.
    let trusted = Browser::new()
        .navigate_with(
            &stack.url("/app/"),
            &[
                ("X-Forwarded-For", TRUSTED_CLIENT),
                ("X-Auth-Request-Email-Verified", "true"),
                ("X-Auth-Request-Email", "ceo@example.com"),
            ],
        )
        .await;
    problems.check(
        trusted.status == 200
            && at_app(&trusted, "X-Auth-Request-Email-Verified").is_empty()
            && at_app(&trusted, "X-Auth-Request-Email").is_empty(),
        || {
            format!(
                "a trusted client's identity headers reached the app:\n{}",
                trusted.describe()
            )
        },
    );
    problems.assert_none("unverified addresses, strict default");

    // Told to accept them: mallory passes, and the app is told the address is unverified,
    // whatever the client claims.
    let lenient = email_stack(true).await;
    let mallory = Browser::new();
    let page = sign_in(&lenient, &mallory, "/app/", MALLORY).await;
    assert_eq!(
        (page.status, at_app(&page, "X-Auth-Request-Email")),
        (200, vec!["mallory@example.com"]),
        "allow_unverified_email = true: mallory should pass:\n{}",
        page.describe()
    );
    let spoofed = mallory
        .navigate_with(
            &lenient.url("/app/"),
            &[("X-Auth-Request-Email-Verified", "true")],
        )
        .await;
    assert_eq!(
        lenient.userinfo(&mallory).await.json()["email_verified"],
        false,
        "/oauth2/userinfo should say mallory's address is unverified"
    );
    assert_eq!(
        at_app(&spoofed, "X-Auth-Request-Email-Verified"),
        ["false"],
        "the app must be told mallory's address is unverified, not the client's claim:\n{}",
        spoofed.body
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 9207

/// Lookalike: a callback stripped of the `iss` its provider promises, which Keycloak always sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_the_promised_iss_is_refused() {
    let stack = OidcStack::start(StackOptions::default()).await;
    let discovery = Client::new()
        .get(
            std::net::SocketAddr::from(([127, 0, 0, 1], stack.provider().port)),
            &format!(
                "{}/.well-known/openid-configuration",
                url::Url::parse(stack.issuer()).unwrap().path()
            ),
            &[],
        )
        .await;
    let metadata: Value = serde_json::from_str(&discovery.body).expect("discovery is JSON");
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"], true,
        "the provider should advertise RFC 9207"
    );

    let browser = Browser::new();
    let stopped = stack.login_until_callback(&browser, "/app/", ALICE).await;
    let callback = stopped.next.clone().expect("the callback URL");
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(stack.issuer()),
        "the provider puts iss on the callback"
    );
    let without_iss = with_query_param(&callback, "iss", None);
    let page = browser.navigate(without_iss.as_str()).await;
    assert_eq!(
        callback_status(&page),
        400,
        "a callback without iss from a provider that promises it must be refused:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("iss")
    );
    stack
        .assert_no_session(&browser, "after a callback without iss")
        .await;

    // Control: the same provider's callbacks with iss sign in.
    stack.login(&Browser::new(), "/app/", ALICE).await;
}

// ---------------------------------------------------------------------------------------------
// Token responses at sign-in

/// An ID token for alice as the provider issues it to Sekisho for `nonce`, with `edit`
/// applied, signed by the provider's key.
fn alice_id_token(stack: &OidcStack, nonce: &str, edit: impl FnOnce(&mut Value)) -> String {
    let now = now();
    let mut claims = json!({
        "iss": stack.issuer(), "sub": ALICE_SUB, "aud": CLIENT_ID, "azp": CLIENT_ID,
        "typ": "ID", "nonce": nonce, "iat": now, "exp": now + 300, "auth_time": now,
        "preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
        "groups": ["/admins"],
    });
    edit(&mut claims);
    stack.provider().sign(&claims, "JWT")
}

/// Signs in `user` while the token proxy swaps the code exchange's answer as `arm` says
/// (`arm` gets the nonce of Sekisho's authorization request).
async fn sign_in_swapped(
    stack: &OidcStack,
    user: (&str, &str),
    label: &str,
    arm: impl AsyncFnOnce(&str),
) -> (Browser, Page) {
    let browser = Browser::new();
    let authorization = stack.authorization_path();
    let before = browser
        .navigate_until(&stack.url("/app/"), |url| url.path() == authorization)
        .await;
    let auth_url = before.next.clone().expect("redirect to the provider");
    let nonce = query_param(&auth_url, "nonce").expect("a nonce");
    arm(&nonce).await;
    let form = browser.resume(&before, |_| false).await;
    let stopped = browser
        .sign_in_until(&form, user.0, user.1, |url| {
            url.path() == "/oauth2/callback"
        })
        .await;
    let page = browser.resume(&stopped, |_| false).await;
    assert_eq!(
        stack.proxy().applied().last().map(String::as_str),
        Some(label),
        "{label}: the token proxy did not alter the code exchange: {:#?}",
        stack.proxy().seen()
    );
    (browser, page)
}

/// Lookalike: ID tokens with arbitrary claims, swapped in by the token proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_from_the_future_or_for_another_access_token_are_refused() {
    let stack = OidcStack::start(StackOptions {
        token_proxy: true,
        ..StackOptions::default()
    })
    .await;
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, bool); 5] = [
        ("control: re-signed as issued", |_| {}, true),
        (
            "control: no typ (other providers)",
            |c| {
                c.as_object_mut().unwrap().remove("typ");
            },
            true,
        ),
        (
            "iat ten minutes ahead",
            |c| c["iat"] = json!(now() + 600),
            false,
        ),
        (
            "nbf ten minutes ahead",
            |c| c["nbf"] = json!(now() + 600),
            false,
        ),
        (
            "at_hash of another access token",
            |c| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
            false,
        ),
    ];
    let mut problems = Problems::default();
    for (label, edit, passes) in cases {
        let (browser, page) = sign_in_swapped(&stack, ALICE, label, async |nonce: &str| {
            let id_token = alice_id_token(&stack, nonce, edit);
            stack.proxy().arm(label, move |mut body| {
                body["id_token"] = json!(id_token);
                body
            });
        })
        .await;
        let status = callback_status(&page);
        if passes {
            problems.check(status == 302 && page.status == 200, || {
                format!(
                    "{label}: should sign in:\n{}\n{}",
                    page.describe(),
                    stack.sekisho_log_excerpt("ID token")
                )
            });
        } else {
            problems.check(
                status == 400 && browser.session_cookies().is_empty(),
                || {
                    format!(
                        "{label}: the callback should answer 400 without a session:\n{}",
                        page.describe()
                    )
                },
            );
        }
    }
    problems.assert_none("ID tokens at sign-in");
}

/// Lookalike: an access token about another user swapped in by the token proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_come_only_from_an_access_token_about_the_same_user() {
    // As Keycloak by default: roles only in the access token, read from there.
    let mut provider = OidcOptions::default();
    provider
        .extra
        .insert("roles_in_id_token".into(), json!(false));
    let stack = OidcStack::start(
        StackOptions {
            provider,
            token_proxy: true,
            ..StackOptions::default()
        }
        .set("authorization.allowed_roles", vec!["admin"]),
    )
    .await;

    // Control: alice's roles come from her own access token.
    let (_, page) = sign_in_swapped(&stack, ALICE, "alice unchanged", async |_: &str| {
        stack.proxy().arm("alice unchanged", |body| body);
    })
    .await;
    assert_eq!(
        (callback_status(&page), page.status),
        (302, 200),
        "alice holds admin in her access token and should pass allowed_roles = [admin]:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("access token")
    );

    // bob's sign-in, answered with bob's ID token and alice's access token.
    let label = "bob's ID token with alice's access token";
    let (browser, page) = sign_in_swapped(&stack, BOB, label, async |_: &str| {
        let alice =
            provider_tokens(stack.provider(), (CLIENT_ID, CLIENT_SECRET), ALICE, "n-a").await;
        let access = alice["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jwt::claims(&access)["sub"], ALICE_SUB);
        stack.proxy().arm(label, move |mut body| {
            body["access_token"] = json!(access);
            body
        });
    })
    .await;
    assert_eq!(
        callback_status(&page),
        403,
        "{label}: alice's roles must not count for bob (403 expected):\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("access token")
    );
    assert!(browser.session_cookies().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Refresh: the session stays alice's or ends

/// Lookalike: refresh answers about another user swapped in by the token proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_about_someone_else_ends_the_session() {
    let stack = OidcStack::start(
        StackOptions {
            token_proxy: true,
            ..StackOptions::default()
        }
        // Access tokens live 300 s: every request more than a second after the last refresh
        // refreshes.
        .set("oidc.refresh_before_expiry", "299s"),
    )
    .await;
    let bob = provider_tokens(stack.provider(), (CLIENT_ID, CLIENT_SECRET), BOB, "n-b").await;
    let bob_access = bob["access_token"].as_str().unwrap().to_owned();

    type Mutation = Box<dyn FnOnce(Value) -> Value + Send>;
    let cases: Vec<(&str, Mutation, bool)> = vec![
        (
            "control: as the provider answered",
            Box::new(|body| body),
            true,
        ),
        (
            "control: no ID token, alice's own access token",
            Box::new(|mut body: Value| {
                body.as_object_mut().unwrap().remove("id_token");
                body
            }),
            true,
        ),
        (
            "bob's tokens",
            Box::new({
                let bob = bob.clone();
                move |_| bob
            }),
            false,
        ),
        (
            "no ID token, bob's access token",
            Box::new(move |mut body: Value| {
                body.as_object_mut().unwrap().remove("id_token");
                body["access_token"] = json!(bob_access);
                body
            }),
            false,
        ),
    ];
    let mut problems = Problems::default();
    for (label, mutation, stays) in cases {
        let browser = Browser::new();
        stack.login(&browser, "/app/", ALICE).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stack.proxy().arm_refresh(label, mutation);
        let hits = stack.upstream.hits();
        let page = browser.get(&stack.url("/app/")).await;
        let applied = stack.proxy().applied().last().cloned();
        problems.check(applied.as_deref() == Some(label), || {
            format!(
                "{label}: no refresh went through the proxy: {:#?}",
                stack.proxy().seen()
            )
        });
        if stays {
            problems.check(
                page.status == 200 && at_app(&page, "X-Auth-Request-User") == ["alice"],
                || {
                    format!(
                        "{label}: alice should go on as alice:\n{}\n{}",
                        page.describe(),
                        page.body
                    )
                },
            );
        } else {
            problems.check(page.status != 200 && stack.upstream.hits() == hits, || {
                format!(
                    "{label}: the session must end, not reach the app (as anyone):\n{}\n{}\n{}",
                    page.describe(),
                    page.body,
                    stack.sekisho_log_excerpt("refresh")
                )
            });
            let info = stack.userinfo(&browser).await;
            problems.check(info.status == 401, || {
                format!(
                    "{label}: /oauth2/userinfo afterwards should be 401:\n{}",
                    info.describe()
                )
            });
        }
    }
    problems.assert_none("refresh results about other users");
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens: access tokens only

/// Lookalike: tokens re-signed with arbitrary claims by the provider's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_current_access_tokens_open_the_app_as_bearer_tokens() {
    let stack =
        OidcStack::start(StackOptions::default().set("oidc.accept_bearer_tokens", true)).await;
    let tokens = provider_tokens(stack.provider(), (CLIENT_ID, CLIENT_SECRET), ALICE, "n-1").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let access_claims = jwt::claims(&access);
    let resign = |edit: fn(&mut Value), from: &Value| {
        let mut claims = from.clone();
        edit(&mut claims);
        stack.provider().sign(&claims, "JWT")
    };
    let id_claims = jwt::claims(&id_token);
    type Edit = fn(&mut Value);
    let cases: Vec<(String, String, bool)> = vec![
        ("control: the access token".into(), access.clone(), true),
        (
            "control: the access token's claims re-signed".into(),
            resign(|_| {}, &access_claims),
            true,
        ),
        (
            "control: the access token with a nonce, as Keycloak up to 24 issues them".into(),
            resign(|c| c["nonce"] = json!("n-1"), &access_claims),
            true,
        ),
        (
            "an unlabelled token with a scope and a nonce".into(),
            resign(
                |c| {
                    c.as_object_mut().unwrap().remove("typ");
                    c["nonce"] = json!("n-1");
                },
                &access_claims,
            ),
            false,
        ),
        ("the ID token (typ ID)".into(), id_token.clone(), false),
        (
            "the ID token without typ and nonce, as a refreshed one from another provider".into(),
            resign(
                (|c| {
                    let c = c.as_object_mut().unwrap();
                    c.remove("typ");
                    c.remove("nonce");
                }) as Edit,
                &id_claims,
            ),
            false,
        ),
        (
            "access token issued ten minutes ahead (iat)".into(),
            resign(|c| c["iat"] = json!(now() + 600), &access_claims),
            false,
        ),
        (
            "access token not valid for ten minutes (nbf)".into(),
            resign(|c| c["nbf"] = json!(now() + 600), &access_claims),
            false,
        ),
        (
            "access token without exp".into(),
            resign(
                |c| {
                    c.as_object_mut().unwrap().remove("exp");
                },
                &access_claims,
            ),
            false,
        ),
        (
            "access token with typ ID".into(),
            resign(|c| c["typ"] = json!("ID"), &access_claims),
            false,
        ),
    ];
    let mut problems = Problems::default();
    for (label, token, passes) in cases {
        let hits = stack.upstream.hits();
        let response: Response = Client::new()
            .get(
                stack.nginx.addr(),
                "/app/",
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await;
        if passes {
            problems.check(
                response.status == 200
                    && echoed_header_all(&response.body, "X-Auth-Request-User") == ["alice"],
                || {
                    format!(
                        "{label}: should reach the app as alice: {response:?}\n{}",
                        stack.sekisho_log_excerpt("bearer")
                    )
                },
            );
        } else {
            problems.check(
                response.status != 200 && stack.upstream.hits() == hits,
                || format!("{label}: must not reach the app: {response:?}"),
            );
        }
    }
    problems.assert_none("bearer tokens through nginx");
}
