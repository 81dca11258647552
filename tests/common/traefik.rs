//! A real Traefik (`scripts/gateways traefik`): an entry point on a free loopback port, a
//! router for every path through a ForwardAuth middleware to the auth server, and the app as
//! its service, from the file provider. Its API listens on a second port, only so the harness
//! can see when the router is loaded.

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::STARTUP_TIMEOUT;
use super::front_door::{Door, Gateway, IDENTITY_HEADERS, Wiring, tool_binary};
use super::http::Client;

/// Cookies of Sekisho's that an allowing answer may set (a refreshed session: the whole
/// cookie, or up to ten chunks of it): ForwardAuth passes only the cookies it names on to the
/// client (`addAuthCookiesToResponse`).
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
    /// the provider's configuration is applied, and answers 404 until then.
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

/// The static configuration: the entry point `web` on `ports[0]` (believing `X-Forwarded-*`
/// from the trusted proxies only: from any other peer Traefik drops them), the API on
/// `ports[1]`, the file provider reading `dynamic`, debug and access logs on stdout.
pub fn static_config(wiring: &Wiring, ports: &[u16], dynamic: &Path) -> String {
    let mut trusted = String::new();
    if !wiring.trusted_proxies.is_empty() {
        trusted.push_str("    forwardedHeaders:\n      trustedIPs:\n");
        for proxy in &wiring.trusted_proxies {
            let _ = writeln!(trusted, "        - \"{proxy}\"");
        }
    }
    format!(
        "global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: \"127.0.0.1:{web}\"
{trusted}  traefik:
    address: \"127.0.0.1:{api}\"
api:
  insecure: true
  dashboard: false
providers:
  file:
    filename: \"{dynamic}\"
    watch: false
log:
  level: DEBUG
accessLog: {{}}
",
        web = ports[0],
        api = ports[1],
        dynamic = dynamic.display(),
    )
}

/// The dynamic configuration: every path of entry point `web` through the ForwardAuth
/// middleware `sekisho` to the service `app`. ForwardAuth asks
/// `http://AUTH/oauth2/traefik`, passes on the `X-Forwarded-*` the entry point kept
/// (`trustForwardHeader`: the entry point has already dropped any from untrusted peers),
/// copies the identity headers of an allowing answer onto the request (removing the client's
/// own), and lets Sekisho's session cookies of an allowing answer reach the client.
pub fn dynamic_config(wiring: &Wiring) -> String {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("          - \"{name}\"\n"))
            .collect::<String>()
    };
    format!(
        "http:
  routers:
    app:
      rule: \"PathPrefix(`/`)\"
      entryPoints: [\"web\"]
      middlewares: [\"sekisho\"]
      service: app
  middlewares:
    sekisho:
      forwardAuth:
        address: \"http://{auth}{path}\"
        trustForwardHeader: true
        maxResponseBodySize: 65536
        authResponseHeaders:
{headers}        addAuthCookiesToResponse:
{cookies}  services:
    app:
      loadBalancer:
        servers:
          - url: \"http://{app}\"
",
        auth = wiring.auth,
        path = Door::Traefik.auth_path(),
        headers = list(&IDENTITY_HEADERS),
        cookies = list(&SESSION_COOKIES),
        app = wiring.app,
    )
}
