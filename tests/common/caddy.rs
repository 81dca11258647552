//! A real Caddy (`scripts/gateways caddy`) with `forward_auth` to the auth server and
//! `reverse_proxy` to the app, from a Caddyfile written into its temporary directory: plain
//! HTTP on loopback, no admin endpoint, nothing saved outside that directory.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use super::front_door::{Door, Gateway, IDENTITY_HEADERS, Wiring, tool_binary};

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
/// certificates) in `dir`.
fn command(binary: &Path, config: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(config)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .current_dir(dir);
    command
}

/// The Caddyfile: `forward_auth` to `wiring.auth` with `uri /oauth2/caddy`, copying the
/// identity headers of an allowing answer onto the request (Caddy deletes the client's own
/// first), then `reverse_proxy` to the app. Trusted proxies, if any, make Caddy keep their
/// `X-Forwarded-For` and append to it (`servers { trusted_proxies static ... }`).
pub fn caddyfile(wiring: &Wiring, port: u16) -> String {
    let mut global = String::from("{\n\tauto_https off\n\tadmin off\n\tpersist_config off\n");
    if !wiring.trusted_proxies.is_empty() {
        let proxies: Vec<String> = wiring
            .trusted_proxies
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        let _ = writeln!(
            global,
            "\tservers {{\n\t\ttrusted_proxies static {}\n\t}}",
            proxies.join(" ")
        );
    }
    global.push_str("}\n");
    format!(
        "{global}
http://:{port} {{
	bind 127.0.0.1
	log {{
		output stdout
		format json
	}}
	forward_auth {auth} {{
		uri {uri}
		copy_headers {copy}
	}}
	reverse_proxy {app}
}}
",
        auth = wiring.auth,
        uri = Door::Caddy.auth_path(),
        copy = IDENTITY_HEADERS.join(" "),
        app = wiring.app,
    )
}
