//! Sessions against the real Keycloak (the run's, see `tests/common/keycloak.rs`), each test in
//! a realm of its own made from `config/keycloak/demo-realm.json`:
//!
//! - back-channel logout: sessions in one real `redis-server` shared by two Sekisho replicas
//!   (A behind nginx, where the browser signs in; B asked directly). Keycloak POSTs its logout
//!   token to A (the shipped `sekisho` client's `backchannel.logout.url`, pointed at A) when an
//!   admin ends alice's sessions or when she signs out at Keycloak herself; every replica then
//!   refuses her cookie;
//! - Keycloak unreachable, at start and during use: a [`TcpRelay`] stands between Keycloak and
//!   everyone else (Sekisho and the browser) and is stopped and started again on its port.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one) and `redis-server`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::browser_client::is_session_cookie;
use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::http::{Client, Response};
use common::keycloak::{Keycloak, Realm};
use common::oidc_stack::{ALICE, OidcStack, StackOptions, TRUSTED_CLIENT, start_sekisho};
use common::redis::RedisServer;
use common::sekisho::Sekisho;
use common::tcp_relay::TcpRelay;
use serde_json::json;

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
        let env = vec![
            ("no_proxy".to_owned(), "127.0.0.1,localhost".to_owned()),
            ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
        ];
        let b = start_sekisho(stack.config.clone(), env)
            .await
            .unwrap_or_else(|e| panic!("replica B did not start: {e}"));
        let replicas = Self {
            realm,
            _redis: redis,
            stack,
            b,
        };
        replicas
            .wait_status(replicas.b.addr(), "/ready", &[], 200)
            .await;
        replicas
    }

    fn replicas(&self) -> [(&'static str, SocketAddr); 2] {
        [("A", self.stack.sekisho.addr()), ("B", self.b.addr())]
    }

    /// Signs alice in with Chromium at Keycloak through nginx and replica A; returns the
    /// browser's cookies (Keycloak's too) and the Sekisho session cookie, which both replicas
    /// accept.
    async fn sign_in(&self, shot: &str) -> (Jar, String) {
        let jar = chromium_sign_in(&self.stack, "/app/", shot).await;
        let cookie = jar.sekisho_session();
        for (name, addr) in self.replicas() {
            let response = auth(addr, &cookie).await;
            assert_eq!(
                (response.status, response.header("x-auth-request-user")),
                (202, Some("alice")),
                "replica {name} should accept alice's fresh session: {response:?}\n{}",
                self.logs()
            );
        }
        (jar, cookie)
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

    /// Polls `path` on `addr` until it answers `status`.
    async fn wait_status(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        status: u16,
    ) -> Response {
        let deadline = Instant::now() + WAIT;
        loop {
            let response = Client::new().get(addr, path, headers).await;
            if response.status == status {
                return response;
            }
            assert!(
                Instant::now() < deadline,
                "{path} on {addr} still answers {} (not {status}): {response:?}\n{}",
                response.status,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        format!(
            "----- replica A -----\n{}\n----- replica B -----\n{}",
            self.stack.sekisho.output().text(),
            self.b.output().text()
        )
    }
}

async fn auth(addr: SocketAddr, cookie: &str) -> Response {
    Client::new()
        .get(addr, "/oauth2/auth", &[("Cookie", cookie)])
        .await
}

// ---------------------------------------------------------------------------------------------
// Back-channel logout

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ending_alices_keycloak_sessions_ends_her_session_on_every_replica() {
    let r = Replicas::start("bcl-admin").await;
    let (_jar, cookie) = r.sign_in("bcl-admin").await;
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
    let (mut jar, cookie) = r.sign_in("bcl-self").await;

    // With the browser's cookies, alice opens Keycloak's logout page and confirms, as a user
    // would in the same browser session.
    let logout = r.realm.oidc_endpoint("logout");
    let confirm = jar.fetch(&r.realm.keycloak, "GET", &logout, &[]).await;
    let (action, fields) = keycloak_logout_form(&confirm);
    let mut fields = fields;
    fields.push(("confirmLogout".into(), "Logout".into()));
    let after = jar.fetch(&r.realm.keycloak, "POST", &action, &fields).await;
    assert!(
        after.status == 200 && after.body.contains("You are logged out"),
        "Keycloak should confirm the logout: {} {}\n{}",
        after.status,
        after.url,
        after.body
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

/// Keycloak's logout confirmation (`logout-confirm.ftl`): a form without an id, posting to
/// `.../logout/logout-confirm`, with the submit button `#kc-logout` (`name="confirmLogout"`).
/// Returns its action (resolved) and its hidden fields.
fn keycloak_logout_form(page: &Fetched) -> (String, Vec<(String, String)>) {
    let lower = page.body.to_ascii_lowercase();
    let start = lower.find("<form").unwrap_or_else(|| {
        panic!(
            "Keycloak's logout page ({} {}) should show a confirmation form:\n{}",
            page.status, page.url, page.body
        )
    });
    let end = lower[start..]
        .find("</form")
        .map_or(page.body.len(), |i| start + i);
    let form = &page.body[start..end];
    assert!(
        form.contains("kc-logout") && form.contains("logout-confirm"),
        "the form on Keycloak's logout page should be its confirmation:\n{}",
        page.body
    );
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let needle = format!("{name}=\"");
        let from = tag.find(&needle)? + needle.len();
        let to = from + tag[from..].find('"')?;
        Some(tag[from..to].replace("&amp;", "&"))
    };
    let open_tag = &form[..form.find('>').unwrap_or(form.len())];
    let action = attribute(open_tag, "action").expect("the confirmation form's action");
    let action = url::Url::parse(&page.url)
        .and_then(|base| base.join(&action))
        .expect("the form's action resolves");
    let fields = form
        .split("<input")
        .skip(1)
        .filter(|input| input.contains("type=\"hidden\""))
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
        .collect();
    (action.to_string(), fields)
}

// ---------------------------------------------------------------------------------------------
// A browser's cookies, carried on without the browser

/// Signs alice in with Chromium at `path` on the stack (Keycloak's sign-in page); returns the
/// browser's cookies, asserting it came back to `path`.
async fn chromium_sign_in(stack: &OidcStack, path: &str, shot: &str) -> Jar {
    let target = stack.url(path);
    let screenshot = screenshot_path("keycloak_sessions", &format!("{shot}.png"));
    let result = run_driver(&json!({
        "start_url": target,
        "username": ALICE.0,
        "password": ALICE.1,
        "expect_url": exactly(&target),
        "screenshot": screenshot,
        "timeout_ms": 40_000,
    }))
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign alice in at Keycloak and land on {target}; the driver reported:\n{}\n\
         Sekisho's log:\n{}",
        serde_json::to_string_pretty(&result).unwrap_or_default(),
        stack.sekisho_log_excerpt("callback")
    );
    let cookies = result["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
            JarCookie {
                name: text("name"),
                value: text("value"),
                path: text("path"),
            }
        })
        .collect();
    Jar { cookies }
}

/// A browser's cookies on 127.0.0.1 (cookies are per host, not per port): Keycloak's are
/// scoped to `/realms/...`, Sekisho's to `/`. Keycloak 26 marks its cookies `Secure` even over
/// plain http; Chromium keeps them on 127.0.0.1 (a secure context), and so does this jar.
struct Jar {
    cookies: Vec<JarCookie>,
}

struct JarCookie {
    name: String,
    value: String,
    path: String,
}

/// One answer to [`Jar::fetch`], after the redirects it followed.
struct Fetched {
    status: u16,
    url: String,
    body: String,
}

/// Redirects [`Jar::fetch`] follows on loopback.
const MAX_REDIRECTS: usize = 10;

impl Jar {
    /// Sekisho's session cookie (`name=value`).
    fn sekisho_session(&self) -> String {
        let session: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| is_session_cookie(&c.name))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        assert_eq!(
            session.len(),
            1,
            "a Redis session is one small cookie; the browser holds {session:?}"
        );
        session[0].clone()
    }

    /// Sekisho's cookies (every chunk of a cookie session), as a `Cookie` header: the
    /// cookies not scoped to Keycloak's `/realms/...`.
    fn sekisho_cookies(&self) -> String {
        self.cookies
            .iter()
            .filter(|c| !c.path.starts_with("/realms/"))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The `Cookie` header for `path`.
    fn header(&self, path: &str) -> String {
        self.cookies
            .iter()
            .filter(|c| path.starts_with(c.path.trim_end_matches('/')))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Takes in one `Set-Cookie` (removal by `Max-Age=0` or an expiry in 1970 included).
    fn accept(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let mut path = "/".to_owned();
        let mut removed = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" => path = val.to_owned(),
                "max-age" => removed |= val.trim() == "0",
                "expires" => removed |= val.contains("1970"),
                _ => {}
            }
        }
        self.cookies.retain(|c| c.name != name || c.path != path);
        if !removed {
            self.cookies.push(JarCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                path,
            });
        }
    }

    /// `method url` at Keycloak with these cookies (and `form` as the body of a POST),
    /// following redirects on loopback as a browser does, taking in every `Set-Cookie`.
    async fn fetch(
        &mut self,
        keycloak: &Keycloak,
        method: &str,
        url: &str,
        form: &[(String, String)],
    ) -> Fetched {
        let mut url = url::Url::parse(url).expect("a URL");
        let mut method = method.to_owned();
        for _ in 0..MAX_REDIRECTS {
            assert_eq!(url.host_str(), Some("127.0.0.1"), "loopback only: {url}");
            let mut request = keycloak
                .http()
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("a method"),
                    url.clone(),
                )
                .header("cookie", self.header(url.path()));
            if method == "POST" {
                request = request.form(form);
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
            let status = response.status().as_u16();
            for value in response.headers().get_all("set-cookie") {
                self.accept(value.to_str().unwrap_or_default());
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            let body = response.text().await.unwrap_or_default();
            match location {
                Some(next) if (300..400).contains(&status) => {
                    url = next;
                    method = "GET".into();
                }
                _ => {
                    return Fetched {
                        status,
                        url: url.to_string(),
                        body,
                    };
                }
            }
        }
        panic!("more than {MAX_REDIRECTS} redirects from {url}");
    }
}

// ---------------------------------------------------------------------------------------------
// Keycloak unreachable

/// The page Sekisho shows when the provider cannot be reached (`src/handler/page.rs`).
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
    let jar = chromium_sign_in(&r.stack, "/app/", "down-start-recovered").await;
    let cookie = jar.sekisho_cookies();
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
    let jar = chromium_sign_in(&r.stack, "/app/", "down-use-signed-in").await;
    let cookie = jar.sekisho_cookies();
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
    let jar = chromium_sign_in(&r.stack, "/app/", "down-use-recovered").await;
    let response = app_with(&r.stack, &jar.sekisho_cookies()).await;
    assert_eq!(
        (response.status, app_user(&response)),
        (200, Some("alice")),
        "a new sign-in once Keycloak is back: {response:?}"
    );
    assert_eq!(r.stack.sekisho_get("/ready", &[]).await.status, 200);
}
