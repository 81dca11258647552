//! A real `redis-server` (Debian's) for tests: on a free loopback port, no persistence unless
//! asked, its data in a temporary directory, killed and reaped on drop. It can be stopped and
//! started again on the same port with its data (an outage), or frozen with SIGSTOP (a hung
//! Redis). With [`RedisServer::start_tls`] it also listens with TLS, its certificate issued by a
//! CA made for the test. A minimal RESP client (plain TCP) reads what Redis holds.
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
    /// The TLS port, when started with TLS.
    tls_port: Option<u16>,
    /// Whether it is a Redis Cluster node.
    cluster: bool,
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

    /// The first element of an array reply as text (`ROLE` → `master`).
    pub fn texts_first(&self) -> String {
        match self {
            Self::Array(items) if !items.is_empty() => items[0].text(),
            other => panic!("expected a non-empty array reply, got {other:?}"),
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
        Self::start_with(false, false)
    }

    /// [`Self::start`], listening with TLS too (see [`Self::tls_url`], [`Self::ca_file`]); the
    /// certificate names 127.0.0.1 and is issued by a CA made for this server. Needs `openssl`.
    pub fn start_tls() -> Self {
        Self::start_with(true, false)
    }

    fn start_with(tls: bool, cluster: bool) -> Self {
        let mut dir = tempfile::Builder::new()
            .prefix("sekisho-redis-")
            .tempdir()
            .expect("temporary directory for redis");
        let mut last = String::new();
        // Another process may take the free port before redis binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            if tls {
                make_certificates(dir.path());
            }
            let mut server = Self {
                port,
                tls_port: tls.then(free_port),
                cluster,
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
        let mut command = Command::new(BINARY);
        if let Some(tls_port) = self.tls_port {
            let file = |name: &str| self.dir.path().join(name);
            command
                .args(["--tls-port", &tls_port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("server.crt"))
                .arg("--tls-key-file")
                .arg(file("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.crt"))
                .args(["--tls-auth-clients", "no"]);
        }
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]);
        }
        let child = command
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

    /// `rediss://127.0.0.1:TLS_PORT/0`; panics unless started with [`Self::start_tls`].
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}/0")
    }

    /// The CA certificate (PEM) that issued the server's TLS certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Writes the data to disk (SAVE) and kills the server: an outage after which
    /// [`Self::restart`] brings back what was stored, as a persistent Redis would.
    pub fn stop(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.try_command(&["SAVE"]) {
                // A replica's full sync saves in the background; wait for it.
                Ok(Reply::Error(e)) if e.contains("in progress") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(reply) => {
                    assert_eq!(
                        reply,
                        Reply::Status("OK".into()),
                        "SAVE before stopping redis"
                    );
                    break;
                }
                Err(_) => break,
            }
        }
        self.kill();
    }

    /// Kills the server at once (SIGKILL), as a crash: nothing is saved.
    pub fn crash(&mut self) {
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

/// A Redis Cluster of three primaries (no replicas), its slots spread by `redis-cli`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_with(false, true))
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("redis-cli (apt-get install redis-tools): {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + READY_TIMEOUT;
        for node in &nodes {
            loop {
                let info = node.command(&["CLUSTER", "INFO"]).text();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster is not ok: {info}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Self { nodes }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2`: two of the three, the third is discovered.
    pub fn url(&self) -> String {
        format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// Keys matching `pattern` on every node.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.nodes.iter().flat_map(|n| n.keys(pattern)).collect()
    }
}

/// A Redis Sentinel watching one master as `mymaster` (quorum 1, down after one second).
pub struct RedisSentinel {
    port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl RedisSentinel {
    pub const MASTER: &str = "mymaster";

    pub fn start(master: &RedisServer) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sekisho-sentinel-")
            .tempdir()
            .expect("temporary directory for sentinel");
        let port = free_port();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {master_name} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {master_name} 1000\n\
                 sentinel failover-timeout {master_name} 5000\n",
                dir = dir.path().display(),
                master_name = Self::MASTER,
                master_port = master.port(),
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new(BINARY)
            .arg(&config)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        let sentinel = Self {
            port,
            _dir: dir,
            child,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = RedisServer {
            port,
            tls_port: None,
            cluster: false,
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
        };
        while !matches!(probe.try_command(&["PING"]), Ok(Reply::Status(ref p)) if p == "PONG") {
            assert!(
                Instant::now() < deadline,
                "the sentinel did not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sentinel
    }

    /// `redis+sentinel://127.0.0.1:PORT/mymaster/0`
    pub fn url(&self) -> String {
        format!(
            "redis+sentinel://127.0.0.1:{}/{}/0",
            self.port,
            Self::MASTER
        )
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// A CA and a server certificate for 127.0.0.1 it issued, made with the `openssl` command.
fn make_certificates(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write server.ext");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=sekisho test redis CA",
            "-days",
            "2",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("the Redis TLS tests need `openssl` (apt-get install openssl): {e}")
            });
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
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
