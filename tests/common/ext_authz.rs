//! The ext_authz gRPC peer (`tests/peers/ext-authz`, built by `scripts/gateways ext-authz` on
//! Envoy's own generated code, go-control-plane), in both roles:
//!
//! - [`ExtAuthzServer`]: an `envoy.service.auth.v3.Authorization` server that records each
//!   `CheckRequest` a real Envoy sends and answers with the `CheckResponse` the test gave for
//!   the request's path;
//! - [`check`]: a client that sends a `CheckRequest` (for example one recorded from Envoy) to
//!   a server, Sekisho's gRPC door, and returns its `CheckResponse`.
//!
//! Messages are protojson (`serde_json::Value`), field names in lowerCamelCase.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use super::STARTUP_TIMEOUT;
use super::front_door::tools_dir;
use super::process::Process;

/// The peer's binary; panics, naming the script, when it is missing or older than its sources.
pub fn binary() -> PathBuf {
    let binary = tools_dir().join("ext-authz/ext-authz");
    let how = "run `scripts/gateways ext-authz` (./scripts/test does)";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "the ext_authz peer is not built at {}: {how}",
                binary.display()
            )
        });
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ext-authz");
    let sources = std::fs::read_dir(&sources).expect("tests/peers/ext-authz");
    for entry in sources.flatten().filter(|entry| is_source(&entry.path())) {
        let changed = entry.metadata().and_then(|m| m.modified()).ok();
        assert!(
            changed.is_none_or(|changed| changed <= built),
            "{} is older than {}: {how}",
            binary.display(),
            entry.path().display()
        );
    }
    binary
}

/// What `scripts/gateways` builds the peer from (and hashes to tell when to rebuild it).
fn is_source(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".go") || name == "go.mod" || name == "go.sum"
}

/// A running recording server; killed by PID on drop.
#[derive(Debug)]
pub struct ExtAuthzServer {
    process: Process,
    addr: SocketAddr,
    _dir: TempDir,
}

impl ExtAuthzServer {
    /// Starts the server answering a check of path P (its query cut off) with `answers[P]`, or
    /// with `answers["*"]`; a `CheckResponse` each, as protojson.
    pub async fn start(answers: &Value) -> Self {
        let binary = binary();
        let dir = tempfile::Builder::new()
            .prefix("sekisho-ext-authz-")
            .tempdir()
            .expect("temporary directory");
        let file = dir.path().join("answers.json");
        std::fs::write(&file, answers.to_string()).expect("write answers.json");
        let mut command = Command::new(binary);
        command.arg("serve").arg("-answers").arg(&file);
        let mut process = Process::spawn("ext-authz", command);
        let line = process
            .wait_for_line("its address", STARTUP_TIMEOUT, |l| {
                l.starts_with("listening on ")
            })
            .await;
        let addr = line["listening on ".len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no address in the ext-authz line {line:?}"));
        Self {
            process,
            addr,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every `CheckRequest` received so far, in order.
    pub fn checks(&self) -> Vec<Value> {
        self.process
            .output()
            .lines()
            .iter()
            .filter_map(|line| line.strip_prefix("check: "))
            .map(|json| serde_json::from_str(json).expect("the peer prints protojson"))
            .collect()
    }
}

/// Sends `request` (a `CheckRequest`) to the gRPC server at `server` and returns its
/// `CheckResponse`, or the peer's error (the call's gRPC status) as `Err`.
pub async fn check(server: SocketAddr, request: &Value) -> Result<Value, String> {
    let mut child = tokio::process::Command::new(binary())
        .arg("check")
        .arg("-server")
        .arg(server.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the ext-authz client");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .expect("write the CheckRequest");
    drop(stdin);
    let output = child
        .wait_with_output()
        .await
        .expect("run the ext-authz client");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the client printed no CheckResponse ({e}): {output:?}"))
}
