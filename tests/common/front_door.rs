//! The front doors that put Sekisho's decision in front of an app, run for real: Traefik's
//! ForwardAuth, Caddy's `forward_auth`, and Envoy's ext_authz filter over HTTP and over gRPC
//! (`scripts/gateways` builds or fetches each, pinned, into `target/tools/`).
//!
//! [`FrontDoor::start`] starts one on a free loopback port, asking the auth server of a
//! [`Wiring`] and passing what it allows on to the wiring's app, with the example
//! configuration the repository ships for it (`config/caddy/`, `config/traefik/`,
//! `config/envoy/`, which `docs/front-doors.md` explains): the door's own module
//! ([`caddy`](super::caddy), [`traefik`](super::traefik), [`envoy`](super::envoy)) puts the
//! test's addresses in place of the file's examples with [`render`], and changes nothing else
//! that decides who passes. Each runs with its configuration and logs in a temporary
//! directory, and is killed by PID on drop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::STARTUP_TIMEOUT;
use super::caddy::Caddy;
use super::envoy::{Envoy, ExtAuthz};
use super::ports::free_port;
use super::process::Process;
use super::traefik::Traefik;

/// The identity headers Sekisho answers with, which every door copies from an allowing answer
/// onto the request to the app (and strips from the client's request): every shipped
/// configuration that lists them must list all of them ([`assert_names`]).
pub const IDENTITY_HEADERS: [&str; 6] = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Email-Verified",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Access-Token",
];

/// One of the front doors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// Traefik's ForwardAuth middleware: `GET http://AUTH/oauth2/traefik`.
    Traefik,
    /// Caddy's `forward_auth`: `GET /oauth2/caddy` on AUTH.
    Caddy,
    /// Envoy's ext_authz filter with `http_service`: the client's method and path, after the
    /// prefix `/oauth2/ext_authz`.
    EnvoyHttp,
    /// Envoy's ext_authz filter with `grpc_service`:
    /// `envoy.service.auth.v3.Authorization/Check` over cleartext HTTP/2.
    EnvoyGrpc,
}

impl Door {
    pub const ALL: [Door; 4] = [Door::Traefik, Door::Caddy, Door::EnvoyHttp, Door::EnvoyGrpc];

    /// The path of Sekisho's endpoint for this door (for gRPC, the method's HTTP/2 path).
    pub fn auth_path(self) -> &'static str {
        match self {
            Door::Traefik => "/oauth2/traefik",
            Door::Caddy => "/oauth2/caddy",
            Door::EnvoyHttp => "/oauth2/ext_authz",
            Door::EnvoyGrpc => "/envoy.service.auth.v3.Authorization/Check",
        }
    }
}

/// The site's host name in the tests (they send `Host: app.example`), in place of the
/// examples' `app.example.com`.
pub const SITE: &str = "app.example";

/// A shipped example configuration, `config/<file>`, with each example value (`from`) replaced
/// by the test's (`to`) in one pass over the file, so a value put in is never replaced again.
/// Panics, naming the file and the value, when one of them is not in the file: the harness
/// and the example would no longer agree, and the test would not run what users copy.
pub fn render(file: &str, values: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(file);
    let example = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for (from, _) in values {
        assert!(
            example.contains(from),
            "config/{file} no longer contains `{from}`, which the tests replace with their own \
             value: update tests/common/ to match the example"
        );
    }
    let mut rendered = String::with_capacity(example.len());
    let mut rest = example.as_str();
    // The earliest value next, the longest of those starting at the same place.
    while let Some((at, from, to)) = values
        .iter()
        .filter_map(|(from, to)| rest.find(from).map(|at| (at, *from, to)))
        .min_by_key(|(at, from, _)| (*at, std::cmp::Reverse(from.len())))
    {
        rendered.push_str(&rest[..at]);
        rendered.push_str(to);
        rest = &rest[at + from.len()..];
    }
    rendered.push_str(rest);
    rendered
}

/// Panics unless `text` (the rendering of `config/<file>`) names each of `names` (case
/// ignored): a header missing from a door's list would let a client's own reach the app.
pub fn assert_names(file: &str, text: &str, names: &[&str]) {
    let text = text.to_ascii_lowercase();
    for name in names {
        assert!(
            text.contains(&name.to_ascii_lowercase()),
            "config/{file} does not name {name}"
        );
    }
}

/// Where a door sends its questions and the requests it lets through.
#[derive(Clone, Debug)]
pub struct Wiring {
    /// The auth server: Sekisho, or a recording stand-in.
    pub auth: SocketAddr,
    /// The app behind the door.
    pub app: SocketAddr,
    /// Peers whose `X-Forwarded-*` Traefik and Caddy believe and extend (a CDN in front of
    /// them); from any other peer they replace them. None by default. Envoy's configuration
    /// does not use it: Envoy always appends its peer and leaves the walk to the auth server.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Wiring {
    pub fn new(auth: SocketAddr, app: SocketAddr) -> Self {
        Self {
            auth,
            app,
            trusted_proxies: Vec::new(),
        }
    }

    pub fn trusting(mut self, proxy: impl Into<IpAddr>) -> Self {
        self.trusted_proxies.push(proxy.into());
        self
    }
}

/// A running front door of any kind; killed by PID on drop.
#[derive(Debug)]
pub enum FrontDoor {
    Traefik(Traefik),
    Caddy(Caddy),
    Envoy(Envoy),
}

impl FrontDoor {
    pub async fn start(door: Door, wiring: &Wiring) -> Self {
        match door {
            Door::Traefik => Self::Traefik(Traefik::start(wiring).await),
            Door::Caddy => Self::Caddy(Caddy::start(wiring).await),
            Door::EnvoyHttp => Self::Envoy(Envoy::start(ExtAuthz::Http, wiring).await),
            Door::EnvoyGrpc => Self::Envoy(Envoy::start(ExtAuthz::Grpc, wiring).await),
        }
    }

    fn gateway(&self) -> &Gateway {
        match self {
            Self::Traefik(door) => door.gateway(),
            Self::Caddy(door) => door.gateway(),
            Self::Envoy(door) => door.gateway(),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.gateway().addr()
    }

    pub fn pid(&self) -> u32 {
        self.gateway().pid()
    }

    /// Its configuration and everything it printed, for failure messages.
    pub fn logs(&self) -> String {
        self.gateway().logs()
    }
}

/// The binary `scripts/gateways NAME` installs: `$<NAME>_BINARY` if set, else
/// `target/tools/NAME-VERSION/NAME` with VERSION as `scripts/gateways` pins it in
/// `version_variable`. Panics, naming the script to run, when it is not there: a test of a
/// door must fail, never pass, on a machine without the door.
pub fn tool_binary(name: &str, version_variable: &str) -> PathBuf {
    let variable = format!("{}_BINARY", name.to_ascii_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&variable).map(PathBuf::from) {
        assert!(
            path.is_file(),
            "{variable}={} is not a file",
            path.display()
        );
        return path;
    }
    let version = pinned_version(version_variable);
    let path = tools_dir().join(format!("{name}-{version}")).join(name);
    assert!(
        path.is_file(),
        "{name} {version} is not installed at {}: run `scripts/gateways {name}` (./scripts/test \
         does), or set {variable}",
        path.display()
    );
    path
}

/// `target/tools`, where the scripts install what the tests run.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("tools")
}

/// The value of `NAME=VALUE` in `scripts/gateways`, the one place the versions are pinned.
fn pinned_version(variable: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gateways");
    let text = std::fs::read_to_string(&script)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()));
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{variable}=")))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("{} pins no {variable}", script.display()))
}

/// How the doors say that another process took their port.
const ADDRESS_IN_USE: &str = "address already in use";

/// Attempts at finding ports nobody else takes before the door binds them.
const PORT_ATTEMPTS: usize = 5;

/// A door's process with its directory (configuration, logs) and the port clients use.
#[derive(Debug)]
pub struct Gateway {
    process: Process,
    addr: SocketAddr,
    /// Every port it listens on, `addr`'s first.
    ports: Vec<u16>,
    /// Its configuration files, shown in failure messages.
    configs: Vec<PathBuf>,
    dir: TempDir,
}

impl Gateway {
    /// Starts a door that needs `ports` free ports of 127.0.0.1: `command` writes its
    /// configuration into the directory for those ports and returns the command that runs it.
    /// Returns once every port accepts connections; starts again with fresh ports when another
    /// process took one first. `command` also returns the configuration files it wrote.
    pub async fn start(
        name: &str,
        ports: usize,
        command: impl Fn(&Path, &[u16]) -> (Vec<PathBuf>, Command),
    ) -> Self {
        for attempt in 1..=PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix(&format!("sekisho-{name}-"))
                .tempdir()
                .expect("temporary directory");
            let ports: Vec<u16> = (0..ports).map(|_| free_port(Ipv4Addr::LOCALHOST)).collect();
            let (configs, command) = command(dir.path(), &ports);
            let mut gateway = Self {
                process: Process::spawn(name, command),
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0])),
                ports,
                configs,
                dir,
            };
            match gateway.wait_listening().await {
                Ok(()) => return gateway,
                Err(logs)
                    if logs.to_lowercase().contains(ADDRESS_IN_USE) && attempt < PORT_ATTEMPTS =>
                {
                    continue;
                }
                Err(logs) => panic!("{name} did not start (attempt {attempt}):\n{logs}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Waits until every port accepts a connection; `Err` with the logs if the process exits
    /// first.
    async fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.process.exit_status() {
                return Err(format!(
                    "{} exited ({status})\n{}",
                    self.name(),
                    self.logs()
                ));
            }
            let mut listening = true;
            for port in &self.ports {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                listening &= tokio::net::TcpStream::connect(addr).await.is_ok();
            }
            if listening {
                return Ok(());
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not listen on {:?} within {STARTUP_TIMEOUT:?}\n{}",
                    self.name(),
                    self.ports,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn name(&self) -> &str {
        self.process.name()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `n`th port it was given (0 is [`Self::addr`]'s).
    pub fn port(&self, n: usize) -> u16 {
        self.ports[n]
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Its configuration files and its output.
    pub fn logs(&self) -> String {
        format!(
            "{}----- {} output -----\n{}",
            self.configs_text(),
            self.name(),
            self.process.output().text()
        )
    }

    fn configs_text(&self) -> String {
        self.configs
            .iter()
            .map(|path| {
                let config = std::fs::read_to_string(path).unwrap_or_default();
                format!("----- {} -----\n{config}\n", path.display())
            })
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.process.stop();
        if std::thread::panicking() {
            // The process prints its own output when it drops, right after this.
            eprintln!(
                "----- {} (pid {}) on {} -----\n{}",
                self.name(),
                self.pid(),
                self.addr,
                self.configs_text()
            );
        }
    }
}
