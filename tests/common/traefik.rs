//! A real Traefik (`scripts/gateways traefik`) running the shipped `config/traefik/traefik.yml`
//! and `dynamic.yml` with the test's addresses: the entry point on a free loopback port, the
//! app's router through the ForwardAuth middleware to the auth server, Sekisho's pages routed
//! to the auth server as they are. Its API listens on a second port, which the harness polls
//! to see when the routers are loaded.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::STARTUP_TIMEOUT;
use super::front_door::{
    Gateway, IDENTITY_HEADERS, SITE, Wiring, assert_names, render, tool_binary,
};
use super::http::Client;

/// The examples this door runs, under `config/`.
const STATIC: &str = "traefik/traefik.yml";
const DYNAMIC: &str = "traefik/dynamic.yml";

/// Cookies of Sekisho's that an allowing answer may set (a refreshed session: the whole
/// cookie, or up to ten chunks of it): ForwardAuth passes only the cookies it names on to the
/// client (`addAuthCookiesToResponse`), so the example must name them all.
pub const SESSION_COOKIES: [&str; 11] = [
    "_sekisho",
    "_sekisho_0",
    "_sekisho_1",
    "_sekisho_2",
    "_sekisho_3",
    "_sekisho_4",
    "_sekisho_5",
    "_sekisho_6",
    "_sekisho_7",
    "_sekisho_8",
    "_sekisho_9",
];

/// A running Traefik; killed by PID on drop.
#[derive(Debug)]
pub struct Traefik {
    gateway: Gateway,
}

impl Traefik {
    /// Starts Traefik with [`static_config`] and [`dynamic_config`] and waits until its router
    /// is loaded. Panics, naming the script that installs it, when Traefik is missing.
    pub async fn start(wiring: &Wiring) -> Self {
        let binary = tool_binary("traefik", "TRAEFIK_VERSION");
        let gateway = Gateway::start("traefik", 2, |dir: &Path, ports: &[u16]| {
            let dynamic = dir.join("dynamic.yml");
            std::fs::write(&dynamic, dynamic_config(wiring)).expect("write dynamic.yml");
            let config = dir.join("traefik.yml");
            std::fs::write(&config, static_config(wiring, ports, &dynamic))
                .expect("write traefik.yml");
            let mut command = Command::new(&binary);
            command
                .arg(format!("--configFile={}", config.display()))
                .current_dir(dir);
            (vec![config, dynamic], command)
        })
        .await;
        let traefik = Self { gateway };
        traefik.wait_for_router().await;
        traefik
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Polls the API until the file provider's router is there: the entry point listens before
    /// the provider's configuration is applied, and answers 404 until then. The example's
    /// routers are `sekisho` and `app`; `app`, the one the tests go through, is asked for.
    async fn wait_for_router(&self) {
        let api = SocketAddr::from((Ipv4Addr::LOCALHOST, self.gateway.port(1)));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let reply = Client::new()
                .request(api, "GET", "/api/http/routers/app@file", &[], b"")
                .await;
            if reply.is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Traefik did not load its router within {STARTUP_TIMEOUT:?}\n{}",
                self.gateway.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `config/traefik/traefik.yml` as the test runs it: the entry point `web` on `ports[0]` and
/// the dashboard's `traefik` on `ports[1]` of 127.0.0.1, the wiring's trusted proxies (none:
/// an empty list) in place of the example's load balancer, and `dynamic`, the test's
/// rendering of `dynamic.yml`, in place of `/etc/traefik/dynamic.yml`.
pub fn static_config(wiring: &Wiring, ports: &[u16], dynamic: &Path) -> String {
    let proxies: Vec<String> = wiring
        .trusted_proxies
        .iter()
        .map(|ip| format!("\"{ip}\""))
        .collect();
    render(
        STATIC,
        &[
            (
                "address: \":80\"",
                format!("address: \"127.0.0.1:{}\"", ports[0]),
            ),
            ("127.0.0.1:8081", format!("127.0.0.1:{}", ports[1])),
            (
                "trustedIPs: [\"192.0.2.0/24\"]",
                format!("trustedIPs: [{}]", proxies.join(", ")),
            ),
            ("/etc/traefik/dynamic.yml", dynamic.display().to_string()),
        ],
    )
}

/// `config/traefik/dynamic.yml` as the test runs it: the site [`SITE`], and the auth server
/// and the app in place of `127.0.0.1:4180` and `127.0.0.1:8080`.
pub fn dynamic_config(wiring: &Wiring) -> String {
    let dynamic = render(
        DYNAMIC,
        &[
            ("app.example.com", SITE.to_owned()),
            ("127.0.0.1:4180", wiring.auth.to_string()),
            ("127.0.0.1:8080", wiring.app.to_string()),
        ],
    );
    assert_names(DYNAMIC, &dynamic, &IDENTITY_HEADERS);
    assert_names(DYNAMIC, &dynamic, &SESSION_COOKIES);
    dynamic
}
