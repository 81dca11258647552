//! `./scripts/demo` as a newcomer runs it: started with its own ports (ephemeral ones here),
//! it prints the URL to open; a headless Chromium opens it, picks a provider on Sekisho's
//! choice page and signs in as alice, once over OpenID Connect (the OpenID provider of
//! tests/peers/oidc) and once over SAML 2.0 (the SAML IdP of tests/peers/saml), landing on the
//! app's page with alice's identity. Then the script gets SIGINT, as from Ctrl-C, and must
//! stop: it, nginx, Sekisho, the providers (the IdP's PHP workers included) and the app, every
//! process it started, gone, their ports closed and its temporary directory removed.
//!
//! Needs what the demo needs (nginx, Node.js with tests/peers/oidc/node_modules, PHP with
//! SimpleSAMLphp) plus Chromium and tests/peers/browser/node_modules; fails, saying how to
//! install them, without. The script builds Sekisho and the app with Cargo itself.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::browser_driver::{DRIVER_DIR, check_driver, chromium};
use common::ports::free_port;
use common::process::Process;
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// From start to the URL: Cargo checks (or finishes) the build, then five servers start.
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the driver may take for one whole sign-in.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(45);
/// How long the script may take to stop everything after SIGINT (it waits 5 s at most per
/// process before SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_alice_in_over_oidc_and_saml_and_stops_every_process_it_started() {
    let chromium = chromium();
    check_driver();
    let ports = Ports::pick();
    let mut demo = Demo::start(&ports);
    let url = demo.wait_for_url().await;
    assert_eq!(
        url,
        format!("http://127.0.0.1:{}/", ports.nginx),
        "the demo should print nginx's URL to open"
    );

    // What it started, while it runs: every process below the script.
    demo.started = descendants(demo.process.pid());
    let commands: Vec<&str> = demo.started.iter().map(|p| p.command.as_str()).collect();
    for (what, needle) in [
        ("nginx", "nginx"),
        ("Sekisho", "sekisho serve"),
        ("the OpenID provider", "tests/peers/oidc/server.js"),
        ("the SAML IdP", "php -S"),
        ("the app", "whoami"),
    ] {
        assert!(
            commands.iter().any(|c| c.contains(needle)),
            "the demo should have started {what} ({needle}); its processes: {commands:#?}"
        );
    }
    let php = commands.iter().filter(|c| c.starts_with("php -S")).count();
    assert!(
        php >= 2,
        "test premise: the SAML IdP runs as a php -S master with forked workers, whose stop the \
         test checks; found {php} php -S processes: {commands:#?}"
    );

    // OpenID Connect: the choice page, the provider's login form, back on the page asked for.
    let oidc_page = format!("{url}?via=oidc");
    let oidc = sign_in(
        &chromium,
        &oidc_page,
        "a[href*=\"provider=oidc\"]",
        ("#username", "#password", "#kc-login"),
    )
    .await;
    demo.assert_signed_in(&oidc, &oidc_page, "/admins");
    demo.assert_visited(
        &oidc,
        &format!("http://127.0.0.1:{}/realms/demo/", ports.oidc),
    );

    // SAML 2.0, in a fresh browser: SimpleSAMLphp's login form, its auto-submitting form to
    // Sekisho's ACS, back on the page asked for.
    let saml_page = format!("{url}?via=saml");
    let saml = sign_in(
        &chromium,
        &saml_page,
        "a[href*=\"provider=saml\"]",
        ("#username", "#password", "#submit_button"),
    )
    .await;
    demo.assert_signed_in(&saml, &saml_page, "/admins,/dev");
    demo.assert_visited(
        &saml,
        &format!("http://127.0.0.1:{}/simplesaml/", ports.saml),
    );

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

/// Five distinct free loopback ports.
struct Ports {
    nginx: u16,
    sekisho: u16,
    oidc: u16,
    saml: u16,
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
            oidc: ports[2],
            saml: ports[3],
            app: ports[4],
        }
    }

    fn all(&self) -> [(&'static str, u16); 5] {
        [
            ("nginx", self.nginx),
            ("Sekisho", self.sekisho),
            ("the OpenID provider", self.oidc),
            ("the SAML IdP", self.saml),
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
            .env("DEMO_OIDC_PORT", ports.oidc.to_string())
            .env("DEMO_SAML_PORT", ports.saml.to_string())
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

    /// The driver landed on `page` and the app showed alice's identity, with `groups`.
    fn assert_signed_in(&self, result: &Value, page: &str, groups: &str) {
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

    /// The browser went through `origin` (the provider's pages) on the way.
    fn assert_visited(&self, result: &Value, origin: &str) {
        let navigations: Vec<&str> = result["navigations"]
            .as_array()
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            navigations.iter().any(|url| url.starts_with(origin)),
            "Chromium should have signed in at {origin}: {navigations:?}"
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

/// Runs the browser driver: open `page`, click `choose`, sign in as alice with the form's
/// `(username, password, submit)` selectors, until the browser is back on `page`.
async fn sign_in(chromium: &Path, page: &str, choose: &str, form: (&str, &str, &str)) -> Value {
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    let name = if choose.contains("saml") {
        "saml"
    } else {
        "oidc"
    };
    let screenshot = screenshots.join(format!("after-sign-in-{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let args = json!({
        "screenshot": screenshot,
        "start_url": page,
        "choose_selector": choose,
        "username": "alice",
        "password": "alice-password",
        "username_selector": form.0,
        "password_selector": form.1,
        "submit_selector": form.2,
        "expect_url": format!("^{}$", regex_escape(page)),
        "timeout_ms": 30_000,
    });
    let mut command = Command::new("node");
    command
        .arg(Path::new(DRIVER_DIR).join("login.js"))
        .arg(args.to_string())
        .current_dir(DRIVER_DIR)
        .env("CHROMIUM_BINARY", chromium);
    let mut driver = Process::spawn("browser driver (login.js)", command);
    let line = driver
        .wait_for_line("its result line", DRIVER_TIMEOUT, |line| {
            line.starts_with("{\"result\"")
        })
        .await;
    let parsed: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the driver's result is not JSON ({e}): {line}"));
    parsed["result"].clone()
}

/// `text` with the regular-expression metacharacters escaped (JavaScript syntax).
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "\\^$.|?*+()[]{}/".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
