//! A real `redis-server` (Debian's) for tests: on a free loopback port, no persistence unless
//! asked, its data in a temporary directory, killed and reaped on drop. It can be stopped and
//! started again on the same port with its data (an outage), or frozen with SIGSTOP (a hung
//! Redis). A minimal RESP client reads what Redis holds.
//!
//! Standalone (std and tempfile only): the library's own unit tests include it too.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "redis-server";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `redis-server`. Killed (SIGKILL, by PID) and reaped on drop.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
}

impl Reply {
    /// Bulk and status replies as text; panics on anything else.
    pub fn text(&self) -> String {
        match self {
            Self::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Self::Status(s) => s.clone(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// The elements of an array reply as text.
    pub fn texts(&self) -> Vec<String> {
        match self {
            Self::Array(items) => items.iter().map(Reply::text).collect(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

impl RedisServer {
    /// Starts `redis-server` on a free port of 127.0.0.1 and waits until it answers PING.
    /// Panics, saying how to install it, when the binary is missing.
    pub fn start() -> Self {
        let mut dir = tempfile::Builder::new()
            .prefix("sekisho-redis-")
            .tempdir()
            .expect("temporary directory for redis");
        let mut last = String::new();
        // Another process may take the free port before redis binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                port,
                dir,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(why) => {
                    last = why;
                    dir = server.take_dir();
                }
            }
        }
        panic!("redis-server did not start: {last}");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::tempdir().expect("temporary directory");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(BINARY)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", "dump.rdb", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    panic!(
                        "the Redis tests need `{BINARY}` on PATH: apt-get install redis-server \
                         (or run ./scripts/test, which installs it)"
                    )
                }
                format!("cannot start {BINARY}: {e}")
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Reply::Status(pong)) = self.try_command(&["PING"]) {
                if pong == "PONG" {
                    return Ok(());
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "redis-server exited ({status}) on port {}: {}",
                    self.port,
                    read_log(&log)
                ));
            }
            if Instant::now() >= deadline {
                let log = read_log(&log);
                self.kill();
                return Err(format!(
                    "redis-server did not answer within {READY_TIMEOUT:?}: {log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Writes the data to disk (SAVE) and kills the server: an outage after which
    /// [`Self::restart`] brings back what was stored, as a persistent Redis would.
    pub fn stop(&mut self) {
        if let Ok(reply) = self.try_command(&["SAVE"]) {
            assert_eq!(
                reply,
                Reply::Status("OK".into()),
                "SAVE before stopping redis"
            );
        }
        self.kill();
    }

    /// Starts the server again on the same port, loading what [`Self::stop`] saved.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart() after stop()");
        let mut last = String::new();
        // The port was ours a moment ago; a rare race with another process is retried.
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return,
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}: {last}", self.port);
    }

    /// SIGSTOP: the server keeps its connections but answers nothing, as a hung one.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.pid().expect("redis is running");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill signals exactly this PID; a frozen server dies from SIGKILL too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one command and returns the reply; panics if Redis cannot be asked.
    pub fn command(&self, args: &[&str]) -> Reply {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis {args:?} on port {}: {e}", self.port))
    }

    /// Sends one command over a fresh connection.
    pub fn try_command(&self, args: &[&str]) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, self.port).into(),
            Duration::from_secs(2),
        )?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        read_reply(&mut BufReader::new(stream))
    }

    /// Every key, by pattern.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.command(&["KEYS", pattern]).texts()
    }

    /// The raw bytes under `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.command(&["GET", key]) {
            Reply::Bulk(bytes) => Some(bytes),
            Reply::Nil => None,
            other => panic!("GET {key}: {other:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| std::io::Error::other(format!("bad RESP line {line:?}")))
    };
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(number()?),
        "$" => match number()? {
            -1 => Reply::Nil,
            n => {
                let mut bytes = vec![0; usize::try_from(n).unwrap_or(0) + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(bytes.len() - 2);
                Reply::Bulk(bytes)
            }
        },
        "*" => match number()? {
            -1 => Reply::Nil,
            n => Reply::Array(
                (0..n)
                    .map(|_| read_reply(reader))
                    .collect::<std::io::Result<_>>()?,
            ),
        },
        _ => return Err(std::io::Error::other(format!("bad RESP line {line:?}"))),
    })
}
