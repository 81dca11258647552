//! Sekisho behind each real front door: Traefik's ForwardAuth, Caddy's `forward_auth`, and
//! Envoy's ext_authz over HTTP and over gRPC, as `tests/common/front_door.rs` configures them,
//! in front of an app that records what reaches it.
//!
//! Every client is on loopback, told apart by its source address: 127.0.0.5 is in
//! `trusted_ips` (the seed story's "these addresses skip the login"), 127.0.0.3 is a browser
//! or an attacker. The doors reach Sekisho from 127.0.0.1, its one trusted proxy.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::front_door::{Door, FrontDoor, Wiring};
use common::http::{Client, Response};
use common::ports::loopback;
use common::sekisho::Sekisho;
use common::session::cookie;
use common::upstream::Upstream;
use sekisho::session::Session;

const SECRET: &str = "front-door-secret-0123456789abcdef0123";
const TRUSTED: Ipv4Addr = loopback(5);
const BROWSER: Ipv4Addr = loopback(3);
const HOST: &str = "app.example";
const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

fn config(trusted_proxies: &str) -> String {
    format!(
        "public_url = 'http://sso.example'\n\
         trusted_ips = ['{TRUSTED}/32']\n\
         [client_ip]\ntrusted_proxies = [{trusted_proxies}]\n\
         [session]\nsecret = '{SECRET}'\nsecure = false\n"
    )
}

fn alice() -> String {
    let mut alice = Session::new("alice", Duration::from_secs(3600));
    alice.email = Some("alice@example.com".into());
    alice.groups = vec!["dev".into()];
    cookie(SECRET, &alice)
}

/// Sekisho, the app, and `door` between the client and both.
struct Bed {
    sekisho: Sekisho,
    app: Upstream,
    door: FrontDoor,
    which: Door,
}

impl Bed {
    async fn start(which: Door, trusted_proxies: &str) -> Self {
        let sekisho = Sekisho::start(&config(trusted_proxies)).await;
        let app = Upstream::start().await;
        let door = FrontDoor::start(which, &Wiring::new(sekisho.addr(), app.addr())).await;
        Self {
            sekisho,
            app,
            door,
            which,
        }
    }

    async fn get(&self, from: Ipv4Addr, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("host", HOST)];
        all.extend_from_slice(headers);
        Client::from(from).get(self.door.addr(), path, &all).await
    }

    /// What failed, with everything the door and Sekisho said.
    fn context(&self, what: &str) -> String {
        format!(
            "{:?}: {what}\n--- door ---\n{}\n--- sekisho ---\n{:?}",
            self.which,
            self.door.logs(),
            self.sekisho.output().text()
        )
    }
}

#[tokio::test]
async fn a_session_reaches_the_app_with_its_identity_and_nothing_the_client_wrote() {
    for which in Door::ALL {
        let bed = Bed::start(which, "'127.0.0.1'").await;
        let cookie = alice();
        let response = bed
            .get(
                BROWSER,
                "/projects/x?tab=1",
                &[
                    ("cookie", &cookie),
                    ("x-auth-request-user", "mallory"),
                    ("x-auth-request-access-token", "forged"),
                ],
            )
            .await;
        assert_eq!(
            response.status,
            200,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        let reached = bed.app.received();
        let last = reached.last().expect("the app was reached");
        assert_eq!(
            last.target,
            "/projects/x?tab=1",
            "{}",
            bed.context("target")
        );
        assert_eq!(
            last.header_all("x-auth-request-user"),
            ["alice"],
            "{}",
            bed.context("user")
        );
        assert_eq!(
            last.header("x-auth-request-groups"),
            Some("dev"),
            "{}",
            bed.context("groups")
        );
        assert_eq!(
            last.header("x-auth-request-access-token"),
            None,
            "{}",
            bed.context("token")
        );
    }
}

#[tokio::test]
async fn a_browser_without_a_session_is_sent_to_sign_in_and_back_and_a_script_gets_401() {
    for which in Door::ALL {
        let bed = Bed::start(which, "'127.0.0.1'").await;
        let response = bed.get(BROWSER, "/projects/x?tab=1", &[HTML]).await;
        assert_eq!(
            response.status,
            302,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        assert_eq!(
            response.header("location"),
            Some(
                "http://sso.example/oauth2/start?rd=http%3A%2F%2Fapp.example%2Fprojects%2Fx%3Ftab%3D1"
            ),
            "{}",
            bed.context("location")
        );
        let response = bed
            .get(BROWSER, "/api/x", &[("accept", "application/json")])
            .await;
        assert_eq!(
            response.status,
            401,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        let tampered = alice().replace("_sekisho=", "_sekisho=x");
        let response = bed.get(BROWSER, "/api/x", &[("cookie", &tampered)]).await;
        assert_eq!(response.status, 401, "{}", bed.context("tampered cookie"));
        assert_eq!(bed.app.hits(), 0, "{}", bed.context("the app was reached"));
    }
}

#[tokio::test]
async fn a_trusted_address_passes_without_a_session_and_without_an_identity() {
    for which in Door::ALL {
        let bed = Bed::start(which, "'127.0.0.1'").await;
        let response = bed
            .get(
                TRUSTED,
                "/dashboards",
                &[("x-auth-request-user", "mallory")],
            )
            .await;
        assert_eq!(
            response.status,
            200,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        let reached = bed.app.received();
        let last = reached.last().expect("the app was reached");
        assert_eq!(
            last.header("x-auth-request-user"),
            None,
            "{}",
            bed.context("identity")
        );
    }
}

#[tokio::test]
async fn a_client_naming_a_trusted_address_or_another_path_gets_nowhere() {
    for which in Door::ALL {
        let bed = Bed::start(which, "'127.0.0.1'").await;
        let forged = [
            ("x-forwarded-for", "127.0.0.5"),
            ("x-real-ip", "127.0.0.5"),
            ("forwarded", "for=127.0.0.5"),
            ("x-forwarded-uri", "/public"),
            ("x-forwarded-method", "OPTIONS"),
            ("x-forwarded-host", "trusted.example"),
        ];
        let response = bed.get(BROWSER, "/admin", &forged).await;
        assert_eq!(
            response.status,
            401,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        assert_eq!(bed.app.hits(), 0, "{}", bed.context("the app was reached"));
    }
}

#[tokio::test]
async fn a_door_sekisho_does_not_trust_fails_closed_even_for_a_trusted_address() {
    for which in Door::ALL {
        // The doors connect from 127.0.0.1, which is not listed.
        let bed = Bed::start(which, "'192.0.2.1'").await;
        let response = bed.get(TRUSTED, "/dashboards", &[]).await;
        assert_ne!(
            response.status,
            200,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        assert_eq!(bed.app.hits(), 0, "{}", bed.context("the app was reached"));
        let door_reads_headers = which != Door::EnvoyHttp;
        if door_reads_headers {
            let named = bed
                .sekisho
                .output()
                .wait_for(Duration::from_secs(5), |line| {
                    line.contains("client_ip.trusted_proxies")
                })
                .await;
            assert!(
                named.is_some(),
                "{}",
                bed.context("no log line naming the setting")
            );
        }
    }
}

#[tokio::test]
async fn a_signed_in_browser_sent_to_sign_in_again_is_logged_with_the_setting_to_change() {
    // What a browser does when its door asks without the cookie: it arrives at sign-in with a
    // valid session.
    let sekisho = Sekisho::start(&config("'127.0.0.1'")).await;
    let cookie = alice();
    Client::from(BROWSER)
        .get(
            sekisho.addr(),
            "/oauth2/start?rd=%2F",
            &[("cookie", &cookie)],
        )
        .await;
    let warned = sekisho
        .output()
        .wait_for(Duration::from_secs(5), |line| {
            line.contains("sent to sign in again") && line.contains("allowed_headers")
        })
        .await;
    assert!(warned.is_some(), "{}", sekisho.output().text());
    // Without a session it is an ordinary sign-in, not worth a warning.
    let before = sekisho.output().lines().len();
    Client::from(BROWSER)
        .get(sekisho.addr(), "/oauth2/start?rd=%2F", &[])
        .await;
    let after = sekisho.output().lines();
    assert!(
        !after[before..]
            .iter()
            .any(|l| l.contains("sent to sign in again")),
        "{after:?}"
    );
}

#[tokio::test]
async fn sekishos_own_paths_reach_it_through_each_door_without_asking_it_first() {
    for which in Door::ALL {
        let bed = Bed::start(which, "'127.0.0.1'").await;
        let cookie = alice();
        let response = bed
            .get(BROWSER, "/oauth2/userinfo", &[("cookie", &cookie)])
            .await;
        assert_eq!(
            response.status,
            200,
            "{}",
            bed.context(&format!("{response:?}"))
        );
        assert!(
            response.body.contains("\"user\":\"alice\""),
            "{}",
            bed.context(&response.body)
        );
        assert_eq!(bed.app.hits(), 0, "{}", bed.context("the app was reached"));
    }
}
