//! Bearer tokens and signing keys against the real Keycloak (the run's, see
//! `tests/common/keycloak.rs`), each test in a realm of its own made from
//! `config/keycloak/demo-realm.json`.
//!
//! API clients: a CLI such as kubelogin signs in at Keycloak with a public client of its own
//! and sends the access token to `/oauth2/auth` as `Authorization: Bearer`. Sekisho accepts it
//! (with `oidc.accept_bearer_tokens`) when `aud` or `azp` names one of `oidc.bearer_audiences`
//! (default: its own client id, `sekisho`). Keycloak puts a client in `aud` in two ways: an
//! *Audience* mapper on the CLI's client ("Included Client Audience: sekisho", the way the
//! README tells users to set it up), or, without one, because the user holds client roles of
//! `sekisho` and the CLI's client has "Full scope allowed" on (Keycloak's "audience resolve":
//! the token is for every client whose roles it carries). Both are shown here.
//!
//! Key rotation: a new RSA key added through the admin API and the old one disabled, with no
//! restart of Sekisho: a token with a `kid` Sekisho has not seen reloads the realm's keys.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one); fails, saying how to get one,
//! without.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::browser_client::Browser;
use common::http::Response;
use common::keycloak::{Keycloak, OIDC_CLIENT, Realm, consent_form};
use common::oidc_stack::{ALICE, BOB, OidcStack, StackOptions};
use common::problems::Problems;
use common::token_proxy::jwt;
use serde_json::{Value, json};

/// The CLI's public client, as kubelogin's setup guides create it.
const CLI_CLIENT: &str = "kubectl";
/// A public client of another tool, with no audience mapper.
const OTHER_CLIENT: &str = "other-cli";

/// A public client for a command-line tool: no secret, the password grant on ("Direct access
/// grants" in the console; kubelogin's `--grant-type=password`), the browser flow off. With
/// `audience`, an Audience mapper puts that client in the access token's `aud`; a Group
/// Membership mapper gives the token the user's groups (Keycloak adds none by default).
fn cli_client(client_id: &str, audience: Option<&str>, full_scope: bool) -> Value {
    let mut mappers = vec![json!({
        "name": "groups",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-group-membership-mapper",
        "config": {"claim.name": "groups", "full.path": "true", "access.token.claim": "true",
                   "id.token.claim": "false", "userinfo.token.claim": "true"}
    })];
    if let Some(audience) = audience {
        mappers.push(json!({
            "name": format!("audience {audience}"),
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {"included.client.audience": audience, "access.token.claim": "true",
                       "id.token.claim": "false"}
        }));
    }
    json!({
        "clientId": client_id,
        "enabled": true,
        "protocol": "openid-connect",
        "publicClient": true,
        "standardFlowEnabled": false,
        "directAccessGrantsEnabled": true,
        "fullScopeAllowed": full_scope,
        "protocolMappers": mappers,
    })
}

/// The shipped realm plus `clients`, under a fresh name.
async fn realm_with(keycloak: &Keycloak, prefix: &str, clients: Vec<Value>) -> Realm {
    keycloak
        .create_realm(prefix, |realm| {
            let list = realm["clients"]
                .as_array_mut()
                .expect("the realm has clients");
            list.extend(clients);
        })
        .await
}

/// `user`'s tokens from `client_id` with the password grant, as kubelogin gets them.
async fn cli_tokens(realm: &Realm, client_id: &str, user: (&str, &str)) -> Value {
    let answer = realm
        .token_request(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", user.0),
            ("password", user.1),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(
        answer.status, 200,
        "Keycloak should give {} tokens for client {client_id} in realm {}: {}",
        user.0, realm.name, answer.body
    );
    answer.json()
}

async fn cli_access_token(realm: &Realm, client_id: &str, user: (&str, &str)) -> String {
    cli_tokens(realm, client_id, user).await["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A stack (nginx, Sekisho, app) against `realm` that takes bearer tokens, with `settings`.
async fn bearer_stack(realm: &Realm, settings: &[(&str, toml::Value)]) -> OidcStack {
    let mut options = StackOptions::default().set("oidc.accept_bearer_tokens", true);
    for (key, value) in settings {
        options = options.set(key, value.clone());
    }
    realm.oidc_stack(options).await
}

async fn auth_with(stack: &OidcStack, token: &str) -> Response {
    stack
        .sekisho_get(
            "/oauth2/auth",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
fn invalid_token(response: &Response) -> bool {
    let challenge = response.header("www-authenticate").unwrap_or_default();
    response.status == 401
        && challenge.starts_with("Bearer")
        && challenge.contains("error=\"invalid_token\"")
}

/// Sekisho's "bearer token refused" log lines.
fn refusals(stack: &OidcStack) -> Vec<String> {
    stack
        .sekisho
        .log()
        .into_iter()
        .filter(|l| l["message"] == "bearer token refused")
        .map(|l| l["error"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until Sekisho has logged one more refusal than `before`; returns it.
async fn next_refusal(stack: &OidcStack, before: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = refusals(stack);
        if all.len() > before {
            return all[before].clone();
        }
        assert!(
            Instant::now() < deadline,
            "Sekisho should log `bearer token refused` with the reason:\n{}",
            stack.sekisho_log_excerpt("bearer")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts `token` is refused with 401 and a log line whose reason contains `reason`.
async fn assert_refused(
    problems: &mut Problems,
    stack: &OidcStack,
    case: &str,
    token: &str,
    reason: &str,
) {
    let before = refusals(stack).len();
    let response = auth_with(stack, token).await;
    problems.check(invalid_token(&response), || {
        format!(
            "{case}: /oauth2/auth should answer 401 with WWW-Authenticate: Bearer \
             error=\"invalid_token\", got {response:?}"
        )
    });
    if response.status == 401 {
        let challenge = response.header("www-authenticate").unwrap_or_default();
        problems.check(
            challenge.contains("error_description=\"") && challenge.contains(reason),
            || {
                format!(
                    "{case}: the client should be told the short reason `{reason}`: {challenge}"
                )
            },
        );
        let logged = next_refusal(stack, before).await;
        problems.check(logged.contains(reason), || {
            format!("{case}: Sekisho's log should give the reason `{reason}`, it says `{logged}`")
        });
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// A CLI's tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clis_access_token_with_sekisho_in_its_audience_passes_as_a_bearer_token() {
    let keycloak = Keycloak::shared();
    let realm = realm_with(
        &keycloak,
        "tokens-cli",
        vec![cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true)],
    )
    .await;
    let stack = bearer_stack(&realm, &[]).await;

    let tokens = cli_tokens(&realm, CLI_CLIENT, ALICE).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    let claims = jwt::claims(access);
    assert_eq!(
        (claims["azp"].as_str(), claims["typ"].as_str()),
        (Some(CLI_CLIENT), Some("Bearer")),
        "Keycloak's access token for the CLI: {claims}"
    );
    let response = auth_with(&stack, access).await;
    assert_eq!(
        response.status,
        202,
        "alice's access token from client {CLI_CLIENT} (aud {}) should pass: {response:?}\n{}",
        claims["aud"],
        stack.sekisho_log_excerpt("bearer")
    );
    for (header, want) in [
        ("x-auth-request-user", "alice"),
        ("x-auth-request-email", "alice@example.com"),
        ("x-auth-request-groups", "/admins"),
    ] {
        assert_eq!(
            response.header(header),
            Some(want),
            "{header}: {response:?}"
        );
    }

    // The ID token of the same grant names the CLI's client, not Sekisho, and is no access
    // token (typ ID): never a credential here.
    let mut problems = Problems::default();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    assert_refused(&mut problems, &stack, "the CLI's ID token", id_token, "").await;
    problems.assert_none("the CLI's ID token");

    // Without `oidc.accept_bearer_tokens` (the default), the same token alone is no session.
    let off = realm.oidc_stack(StackOptions::default()).await;
    let response = auth_with(&off, access).await;
    assert_eq!(
        response.status, 401,
        "accept_bearer_tokens = false: a bearer token alone must not pass: {response:?}"
    );
}

/// kubelogin's default: the device authorization grant (RFC 8628). The CLI asks for a code,
/// the user opens the verification URL in a browser (here the scripted one), signs in and
/// grants access; the CLI then picks its tokens up at the token endpoint.
async fn device_tokens(realm: &Realm, client_id: &str, user: (&str, &str)) -> Value {
    let http = realm.keycloak.http();
    let start = realm
        .keycloak
        .request(
            http.post(realm.oidc_endpoint("auth/device"))
                .form(&[("client_id", client_id), ("scope", "openid")]),
        )
        .await;
    assert_eq!(start.status, 200, "device authorization: {}", start.body);
    let start = start.json();
    let verification = start["verification_uri_complete"]
        .as_str()
        .expect("verification_uri_complete");
    let device_code = start["device_code"].as_str().expect("device_code");

    let browser = Browser::new().with_secure_origin(&realm.keycloak.url);
    let form = browser.navigate(verification).await;
    let consent = browser.sign_in(&form, user.0, user.1).await;
    let grant = consent_form(&consent).unwrap_or_else(|| {
        panic!(
            "Keycloak should ask {} to grant the device access:\n{}",
            user.0,
            consent.describe()
        )
    });
    let done = browser
        .submit_until(&grant, &[("accept", "Yes")], |_| false)
        .await;
    assert!(
        done.body.contains("Device Login Successful"),
        "Keycloak should confirm the device sign-in:\n{}",
        done.describe()
    );
    let answer = realm
        .token_request(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .await;
    assert_eq!(answer.status, 200, "the device's tokens: {}", answer.body);
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_grant_token_passes_as_a_bearer_token() {
    let keycloak = Keycloak::shared();
    let mut client = cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true);
    client["directAccessGrantsEnabled"] = json!(false);
    client["attributes"] = json!({"oauth2.device.authorization.grant.enabled": "true"});
    let realm = realm_with(&keycloak, "tokens-device", vec![client]).await;
    let stack = bearer_stack(&realm, &[]).await;

    let tokens = device_tokens(&realm, CLI_CLIENT, BOB).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    let response = auth_with(&stack, access).await;
    assert_eq!(
        response.status,
        202,
        "bob's access token from the device grant should pass: {response:?}\n{}",
        stack.sekisho_log_excerpt("bearer")
    );
    assert_eq!(response.header("x-auth-request-user"), Some("bob"));
    assert_eq!(response.header("x-auth-request-groups"), Some("/dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_client_or_from_another_realm_are_refused() {
    let keycloak = Keycloak::shared();
    let realm = realm_with(
        &keycloak,
        "tokens-aud",
        vec![
            cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true),
            // Another tool's client with Keycloak's defaults (full scope) but no audience mapper.
            cli_client(OTHER_CLIENT, None, true),
            // The same, full scope off: only its own roles and mappers reach its tokens.
            cli_client("other-narrow", None, false),
        ],
    )
    .await;
    // Another realm with a client of the same name and mapper: same users, other issuer and keys.
    let other_realm = realm_with(
        &keycloak,
        "tokens-foreign",
        vec![cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true)],
    )
    .await;
    let stack = bearer_stack(&realm, &[]).await;
    let mut problems = Problems::default();

    // Control.
    let good = cli_access_token(&realm, CLI_CLIENT, BOB).await;
    let response = auth_with(&stack, &good).await;
    problems.check(response.status == 202, || {
        format!("control: bob's token from {CLI_CLIENT} should pass: {response:?}")
    });

    // bob holds no role of the `sekisho` client: without a mapper, nothing names Sekisho.
    let other = cli_access_token(&realm, OTHER_CLIENT, BOB).await;
    let claims = jwt::claims(&other);
    problems.check(
        claims
            .get("aud")
            .is_none_or(|aud| !aud.to_string().contains(OIDC_CLIENT)),
        || format!("bob's token for {OTHER_CLIENT} should not name {OIDC_CLIENT} in aud: {claims}"),
    );
    assert_refused(
        &mut problems,
        &stack,
        "bob's token for another client (no audience mapper)",
        &other,
        "audience not accepted",
    )
    .await;
    let narrow = cli_access_token(&realm, "other-narrow", ALICE).await;
    assert_refused(
        &mut problems,
        &stack,
        "alice's token for a client with full scope off and no audience mapper",
        &narrow,
        "audience not accepted",
    )
    .await;

    let foreign = cli_access_token(&other_realm, CLI_CLIENT, BOB).await;
    assert_refused(
        &mut problems,
        &stack,
        "bob's token from another realm",
        &foreign,
        "wrong issuer",
    )
    .await;

    // What Keycloak does that a lookalike would not: alice holds the `sekisho` client's role
    // `editor`, and a full-scope client's tokens carry the audience of every client whose
    // roles they carry. Her token for another tool therefore names Sekisho and passes: the
    // realm's administrators decide, with roles and "Full scope allowed", who the tokens are for.
    let audience_resolved = cli_access_token(&realm, OTHER_CLIENT, ALICE).await;
    let claims = jwt::claims(&audience_resolved);
    problems.check(claims["aud"].to_string().contains(OIDC_CLIENT), || {
        format!("alice's token for {OTHER_CLIENT} should name {OIDC_CLIENT} in aud (Keycloak's audience resolve): {claims}")
    });
    let response = auth_with(&stack, &audience_resolved).await;
    problems.check(response.status == 202, || {
        format!(
            "alice's token for {OTHER_CLIENT} names {OIDC_CLIENT} in aud and should pass: {response:?}"
        )
    });
    problems.assert_none("bearer tokens for others");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_keycloak_token_is_refused() {
    const LIFESPAN: u64 = 2;
    let keycloak = Keycloak::shared();
    let realm = keycloak
        .create_realm("tokens-exp", |realm| {
            realm["accessTokenLifespan"] = json!(LIFESPAN);
            realm["clients"]
                .as_array_mut()
                .expect("clients")
                .push(cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true));
        })
        .await;
    // The tolerance on every token's times (60 s by default), short enough to see expiry.
    let stack = bearer_stack(&realm, &[("oidc.clock_skew", "1s".into())]).await;

    let access = cli_access_token(&realm, CLI_CLIENT, ALICE).await;
    let claims = jwt::claims(&access);
    let (iat, exp) = (
        claims["iat"].as_f64().expect("iat"),
        claims["exp"].as_f64().expect("exp"),
    );
    assert_eq!(
        exp - iat,
        LIFESPAN as f64,
        "the realm's access token lifespan: {claims}"
    );
    let response = auth_with(&stack, &access).await;
    assert_eq!(
        response.status,
        202,
        "control: the fresh token should pass: {response:?}\n{}",
        stack.sekisho_log_excerpt("bearer")
    );

    // Past exp plus the 1 s tolerance, and half a second for the whole-second claims.
    let wait = (exp + 1.5 - now_secs()).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    let mut problems = Problems::default();
    assert_refused(
        &mut problems,
        &stack,
        "alice's token, expired 0.5 s beyond the 1 s tolerance",
        &access,
        "token expired",
    )
    .await;
    problems.assert_none("expired token");
}

// ---------------------------------------------------------------------------------------------
// Key rotation

/// The realm's active RS256 key id.
async fn active_rs256_kid(realm: &Realm) -> String {
    let keys = realm.get("keys").await;
    keys["active"]["RS256"]
        .as_str()
        .unwrap_or_else(|| panic!("realm {} has no active RS256 key: {keys}", realm.name))
        .to_owned()
}

/// Rotates the realm's signing key as an administrator does in the console (Realm settings →
/// Keys → Providers): a new `rsa-generated` provider with a higher priority, then the old
/// one's "Enabled" off (it leaves the JWKS). Returns the new key's id.
async fn rotate_rsa_key(realm: &Realm) -> String {
    let old_kid = active_rs256_kid(realm).await;
    let providers = realm
        .get("components?type=org.keycloak.keys.KeyProvider")
        .await;
    let old = providers
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["providerId"] == "rsa-generated")
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "realm {} has no rsa-generated key provider: {providers}",
                realm.name
            )
        });
    let realm_id = realm.get("").await["id"]
        .as_str()
        .expect("a realm id")
        .to_owned();
    realm
        .call(
            "POST",
            "components",
            Some(&json!({
                "name": "rsa-rotated",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": ["200"], "enabled": ["true"], "active": ["true"],
                           "algorithm": ["RS256"], "keySize": ["2048"]},
            })),
        )
        .await;
    let mut disabled = old.clone();
    disabled["config"]["enabled"] = json!(["false"]);
    disabled["config"]["active"] = json!(["false"]);
    let id = old["id"].as_str().expect("a component id");
    realm
        .call("PUT", &format!("components/{id}"), Some(&disabled))
        .await;
    let new_kid = active_rs256_kid(realm).await;
    assert_ne!(
        new_kid, old_kid,
        "the new key should be the realm's active RS256 key"
    );
    new_kid
}

/// Whether Sekisho logged a refresh for `user`.
async fn refreshed(stack: &OidcStack, user: &str) -> bool {
    stack
        .sekisho
        .wait_logged(|l| l["message"] == "tokens refreshed" && l["user"] == user)
        .await
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_realm_key_is_picked_up_without_a_restart() {
    /// Sekisho's own client's tokens live this long, refreshed this long before: a session
    /// from before the rotation refreshes a few seconds later, with tokens of the new key.
    const LIFESPAN: u64 = 12;
    const REFRESH_BEFORE: u64 = 8;
    let keycloak = Keycloak::shared();
    let realm = keycloak
        .create_realm("tokens-keys", |realm| {
            let clients = realm["clients"].as_array_mut().expect("clients");
            for client in clients.iter_mut().filter(|c| c["clientId"] == OIDC_CLIENT) {
                client["attributes"]["access.token.lifespan"] = json!(LIFESPAN.to_string());
            }
            clients.push(cli_client(CLI_CLIENT, Some(OIDC_CLIENT), true));
        })
        .await;
    let stack = bearer_stack(
        &realm,
        &[(
            "oidc.refresh_before_expiry",
            format!("{REFRESH_BEFORE}s").into(),
        )],
    )
    .await;
    let old_kid = active_rs256_kid(&realm).await;

    // Before: a browser session and a CLI's token, both of the old key.
    let before = Browser::new().with_secure_origin(&keycloak.url);
    stack.login(&before, "/app/before", ALICE).await;
    let signed_in = Instant::now();
    let old_token = cli_access_token(&realm, CLI_CLIENT, BOB).await;
    assert_eq!(jwt::header(&old_token)["kid"], old_kid);
    assert_eq!(
        auth_with(&stack, &old_token).await.status,
        202,
        "control: the old key's token"
    );

    let new_kid = rotate_rsa_key(&realm).await;
    let certs = keycloak
        .request(keycloak.http().get(realm.oidc_endpoint("certs")))
        .await;
    assert!(
        certs.body.contains(&new_kid) && !certs.body.contains(&old_kid),
        "the realm's JWKS should list the new key {new_kid} and no longer the disabled {old_kid}: {}",
        certs.body
    );

    // A new sign-in: its ID token has a kid Sekisho has not seen; it reloads the keys.
    let after = Browser::new().with_secure_origin(&keycloak.url);
    let page = stack.login(&after, "/app/after", BOB).await;
    assert!(
        page.body.contains("X-Auth-Request-User: bob"),
        "{}",
        page.describe()
    );
    assert!(
        stack
            .sekisho_log_excerpt("reloading")
            .contains("reloading the provider's keys"),
        "the new kid should have reloaded the keys:\n{}",
        stack.sekisho_log_excerpt("key")
    );
    let new_token = cli_access_token(&realm, CLI_CLIENT, BOB).await;
    assert_eq!(jwt::header(&new_token)["kid"], new_kid);
    let response = auth_with(&stack, &new_token).await;
    assert_eq!(
        response.status,
        202,
        "a CLI's token of the new key: {response:?}\n{}",
        stack.sekisho_log_excerpt("bearer")
    );

    // The old key's tokens no longer verify: Keycloak no longer publishes the key.
    let mut problems = Problems::default();
    assert_refused(
        &mut problems,
        &stack,
        "a token signed with the disabled key",
        &old_token,
        &old_kid,
    )
    .await;
    problems.assert_none("the disabled key's token");

    // The session from before the rotation is Sekisho's own: it still passes, and once its
    // access token is due it refreshes (the refresh token is signed with the realm's HMAC
    // key, untouched) and gets tokens of the new key, which verify.
    let due =
        signed_in + Duration::from_secs(LIFESPAN - REFRESH_BEFORE) + Duration::from_millis(500);
    tokio::time::sleep_until(due.into()).await;
    let page = before.navigate(&stack.url("/app/still")).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, stack.url("/app/still").as_str()),
        "alice's session from before the rotation should still pass:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("refresh")
    );
    assert!(
        refreshed(&stack, "alice").await,
        "alice's session should have refreshed with tokens of the new key:\n{}",
        stack.sekisho_log_excerpt("refresh")
    );
}
