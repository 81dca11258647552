//! A real nginx, run unprivileged from a configuration template, with its pid file, logs and
//! temporary directories under a fresh prefix directory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::STARTUP_TIMEOUT;
use super::ports::free_port;
use super::process::Process;

/// Where nginx is looked for, after `$NGINX_BINARY` and before `$PATH`.
const KNOWN_LOCATIONS: &[&str] = &[
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
];

/// How nginx reports that another process took its port (`EADDRINUSE`).
const ADDRESS_IN_USE: &str = "Address already in use";

/// Attempts at finding a port nobody else takes before nginx binds it.
const PORT_ATTEMPTS: usize = 5;

/// The nginx binary: `$NGINX_BINARY` if set, else the first of [`KNOWN_LOCATIONS`] and
/// `$PATH` that exists. Panics, telling how to install it, if there is none: the end-to-end
/// tests must fail, never pass silently, on a machine without nginx.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NGINX_BINARY").map(PathBuf::from) {
        assert!(
            path.is_file(),
            "NGINX_BINARY={} is not a file",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    KNOWN_LOCATIONS.iter().map(PathBuf::from).chain(on_path).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "nginx not found (looked at {} and on $PATH). The end-to-end tests need a real nginx \
             with the auth_request module: `apt-get install nginx-light` (or set NGINX_BINARY).",
            KNOWN_LOCATIONS.join(", ")
        )
    })
}

/// A running nginx. Killed and reaped on drop; its error and access logs are printed if that
/// happens during a panic.
///
/// It runs with `daemon off; master_process off;`: one process, the one whose pid is
/// recorded, so killing it leaves no orphaned worker behind, and it never switches user when
/// the tests run as root. Request handling is the same as with a master and workers.
#[derive(Debug)]
pub struct Nginx {
    process: Process,
    addr: SocketAddr,
    prefix: TempDir,
}

impl Nginx {
    /// Renders the template at `template` and starts nginx with it on a free port of 127.0.0.1.
    ///
    /// Placeholders: `{{PREFIX}}` (the prefix directory, no trailing slash), `{{LISTEN}}`
    /// (`127.0.0.1:PORT`), and each `(NAME, value)` of `vars` as `{{NAME}}`. A placeholder
    /// left unfilled fails the test. Returns once nginx has bound its port (its pid file
    /// names it) and accepts connections.
    ///
    /// The template must put its pid file at `{{PREFIX}}/nginx.pid`, listen on `{{LISTEN}}`,
    /// and leave `daemon` and `master_process` unset (the harness sets both).
    pub async fn start(template: &Path, vars: &[(&str, &str)]) -> Self {
        let binary = binary();
        let template = std::fs::read_to_string(template).unwrap_or_else(|e| {
            panic!("cannot read the nginx template {}: {e}", template.display())
        });
        for attempt in 1..=PORT_ATTEMPTS {
            let prefix = tempfile::Builder::new()
                .prefix("sekisho-nginx-")
                .tempdir()
                .expect("temporary directory");
            let listen = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                free_port(Ipv4Addr::LOCALHOST),
            );
            let conf = prefix.path().join("nginx.conf");
            std::fs::write(&conf, render(&template, prefix.path(), listen, vars))
                .expect("write nginx.conf");

            let mut command = Command::new(&binary);
            command
                .arg("-p")
                .arg(prefix.path())
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off; master_process off;"])
                // NGINX in the environment makes nginx inherit listening sockets.
                .env_remove("NGINX");
            let mut nginx = Self {
                process: Process::spawn("nginx", command),
                addr: listen,
                prefix,
            };
            match nginx.wait_ready().await {
                Ok(()) => return nginx,
                Err(log) if log.contains(ADDRESS_IN_USE) && attempt < PORT_ATTEMPTS => continue,
                Err(log) => panic!("nginx did not start (attempt {attempt}):\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Waits until nginx names itself in its pid file (written after its listening sockets
    /// are bound) and accepts a connection. `Err` carries everything it logged if it exited.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let pid_file = self.prefix.path().join("nginx.pid");
        loop {
            if let Some(status) = self.process.exit_status() {
                return Err(format!("nginx exited ({status})\n{}", self.logs()));
            }
            // nginx would retry for 2.5 s before giving up; a fresh port is quicker.
            if self
                .process
                .output()
                .find(|line| line.contains(ADDRESS_IN_USE))
                .is_some()
            {
                return Err(format!(
                    "nginx could not bind {}\n{}",
                    self.addr,
                    self.logs()
                ));
            }
            let own_pid = std::fs::read_to_string(&pid_file)
                .is_ok_and(|p| p.trim() == self.process.pid().to_string());
            if own_pid && tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                panic!(
                    "nginx did not become ready on {} within {STARTUP_TIMEOUT:?}\n{}",
                    self.addr,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn prefix(&self) -> &Path {
        self.prefix.path()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix().join("error.log")).unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix().join("access.log")).unwrap_or_default()
    }

    /// The rendered configuration, the process output and both logs, for failure messages.
    pub fn logs(&self) -> String {
        let conf = std::fs::read_to_string(self.prefix().join("nginx.conf")).unwrap_or_default();
        format!(
            "----- nginx.conf -----\n{conf}\n----- nginx output -----\n{}\n----- error.log -----\n{}\n----- access.log -----\n{}",
            self.process.output().text(),
            self.error_log(),
            self.access_log()
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.process.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- nginx (pid {}) on {} -----\n{}",
                self.pid(),
                self.addr,
                self.logs()
            );
        }
    }
}

/// Fills the placeholders of `template` (comment lines are left as written); panics if one
/// is left, or if the prefix path would need quoting in nginx's configuration syntax.
pub fn render(template: &str, prefix: &Path, listen: SocketAddr, vars: &[(&str, &str)]) -> String {
    let prefix = prefix.to_str().expect("temporary directory path is UTF-8");
    assert!(
        !prefix.contains(|c: char| c.is_whitespace() || "\"';{}$#\\".contains(c)),
        "the temporary directory {prefix:?} has characters nginx's syntax would need quoted; set TMPDIR to a plain path"
    );
    let listen = listen.to_string();
    let values: Vec<(String, &str)> = [("PREFIX", prefix), ("LISTEN", listen.as_str())]
        .into_iter()
        .chain(vars.iter().copied())
        .map(|(name, value)| (format!("{{{{{name}}}}}"), value))
        .collect();
    let mut text = String::with_capacity(template.len());
    let mut unfilled = Vec::new();
    for line in template.lines() {
        if line.trim_start().starts_with('#') {
            text.push_str(line);
        } else {
            let line = values
                .iter()
                .fold(line.to_owned(), |line, (placeholder, value)| {
                    line.replace(placeholder, value)
                });
            unfilled.extend(
                line.match_indices("{{").map(|(i, _)| {
                    line[i..].split("}}").next().unwrap_or_default().to_owned() + "}}"
                }),
            );
            text.push_str(&line);
        }
        text.push('\n');
    }
    assert!(
        unfilled.is_empty(),
        "placeholders left unfilled in the nginx template: {unfilled:?}"
    );
    text
}
