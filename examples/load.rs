//! A load generator for `/oauth2/auth` that knows what every answer should have been: each of
//! its connections (kept alive) sends, in turn, the six kinds of request below, and every
//! answer is counted against its kind. A forged, expired or tampered request that gets 2xx is
//! a breach; a trusted or signed-in one that gets anything but 202 is an error that should not
//! be there. For bench/soak.sh; loopback only.
//!
//! Usage: `load ADDR CONNECTIONS SECONDS`, with `LOAD_COOKIE` (a signed-in session's `Cookie`
//! value) and `LOAD_EXPIRED_COOKIE` (one whose session has ended) in the environment. The
//! client must be a trusted proxy of the Sekisho it asks (it sends `X-Forwarded-For`), and
//! 198.51.100.0/24 must be in its `trusted_ips`. Every `LOAD_REPORT_SECS` (default 10) it
//! prints one line of counts so far; at the end the totals. Exit status 1 on a breach or an
//! unexpected answer, 2 for bad arguments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a request is, and what the answer must be.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Trusted,
    SignedIn,
    Expired,
    ForgedAddress,
    TamperedCookie,
    NoSession,
}

const KINDS: [Kind; 6] = [
    Kind::Trusted,
    Kind::SignedIn,
    Kind::Expired,
    Kind::ForgedAddress,
    Kind::TamperedCookie,
    Kind::NoSession,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Trusted => "trusted",
            Kind::SignedIn => "signed_in",
            Kind::Expired => "expired",
            Kind::ForgedAddress => "forged_address",
            Kind::TamperedCookie => "tampered_cookie",
            Kind::NoSession => "no_session",
        }
    }

    /// Whether this kind must pass (202) or must not pass (anything but 2xx).
    fn must_pass(self) -> bool {
        matches!(self, Kind::Trusted | Kind::SignedIn)
    }
}

/// The bytes of one request of each kind.
fn requests(host: SocketAddr, cookie: &str, expired: &str) -> Vec<Vec<u8>> {
    let tampered = tamper(cookie);
    KINDS
        .iter()
        .map(|kind| {
            let (xff, cookie) = match kind {
                Kind::Trusted => ("198.51.100.7", None),
                Kind::SignedIn => ("192.0.2.9", Some(cookie)),
                Kind::Expired => ("192.0.2.9", Some(expired)),
                Kind::ForgedAddress => ("198.51.100.7, 192.0.2.9", None),
                Kind::TamperedCookie => ("192.0.2.9", Some(tampered.as_str())),
                Kind::NoSession => ("192.0.2.9", None),
            };
            let cookie = cookie
                .map(|c| format!("Cookie: {c}\r\n"))
                .unwrap_or_default();
            format!(
                "GET /oauth2/auth HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: {xff}\r\n\
                 Accept: application/json\r\n{cookie}\r\n"
            )
            .into_bytes()
        })
        .collect()
}

/// `cookie` with one character of its value changed, in the middle.
fn tamper(cookie: &str) -> String {
    let value = cookie.find('=').map_or(0, |i| i + 1);
    let at = (value + (cookie.len() - value) / 2).min(cookie.len().saturating_sub(1));
    let mut bytes = cookie.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

/// Counts shared by every connection: per kind, per status class.
#[derive(Default)]
struct Counts {
    /// [kind][0: 2xx, 1: 401, 2: 403, 3: other 4xx, 4: 5xx, 5: other]
    answers: [[AtomicU64; 6]; 6],
    /// Connections that failed (refused, reset, closed mid-answer); each is opened again.
    connection_errors: AtomicU64,
}

fn class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        401 => 1,
        403 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

const CLASSES: [&str; 6] = ["2xx", "401", "403", "4xx", "5xx", "other"];

impl Counts {
    fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for (c, name) in CLASSES.iter().enumerate() {
                let n = self.answers[k][c].load(Ordering::Relaxed);
                if n > 0 {
                    all.insert(format!("{}.{name}", kind.name()), n);
                }
            }
        }
        all.insert(
            "connection_errors".to_owned(),
            self.connection_errors.load(Ordering::Relaxed),
        );
        all
    }

    /// Answers that must never be: a forged, expired or tampered request let through.
    fn breaches(&self) -> u64 {
        KINDS
            .iter()
            .enumerate()
            .filter(|(_, kind)| !kind.must_pass())
            .map(|(k, _)| self.answers[k][0].load(Ordering::Relaxed))
            .sum()
    }

    /// Trusted or signed-in requests that did not pass.
    fn unexpected(&self) -> u64 {
        KINDS
            .iter()
            .enumerate()
            .filter(|(_, kind)| kind.must_pass())
            .map(|(k, _)| {
                (1..6)
                    .map(|c| self.answers[k][c].load(Ordering::Relaxed))
                    .sum::<u64>()
            })
            .sum()
    }
}

/// Reads one response on `stream` into `buf`; returns its status. Bodies are read by
/// `Content-Length` (Sekisho's auth answers always carry one).
async fn answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(std::io::Error::other)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
    }
    Ok(status)
}

/// One connection's loop until `until`: the kinds in turn, starting at `first`.
async fn connection(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    counts: Arc<Counts>,
    first: usize,
    until: Instant,
) {
    let mut next = first;
    let mut buf = Vec::with_capacity(1024);
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            counts.connection_errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        while Instant::now() < until {
            let k = next % KINDS.len();
            next += 1;
            if stream.write_all(&requests[k]).await.is_err() {
                counts.connection_errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            match answer(&mut stream, &mut buf).await {
                Ok(status) => {
                    counts.answers[k][class(status)].fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counts.connection_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

fn print(label: &str, started: Instant, counts: &Counts) {
    let fields: Vec<String> = counts
        .snapshot()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "{label} t={}s breaches={} unexpected={} {}",
        started.elapsed().as_secs(),
        counts.breaches(),
        counts.unexpected(),
        fields.join(" ")
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(connections), Some(seconds)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: load ADDR CONNECTIONS SECONDS (with LOAD_COOKIE, LOAD_EXPIRED_COOKIE)");
        return ExitCode::from(2);
    };
    if !addr.ip().is_loopback() {
        eprintln!("load: {addr} is not a loopback address; this generator only asks loopback");
        return ExitCode::from(2);
    }
    let (Ok(cookie), Ok(expired)) = (
        std::env::var("LOAD_COOKIE"),
        std::env::var("LOAD_EXPIRED_COOKIE"),
    ) else {
        eprintln!("load: set LOAD_COOKIE and LOAD_EXPIRED_COOKIE");
        return ExitCode::from(2);
    };
    let report_every = std::env::var("LOAD_REPORT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10u64);
    if let Err(e) = sekisho::server::open_files::raise() {
        eprintln!("load: cannot raise the limit on open files: {e}");
    }

    let requests = Arc::new(requests(addr, &cookie, &expired));
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        tasks.push(tokio::spawn(connection(
            addr,
            Arc::clone(&requests),
            Arc::clone(&counts),
            i,
            until,
        )));
        // Open the connections in batches, so the listen backlog is not flooded.
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let reporter = {
        let counts = Arc::clone(&counts);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(report_every.max(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                print("progress", started, &counts);
            }
        })
    };
    for task in tasks {
        let _ = task.await;
    }
    reporter.abort();
    print("total", started, &counts);
    if counts.breaches() > 0 || counts.unexpected() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
