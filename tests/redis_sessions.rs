//! Sessions in Redis against the lookalikes (the OpenID provider of `tests/peers/oidc`, the
//! SAML IdP of `tests/peers/saml`), for what Keycloak cannot be made to do or show: forged and
//! replayed logout tokens and LogoutRequests, counts of each refresh token's uses, and Redis
//! itself (what it holds, an outage), where the provider only signs alice in. A real
//! `redis-server` (Debian's) on a free loopback port, and two Sekisho instances sharing it, as
//! two replicas behind a load balancer: instance A sits behind nginx (the browser signs in
//! through it); instance B is asked directly with the browser's cookie.
//!
//! Keycloak's own back-channel logout to two replicas (an admin's and the user's) is tested in
//! `tests/keycloak_sessions.rs`; that is the test that counts there.
//!
//! Users (the provider's README): alice / alice-password in `/admins`, bob / bob-password.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::browser_client::{Browser, is_session_cookie};
use common::http::{Client, Response};
use common::oidc_stack::{
    ALICE, CLIENT_ID, OidcStack, StackOptions, TRUSTED_CLIENT, start_sekisho,
};
use common::redis::{RedisServer, Reply};
use common::replicas::{auth, both_logs, start_second_replica};
use common::saml_stack::{SamlStack, SamlStackOptions};
use common::saml_xml::{self, NS_ASSERTION};
use common::sekisho::Sekisho;
use serde_json::{Value, json};

/// alice's `sub` at the provider (its default users).
const ALICE_SUB: &str = "a11ce000-0000-4000-8000-000000000001";
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Redis, the stack with instance A, and instance B on the same Redis and configuration.
struct Replicas {
    redis: RedisServer,
    stack: OidcStack,
    b: Sekisho,
}

impl Replicas {
    async fn start(options: StackOptions) -> Self {
        let redis = RedisServer::start();
        let stack = OidcStack::start(
            options
                .set("session.store", "redis")
                .set("session.redis_url", redis.url()),
        )
        .await;
        let b = start_second_replica(&stack, Duration::from_secs(15)).await;
        Self { redis, stack, b }
    }

    fn a(&self) -> SocketAddr {
        self.stack.sekisho.addr()
    }

    /// Signs alice in through nginx and instance A; returns the browser and its session
    /// cookie (`name=value`).
    async fn sign_in(&self) -> (Browser, String) {
        let browser = Browser::new();
        self.stack.login(&browser, "/app/", ALICE).await;
        let cookies = browser.session_cookies();
        assert_eq!(
            cookies.len(),
            1,
            "a Redis session is one small cookie: {cookies:?}"
        );
        let cookie = format!("{}={}", cookies[0].name, cookies[0].value);
        (browser, cookie)
    }

    /// Polls `path` on `addr` until it answers `status`; panics with both logs if not.
    async fn wait_status(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        status: u16,
    ) -> Response {
        common::replicas::wait_status(addr, path, headers, status, Duration::from_secs(15), || {
            self.logs()
        })
        .await
    }

    fn logs(&self) -> String {
        both_logs(&self.stack.sekisho, &self.b)
    }
}

fn user(response: &Response) -> Option<&str> {
    response.header("x-auth-request-user")
}

// ---------------------------------------------------------------------------------------------
// One session, every replica

/// Lookalike: the Redis store itself (a ticket cookie, nothing readable in Redis, sign-out on one
/// replica); the provider only signs alice in, and no Keycloak test covers this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_in_on_one_replica_works_on_another_and_signing_out_ends_it_on_both() {
    let r = Replicas::start(StackOptions::default()).await;
    let (_browser, cookie) = r.sign_in().await;
    assert!(
        cookie.len() < 100,
        "the cookie holds only a ticket: {cookie}"
    );

    for (name, addr) in [("A", r.a()), ("B", r.b.addr())] {
        let response = auth(addr, &cookie).await;
        assert_eq!(
            (response.status, user(&response)),
            (202, Some("alice")),
            "instance {name} with the session signed in on A: {response:?}\n{}",
            r.logs()
        );
    }

    // What Redis holds cannot be read without the cookie: no user, no email, no token.
    let keys = r.redis.keys("*");
    assert!(
        keys.iter().any(|k| k.starts_with("sekisho:session:")),
        "{keys:?}"
    );
    for key in &keys {
        let value = match r.redis.command(&["TYPE", key]) {
            Reply::Status(kind) if kind == "string" => r.redis.get(key).unwrap_or_default(),
            Reply::Status(kind) if kind == "set" => r
                .redis
                .command(&["SMEMBERS", key])
                .texts()
                .join(",")
                .into_bytes(),
            other => panic!("{key}: unexpected type {other:?}"),
        };
        let text = String::from_utf8_lossy(&value);
        for secret in ["alice", "example.com", "admins", "eyJ", ALICE_SUB] {
            assert!(
                !key.contains(secret) && !text.contains(secret),
                "Redis key {key} shows `{secret}` without the cookie: {text}"
            );
        }
    }

    // Signing out on B ends the session in Redis: a copy of the cookie stops working on A.
    let out = Client::new()
        .get(
            r.b.addr(),
            "/oauth2/sign_out?rd=/",
            &[("Cookie", cookie.as_str())],
        )
        .await;
    assert_eq!(out.status, 302, "sign out on B: {out:?}");
    for (name, addr) in [("A", r.a()), ("B", r.b.addr())] {
        let response = auth(addr, &cookie).await;
        assert_eq!(
            response.status,
            401,
            "instance {name} with a copy of the cookie signed out on B: {response:?}\n{}",
            r.logs()
        );
    }
    assert_eq!(r.redis.keys("sekisho:session:*"), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Refresh: one replica refreshes, the others use its result

/// Lookalike: counts refresh grants across two replicas at the provider; `tests/keycloak_oidc.rs`
/// counts them at Keycloak for one replica with cookie sessions only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_two_replicas_during_a_refresh_refresh_once() {
    const TTL: u64 = 6;
    let r = Replicas::start(
        StackOptions::access_tokens_for(TTL)
            // Due 3 s before expiry: not during the sign-in itself, even on a slow machine.
            .set("oidc.refresh_before_expiry", "3s"),
    )
    .await;
    let provider = r.stack.provider();
    let (_browser, cookie) = r.sign_in().await;
    let signed_in = Instant::now();
    assert_eq!(provider.token_requests("refresh_token"), 0);

    tokio::time::sleep_until((signed_in + Duration::from_millis(3500)).into()).await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..20 {
        let addr = if i % 2 == 0 { r.a() } else { r.b.addr() };
        let cookie = cookie.clone();
        burst.spawn(async move { (i, auth(addr, &cookie).await) });
    }
    let mut responses = burst.join_all().await;
    responses.sort_by_key(|(i, _)| *i);
    let statuses: Vec<u16> = responses.iter().map(|(_, r)| r.status).collect();
    assert!(
        statuses.iter().all(|&s| s == 202),
        "20 concurrent /oauth2/auth on two replicas during a refresh should all answer 202: \
         {statuses:?}\nprovider counters: {}\n{}",
        provider.counters(),
        r.logs()
    );
    for (i, response) in &responses {
        assert_eq!(user(response), Some("alice"), "request {i}: {response:?}");
        assert!(
            !response
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("set-cookie")
                    && is_session_cookie(v.split('=').next().unwrap_or_default())),
            "the ticket stays the same through a refresh; request {i} set a cookie: {response:?}"
        );
    }
    let counters = provider.counters();
    assert_eq!(
        (
            counters["token"]["refresh_token"].as_u64().unwrap_or(0),
            counters["token_errors"]["refresh_token"]
                .as_u64()
                .unwrap_or(0)
        ),
        (1, 0),
        "exactly ONE refresh_token grant should reach the provider for 20 requests on two \
         replicas (a second use of the rotated refresh token fails): {counters}\n{}",
        r.logs()
    );
    // Both replicas now read the refreshed session; nothing is due any more.
    for addr in [r.a(), r.b.addr()] {
        assert_eq!(auth(addr, &cookie).await.status, 202);
    }
    assert_eq!(provider.token_requests("refresh_token"), 1);
}

/// Lookalike: counts how often each refresh token is presented, which Keycloak does not expose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_the_provider_refuses_ends_the_session_on_every_replica() {
    // Due 3 to 4 s after issue; no back-channel logout: the provider's end is learnt from the
    // refused refresh alone.
    const TTL: u64 = 8;
    let r = Replicas::start(
        StackOptions::access_tokens_for(TTL).set("oidc.refresh_before_expiry", "4s"),
    )
    .await;
    let provider = r.stack.provider();
    let (browser, cookie) = r.sign_in().await;
    let signed_in = Instant::now();

    // The user signs out at the provider itself: the login's refresh token dies there.
    let confirm = browser.navigate(&provider.endpoint("logout")).await;
    browser.confirm_logout(&confirm).await;
    assert_eq!(
        provider.counters()["logout"],
        1,
        "the provider session ended"
    );

    tokio::time::sleep_until((signed_in + Duration::from_millis(4_500)).into()).await;
    for (name, addr) in [("A", r.a()), ("B", r.b.addr()), ("A", r.a())] {
        let response = auth(addr, &cookie).await;
        assert_eq!(
            response.status,
            401,
            "instance {name}, due for refresh after the provider's logout: {response:?}\n\
             provider counters: {}\n{}",
            provider.counters(),
            r.logs()
        );
    }
    let counters = provider.counters();
    assert_eq!(
        (
            counters["token"]["refresh_token"].as_u64().unwrap_or(0),
            counters["token_errors"]["refresh_token"]
                .as_u64()
                .unwrap_or(0)
        ),
        (1, 1),
        "ONE refused refresh ends the session on every replica: the other replica must not \
         present the dead refresh token again: {counters}\n{}",
        r.logs()
    );
    assert_eq!(provider.refresh_token_uses(), [1]);
}

// ---------------------------------------------------------------------------------------------
// Back-channel logout

/// POSTs `logout_token=token` to `addr`.
async fn post_logout(addr: SocketAddr, token: &str) -> Response {
    let body = format!("logout_token={token}");
    Client::new()
        .request(
            addr,
            "POST",
            "/oauth2/backchannel_logout",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .await
        .expect("POST /oauth2/backchannel_logout")
}

/// Claims of a logout token for alice's sessions, as the provider would issue one.
fn logout_claims(issuer: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": ALICE_SUB,
        "events": { LOGOUT_EVENT: {} },
        "typ": "Logout",
    })
}

/// The same claims signed with a key of our own, under the provider's `kid`.
fn signed_with_another_key(claims: &Value, kid: &str) -> String {
    let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key");
    let pem = rsa.private_key_to_pem().expect("PEM");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("encoding key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// Lookalike: forged and replayed logout tokens, signed at will; Keycloak's own back-channel
/// logout is `tests/keycloak_sessions.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_replayed_logout_tokens_are_refused_and_end_nothing() {
    let r = Replicas::start(StackOptions::default()).await;
    let provider = r.stack.provider();
    let issuer = r.stack.issuer().to_owned();
    let (_browser, cookie) = r.sign_in().await;

    let sign = |edit: &dyn Fn(&mut Value)| {
        let mut claims = logout_claims(&issuer);
        edit(&mut claims);
        provider.sign(&claims, "logout+jwt")
    };
    let genuine = provider.sign(&logout_claims(&issuer), "logout+jwt");
    let kid = common::token_proxy::jwt::header(&genuine)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let cases: Vec<(&str, String)> = vec![
        (
            "signed with another key",
            signed_with_another_key(&logout_claims(&issuer), &kid),
        ),
        (
            "altered after signing",
            common::token_proxy::jwt::edit_claims(&genuine, |c| c["sub"] = json!("someone")),
        ),
        ("unsigned", common::token_proxy::jwt::unsigned(&genuine)),
        (
            "for another audience",
            sign(&|c| c["aud"] = json!("other-client")),
        ),
        (
            "from another issuer",
            sign(&|c| c["iss"] = json!("http://127.0.0.1:9/realms/x")),
        ),
        ("with a nonce", sign(&|c| c["nonce"] = json!("n-1"))),
        (
            "without the events claim",
            sign(&|c| {
                c.as_object_mut().unwrap().remove("events");
            }),
        ),
        (
            "with another event",
            sign(&|c| c["events"] = json!({ "http://example.com/other": {} })),
        ),
        (
            "without sid and sub",
            sign(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
        (
            "without iat",
            sign(&|c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
        ),
        (
            "without jti",
            sign(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "expired",
            sign(&|c| {
                c["iat"] = json!(c["iat"].as_u64().unwrap() - 3600);
                c["exp"] = json!(c["iat"].as_u64().unwrap() + 120);
            }),
        ),
        (
            "issued ten minutes ahead (iat)",
            sign(&|c| c["iat"] = json!(c["iat"].as_u64().unwrap() + 600)),
        ),
        (
            "not valid for ten minutes (nbf)",
            sign(&|c| c["nbf"] = json!(c["iat"].as_u64().unwrap() + 600)),
        ),
        (
            "for another client (azp)",
            sign(&|c| c["azp"] = json!("other-client")),
        ),
        ("typed as an ID token", sign(&|c| c["typ"] = json!("ID"))),
        (
            "with the header typ of an access token",
            provider.sign(&logout_claims(&issuer), "at+jwt"),
        ),
        ("not a JWT", "garbage".to_owned()),
        ("empty", String::new()),
    ];
    let mut problems = Vec::new();
    for (what, token) in &cases {
        let response = post_logout(r.a(), token).await;
        if response.status != 400
            || response.header("cache-control") != Some("no-store")
            || response.body.trim().is_empty()
        {
            problems.push(format!("a logout token {what}: {response:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "each should be 400 with a reason and Cache-Control: no-store:\n{}\n{}",
        problems.join("\n"),
        r.logs()
    );
    for addr in [r.a(), r.b.addr()] {
        assert_eq!(
            auth(addr, &cookie).await.status,
            202,
            "refused logout tokens must end nothing"
        );
    }

    // The genuine token ends alice's sessions on both replicas, once.
    let response = post_logout(r.b.addr(), &genuine).await;
    assert_eq!(
        (response.status, response.header("cache-control")),
        (200, Some("no-store")),
        "a genuine logout token: {response:?}\n{}",
        r.logs()
    );
    for addr in [r.a(), r.b.addr()] {
        assert_eq!(auth(addr, &cookie).await.status, 401);
    }
    // Replayed, on the other replica too: refused, since it was already used.
    let (_again, cookie) = r.sign_in().await;
    for addr in [r.a(), r.b.addr()] {
        let replay = post_logout(addr, &genuine).await;
        assert_eq!(
            replay.status, 400,
            "a replayed logout token on {addr}: {replay:?}"
        );
        assert!(replay.body.contains("already used"), "{replay:?}");
    }
    assert_eq!(
        auth(r.a(), &cookie).await.status,
        202,
        "a replayed logout token ended the new session"
    );
}

// ---------------------------------------------------------------------------------------------
// Redis down, hung, back

/// Lookalike: a Redis outage; the provider only signs alice in, and no Keycloak test covers this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_and_sekisho_recovers_by_itself() {
    let mut r = Replicas::start(
        StackOptions::default()
            .set("session.redis_timeout", "500ms")
            .set("session.redis_connect_timeout", "500ms"),
    )
    .await;
    let (_browser, cookie) = r.sign_in().await;
    let a = r.a();
    let trusted = [("X-Forwarded-For", TRUSTED_CLIENT)];

    // Hung: the request fails closed within the timeout instead of hanging.
    r.redis.freeze();
    let started = Instant::now();
    let hung = auth(a, &cookie).await;
    let took = started.elapsed();
    r.redis.thaw();
    assert_eq!(hung.status, 503, "a hung Redis: {hung:?}\n{}", r.logs());
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    r.wait_status(a, "/oauth2/auth", &[("Cookie", &cookie)], 202)
        .await;

    // Down: 503 for sessions and /ready, 202 for trusted networks, a clear log line.
    r.redis.stop();
    let started = Instant::now();
    let down = auth(a, &cookie).await;
    assert_eq!(down.status, 503, "Redis down: {down:?}\n{}", r.logs());
    assert!(started.elapsed() < Duration::from_secs(3));
    r.wait_status(a, "/ready", &[], 503).await;
    let ready = r.wait_status(r.b.addr(), "/ready", &[], 503).await;
    assert!(ready.body.contains("redis"), "{ready:?}");
    let trusted_response = Client::new().get(a, "/oauth2/auth", &trusted).await;
    assert_eq!(
        trusted_response.status, 202,
        "a trusted network needs no Redis: {trusted_response:?}"
    );
    let start = Client::new().get(a, "/oauth2/start?rd=/app/", &[]).await;
    assert_eq!(
        start.status, 503,
        "a sign-in cannot keep its state without Redis: {start:?}"
    );
    let logged = r
        .stack
        .sekisho
        .output()
        .find(|l| l.contains("\"ERROR\"") && l.contains("redis unavailable"));
    assert!(logged.is_some(), "no error line names Redis:\n{}", r.logs());

    // Back: the session made before the outage works again, Sekisho never restarted.
    r.redis.restart();
    for addr in [a, r.b.addr()] {
        r.wait_status(addr, "/ready", &[], 200).await;
        let response = r
            .wait_status(addr, "/oauth2/auth", &[("Cookie", &cookie)], 202)
            .await;
        assert_eq!(user(&response), Some("alice"));
    }
}

// ---------------------------------------------------------------------------------------------
// SAML: an IdP-initiated LogoutRequest

/// Lookalike: SAML sessions in Redis on two replicas, which no Keycloak test runs; SimpleSAMLphp's
/// LogoutRequest is built by the test with the IdP's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_logout_request_ends_the_saml_session_on_both_replicas() {
    let redis = RedisServer::start();
    let stack = SamlStack::start(
        SamlStackOptions::default()
            .set("session.store", "redis")
            .set("session.redis_url", redis.url()),
    )
    .await;
    let b = start_sekisho(stack.config.clone(), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("instance B did not start: {e}"));
    let browser = Browser::new();
    let login = stack
        .login(&browser, "/app/", common::saml_idp::ALICE)
        .await;
    let cookies = browser.session_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = format!("{}={}", cookies[0].name, cookies[0].value);
    let logs = || {
        format!(
            "----- instance A -----\n{}\n----- instance B -----\n{}",
            stack.sekisho.output().text(),
            b.output().text()
        )
    };
    for addr in [stack.sekisho.addr(), b.addr()] {
        let response = auth(addr, &cookie).await;
        assert_eq!(
            (response.status, user(&response)),
            (202, Some("alice")),
            "{addr}: {response:?}\n{}",
            logs()
        );
    }

    // The IdP's signed LogoutRequest for this NameID and SessionIndex reaches B in a request
    // without the session cookie: the sessions end by their index, on every replica.
    let session_index = saml_xml::parse(&login.post.xml())
        .expect("the assertion is XML")
        .find(NS_ASSERTION, "AuthnStatement")
        .and_then(|s| s.attr("SessionIndex"))
        .expect("the IdP's AuthnStatement has a SessionIndex")
        .to_owned();
    let url =
        url::Url::parse(&stack.idp_logout_request_url(&session_index, Some(&stack.idp.key_pem)))
            .expect("URL");
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let slo = Client::new().get(b.addr(), &path, &[]).await;
    assert_eq!(
        slo.status,
        302,
        "the IdP's LogoutRequest at B: {slo:?}\n{}",
        logs()
    );
    for addr in [stack.sekisho.addr(), b.addr()] {
        let response = auth(addr, &cookie).await;
        assert_eq!(
            response.status,
            401,
            "{addr} after the IdP ended the session: {response:?}\n{}",
            logs()
        );
    }
}

/// bob's session in another browser, and whether `/oauth2/auth` still says alice for alice's.
async fn saml_users(
    stack: &SamlStack,
    alice: &Browser,
    bob: &Browser,
) -> (Option<String>, Option<String>) {
    let user = |response: Response| {
        (response.status == 202).then(|| {
            response
                .header("x-auth-request-user")
                .unwrap_or_default()
                .to_owned()
        })
    };
    (user(stack.auth(alice).await), user(stack.auth(bob).await))
}

/// Lookalike: a genuine LogoutRequest replayed in another user's browser, an attacker's act.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_idp_logout_request_cannot_carry_another_users_request() {
    use common::saml_forge::{LogoutRequestForge, RedirectQuery};
    use common::saml_idp::{ALICE, BOB, BOB_NAME_ID};

    let redis = RedisServer::start();
    let stack = SamlStack::start(
        SamlStackOptions::default()
            .set("session.store", "redis")
            .set("session.redis_url", redis.url()),
    )
    .await;
    let (alice, bob) = (Browser::new(), Browser::new());
    stack.login(&alice, "/app/", ALICE).await;
    stack.login(&bob, "/app/", BOB).await;
    assert_eq!(
        saml_users(&stack, &alice, &bob).await,
        (Some("alice".into()), Some("bob".into()))
    );

    // alice ends her session at the IdP, which sends her browser to /saml/slo with its signed
    // LogoutRequest for her. She keeps the URL instead of following it.
    let return_to = stack.url("/logged-out");
    let out = alice
        .navigate_until(&stack.idp.idp_initiated_logout_url(&return_to), |url| {
            url.path() == "/saml/slo"
        })
        .await;
    let genuine = out
        .next
        .as_ref()
        .filter(|u| u.path() == "/saml/slo")
        .unwrap_or_else(|| {
            panic!(
                "the IdP should send alice's browser to /saml/slo with its LogoutRequest:\n{}\n{}",
                out.describe(),
                stack.idp.log_summary()
            )
        })
        .to_string();
    let genuine = RedirectQuery::of_url(&genuine);
    assert!(
        genuine.get("Signature").is_some(),
        "the IdP signs its LogoutRequest: {genuine:?}"
    );
    // Her own request for bob's NameID, unsigned: every session of bob's would end.
    let for_bob = LogoutRequestForge::new(&stack.idp.entity_id, &stack.slo_url(), BOB_NAME_ID);
    let for_bob = RedirectQuery::message("SAMLRequest", &for_bob.xml());
    let bobs = for_bob.get("SAMLRequest").expect("SAMLRequest").to_owned();
    let slo = stack.slo_url();
    let before_genuine = |name: &str| {
        let mut query = genuine.clone();
        query.0.insert(0, (name.to_owned(), bobs.clone()));
        query.url(&slo)
    };
    let cases = [
        (
            "bob's SAMLRequest before the signed one",
            before_genuine("SAMLRequest"),
        ),
        (
            "bob's SAMLRequest after the signed one",
            genuine.clone().with("SAMLRequest", &bobs).url(&slo),
        ),
        (
            "bob's request as SAML%52equest before the signed one",
            before_genuine("SAML%52equest"),
        ),
        (
            "bob's SAMLRequest in place of the signed one",
            genuine.clone().replace("SAMLRequest", &bobs).url(&slo),
        ),
    ];
    let mut problems = Vec::new();
    for (case, url) in &cases {
        let page = alice.get(url).await;
        let users = saml_users(&stack, &alice, &bob).await;
        if page.status != 400 || users != (Some("alice".into()), Some("bob".into())) {
            problems.push(format!(
                "{case}: /saml/slo answered {} (want 400); signed in now (alice's, bob's browser): {users:?}\n{}",
                page.status,
                page.describe()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n\n"),
        stack.sekisho_log_excerpt("slo")
    );

    // Control: the IdP's request as sent ends alice's session and only hers, once.
    let page = alice.get(&genuine.url(&slo)).await;
    assert_eq!(
        (page.status, saml_users(&stack, &alice, &bob).await),
        (302, (None, Some("bob".into()))),
        "the IdP's LogoutRequest as sent ends alice's session, not bob's:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    let again = Browser::new().get(&genuine.url(&slo)).await;
    assert_eq!(
        again.status,
        400,
        "the same LogoutRequest a second time is a replay:\n{}\n{}",
        again.describe(),
        stack.sekisho_log_excerpt("slo")
    );
}

/// Lookalike: a LogoutRequest naming one SessionIndex, built by the test with the IdP's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_logout_request_with_a_session_index_ends_only_that_idp_session() {
    use common::saml_idp::ALICE;

    let redis = RedisServer::start();
    let stack = SamlStack::start(
        SamlStackOptions::default()
            .set("session.store", "redis")
            .set("session.redis_url", redis.url()),
    )
    .await;
    // alice signs in from two browsers: two IdP sessions, two SessionIndexes.
    let (first, second) = (Browser::new(), Browser::new());
    let login = stack.login(&first, "/app/", ALICE).await;
    stack.login(&second, "/app/", ALICE).await;
    let session_index = saml_xml::parse(&login.post.xml())
        .expect("the assertion is XML")
        .find(NS_ASSERTION, "AuthnStatement")
        .and_then(|s| s.attr("SessionIndex"))
        .expect("the IdP's AuthnStatement has a SessionIndex")
        .to_owned();
    let url = stack.idp_logout_request_url(&session_index, Some(&stack.idp.key_pem));
    let page = Browser::new().get(&url).await;
    assert_eq!(
        (page.status, saml_users(&stack, &first, &second).await),
        (302, (None, Some("alice".into()))),
        "the IdP's LogoutRequest for the first browser's SessionIndex ends that session only:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("slo")
    );
}
