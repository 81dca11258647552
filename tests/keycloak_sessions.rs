//! Sessions against the real Keycloak (the run's, see `tests/common/keycloak.rs`), each test in
//! a realm of its own made from `config/keycloak/demo-realm.json`:
//!
//! - back-channel logout: sessions in one real `redis-server` shared by two Sekisho replicas
//!   (A behind nginx, where the browser signs in; B asked directly). Keycloak POSTs its logout
//!   token to A (the shipped `sekisho` client's `backchannel.logout.url`, pointed at A) when an
//!   admin ends alice's sessions or when she signs out herself in Keycloak's account console
//!   (its user menu's "Sign out", in Chromium); every replica then
//!   refuses her cookie;
//! - Keycloak unreachable, at start and during use: a [`TcpRelay`] stands between Keycloak and
//!   everyone else (Sekisho and the browser) and is stopped and started again on its port.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one) and `redis-server`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::browser_client::is_session_cookie;
use common::browser_driver::{self, app_cookies};
use common::http::{Client, Response};
use common::keycloak::{Keycloak, Realm};
use common::oidc_stack::{ALICE, OidcStack, StackOptions, TRUSTED_CLIENT};
use common::redis::RedisServer;
use common::replicas::{auth, both_logs, start_second_replica};
use common::sekisho::Sekisho;
use common::tcp_relay::TcpRelay;
use serde_json::{Value, json};

/// How long Keycloak's back-channel logout, Sekisho's recovery and the like may take.
const WAIT: Duration = Duration::from_secs(20);

/// The log line Sekisho writes when a logout token ended sessions.
const ENDED_BY_PROVIDER: &str = "provider ended the session (back-channel logout)";

// ---------------------------------------------------------------------------------------------
// Two replicas, one Redis

/// A realm, Redis, the stack with replica A, and replica B on the same Redis and configuration.
struct Replicas {
    realm: Realm,
    /// Kept running for the replicas; stopped on drop.
    _redis: RedisServer,
    stack: OidcStack,
    b: Sekisho,
}

impl Replicas {
    async fn start(prefix: &str) -> Self {
        let realm = Keycloak::shared().create_realm(prefix, |_| {}).await;
        let redis = RedisServer::start();
        let stack = realm
            .oidc_stack(
                StackOptions::default()
                    .set("session.store", "redis")
                    .set("session.redis_url", redis.url()),
            )
            .await;
        let b = start_second_replica(&stack, WAIT).await;
        Self {
            realm,
            _redis: redis,
            stack,
            b,
        }
    }

    fn replicas(&self) -> [(&'static str, SocketAddr); 2] {
        [("A", self.stack.sekisho.addr()), ("B", self.b.addr())]
    }

    /// Signs alice in with Chromium at Keycloak through nginx and replica A; returns the
    /// driver's result (the browser's cookies, Keycloak's too) and the Sekisho session cookie,
    /// which both replicas accept.
    async fn sign_in(&self, shot: &str) -> (Value, String) {
        let signed_in = chromium_sign_in(&self.stack, "/app/", shot, json!({})).await;
        let cookie = session_cookie(&signed_in);
        for (name, addr) in self.replicas() {
            let response = auth(addr, &cookie).await;
            assert_eq!(
                (response.status, response.header("x-auth-request-user")),
                (202, Some("alice")),
                "replica {name} should accept alice's fresh session: {response:?}\n{}",
                self.logs()
            );
        }
        (signed_in, cookie)
    }

    /// Polls every replica until each refuses `cookie` (401); panics with the logs if one
    /// still accepts it after [`WAIT`].
    async fn wait_refused_everywhere(&self, cookie: &str, context: &str) {
        for (name, addr) in self.replicas() {
            let deadline = Instant::now() + WAIT;
            loop {
                let response = auth(addr, cookie).await;
                if response.status == 401 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{context}: replica {name} still answers {} for alice's cookie after {WAIT:?}: \
                     {response:?}\n{}",
                    response.status,
                    self.logs()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Asserts that replica A logged a logout token ending at least one session.
    fn assert_logout_token_received(&self, context: &str) {
        let ended = self
            .stack
            .sekisho
            .log()
            .into_iter()
            .filter(|line| line["message"] == ENDED_BY_PROVIDER)
            .map(|line| line["ended"].as_u64().unwrap_or(0))
            .sum::<u64>();
        assert!(
            ended >= 1,
            "{context}: replica A should have received Keycloak's logout token and ended alice's \
             session with it\n{}",
            self.logs()
        );
    }

    fn logs(&self) -> String {
        both_logs(&self.stack.sekisho, &self.b)
    }
}

// ---------------------------------------------------------------------------------------------
// Back-channel logout

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ending_alices_keycloak_sessions_ends_her_session_on_every_replica() {
    let r = Replicas::start("bcl-admin").await;
    let (_, cookie) = r.sign_in("bcl-admin").await;
    assert_eq!(
        r.realm.sessions("alice").await.len(),
        1,
        "alice should have one Keycloak session after signing in"
    );

    // The admin console's "Sign out" on alice: Keycloak POSTs a logout token to replica A.
    r.realm.logout_user("alice").await;

    r.wait_refused_everywhere(&cookie, "after an admin ended alice's Keycloak sessions")
        .await;
    r.assert_logout_token_received("admin logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signing_out_at_keycloak_ends_her_session_on_every_replica() {
    let r = Replicas::start("bcl-self").await;
    // In the same browser, alice opens Keycloak's account console (signed in there by
    // Keycloak's session) and signs out with its user menu, as a user does.
    let account = format!("{}/account", r.realm.issuer());
    let signed_in = chromium_sign_in(
        &r.stack,
        "/app/",
        "bcl-self",
        json!({ "sign_out_at_account_console": account }),
    )
    .await;
    let cookie = session_cookie(&signed_in);
    // The session worked on the way in (the app's page, alice's identity, replica A),
    // before the browser went on to sign out.
    let text = signed_in["text"].as_str().unwrap_or_default();
    assert!(
        text.lines().any(|l| l == "X-Auth-Request-User: alice"),
        "the app's page should have shown alice's identity before the sign-out:\n{text}"
    );
    assert!(
        signed_in["signed_out_at"]
            .as_str()
            .is_some_and(|url| url.starts_with(&r.realm.issuer())),
        "the account console's Sign out should end at Keycloak's sign-in page: {signed_in}"
    );
    r.realm
        .wait_until("alice's Keycloak session ends", WAIT, || async {
            r.realm.sessions("alice").await.is_empty()
        })
        .await;

    r.wait_refused_everywhere(&cookie, "after alice signed out at Keycloak")
        .await;
    r.assert_logout_token_received("alice's own logout at Keycloak");
}

// ---------------------------------------------------------------------------------------------
// A browser's cookies, carried on without the browser

/// Signs alice in with Chromium at `path` on the stack (Keycloak's sign-in page), `extra`
/// added to the driver's arguments; returns the driver's result (cookies included).
async fn chromium_sign_in(stack: &OidcStack, path: &str, shot: &str, extra: Value) -> Value {
    browser_driver::chromium_sign_in(stack, path, ALICE, ("keycloak_sessions", shot), extra).await
}

/// Sekisho's session cookie (`name=value`) among the browser's: with Redis, one small cookie.
fn session_cookie(signed_in: &Value) -> String {
    let cookies = app_cookies(signed_in);
    let session: Vec<&str> = cookies
        .split("; ")
        .filter(|c| {
            c.split_once('=')
                .is_some_and(|(name, _)| is_session_cookie(name))
        })
        .collect();
    assert_eq!(
        session.len(),
        1,
        "a Redis session is one small cookie; the browser holds {session:?}"
    );
    session[0].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Keycloak unreachable

/// The page Sekisho shows when the provider cannot be reached (`src/response/page.rs`).
const UNAVAILABLE_TITLE: &str = "Sign-in is temporarily unavailable";
/// What Chromium asks for when it opens a page: HTML error pages, not plain text.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/// A realm reached only through a [`TcpRelay`] (by Sekisho and the browser alike), and the
/// stack signing in at it with cookie sessions.
struct Relayed {
    realm: Realm,
    relay: TcpRelay,
    stack: OidcStack,
}

impl Relayed {
    /// With the relay up or, when `up` is false, stopped before Sekisho starts.
    async fn start(prefix: &str, up: bool, options: StackOptions) -> Self {
        let keycloak = Keycloak::shared();
        let realm = keycloak.create_realm(prefix, |_| {}).await;
        let mut relay = TcpRelay::start(SocketAddr::from(([127, 0, 0, 1], keycloak.port()))).await;
        if !up {
            relay.stop().await;
        }
        // Keycloak's dev mode names itself after the Host header: through the relay, the
        // realm's issuer is the relay's address.
        let issuer = format!("{}/realms/{}", relay.url(), realm.name);
        let stack = OidcStack::start(StackOptions {
            external_issuer: Some(issuer),
            wait_ready: up,
            ..options
        })
        .await;
        realm
            .point_at(&stack.origin(), &format!("http://{}", stack.sekisho.addr()))
            .await;
        Self {
            realm,
            relay,
            stack,
        }
    }

    /// `GET /app/` through nginx from a trusted address: the app answers, whatever Keycloak's
    /// state.
    async fn assert_trusted_passes(&self, context: &str) {
        let response = Client::new()
            .get(
                self.stack.nginx.addr(),
                "/app/",
                &[("X-Forwarded-For", TRUSTED_CLIENT)],
            )
            .await;
        assert_eq!(
            response.status,
            200,
            "{context}: {TRUSTED_CLIENT} is in trusted_ips and must reach the app: {response:?}\n{}",
            self.stack.sekisho_log_excerpt("trusted")
        );
    }

    /// Polls `GET /app/` through nginx without a session until it answers the unavailable
    /// page (a 502 with Sekisho's page, not a crash page); returns it.
    async fn wait_sign_in_unavailable(&self, context: &str) -> Response {
        let deadline = Instant::now() + WAIT;
        loop {
            let response = Client::new()
                .get(
                    self.stack.nginx.addr(),
                    "/app/",
                    &[("Accept", BROWSER_ACCEPT)],
                )
                .await;
            if response.status == 502 {
                assert!(
                    response.body.contains(UNAVAILABLE_TITLE)
                        && response
                            .header("content-type")
                            .is_some_and(|t| t.starts_with("text/html")),
                    "{context}: the 502 should be Sekisho's page saying sign-in is unavailable: \
                     {response:?}"
                );
                return response;
            }
            assert!(
                Instant::now() < deadline,
                "{context}: a browser without a session should get the unavailable page (502) \
                 within {WAIT:?}, got {response:?}\n{}",
                self.stack.sekisho_log_excerpt("provider")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls `GET /app/` through nginx without a session until Sekisho sends the browser to
    /// Keycloak's authorization endpoint through the relay again.
    async fn wait_sign_in_available(&self, context: &str) {
        let authorize = format!(
            "{}/realms/{}/protocol/openid-connect/auth?",
            self.relay.url(),
            self.realm.name
        );
        let deadline = Instant::now() + WAIT;
        loop {
            let response = Client::new()
                .get(self.stack.nginx.addr(), "/app/", &[])
                .await;
            if response.status == 302
                && response
                    .header("location")
                    .is_some_and(|l| l.starts_with(&authorize))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{context}: sign-in should send the browser to {authorize} again within {WAIT:?}, \
                 got {response:?}\n{}",
                self.stack.sekisho_log_excerpt("provider")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `GET /app/` through nginx with `cookie`.
async fn app_with(stack: &OidcStack, cookie: &str) -> Response {
    Client::new()
        .get(stack.nginx.addr(), "/app/", &[("Cookie", cookie)])
        .await
}

/// The app's page shows whom Sekisho let through.
fn app_user(response: &Response) -> Option<&str> {
    response
        .body
        .lines()
        .find_map(|l| l.strip_prefix("X-Auth-Request-User: "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sekisho_starts_while_keycloak_is_unreachable_and_signs_in_once_it_is_back() {
    let mut r = Relayed::start("down-start", false, StackOptions::default()).await;

    let ready = r.stack.sekisho_get("/ready", &[]).await;
    assert!(
        ready.status == 503 && ready.body.contains("oidc") && ready.body.contains("discovery"),
        "/ready should answer 503 naming the unreachable provider: {ready:?}"
    );
    r.assert_trusted_passes("Keycloak unreachable at start")
        .await;
    r.wait_sign_in_unavailable("Keycloak unreachable at start")
        .await;

    r.relay.resume().await;
    r.stack.wait_ready(WAIT).await;
    r.wait_sign_in_available("Keycloak back").await;
    let signed_in = chromium_sign_in(&r.stack, "/app/", "down-start-recovered", json!({})).await;
    let cookie = app_cookies(&signed_in);
    let response = app_with(&r.stack, &cookie).await;
    assert_eq!(
        (response.status, app_user(&response)),
        (200, Some("alice")),
        "alice signed in once Keycloak was back: {response:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_going_away_during_use_keeps_sessions_shows_the_unavailable_page_and_recovers() {
    // Keycloak's access tokens live 300 s (the realm file): with this margin every request
    // after the first second is due for a refresh, so the outage meets a refresh.
    let options = StackOptions::default().set("oidc.refresh_before_expiry", "299s");
    let mut r = Relayed::start("down-use", true, options).await;
    let signed_in = chromium_sign_in(&r.stack, "/app/", "down-use-signed-in", json!({})).await;
    let cookie = app_cookies(&signed_in);
    let response = app_with(&r.stack, &cookie).await;
    assert_eq!(
        (response.status, app_user(&response)),
        (200, Some("alice")),
        "control: alice's session with Keycloak up: {response:?}"
    );

    r.relay.stop().await;
    // Documented (README, sign-in step 3): a refresh that fails on the network keeps the
    // session until it really expires. The refresh done just before is handed out for the
    // second in which its token is not due yet; polled until a refresh meets the outage.
    let deadline = Instant::now() + WAIT;
    let refresh_failed = |stack: &OidcStack| {
        stack
            .sekisho
            .output()
            .find(|l| l.contains("token refresh failed; keeping the session"))
            .is_some()
    };
    while !refresh_failed(&r.stack) {
        let response = app_with(&r.stack, &cookie).await;
        assert_eq!(
            (response.status, app_user(&response)),
            (200, Some("alice")),
            "with Keycloak unreachable, alice's session (access token valid) must stand: \
             {response:?}\n{}",
            r.stack.sekisho_log_excerpt("refresh")
        );
        assert!(
            Instant::now() < deadline,
            "a refresh should have been tried and failed on the network within {WAIT:?}:\n{}",
            r.stack.sekisho_log_excerpt("refresh")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.assert_trusted_passes("Keycloak unreachable during use")
        .await;
    r.wait_sign_in_unavailable("Keycloak unreachable during use")
        .await;
    let response = app_with(&r.stack, &cookie).await;
    assert_eq!(
        response.status, 200,
        "alice's session still stands while sign-in is unavailable: {response:?}"
    );

    r.relay.resume().await;
    r.wait_sign_in_available("Keycloak back").await;
    let response = app_with(&r.stack, &cookie).await;
    assert_eq!(
        (response.status, app_user(&response)),
        (200, Some("alice")),
        "alice's session once Keycloak is back: {response:?}"
    );
    let signed_in = chromium_sign_in(&r.stack, "/app/", "down-use-recovered", json!({})).await;
    let response = app_with(&r.stack, &app_cookies(&signed_in)).await;
    assert_eq!(
        (response.status, app_user(&response)),
        (200, Some("alice")),
        "a new sign-in once Keycloak is back: {response:?}"
    );
    assert_eq!(r.stack.sekisho_get("/ready", &[]).await.status, 200);
}
