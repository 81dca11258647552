//! The real `sekisho` binary, as Cargo built it for this test, serving on an ephemeral port.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::STARTUP_TIMEOUT;
use super::process::{Output, Process};

pub const BINARY: &str = env!("CARGO_BIN_EXE_sekisho");

/// A running `sekisho serve`. Killed and reaped on drop.
#[derive(Debug)]
pub struct Sekisho {
    process: Process,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Sekisho {
    /// Starts Sekisho with `config` (TOML) as its configuration file. See [`Self::start_with_env`].
    pub async fn start(config: &str) -> Self {
        Self::start_with_env(config, &[]).await
    }

    /// Starts Sekisho with `config` (TOML) as its configuration file and `env` as extra
    /// environment, and waits for its startup line to learn the port it bound.
    ///
    /// `SEKISHO_*` and `RUST_LOG` variables of the test's own environment are not passed on.
    /// The harness sets, before `env` (which may override them): `SEKISHO_LISTEN=127.0.0.1:0`,
    /// JSON logs (`SEKISHO_LOG__FORMAT`), the access log on, and a level that shows Sekisho's
    /// debug lines and the startup line (`SEKISHO_LOG__LEVEL`). The startup line must stay
    /// visible: it is how the port is learnt.
    pub async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sekisho-e2e-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().join("sekisho.toml");
        std::fs::write(&path, config).expect("write sekisho.toml");

        let mut command = Command::new(BINARY);
        command
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .current_dir(dir.path());
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("SEKISHO_") || n == "RUST_LOG")
            {
                command.env_remove(name);
            }
        }
        command
            .env("SEKISHO_LISTEN", "127.0.0.1:0")
            .env("SEKISHO_LOG__FORMAT", "json")
            .env("SEKISHO_LOG__LEVEL", "sekisho=debug,info")
            .env("SEKISHO_LOG__ACCESS", "true")
            .envs(env.iter().copied());

        let mut process = Process::spawn("sekisho", command);
        let started = process
            .wait_for_line("its startup line", STARTUP_TIMEOUT, |line| {
                json(line).is_some_and(|v| v["message"] == "sekisho started")
            })
            .await;
        let addr = json(&started)
            .and_then(|v| v["listen"].as_str()?.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in the startup line: {started}"));
        Self {
            process,
            addr,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    pub fn output(&self) -> &Output {
        self.process.output()
    }

    /// Every JSON log line so far.
    pub fn log(&self) -> Vec<Value> {
        self.output()
            .lines()
            .iter()
            .filter_map(|l| json(l))
            .collect()
    }

    /// Waits up to five seconds for a JSON log line for which `matches` is true: a line
    /// Sekisho wrote before it answered may still be on its way through the pipe.
    pub async fn wait_logged(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let line = self
            .output()
            .wait_for(Duration::from_secs(5), |line| {
                json(line).is_some_and(|v| matches(&v))
            })
            .await?;
        json(&line)
    }

    /// Waits up to five seconds until `count` JSON log lines match; returns how many did.
    pub async fn wait_logged_count(&self, count: usize, matches: impl Fn(&Value) -> bool) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.log().iter().filter(|l| matches(l)).count();
            if seen >= count || std::time::Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the access-log entry of the request that carried `X-Request-Id: request_id`
    /// (nginx passes the client's headers on to the auth subrequest, and Sekisho keeps an
    /// incoming request id). Panics, with Sekisho's output, if none appears.
    pub async fn access_entry(&self, request_id: &str) -> Value {
        let is_entry = |line: &str| {
            json(line)
                .is_some_and(|v| v["target"] == "sekisho::access" && v["request_id"] == request_id)
        };
        let line = self
            .output()
            .wait_for(Duration::from_secs(5), is_entry)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "sekisho logged no access entry for request id {request_id}; its output:\n{}",
                    self.output().text()
                )
            });
        json(&line).expect("matched as JSON")
    }
}

fn json(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

/// `sekisho ARGS` run once from the repository's root, `stdin` fed to it, with none of the
/// test's own `SEKISHO_*` and `OAUTH2_PROXY_*` variables and `env` added.
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars()
        .filter(|(n, _)| n.starts_with("SEKISHO_") || n.starts_with("OAUTH2_PROXY_"))
    {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("run sekisho");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("sekisho's output")
}

/// `sekisho check` on the configuration `text`, with the secrets in the environment as a
/// deployment gives them (`SEKISHO_SESSION__SECRET`, `SEKISHO_OIDC__CLIENT_SECRET` when the
/// configuration has `[oidc]`).
pub fn check(text: &str) -> std::process::Output {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(text.as_bytes())
        .expect("write the configuration");
    let path = file.path().to_str().expect("UTF-8 path").to_owned();
    let secret = "k".repeat(40);
    let mut env = vec![("SEKISHO_SESSION__SECRET", secret.as_str())];
    if text.lines().any(|l| l.trim() == "[oidc]") {
        env.push(("SEKISHO_OIDC__CLIENT_SECRET", "from-the-secret"));
    }
    run(&["check", "--config", &path], &env, None)
}

/// The `$ sekisho ...` blocks of the guide `guide` (a path from the repository's root): each
/// is run, and the lines the guide shows after the command must be lines of its real output
/// (stdout, then stderr), in order; `...` stands for lines left out. Returns how many blocks
/// were run and matched.
pub fn guide_blocks_matching_output(guide: &str) -> usize {
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(guide))
            .expect("read the guide");
    let mut shown = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let Some(command) = block.first().and_then(|l| l.strip_prefix("$ sekisho ")) else {
            continue;
        };
        let args: Vec<&str> = command.split_whitespace().collect();
        let out = run(&args, &[], None);
        let actual = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut at = actual.lines();
        for expected in block[1..].iter().filter(|l| l.trim() != "...") {
            assert!(
                at.any(|a| a.trim_end() == expected.trim_end()),
                "{guide}: `{command}` does not print {expected:?} (after the lines before it); \
                 it prints:\n{actual}"
            );
        }
        shown += 1;
    }
    shown
}
