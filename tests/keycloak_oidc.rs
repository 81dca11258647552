//! OpenID Connect against the real Keycloak (the run's, see `tests/common/keycloak.rs`): headless
//! Chromium or the scripted browser on Keycloak's own sign-in page, through nginx
//! (`config/nginx/oidc.conf`) and Sekisho, each test in a realm of its own made from
//! `config/keycloak/demo-realm.json`:
//!
//! - sign-in: a wrong password stays on Keycloak's form without a session;
//! - identity: the headers, groups (the Group Membership mapper's full path on and off) and
//!   realm and client roles of Keycloak's real tokens, and the `allowed_*` narrowing on them;
//!   Keycloak's access token passed on with `oidc.pass_access_token`;
//! - authorization: the admins location and a global group policy refuse bob with 403 after
//!   one trip to Keycloak, never a loop back to its sign-in; a narrowing query that narrows
//!   nothing is a 400;
//! - refresh, with a 10 s `accessTokenLifespan` and Keycloak's event log counting the grants:
//!   concurrent requests refresh once (refresh tokens revoked on use or not), nginx passes
//!   every chunk of the refreshed session on, a user who left a group loses its location at
//!   the next refresh, a session an admin ended ends there too;
//! - sign-out at Keycloak's end-session endpoint: no confirmation page, back to Sekisho, both
//!   sessions gone.
//!
//! Keycloak marks its cookies `Secure` even over plain http; the scripted browser is told to
//! keep them from Keycloak's loopback origin, as Chromium does ([`keycloak_browser`]).
//!
//! Needs the run's Keycloak (`./scripts/test` starts one), Chromium and the browser driver;
//! fails, saying how to get them, without.

mod common;

use std::time::{Duration, Instant};

use common::browser_client::{Browser, Page, is_session_cookie};
use common::browser_driver::{self, app_cookies};
use common::http::{Client, Response};
use common::keycloak::{Keycloak, OIDC_CLIENT, Realm};
use common::oidc_stack::{ALICE, BOB, OidcStack, StackOptions};
use common::problems::Problems;
use common::token_proxy::jwt;
use common::upstream::echoed_header_all;
use serde_json::{Value, json};

/// Signs `user` in with Chromium at `path` on the stack, on Keycloak's sign-in page; returns
/// the driver's result (page text, cookies), asserting it came back to `path`.
async fn chromium_sign_in(stack: &OidcStack, path: &str, user: (&str, &str), shot: &str) -> Value {
    browser_driver::chromium_sign_in(stack, path, user, ("keycloak_oidc", shot), json!({})).await
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

    let cookie = app_cookies(&result);
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

// ---------------------------------------------------------------------------------------------
// Helpers

/// The identity headers the app received, from its echo body.
fn assert_identity_at_app(body: &str, user: &str, email: &str, groups: &str) {
    let mut problems = Problems::default();
    for (header, want) in [
        ("X-Auth-Request-User", user),
        ("X-Auth-Request-Preferred-Username", user),
        ("X-Auth-Request-Email", email),
        ("X-Auth-Request-Email-Verified", "true"),
        ("X-Auth-Request-Groups", groups),
    ] {
        let got = echoed_header_all(body, header);
        problems.check(got == [want], || {
            format!("{header} at the app: {got:?}, want {want:?}")
        });
    }
    problems.assert_none(&format!("identity headers from Keycloak's tokens:\n{body}"));
}

/// `GET path` straight to Sekisho with `cookie`.
async fn sekisho_with_cookie(stack: &OidcStack, path: &str, cookie: &str) -> Response {
    stack.sekisho_get(path, &[("Cookie", cookie)]).await
}

/// The strings of the JSON array `value`.
fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Sets `full.path` of the `sekisho` client's Group Membership mapper (`groups`): on, Keycloak
/// sends `/admins`; off, `admins`.
async fn set_group_full_path(realm: &Realm, full_path: bool) {
    let client = realm.client_uuid(OIDC_CLIENT).await;
    let mappers = realm
        .get(&format!("clients/{client}/protocol-mappers/models"))
        .await;
    let mut mapper = mappers
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["protocolMapper"] == "oidc-group-membership-mapper")
        .cloned()
        .unwrap_or_else(|| panic!("the sekisho client has no group mapper: {mappers}"));
    mapper["config"]["full.path"] = json!(full_path.to_string());
    let id = mapper["id"].as_str().expect("a mapper id").to_owned();
    realm
        .call(
            "PUT",
            &format!("clients/{client}/protocol-mappers/models/{id}"),
            Some(&mapper),
        )
        .await;
}

/// A scripted browser that keeps Keycloak's cookies: Keycloak marks them `Secure` even over
/// plain http, and real browsers keep them from a loopback origin.
fn keycloak_browser(realm: &Realm) -> Browser {
    Browser::new().with_secure_origin(&realm.keycloak.url)
}

/// Signs `who` in with a fresh scripted browser at `path`; the page the browser ends on
/// (whatever its status), asserting it is `path` and that Keycloak showed its form.
async fn scripted_sign_in(
    realm: &Realm,
    stack: &OidcStack,
    path: &str,
    who: (&str, &str),
) -> (Browser, Page) {
    let browser = keycloak_browser(realm);
    let form = browser.navigate(&stack.url(path)).await;
    let page = browser.sign_in(&form, who.0, who.1).await;
    assert_eq!(
        page.url.as_str(),
        stack.url(path),
        "after signing in as {} at Keycloak the browser should be back at {path}:\n{}\n{}",
        who.0,
        page.describe(),
        stack.sekisho_log_excerpt("callback")
    );
    (browser, page)
}

// ---------------------------------------------------------------------------------------------
// Identity: Keycloak's claims as headers, groups and roles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_groups_and_roles_come_from_keycloaks_tokens() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-identity", |_| {}).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let result = chromium_sign_in(&stack, "/app/who", ALICE, "alice-identity").await;
    assert_identity_at_app(
        result["text"].as_str().unwrap_or_default(),
        "alice",
        "alice@example.com",
        "/admins",
    );

    let cookie = app_cookies(&result);
    let info = sekisho_with_cookie(&stack, "/oauth2/userinfo", &cookie).await;
    assert_eq!(info.status, 200, "userinfo: {info:?}");
    let info: Value = serde_json::from_str(&info.body).expect("userinfo is JSON");
    let roles = strings(&info["roles"]);
    assert!(
        roles.contains(&"admin") && roles.contains(&"editor"),
        "alice's realm role admin (realm_access) and client role editor \
         (resource_access.sekisho), from Keycloak's access token: {info}"
    );
    assert_eq!(strings(&info["groups"]), ["/admins"], "userinfo: {info}");

    // The narrowing parameters against Keycloak's claims: realm and client roles, the group
    // with or without its leading slash, and what alice lacks.
    let mut problems = Problems::default();
    for (query, want) in [
        ("allowed_roles=admin", 202),
        ("allowed_roles=editor", 202),
        ("allowed_roles=default-roles-nobody,editor", 202),
        ("allowed_roles=viewer", 403),
        ("allowed_groups=admins", 202),
        ("allowed_groups=/admins", 202),
        ("allowed_groups=dev", 403),
        ("allowed_groups=admins&allowed_roles=viewer", 403),
    ] {
        let response = sekisho_with_cookie(&stack, &format!("/oauth2/auth?{query}"), &cookie).await;
        problems.check(response.status == want, || {
            format!(
                "/oauth2/auth?{query} for alice: {} (want {want}): {response:?}",
                response.status
            )
        });
    }
    problems.assert_none("alice's groups and roles from Keycloak");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_without_their_full_path_still_narrow_locations() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-groupname", |_| {}).await;
    set_group_full_path(&realm, false).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let (alice, page) = scripted_sign_in(&realm, &stack, "/admin/reports", ALICE).await;
    assert_eq!(page.status, 200, "alice at /admin/:\n{}", page.describe());
    assert_identity_at_app(&page.body, "alice", "alice@example.com", "admins");
    let info = stack.userinfo(&alice).await.json();
    assert_eq!(strings(&info["groups"]), ["admins"], "userinfo: {info}");

    let (bob, page) = scripted_sign_in(&realm, &stack, "/admin/reports", BOB).await;
    assert_eq!(
        page.status,
        403,
        "bob (group dev) at /admin/ should get 403:\n{}",
        page.describe()
    );
    let page = bob.navigate(&stack.url("/app/")).await;
    assert_eq!(page.status, 200, "bob elsewhere:\n{}", page.describe());
    assert_identity_at_app(&page.body, "bob", "bob@example.com", "dev");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stays_on_keycloaks_form_without_a_session() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-wrongpw", |_| {}).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;
    let browser = keycloak_browser(&realm);
    let target = stack.url("/app/page?x=1");

    let form = browser.navigate(&target).await;
    let again = browser.sign_in(&form, ALICE.0, "not-alices-password").await;
    assert!(
        again.status == 200
            && again.login_form().is_some()
            && again.url.as_str().starts_with(&realm.issuer()),
        "a wrong password should show Keycloak's sign-in form again:\n{}",
        again.describe()
    );
    assert!(
        again.body.contains("Invalid username or password."),
        "Keycloak's error message:\n{}",
        again.describe()
    );
    stack
        .assert_no_session(&browser, "after a wrong password")
        .await;
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the app must not be reached without signing in"
    );

    // The right password on the same form still works.
    let page = browser.sign_in(&again, ALICE.0, ALICE.1).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, target.as_str()),
        "the right password after a wrong one:\n{}",
        page.describe()
    );
    assert_identity_at_app(&page.body, "alice", "alice@example.com", "/admins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_passed_on_when_asked() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-passtoken", |_| {}).await;
    let stack = realm
        .oidc_stack(StackOptions::default().set("oidc.pass_access_token", true))
        .await;
    let (browser, _) = scripted_sign_in(&realm, &stack, "/app/", ALICE).await;
    let cookie = browser
        .cookie_header(&stack.url("/oauth2/auth"))
        .unwrap_or_default();
    let auth = sekisho_with_cookie(&stack, "/oauth2/auth", &cookie).await;
    assert_eq!(auth.status, 202, "{auth:?}");
    let token = auth
        .header("x-auth-request-access-token")
        .unwrap_or_else(|| {
            panic!("pass_access_token = true: the 202 should carry X-Auth-Request-Access-Token: {auth:?}")
        });
    let claims = jwt::claims(token);
    assert_eq!(
        (
            claims["iss"].as_str(),
            claims["azp"].as_str(),
            claims["typ"].as_str(),
            claims["preferred_username"].as_str()
        ),
        (
            Some(realm.issuer().as_str()),
            Some(OIDC_CLIENT),
            Some("Bearer"),
            Some("alice")
        ),
        "X-Auth-Request-Access-Token should be alice's access token from Keycloak: {claims}"
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization: who may pass once signed in at Keycloak

/// How many times the navigation of `page` went to Keycloak's authorization endpoint.
fn authorization_visits(page: &Page, realm: &Realm) -> usize {
    let auth = realm.oidc_endpoint("auth");
    page.hops
        .iter()
        .filter(|hop| hop.url.as_str().starts_with(&auth))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_location_admits_alice_and_refuses_bob_with_403_not_a_sign_in_loop() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-narrowed", |_| {}).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;

    let (_alice, page) = scripted_sign_in(&realm, &stack, "/admin/reports?y=2", ALICE).await;
    assert_eq!(page.status, 200, "alice at /admin/:\n{}", page.describe());
    assert_identity_at_app(&page.body, "alice", "alice@example.com", "/admins");

    // bob signs in fine, but /admin/ (auth_request → /oauth2/auth?allowed_groups=admins) is
    // for admins: 403, once, not another trip to Keycloak.
    let (bob, page) = scripted_sign_in(&realm, &stack, "/admin/reports?y=2", BOB).await;
    assert_eq!(
        (page.status, authorization_visits(&page, &realm)),
        (403, 1),
        "bob (group /dev) at /admin/ should get 403 after one sign-in:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("/oauth2/auth")
    );
    let again = bob.navigate(&stack.url("/admin/other")).await;
    assert_eq!(
        (again.status, again.hops.len()),
        (403, 1),
        "bob at /admin/ again: 403 straight away, no sign-in:\n{}",
        again.describe()
    );
    let elsewhere = bob.navigate(&stack.url("/app/")).await;
    assert_eq!(
        (elsewhere.status, elsewhere.hops.len()),
        (200, 1),
        "bob may use the rest of the site:\n{}",
        elsewhere.describe()
    );
    assert_identity_at_app(&elsewhere.body, "bob", "bob@example.com", "/dev");
    // bob's realm roles (only the defaults) and client roles (none), asked directly.
    let cookie = bob
        .cookie_header(&stack.url("/oauth2/auth"))
        .unwrap_or_default();
    let mut problems = Problems::default();
    let default_roles = format!("allowed_roles=default-roles-{}", realm.name);
    for (query, want) in [
        ("allowed_roles=admin", 403),
        ("allowed_roles=editor", 403),
        (default_roles.as_str(), 202),
        ("allowed_groups=admins,dev", 202),
        ("allowed_groups=admins,dev&allowed_roles=editor", 403),
        // A query that would narrow nothing (a typo, a repeated key, a value an nginx
        // variable left empty) is a misconfigured location: refused for everyone, never a
        // pass for every signed-in user.
        ("allowed_group=admins", 400),
        ("allowed_groups=admins&allowed_groups=dev", 400),
        ("allowed_groups=", 400),
        ("allowed_groups=dev&allowed_roles=", 400),
    ] {
        let response = sekisho_with_cookie(&stack, &format!("/oauth2/auth?{query}"), &cookie).await;
        problems.check(response.status == want, || {
            format!(
                "/oauth2/auth?{query} for bob: {} (want {want}): {response:?}",
                response.status
            )
        });
    }
    problems.assert_none("bob's groups and roles from Keycloak");
    let bob_at_admin = stack
        .upstream
        .received()
        .into_iter()
        .filter(|r| {
            r.target.starts_with("/admin/") && r.header("X-Auth-Request-User") == Some("bob")
        })
        .count();
    assert_eq!(bob_at_admin, 0, "the app must never see bob under /admin/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_group_policy_refuses_bob_at_the_callback_with_403_not_a_sign_in_loop() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-policy", |_| {}).await;
    // Keycloak's full group path in the policy: the leading slash is optional.
    let stack = realm
        .oidc_stack(StackOptions::default().set("authorization.allowed_groups", vec!["/admins"]))
        .await;

    let bob = keycloak_browser(&realm);
    let form = bob.navigate(&stack.url("/app/")).await;
    let page = bob.sign_in(&form, BOB.0, BOB.1).await;
    let callback = page
        .hop("/oauth2/callback")
        .unwrap_or_else(|| panic!("bob never came back to the callback:\n{}", page.describe()));
    assert_eq!(
        (
            callback.status,
            page.status,
            authorization_visits(&page, &realm)
        ),
        (403, 403, 1),
        "with [authorization] allowed_groups = [\"/admins\"], bob's callback should answer 403:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("callback")
    );
    let text = page.body.to_lowercase();
    assert!(
        text.contains("bob") && text.contains("not allowed"),
        "the 403 page should say bob is signed in but not allowed:\n{}",
        page.body
    );
    stack
        .assert_no_session(&bob, "bob refused by the global policy")
        .await;
    // Keycloak still holds bob's session: a new visit comes straight back, refused again,
    // once (no loop between Sekisho and Keycloak).
    let again = bob.navigate(&stack.url("/app/again")).await;
    assert_eq!(
        (again.status, authorization_visits(&again, &realm)),
        (403, 1),
        "bob again, signed in at Keycloak already:\n{}",
        again.describe()
    );
    assert_eq!(stack.upstream.hits(), 0, "the app must not see bob");

    // The 403 page's "sign out" must end bob's Keycloak session too, or this browser can
    // never sign in as anyone else: Keycloak would sign bob in again at once.
    let sign_out = sign_out_link(&again);
    let sign_out = match sign_out.starts_with('/') {
        true => stack.url(&sign_out),
        false => sign_out,
    };
    let page = bob.navigate(&sign_out).await;
    assert!(
        page.login_form().is_some(),
        "after the 403 page's sign-out ({sign_out}), the next sign-in should show Keycloak's \
         form, not sign bob in again:\n{}",
        page.describe()
    );
    realm
        .wait_until(
            "bob's Keycloak session ends",
            Duration::from_secs(10),
            || async { realm.sessions("bob").await.is_empty() },
        )
        .await;
    let page = bob.sign_in(&page, ALICE.0, ALICE.1).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, stack.url("/app/again").as_str()),
        "alice signs in in the browser bob used:\n{}",
        page.describe()
    );
    assert_identity_at_app(&page.body, "alice", "alice@example.com", "/admins");
}

/// The href of the "sign out" button of Sekisho's "not allowed" page, relative to the site
/// (or absolute), HTML entities decoded.
fn sign_out_link(page: &Page) -> String {
    let start = page
        .body
        .find("class=\"btn\" href=\"")
        .map(|i| i + "class=\"btn\" href=\"".len())
        .unwrap_or_else(|| panic!("no button on the page:\n{}", page.describe()));
    let href = &page.body[start..];
    let href = &href[..href.find('"').unwrap_or(href.len())];
    href.replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------------
// Refresh: Keycloak's short-lived access tokens

/// Access tokens of the refresh tests' realms live this long (`accessTokenLifespan`).
const ACCESS_TTL: u64 = 10;
/// Sekisho refreshes this long before they expire: 5 to 6 s after issue (whole seconds).
const REFRESH_MARGIN: &str = "5s";
/// When, after an access token was issued, it is surely due and surely not expired.
const DUE_AFTER: Duration = Duration::from_millis(6_500);

/// A realm whose access tokens live [`ACCESS_TTL`], with Keycloak's event log on (so the
/// test can count refresh grants); `rotate` turns on `revokeRefreshToken` (each refresh
/// token works once, a second use is refused).
async fn short_token_realm(keycloak: &Keycloak, prefix: &str, rotate: bool) -> Realm {
    keycloak
        .create_realm(prefix, |realm| {
            realm["accessTokenLifespan"] = json!(ACCESS_TTL);
            realm["revokeRefreshToken"] = json!(rotate);
            realm["refreshTokenMaxReuse"] = json!(0);
            realm["eventsEnabled"] = json!(true);
            realm["enabledEventTypes"] = json!([
                "LOGIN",
                "CODE_TO_TOKEN",
                "REFRESH_TOKEN",
                "REFRESH_TOKEN_ERROR",
                "LOGOUT"
            ]);
        })
        .await
}

/// A stack refreshing [`REFRESH_MARGIN`] before the access token expires.
async fn refreshing_stack(realm: &Realm) -> OidcStack {
    realm
        .oidc_stack(StackOptions::default().set("oidc.refresh_before_expiry", REFRESH_MARGIN))
        .await
}

/// How many events of `kind` (`REFRESH_TOKEN`, `REFRESH_TOKEN_ERROR`) Keycloak logged.
async fn events(realm: &Realm, kind: &str) -> usize {
    realm
        .get(&format!("events?type={kind}&max=1000"))
        .await
        .as_array()
        .map_or(0, Vec::len)
}

/// Refresh grants and refused refresh grants Keycloak logged, once `want` grants (at least)
/// are in its event log (it writes them as it answers, polled to be sure).
async fn refreshes(realm: &Realm, want: usize) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let counts = (
            events(realm, "REFRESH_TOKEN").await,
            events(realm, "REFRESH_TOKEN_ERROR").await,
        );
        if counts.0 >= want || Instant::now() >= deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `response` sets Sekisho's session cookie (a refresh happened in it).
fn sets_session(response: &Response) -> bool {
    response.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("set-cookie")
            && is_session_cookie(value.split('=').next().unwrap_or_default())
    })
}

/// 20 concurrent `/oauth2/auth` straight to Sekisho with `cookie`; the answers in order.
async fn auth_burst(stack: &OidcStack, cookie: &str) -> Vec<Response> {
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (addr, cookie) = (stack.sekisho.addr(), cookie.to_owned());
        burst.spawn(async move {
            let id = format!("keycloak-burst-{i}");
            let headers = [("Cookie", cookie.as_str()), ("X-Request-Id", id.as_str())];
            (i, Client::new().get(addr, "/oauth2/auth", &headers).await)
        });
    }
    let mut answers = burst.join_all().await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// Signs alice in, lets her access token become due, sends 20 concurrent requests with the
/// same session: all pass, Keycloak sees one refresh grant. Then the refreshed session goes
/// through nginx to the browser, and the next due refresh happens through nginx too. Returns
/// the refresh grants Keycloak counted (done, refused) and Sekisho's log about them.
async fn concurrent_requests_refresh_once(prefix: &str, rotate: bool) -> ((usize, usize), String) {
    let keycloak = Keycloak::shared();
    let realm = short_token_realm(&keycloak, prefix, rotate).await;
    let stack = refreshing_stack(&realm).await;
    let (browser, _) = scripted_sign_in(&realm, &stack, "/app/", ALICE).await;
    let signed_in = Instant::now();
    assert_eq!(refreshes(&realm, 0).await, (0, 0), "no refresh at sign-in");

    tokio::time::sleep_until((signed_in + DUE_AFTER).into()).await;
    let cookie = browser
        .cookie_header(&stack.url("/oauth2/auth"))
        .expect("the browser has Sekisho's cookies");
    let answers = auth_burst(&stack, &cookie).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|&s| s == 202)
            && answers
                .iter()
                .all(|r| r.header("x-auth-request-user") == Some("alice")),
        "20 concurrent /oauth2/auth due for refresh should all pass as alice: {statuses:?}\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
    assert_eq!(
        refreshes(&realm, 1).await,
        (1, 0),
        "Keycloak (revokeRefreshToken {rotate}) should see ONE refresh grant and no refused \
         one for 20 concurrent requests\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
    let refreshed = answers
        .iter()
        .find(|r| sets_session(r))
        .unwrap_or_else(|| panic!("no 202 carried the refreshed session: {:?}", answers[0]));
    browser.accept_cookies(&stack.url("/oauth2/auth"), refreshed);
    let page = browser.navigate(&stack.url("/app/after-refresh")).await;
    let refreshed_at = Instant::now();
    assert_eq!(
        (page.status, page.hops.len()),
        (200, 1),
        "the refreshed session goes straight through:\n{}",
        page.describe()
    );

    // Due again: refreshed during nginx's auth_request, the new session passed on by nginx.
    tokio::time::sleep_until((refreshed_at + DUE_AFTER).into()).await;
    let chunks: Vec<String> = browser
        .session_cookies()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let page = browser.navigate(&stack.url("/app/through-nginx")).await;
    assert_eq!(
        (page.status, page.hops.len()),
        (200, 1),
        "a request due for refresh through nginx:\n{}",
        page.describe()
    );
    let set_cookies = page.hops[0].set_cookie_names();
    assert!(
        !chunks.is_empty() && chunks.iter().all(|c| set_cookies.contains(c)),
        "nginx should pass on every chunk of the refreshed session ({chunks:?}), passed \
         {set_cookies:?} (auth_request_set with $upstream_http_set_cookie keeps only the FIRST \
         Set-Cookie line; config/nginx/oidc.conf forwards _sekisho_1.._sekisho_3 by name):\n{}",
        page.describe()
    );
    let page = browser
        .navigate(&stack.url("/app/after-nginx-refresh"))
        .await;
    assert_eq!(
        (page.status, page.hops.len()),
        (200, 1),
        "{}",
        page.describe()
    );
    (
        refreshes(&realm, 2).await,
        stack.sekisho_log_excerpt("refresh"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_across_a_refresh_all_pass_with_one_refresh_at_keycloak() {
    let (grants, log) = concurrent_requests_refresh_once("oidc-refresh", false).await;
    assert_eq!(
        grants,
        (2, 0),
        "two refresh grants in all, none refused\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_refresh_tokens_revoked_on_use_concurrent_requests_still_refresh_once() {
    let (grants, log) = concurrent_requests_refresh_once("oidc-rotate", true).await;
    assert_eq!(
        grants,
        (2, 0),
        "two refresh grants in all, none refused\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_the_admins_group_loses_the_admins_location_at_the_next_refresh() {
    let keycloak = Keycloak::shared();
    let realm = short_token_realm(&keycloak, "oidc-leave", true).await;
    let stack = refreshing_stack(&realm).await;
    let (browser, page) = scripted_sign_in(&realm, &stack, "/admin/a", ALICE).await;
    let signed_in = Instant::now();
    assert_eq!(page.status, 200, "alice at /admin/:\n{}", page.describe());

    realm.leave_group("alice", "/admins").await;
    // The session holds the groups of the tokens it has: until they are refreshed, alice
    // still passes.
    let page = browser.navigate(&stack.url("/admin/b")).await;
    assert_eq!(
        (page.status, refreshes(&realm, 0).await),
        (200, (0, 0)),
        "before the refresh is due, alice's session still names /admins:\n{}",
        page.describe()
    );

    tokio::time::sleep_until((signed_in + DUE_AFTER).into()).await;
    let page = browser.navigate(&stack.url("/admin/c")).await;
    assert_eq!(
        (page.status, page.hops.len()),
        (403, 1),
        "at the refresh, Keycloak's new tokens no longer name /admins: 403 (no new sign-in):\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("refresh")
    );
    // The refreshed session comes with the 403: the browser's refresh token was spent (and
    // with revokeRefreshToken, Keycloak ends the login when a spent one is presented again).
    assert!(
        page.hops[0]
            .set_cookie_names()
            .iter()
            .any(|n| is_session_cookie(n)),
        "the 403 should carry the session refreshed while deciding:\n{}",
        page.describe()
    );
    let page = browser.navigate(&stack.url("/app/elsewhere")).await;
    assert_eq!(
        (page.status, page.hops.len()),
        (200, 1),
        "alice may still use the rest of the site:\n{}",
        page.describe()
    );
    assert!(
        page.hops[0].set_cookies.is_empty(),
        "with the session of the 403, nothing is left to refresh:\n{}",
        page.describe()
    );
    assert_eq!(
        echoed_header_all(&page.body, "X-Auth-Request-Groups"),
        Vec::<&str>::new(),
        "no groups any more:\n{}",
        page.body
    );
    let info = stack.userinfo(&browser).await.json();
    assert_eq!(
        strings(&info["groups"]),
        Vec::<&str>::new(),
        "userinfo: {info}"
    );
    assert_eq!(
        refreshes(&realm, 1).await,
        (1, 0),
        "one refresh grant, none refused\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
}

// ---------------------------------------------------------------------------------------------
// Sign-out: RP-initiated logout at Keycloak's end-session endpoint

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_keycloak_session_without_a_confirmation_page() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("oidc-signout", |_| {}).await;
    let stack = realm.oidc_stack(StackOptions::default()).await;
    let (browser, _) = scripted_sign_in(&realm, &stack, "/app/", ALICE).await;
    assert_eq!(
        realm.sessions("alice").await.len(),
        1,
        "alice's Keycloak session"
    );

    // Sekisho → Keycloak's end-session endpoint → back to post_logout_redirect_uri (the app,
    // which now wants a sign-in) → Keycloak's authorization endpoint: its sign-in form.
    let page = browser
        .navigate(&stack.url("/oauth2/sign_out?rd=/app/bye"))
        .await;
    let logout = realm.oidc_endpoint("logout");
    let end_session = page
        .hops
        .iter()
        .find(|hop| hop.url.as_str().starts_with(&logout))
        .unwrap_or_else(|| {
            panic!(
                "/oauth2/sign_out should send the browser to Keycloak's {logout}:\n{}",
                page.describe()
            )
        });
    let bye = stack.url("/app/bye");
    assert!(
        end_session
            .query("id_token_hint")
            .is_some_and(|h| h.split('.').count() == 3)
            && end_session.query("post_logout_redirect_uri").as_deref() == Some(bye.as_str()),
        "the end-session request should carry the ID token and post_logout_redirect_uri {bye}: {}",
        end_session.url
    );
    assert!(
        matches!(end_session.status, 302 | 303)
            && end_session.location.as_deref() == Some(bye.as_str()),
        "Keycloak should end the session at once (id_token_hint given: no confirmation page) \
         and send the browser back to {bye}:\n{}",
        page.describe()
    );
    assert!(
        page.login_form().is_some() && page.url.as_str().starts_with(&realm.oidc_endpoint("auth")),
        "back at {bye}, without a session, the browser should land on Keycloak's sign-in form \
         (no instant sign-in: Keycloak's session is gone):\n{}",
        page.describe()
    );
    realm
        .wait_until(
            "alice's Keycloak sessions end",
            Duration::from_secs(10),
            || async { realm.sessions("alice").await.is_empty() },
        )
        .await;
    stack
        .assert_no_session(&browser, "after signing out at Keycloak")
        .await;

    let again = browser.sign_in(&page, ALICE.0, ALICE.1).await;
    assert_eq!(
        (again.status, again.url.as_str()),
        (200, bye.as_str()),
        "signing in again:\n{}",
        again.describe()
    );
    assert_identity_at_app(&again.body, "alice", "alice@example.com", "/admins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_an_admin_ended_at_keycloak_ends_at_the_next_refresh() {
    let keycloak = Keycloak::shared();
    let realm = short_token_realm(&keycloak, "oidc-ended", false).await;
    let stack = refreshing_stack(&realm).await;
    let (browser, _) = scripted_sign_in(&realm, &stack, "/app/", ALICE).await;
    let signed_in = Instant::now();

    // Sessions in cookies: Sekisho cannot end them when Keycloak says so (its back-channel
    // logout needs Redis), so the cookie passes until its access token is due.
    realm.logout_user("alice").await;
    let page = browser.navigate(&stack.url("/app/before")).await;
    assert_eq!(
        (page.status, page.hops.len()),
        (200, 1),
        "until the refresh is due the cookie session stands:\n{}",
        page.describe()
    );

    tokio::time::sleep_until((signed_in + DUE_AFTER).into()).await;
    let page = browser.navigate(&stack.url("/app/after")).await;
    assert!(
        page.login_form().is_some() && page.url.as_str().starts_with(&realm.oidc_endpoint("auth")),
        "Keycloak refuses the refresh of an ended session: the browser is sent to sign in \
         again, and Keycloak shows its form (its own session is gone too):\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("refresh")
    );
    // The dead cookie stays in the browser until the next sign-in replaces it, refused
    // without asking Keycloak again.
    let info = stack.userinfo(&browser).await;
    assert_eq!(
        info.status,
        401,
        "userinfo after the refused refresh:\n{}",
        info.describe()
    );
    assert_eq!(
        refreshes(&realm, 0).await,
        (0, 1),
        "one refused refresh grant at Keycloak, the dead refresh token not presented again\n{}",
        stack.sekisho_log_excerpt("refresh")
    );

    let again = browser.sign_in(&page, ALICE.0, ALICE.1).await;
    assert_eq!(
        (again.status, again.url.as_str()),
        (200, stack.url("/app/after").as_str()),
        "signing in again:\n{}",
        again.describe()
    );
}
