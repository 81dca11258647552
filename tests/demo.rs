//! `./scripts/demo` as a newcomer runs it: started with its own ports (ephemeral ones here),
//! it prints the URL to open and where Keycloak's admin console is; a headless Chromium opens
//! the URL, picks a provider on Sekisho's choice page and signs in as alice on Keycloak's own
//! sign-in page, once over OpenID Connect and once over SAML 2.0 (both the realm `demo` of the
//! shipped realm file, its URLs pointed at the demo's), landing on the app's page with alice's
//! identity. Then the script gets SIGINT, as from Ctrl-C, and must stop: it, nginx, Sekisho,
//! Keycloak (a Java process) and the app, every process it started, gone, their ports
//! closed and its temporary directory (Keycloak's copy and database in it) removed.
//!
//! Needs what the demo needs (nginx, Java, Keycloak's distribution, which the script
//! fetches once with Maven) plus Chromium and tests/peers/browser/node_modules; fails, saying
//! how to install them, without. The script builds Sekisho and the app with Cargo itself.
//! Keycloak's start makes this the slowest test: a minute or two on a busy machine.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::ports::free_port;
use common::process::Process;
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// From start to the URL: Cargo checks (or finishes) the build, Keycloak starts (a minute or
/// two on a loaded machine: it re-augments its copy for dev mode, then imports the realm), then
/// Sekisho and nginx.
const START_TIMEOUT: Duration = Duration::from_secs(420);
/// How long the script may take to stop everything after SIGINT (it waits 10 s at most per
/// process before SIGKILL; Keycloak takes a few seconds).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_alice_in_at_keycloak_over_oidc_and_saml_and_stops_every_process_it_started()
{
    common::browser_driver::chromium();
    common::browser_driver::check_driver();
    let ports = Ports::pick();
    let mut demo = Demo::start(&ports);
    let url = demo.wait_for_url().await;
    assert_eq!(
        url,
        format!("http://127.0.0.1:{}/", ports.nginx),
        "the demo should print nginx's URL to open"
    );
    let keycloak = format!("http://127.0.0.1:{}", ports.keycloak);
    demo.assert_says(&format!(
        "Keycloak's admin console: {keycloak}/admin/ (admin / admin)"
    ));

    // What it started, while it runs: every process below the script.
    demo.started = descendants(demo.process.pid());
    let commands: Vec<&str> = demo.started.iter().map(|p| p.command.as_str()).collect();
    for (what, needle) in [
        ("nginx", "nginx"),
        ("Sekisho", "sekisho serve"),
        ("Keycloak (Java, from the run's copy)", "-Dkc.home.dir="),
        ("Redis, the session store", "redis-server"),
        ("the app", "whoami"),
    ] {
        assert!(
            commands.iter().any(|c| c.contains(needle)),
            "the demo should have started {what} ({needle}); its processes: {commands:#?}"
        );
    }

    // OpenID Connect: the choice page, Keycloak's sign-in page, back on the page asked for.
    let oidc_page = format!("{url}?via=oidc");
    let oidc = sign_in(&oidc_page, "oidc").await;
    demo.assert_signed_in(&oidc, &oidc_page);
    demo.assert_visited(
        &oidc,
        &format!("{keycloak}/realms/demo/protocol/openid-connect/auth?"),
    );

    // SAML 2.0, in a fresh browser (no Keycloak session): Keycloak's sign-in page again, its
    // auto-submitting form to Sekisho's ACS, back on the page asked for.
    let saml_page = format!("{url}?via=saml");
    let saml = sign_in(&saml_page, "saml").await;
    demo.assert_signed_in(&saml, &saml_page);
    demo.assert_visited(&saml, &format!("{keycloak}/realms/demo/protocol/saml?"));

    // Ctrl-C: SIGINT to the script alone; it must stop what it started.
    let run_dir = demo.run_dir();
    signal("INT", &[demo.process.pid()]);
    let status = demo.wait_for_exit(STOP_TIMEOUT).await;
    assert!(
        status.is_some(),
        "the demo did not stop within {STOP_TIMEOUT:?} of SIGINT; its output:\n{}",
        demo.process.output().text()
    );
    let left: Vec<&Started> = demo.started.iter().filter(|p| p.alive()).collect();
    assert!(
        left.is_empty(),
        "the demo stopped ({status:?}) but left processes it started running: {left:#?}\nits output:\n{}",
        demo.process.output().text()
    );
    for (name, port) in ports.all() {
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "after the demo stopped, {name}'s port {port} still accepts connections"
        );
    }
    let run_dir = run_dir.expect("the demo names its log directory");
    assert!(
        !run_dir.exists(),
        "the demo should remove its temporary directory {}",
        run_dir.display()
    );
    demo.started.clear();
}

/// Four distinct free loopback ports.
struct Ports {
    nginx: u16,
    sekisho: u16,
    keycloak: u16,
    redis: u16,
    app: u16,
}

impl Ports {
    fn pick() -> Self {
        let mut ports = Vec::new();
        while ports.len() < 5 {
            let port = free_port(Ipv4Addr::LOCALHOST);
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        Self {
            nginx: ports[0],
            sekisho: ports[1],
            keycloak: ports[2],
            redis: ports[3],
            app: ports[4],
        }
    }

    fn all(&self) -> [(&'static str, u16); 5] {
        [
            ("nginx", self.nginx),
            ("Sekisho", self.sekisho),
            ("Keycloak", self.keycloak),
            ("Redis", self.redis),
            ("the app", self.app),
        ]
    }
}

/// The running script. If the test fails half-way, Drop stops it as Ctrl-C would, then kills
/// by PID whatever it started that is still there, so a failure leaves nothing behind either.
struct Demo {
    process: Process,
    started: Vec<Started>,
}

impl Demo {
    fn start(ports: &Ports) -> Self {
        let mut command = Command::new(Path::new(ROOT).join("scripts/demo"));
        command
            .current_dir(ROOT)
            .env("DEMO_PORT", ports.nginx.to_string())
            .env("DEMO_SEKISHO_PORT", ports.sekisho.to_string())
            .env("DEMO_KEYCLOAK_PORT", ports.keycloak.to_string())
            .env("DEMO_REDIS_PORT", ports.redis.to_string())
            .env("DEMO_APP_PORT", ports.app.to_string());
        Self {
            process: Process::spawn("scripts/demo", command),
            started: Vec::new(),
        }
    }

    /// The URL of the "Sekisho demo: open URL" line.
    async fn wait_for_url(&mut self) -> String {
        let line = self
            .process
            .wait_for_line("the URL to open", START_TIMEOUT, |line| {
                line.contains("Sekisho demo: open ")
            })
            .await;
        line.split("open ")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// The directory of the "Logs: DIR/*.log" line.
    fn run_dir(&self) -> Option<PathBuf> {
        let line = self.process.output().find(|l| l.contains("Logs: "))?;
        let logs = line.split("Logs: ").nth(1)?.split_whitespace().next()?;
        Some(PathBuf::from(logs.trim_end_matches("/*.log")))
    }

    async fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The script printed `line` (trimmed).
    fn assert_says(&self, line: &str) {
        assert!(
            self.process.output().find(|l| l.trim() == line).is_some(),
            "the demo should say {line:?}; its output:\n{}",
            self.process.output().text()
        );
    }

    /// The driver landed on `page` and the app showed alice's identity, with her group
    /// `/admins` (Keycloak's full path, over both protocols).
    fn assert_signed_in(&self, result: &Value, page: &str) {
        let groups = "/admins";
        let shown = serde_json::to_string_pretty(result).unwrap_or_default();
        assert_eq!(
            (result["ok"].as_bool(), result["final_url"].as_str()),
            (Some(true), Some(page)),
            "Chromium should sign in as alice through the demo and land back on {page}; the driver reported:\n{shown}\n\
             the demo's output:\n{}",
            self.process.output().text()
        );
        let text = result["text"].as_str().unwrap_or_default();
        let row = |header: &str| {
            text.lines().find(|l| l.contains(header)).map(|l| {
                l.split('\t')
                    .next_back()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
        };
        assert!(
            text.contains("Signed in as alice (alice@example.com)")
                && row("X-Auth-Request-User").as_deref() == Some("alice")
                && row("X-Auth-Request-Groups").as_deref() == Some(groups),
            "the app's page should show alice's identity (groups {groups}), as nginx passed it on:\n{text}"
        );
    }

    /// The browser went through `prefix` (Keycloak's endpoint) on the way.
    fn assert_visited(&self, result: &Value, prefix: &str) {
        let navigations: Vec<&str> = result["navigations"]
            .as_array()
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            navigations.iter().any(|url| url.starts_with(prefix)),
            "Chromium should have signed in through {prefix}: {navigations:?}"
        );
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.process.exit_status().is_none() {
            let mut known = descendants(self.process.pid());
            known.append(&mut self.started);
            self.started = known;
            signal("TERM", &[self.process.pid()]);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.process.exit_status().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let left: Vec<u32> = self
            .started
            .iter()
            .filter(|p| p.alive())
            .map(|p| p.pid)
            .collect();
        signal("KILL", &left);
    }
}

/// A process the demo started, as /proc showed it: its start time tells it from a later
/// process that reuses the PID.
#[derive(Debug)]
struct Started {
    pid: u32,
    start_time: u64,
    command: String,
}

impl Started {
    fn alive(&self) -> bool {
        proc_stat(self.pid).is_some_and(|(_, start_time)| start_time == self.start_time)
    }
}

/// (parent PID, start time) from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (command) state ppid ... starttime(22nd) ...": the command may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None; // exited, not yet reaped
    }
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Every process below `root`, from /proc.
fn descendants(root: u32) -> Vec<Started> {
    let mut parents: BTreeMap<u32, Vec<(u32, u64)>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((ppid, start_time)) = proc_stat(pid) {
            parents.entry(ppid).or_default().push((pid, start_time));
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for &(pid, start_time) in parents.get(&parent).into_iter().flatten() {
            let command = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .split('\0')
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            found.push(Started {
                pid,
                start_time,
                command,
            });
            queue.push(pid);
        }
    }
    found
}

/// `kill -SIG PID...`, by PID only.
fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs the browser driver: open `page`, choose `provider` on Sekisho's choice page, sign in
/// as alice on Keycloak's form, until the browser is back on `page`.
async fn sign_in(page: &str, provider: &str) -> Value {
    let screenshot = screenshot_path("demo", &format!("after-sign-in-{provider}.png"));
    run_driver(&json!({
        "screenshot": screenshot,
        "start_url": page,
        "choose_selector": format!("a[href*=\"provider={provider}\"]"),
        "username": "alice",
        "password": "alice-password",
        "expect_url": exactly(page),
        "timeout_ms": 40_000,
    }))
    .await
}
