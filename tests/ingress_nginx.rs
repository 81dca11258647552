//! The client address behind ingress-nginx, as docs/ingress-nginx.md sets it up:
//! `config/nginx/ingress-nginx.conf` holds the directives ingress-nginx generates for
//! `use-forwarded-headers: "true"`, `compute-full-forwarded-for: "true"`,
//! `proxy-real-ip-cidr` and the auth annotations; Sekisho trusts the controller (here nginx on
//! 127.0.0.1) and the load balancer (127.0.0.2), as `trusted_proxies` in
//! deploy/kubernetes/configmap.yaml trusts the pod network and the load balancer.
//!
//! A client in `trusted_ips` behind the load balancer passes without a session; the same
//! address forged at the left of the chain, or sent by anyone connecting to the controller
//! directly, does not; a session's identity reaches the app in the `auth-response-headers`.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use common::http::{Client, Response};
use common::nginx::Nginx;
use common::oidc_stack::start_sekisho;
use common::ports::{free_port, loopback};
use common::sekisho::Sekisho;
use common::session;
use common::upstream::Upstream;

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/nginx/ingress-nginx.conf"
);
const SECRET: &str = "ingress-nginx-test-secret-of-at-least-32-bytes";
/// The load balancer in front of ingress-nginx.
const LOAD_BALANCER: Ipv4Addr = loopback(2);
/// Anyone reaching the controller without the load balancer.
const DIRECT: Ipv4Addr = loopback(3);
const TRUSTED_CLIENT: &str = "203.0.113.7";
const OTHER_CLIENT: &str = "198.51.100.9";

fn sekisho_config(public_url: &str) -> String {
    format!(
        r#"
public_url = "{public_url}"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
# The controller (the pod network) and the load balancer.
trusted_proxies = ["127.0.0.1/32", "{LOAD_BALANCER}/32"]

[session]
secret = "{SECRET}"
secure = false
"#
    )
}

struct Stack {
    nginx: Nginx,
    sekisho: Sekisho,
    upstream: Upstream,
}

impl Stack {
    async fn start() -> Self {
        let upstream = Upstream::start().await;
        let mut attempt = 0;
        let (nginx, sekisho) = loop {
            attempt += 1;
            let sekisho_addr =
                SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
            let nginx = Nginx::start(
                Path::new(TEMPLATE),
                &[
                    ("SEKISHO", &sekisho_addr.to_string()),
                    ("UPSTREAM", &upstream.addr().to_string()),
                    ("LOAD_BALANCER", &format!("{LOAD_BALANCER}/32")),
                ],
            )
            .await;
            let config = sekisho_config(&format!("http://{}", nginx.addr()));
            let env = vec![("SEKISHO_LISTEN".to_owned(), sekisho_addr.to_string())];
            match start_sekisho(config, env).await {
                Ok(sekisho) => break (nginx, sekisho),
                Err(message) if attempt < 3 && message.contains("in use") => continue,
                Err(message) => panic!("sekisho did not start: {message}"),
            }
        };
        Self {
            nginx,
            sekisho,
            upstream,
        }
    }

    /// `GET /` from `source`, and the client address Sekisho resolved for its decision.
    async fn get(&self, source: Ipv4Addr, headers: &[(&str, &str)]) -> (Response, String) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut all = vec![("X-Request-Id", request_id.as_str())];
        all.extend_from_slice(headers);
        let response = Client::from(source).get(self.nginx.addr(), "/", &all).await;
        let entry = self.sekisho.access_entry(&request_id).await;
        assert_eq!(entry["path"], "/oauth2/auth", "{entry}");
        let client = entry["client_ip"].as_str().unwrap_or_default().to_owned();
        (response, client)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_survives_ingress_nginx_and_only_a_trusted_client_skips_login() {
    let stack = Stack::start().await;

    // Through the load balancer, which appends the client it saw.
    let (response, client) = stack
        .get(LOAD_BALANCER, &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;
    assert_eq!(
        (response.status, client.as_str()),
        (200, TRUSTED_CLIENT),
        "a client in trusted_ips behind the load balancer passes without a session\n{}",
        stack.nginx.logs()
    );
    let received = stack.upstream.received();
    assert_eq!(
        received.last().and_then(|r| r.header("X-Forwarded-For")),
        Some(format!("{TRUSTED_CLIENT}, {LOAD_BALANCER}").as_str()),
        "the app gets the whole chain too (compute-full-forwarded-for)"
    );

    // The trusted address forged at the left: the load balancer appended the real client.
    let hits = stack.upstream.hits();
    let forged = format!("{TRUSTED_CLIENT}, {OTHER_CLIENT}");
    let (response, client) = stack
        .get(LOAD_BALANCER, &[("X-Forwarded-For", &forged)])
        .await;
    assert_eq!(
        (response.status, client.as_str()),
        (302, OTHER_CLIENT),
        "a forged left-most address does not skip login: the client is the one the load balancer saw"
    );
    assert!(
        response
            .header("location")
            .is_some_and(|l| l.ends_with("/oauth2/start?rd=/")),
        "auth-signin sends the browser to sign in: {:?}",
        response.header("location")
    );

    // Straight to the controller, not through the load balancer: the header is not believed.
    let (response, client) = stack
        .get(DIRECT, &[("X-Forwarded-For", TRUSTED_CLIENT)])
        .await;
    assert_eq!(
        (response.status, client.as_str()),
        (302, DIRECT.to_string().as_str()),
        "X-Forwarded-For from a peer that is no trusted proxy is ignored"
    );
    assert_eq!(
        stack.upstream.hits(),
        hits,
        "refused requests do not reach the app"
    );

    // A session: its identity reaches the app in the auth-response-headers, replacing any
    // the client sent.
    let cookie = session::cookie(
        SECRET,
        &session::session("alice", Some("alice@example.com"), &["/admins"]),
    );
    let (response, client) = stack
        .get(
            LOAD_BALANCER,
            &[
                ("X-Forwarded-For", OTHER_CLIENT),
                ("Cookie", &cookie),
                ("X-Auth-Request-User", "mallory"),
            ],
        )
        .await;
    assert_eq!((response.status, client.as_str()), (200, OTHER_CLIENT));
    let received = stack.upstream.received();
    let last = received.last().expect("the app received the request");
    assert_eq!(
        (
            last.header_all("X-Auth-Request-User"),
            last.header("X-Auth-Request-Email"),
            last.header("X-Auth-Request-Groups"),
        ),
        (vec!["alice"], Some("alice@example.com"), Some("/admins")),
        "the app sees the session's identity, and only it"
    );
}
