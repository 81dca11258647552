//! Real app servers that answer with the route they matched and their reading of the path, so a
//! test can see which resource each would serve for a hostile path:
//!
//! - [`nginx_app`]: nginx as the app's own server (`tests/fixtures/nginx-route-echo.conf`),
//!   answering `route=NAME\nuri=$uri`;
//! - [`FrameworkApp`]: an Express app (`tests/peers/express`), a werkzeug one, Flask's
//!   routing and server (`tests/peers/werkzeug`), or a servlet on embedded Tomcat
//!   (`tests/peers/tomcat`), answering `{"route": NAME, "path": ...}`.
//!
//! Both have the routes `api` (`/api/v4/`), `hooks` (`/hooks/`), `admin` (`/admin/`) and
//! `other` (everything else).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::STARTUP_TIMEOUT;
use super::nginx::Nginx;
use super::process::Process;

/// Which route of an app answered, and how that app read the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub route: String,
    pub path: String,
}

impl Resolved {
    /// The answer of either app, or `None` when `body` is not one (Sekisho's own answer,
    /// an error page).
    pub fn from_body(body: &str) -> Option<Self> {
        if let Some(rest) = body.strip_prefix("route=") {
            let (route, uri) = rest.split_once("\nuri=")?;
            return Some(Self {
                route: route.to_owned(),
                path: uri.strip_suffix('\n').unwrap_or(uri).to_owned(),
            });
        }
        let json: Value = serde_json::from_str(body).ok()?;
        Some(Self {
            route: json["route"].as_str()?.to_owned(),
            path: json["path"].as_str()?.to_owned(),
        })
    }
}

/// nginx serving the routes itself, with its default `merge_slashes on`.
pub async fn nginx_app() -> Nginx {
    let template =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nginx-route-echo.conf");
    Nginx::start(&template, &[]).await
}

/// An app framework's own server answering with its route: Express, werkzeug or Tomcat.
/// Killed and reaped on drop.
#[derive(Debug)]
pub struct FrameworkApp {
    process: Process,
    port: u16,
}

impl FrameworkApp {
    /// `node tests/peers/express/server.js`. Panics, saying how to install them, when Node.js
    /// or the peer's node_modules are missing.
    pub async fn express() -> Self {
        let dir = peer_dir("express");
        let how = "install Node.js 20 or newer with npm (`apt-get install nodejs npm`), then \
                   `npm ci --prefix tests/peers/express` (or just run ./scripts/test)";
        let node = Command::new("node")
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            node,
            "the skip_auth differential test needs Node.js (`node`) on PATH: {how}"
        );
        assert!(
            dir.join("node_modules/express/package.json").is_file(),
            "the skip_auth differential test needs {}/node_modules: {how}",
            dir.display()
        );
        let mut command = Command::new("node");
        command.arg(dir.join("server.js")).current_dir(&dir);
        Self::start("express", command).await
    }

    /// `tests/peers/werkzeug/server.py` with the virtualenv `./scripts/test` installs
    /// werkzeug into (`target/tools/werkzeug`). Panics, saying how to install it, when missing.
    pub async fn werkzeug() -> Self {
        let dir = peer_dir("werkzeug");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/tools/werkzeug/bin/python");
        assert!(
            python.is_file(),
            "the skip_auth differential test needs werkzeug in {}: `python3 -m venv \
             target/tools/werkzeug && target/tools/werkzeug/bin/pip install -r \
             tests/peers/werkzeug/requirements.txt` (or just run ./scripts/test)",
            python.display()
        );
        let mut command = Command::new(python);
        command.arg(dir.join("server.py")).current_dir(&dir);
        Self::start("werkzeug", command).await
    }

    /// `tests/peers/tomcat/RouteEcho.java` on embedded Tomcat, whose jars `./scripts/test`
    /// copies into `target/tools/tomcat`. Panics, saying how to install them, when missing.
    pub async fn tomcat() -> Self {
        let dir = peer_dir("tomcat");
        let jars = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/tomcat");
        let how = format!(
            "install Java 17 or newer and Maven (`apt-get install default-jdk-headless maven`), \
             then `mvn -f tests/peers/tomcat/pom.xml dependency:copy-dependencies \
             -DoutputDirectory={}` (or just run ./scripts/test)",
            jars.display()
        );
        let java = Command::new("java")
            .arg("-version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            java,
            "the skip_auth differential test needs Java (`java`) on PATH: {how}"
        );
        let has_tomcat = std::fs::read_dir(&jars).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("tomcat-embed-core-")
            })
        });
        assert!(
            has_tomcat,
            "the skip_auth differential test needs embedded Tomcat in {}: {how}",
            jars.display()
        );
        let mut command = Command::new("java");
        command
            .arg("-cp")
            .arg(jars.join("*"))
            .arg(dir.join("RouteEcho.java"))
            .current_dir(&dir);
        Self::start("tomcat", command).await
    }

    /// Starts `command` and waits for the line naming its port.
    async fn start(name: &str, command: Command) -> Self {
        let mut process = Process::spawn(name, command);
        let line = process
            .wait_for_line("its port", STARTUP_TIMEOUT, |line| {
                line.starts_with("listening on ")
            })
            .await;
        let port = line["listening on ".len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port in the {name} app's line {line:?}"));
        Self { process, port }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

fn peer_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}
