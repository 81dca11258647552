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

/// The peer's binary; panics, naming the script, when it is missing or was built from other
/// sources (the hash `scripts/gateways` records beside it, computed the same way).
pub fn binary() -> PathBuf {
    let dir = tools_dir().join("ext-authz");
    let binary = dir.join("ext-authz");
    let how = "run `scripts/gateways ext-authz` (./scripts/test does)";
    let built = std::fs::read_to_string(dir.join("source.sha256")).unwrap_or_else(|_| {
        panic!(
            "the ext_authz peer is not built at {}: {how}",
            binary.display()
        )
    });
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ext-authz");
    let hash = Command::new("sh")
        .args([
            "-c",
            "sha256sum go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1",
        ])
        .current_dir(&sources)
        .output()
        .expect("sha256sum runs");
    assert!(
        binary.is_file() && String::from_utf8_lossy(&hash.stdout).trim() == built.trim(),
        "{} was not built from {}: {how}",
        binary.display(),
        sources.display()
    );
    binary
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
