//! A real Caddy (`scripts/gateways caddy`) running the shipped `config/caddy/Caddyfile`
//! (`forward_auth` to the auth server, `reverse_proxy` to the app) with the test's addresses:
//! plain HTTP on loopback, its admin endpoint on a socket and everything it saves in its
//! temporary directory.

use std::path::Path;
use std::process::Command;

use super::front_door::{
    Gateway, IDENTITY_HEADERS, SITE, Wiring, assert_names, render, tool_binary,
};

/// The example this door runs, under `config/`.
const FILE: &str = "caddy/Caddyfile";

/// A running Caddy; killed by PID on drop.
#[derive(Debug)]
pub struct Caddy {
    gateway: Gateway,
}

impl Caddy {
    /// Starts Caddy on a free port of 127.0.0.1 with [`caddyfile`]'s configuration. Panics,
    /// naming the script that installs it, when Caddy is missing.
    pub async fn start(wiring: &Wiring) -> Self {
        let binary = tool_binary("caddy", "CADDY_VERSION");
        let gateway = Gateway::start("caddy", 1, |dir: &Path, ports: &[u16]| {
            let config = dir.join("Caddyfile");
            std::fs::write(&config, caddyfile(wiring, ports[0])).expect("write the Caddyfile");
            let command = command(&binary, &config, dir);
            (vec![config], command)
        })
        .await;
        Self { gateway }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

/// `caddy run` with everything Caddy would keep under `$HOME` (autosaved configuration,
/// certificates) in `dir`, and its admin endpoint (by default `localhost:2019`, which Caddys
/// running side by side would share) on a Unix socket there.
fn command(binary: &Path, config: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(config)
        .env(
            "CADDY_ADMIN",
            format!("unix/{}", dir.join("admin.sock").display()),
        )
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .current_dir(dir);
    command
}

/// `config/caddy/Caddyfile` as the test runs it: the site `app.example.com` (HTTPS with a
/// certificate Caddy would obtain) served on plain HTTP at `port` of 127.0.0.1 as [`SITE`],
/// the auth server and the app in place of `127.0.0.1:4180` and `127.0.0.1:8080`, and the
/// wiring's trusted proxies (none: an empty list) in place of the example's load balancer.
pub fn caddyfile(wiring: &Wiring, port: u16) -> String {
    let proxies: Vec<String> = wiring
        .trusted_proxies
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    let caddyfile = render(
        FILE,
        &[
            (
                "app.example.com {",
                format!("http://{SITE}:{port} {{\n\tbind 127.0.0.1"),
            ),
            ("127.0.0.1:4180", wiring.auth.to_string()),
            ("127.0.0.1:8080", wiring.app.to_string()),
            (
                "trusted_proxies static 192.0.2.0/24",
                format!("trusted_proxies static {}", proxies.join(" ")),
            ),
        ],
    );
    assert_names(FILE, &caddyfile, &IDENTITY_HEADERS);
    caddyfile
}
