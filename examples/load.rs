//! A load generator that knows what every answer should have been: each of its connections
//! (kept alive) sends, in turn, the kinds of request below, and every answer is counted against
//! its kind. A forged, expired, tampered or session-less request that gets 2xx is a breach; a
//! trusted or signed-in one that gets anything but 2xx is an error that should not be there.
//! For bench/soak.sh and bench/faults.sh; loopback only.
//!
//! Usage: `load DOORS CONNECTIONS SECONDS`, with `LOAD_COOKIE` (a signed-in session's `Cookie`
//! value) and `LOAD_EXPIRED_COOKIE` (one whose session has ended) in the environment. DOORS is
//! one address (`127.0.0.1:4180`, asked at `/oauth2/auth`) or a comma-separated list of
//! `NAME=ADDR/PATH` (`auth=127.0.0.1:8080/app/,proxy=127.0.0.1:8081/app/`): the connections
//! are shared out among them, and answers are counted per door. The client must be a trusted
//! proxy of the Sekisho it asks (it sends `X-Forwarded-For`), and 198.51.100.0/24 must be in
//! its `trusted_ips`. Every request says its kind in `X-Load-Kind`, so an app behind can count
//! what reached it.
//!
//! `LOAD_IDP_COOKIE_FILE`: a file holding the `Cookie` value of a session signed in at the
//! identity provider (with a refresh token): adds the kind `signed_in_idp`. In phase mode the
//! file is read again every 100 ms, so a new sign-in can take the old one's place.
//!
//! Without `LOAD_PHASE_FILE`, every `LOAD_REPORT_SECS` (default 10) it prints one line of
//! counts so far, at the end the totals; exit status 1 on a breach or an unexpected answer.
//! With it, the file names the current phase: it is read every 100 ms, and when it changes the
//! counts of the phase that ended are printed (`phase NAME door=D kind=K CLASS=N ...
//! over_1s=N slowest_ms=M`, one line per door and kind: answers slower than a second, and the
//! slowest) and counting starts over, and the new phase's
//! name is written to `FILE.ack` once it is counted under; `end` in the file ends the run (as
//! SECONDS does). Exit status 1 on a breach only: under a fault, refusals and
//! errors are what is measured. Exit status 2 for bad arguments.

#[path = "common/load_counts.rs"]
mod load_counts;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use load_counts::{CLASSES, CONNECTION_ERROR, Counts, KINDS, Kind, TIMEOUT, class};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: a name for the counts, the address, the path asked.
#[derive(Clone, Debug)]
struct Door {
    name: String,
    addr: SocketAddr,
    path: String,
}

/// `ADDR` or `NAME=ADDR/PATH,...`; every address on loopback.
fn doors(arg: &str) -> Result<Vec<Door>, String> {
    arg.split(',')
        .map(|item| {
            let (name, rest) = item.split_once('=').unwrap_or(("", item));
            let (addr, path) = match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].to_owned()),
                None => (rest, "/oauth2/auth".to_owned()),
            };
            let addr: SocketAddr = addr.parse().map_err(|e| format!("`{item}`: {e}"))?;
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "{addr} is not a loopback address; this generator only asks loopback"
                ));
            }
            Ok(Door {
                name: name.to_owned(),
                addr,
                path,
            })
        })
        .collect()
}

/// The cookies each kind carries.
struct Cookies {
    signed_in: String,
    expired: String,
    idp: Option<String>,
}

/// The bytes of one request of each active kind, per door: `[door][kind]`.
type Requests = Vec<Vec<Vec<u8>>>;

fn requests(doors: &[Door], kinds: &[Kind], cookies: &Cookies) -> Requests {
    let tampered = tamper(&cookies.signed_in);
    doors
        .iter()
        .map(|door| {
            kinds
                .iter()
                .map(|kind| {
                    let (xff, cookie) = match kind {
                        Kind::Trusted => ("198.51.100.7", None),
                        Kind::SignedIn => ("192.0.2.9", Some(cookies.signed_in.as_str())),
                        Kind::SignedInIdp => ("192.0.2.9", cookies.idp.as_deref()),
                        Kind::Expired => ("192.0.2.9", Some(cookies.expired.as_str())),
                        Kind::ForgedAddress => ("198.51.100.7, 192.0.2.9", None),
                        Kind::TamperedCookie => ("192.0.2.9", Some(tampered.as_str())),
                        Kind::NoSession => ("192.0.2.9", None),
                    };
                    let cookie = cookie
                        .map(|c| format!("Cookie: {c}\r\n"))
                        .unwrap_or_default();
                    format!(
                        "GET {} HTTP/1.1\r\nHost: {}\r\nX-Forwarded-For: {xff}\r\n\
                         X-Load-Kind: {}\r\nAccept: application/json\r\n{cookie}\r\n",
                        door.path,
                        door.addr,
                        kind.name()
                    )
                    .into_bytes()
                })
                .collect()
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

/// One response: its status, and whether the server closes the connection after it (nginx does
/// after a 500, for one): then the next request goes on a new connection, and that is no
/// connection error.
struct Answer {
    status: u16,
    closes: bool,
}

/// Reads one response on `stream` into `buf`. Bodies are read by `Content-Length` (Sekisho's
/// and nginx's answers here always carry one).
async fn answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Answer> {
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
    let header = |wanted: &str| {
        head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case(wanted).then(|| value.trim())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let closes = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut have = buf.len() - head_end;
    while have < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
    }
    Ok(Answer { status, closes })
}

/// What every connection shares: where and what to send, where to count, when to stop.
struct Shared {
    doors: Vec<Door>,
    kinds: Vec<Kind>,
    /// Swapped whole when the identity provider's cookie changes.
    requests: RwLock<Arc<Requests>>,
    counts: Counts,
    until: Instant,
    stopped: AtomicBool,
    patience: Duration,
}

impl Shared {
    fn running(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed) && Instant::now() < self.until
    }

    fn requests(&self) -> Arc<Requests> {
        Arc::clone(&self.requests.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One connection's loop: the kinds in turn, starting at `first`, to door `door`.
async fn connection(shared: Arc<Shared>, door: usize, first: usize) {
    let mut next = first;
    let mut buf = Vec::with_capacity(1024);
    let addr = shared.doors[door].addr;
    while shared.running() {
        let k = next % shared.kinds.len();
        let kind = shared.kinds[k];
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            shared.counts.add(door, kind, CONNECTION_ERROR, 0);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        while shared.running() {
            let k = next % shared.kinds.len();
            let kind = shared.kinds[k];
            next += 1;
            let requests = shared.requests();
            let sent = Instant::now();
            if stream.write_all(&requests[door][k]).await.is_err() {
                shared.counts.add(door, kind, CONNECTION_ERROR, 0);
                break;
            }
            let answered = tokio::time::timeout(shared.patience, answer(&mut stream, &mut buf));
            let micros = |at: Instant| u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            match answered.await {
                Ok(Ok(Answer { status, closes })) => {
                    shared.counts.add(door, kind, class(status), micros(sent));
                    if closes {
                        break;
                    }
                }
                Ok(Err(_)) => {
                    shared
                        .counts
                        .add(door, kind, CONNECTION_ERROR, micros(sent));
                    break;
                }
                Err(_) => {
                    shared.counts.add(door, kind, TIMEOUT, micros(sent));
                    break;
                }
            }
        }
    }
}

/// One line of totals: `kind.class=n` (`door.kind.class=n` with named doors).
fn print(label: &str, started: Instant, shared: &Shared) {
    let counts = &shared.counts;
    let mut fields = Vec::new();
    for (d, door) in shared.doors.iter().enumerate() {
        for kind in &shared.kinds {
            for (c, name) in CLASSES.iter().enumerate() {
                let n = counts.get(d, *kind, c);
                if n > 0 {
                    let door = if door.name.is_empty() {
                        String::new()
                    } else {
                        format!("{}.", door.name)
                    };
                    fields.push(format!("{door}{}.{name}={n}", kind.name()));
                }
            }
        }
    }
    println!(
        "{label} t={}s breaches={} unexpected={} connection_errors={} {}",
        started.elapsed().as_secs(),
        counts.breaches(),
        counts.unexpected(),
        counts.connection_errors(),
        fields.join(" ")
    );
}

/// The counts of one phase, from the snapshot at its start to now: one line per door and kind.
fn print_phase(name: &str, seconds: f64, since: &[u64], shared: &Shared) {
    let now = shared.counts.snapshot();
    for (d, door) in shared.doors.iter().enumerate() {
        for kind in &shared.kinds {
            let fields: Vec<String> = CLASSES
                .iter()
                .enumerate()
                .map(|(c, class)| {
                    let n = Counts::of(&now, d, *kind, c) - Counts::of(since, d, *kind, c);
                    format!("{class}={n}")
                })
                .collect();
            println!(
                "phase {name} seconds={seconds:.1} door={} kind={} {} over_1s={} slowest_ms={}",
                door.name,
                kind.name(),
                fields.join(" "),
                shared.counts.take_slow(d, *kind),
                shared.counts.take_slowest(d, *kind) / 1000
            );
        }
    }
}

/// Writes the phase now counted under to `FILE.ack`, so the script can wait for the switch
/// before it starts a fault.
fn acknowledge(file: &str, phase: &str) {
    let _ = std::fs::write(format!("{file}.ack"), format!("{phase}\n"));
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Follows the phase file until it says `end` (or time is up), printing each phase's counts
/// as it ends; the identity provider's cookie file is read again on every look.
async fn follow_phases(shared: Arc<Shared>, file: String, mut cookies: Cookies) {
    let idp_file = std::env::var("LOAD_IDP_COOKIE_FILE").ok();
    let mut phase = read_trimmed(&file).unwrap_or_else(|| "start".into());
    acknowledge(&file, &phase);
    let mut since = shared.counts.snapshot();
    let mut began = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if let Some(idp) = idp_file.as_deref().and_then(read_trimmed)
            && cookies.idp.as_deref() != Some(idp.as_str())
        {
            cookies.idp = Some(idp);
            let fresh = requests(&shared.doors, &shared.kinds, &cookies);
            *shared.requests.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            println!("cookie signed_in_idp reloaded during {phase}");
        }
        let now = read_trimmed(&file).unwrap_or_else(|| phase.clone());
        let over = !shared.running();
        if now == phase && !over {
            continue;
        }
        print_phase(&phase, began.elapsed().as_secs_f64(), &since, &shared);
        if now == "end" || over {
            shared.stopped.store(true, Ordering::Relaxed);
            acknowledge(&file, &now);
            return;
        }
        since = shared.counts.snapshot();
        acknowledge(&file, &now);
        phase = now;
        began = Instant::now();
    }
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(doors), Some(connections), Some(seconds)) = (
        args.first().map(|a| doors(a)),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: load DOORS CONNECTIONS SECONDS (with LOAD_COOKIE, LOAD_EXPIRED_COOKIE)");
        return ExitCode::from(2);
    };
    let doors = match doors {
        Ok(doors) => doors,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let (Ok(signed_in), Ok(expired)) = (
        std::env::var("LOAD_COOKIE"),
        std::env::var("LOAD_EXPIRED_COOKIE"),
    ) else {
        eprintln!("load: set LOAD_COOKIE and LOAD_EXPIRED_COOKIE");
        return ExitCode::from(2);
    };
    let idp_file = std::env::var("LOAD_IDP_COOKIE_FILE").ok();
    let cookies = Cookies {
        signed_in,
        expired,
        idp: idp_file.as_deref().and_then(read_trimmed),
    };
    if idp_file.is_some() && cookies.idp.is_none() {
        eprintln!("load: LOAD_IDP_COOKIE_FILE is empty or unreadable");
        return ExitCode::from(2);
    }
    let kinds: Vec<Kind> = KINDS
        .into_iter()
        .filter(|k| *k != Kind::SignedInIdp || cookies.idp.is_some())
        .collect();
    if let Err(e) = sekisho::server::open_files::raise() {
        eprintln!("load: cannot raise the limit on open files: {e}");
    }

    let started = Instant::now();
    let shared = Arc::new(Shared {
        requests: RwLock::new(Arc::new(requests(&doors, &kinds, &cookies))),
        counts: Counts::new(doors.len()),
        doors,
        kinds,
        until: started + Duration::from_secs(seconds),
        stopped: AtomicBool::new(false),
        patience: Duration::from_secs(env_secs("LOAD_ANSWER_TIMEOUT_SECS", 30).max(1)),
    });
    let phase_file = std::env::var("LOAD_PHASE_FILE").ok();
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let door = i % shared.doors.len();
        tasks.push(tokio::spawn(connection(
            Arc::clone(&shared),
            door,
            i / shared.doors.len(),
        )));
        // Open the connections in batches, so the listen backlog is not flooded.
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let reporter = match phase_file {
        Some(file) => tokio::spawn(follow_phases(Arc::clone(&shared), file, cookies)),
        None => {
            let shared = Arc::clone(&shared);
            let every = env_secs("LOAD_REPORT_SECS", 10).max(1);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(every));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    print("progress", started, &shared);
                }
            })
        }
    };
    for task in tasks {
        let _ = task.await;
    }
    let phased = std::env::var_os("LOAD_PHASE_FILE").is_some();
    if phased {
        let _ = reporter.await;
    } else {
        reporter.abort();
    }
    print("total", started, &shared);
    let counts = &shared.counts;
    if counts.breaches() > 0 || (!phased && counts.unexpected() > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
