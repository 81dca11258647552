//! Slow and idle clients against the real binary: connections that never speak, that send a
//! request head a byte at a time (slowloris), and that stay idle after one request are closed
//! after the configured timeouts, the connection limit holds, and `/ping` and sign-in (through
//! real nginx, which keeps keep-alive connections to Sekisho, and directly) keep answering while
//! 10,000 such connections are open. Requests in flight, slow uploads and WebSockets are not cut.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::app_server::{AppServer, pattern};
use common::http::{Client, Response};
use common::memory;
use common::oidc_stack::{OidcStack, StackOptions};
use common::sekisho::Sekisho;
use common::ws_echo::WsEcho;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// Headroom on every "closed within": a loaded machine is slow, a timeout is not exact.
const MARGIN: Duration = Duration::from_secs(5);

/// How a hostile client behaves once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hostile {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head one byte at a time, every `period`, and never finishes it.
    Slowloris { period: Duration },
    /// Sends one request, reads the answer, then keeps the connection open and says nothing.
    IdleAfterRequest,
}

/// One hostile connection, watched by its own task: when (after it was ready) the server
/// closed it, if it did.
#[derive(Debug)]
struct Watched {
    closed_after: Mutex<Option<Duration>>,
}

impl Watched {
    fn closed_after(&self) -> Option<Duration> {
        *self
            .closed_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens `count` connections of `kind` to `addr`, at most 200 being set up at a time; returns
/// once all are set up (connected, and for [`Hostile::IdleAfterRequest`] answered).
async fn open(addr: SocketAddr, kind: Hostile, count: usize) -> Vec<Arc<Watched>> {
    let setting_up = Arc::new(Semaphore::new(200));
    let (ready, mut readied) = tokio::sync::mpsc::channel::<Arc<Watched>>(count.max(1));
    for _ in 0..count {
        let permit = Arc::clone(&setting_up)
            .acquire_owned()
            .await
            .expect("semaphore open");
        let ready = ready.clone();
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
            if kind == Hostile::IdleAfterRequest {
                stream
                    .write_all(b"GET /ping HTTP/1.1\r\nHost: sekisho\r\n\r\n")
                    .await
                    .expect("send the request");
                let answer = read_answer(&mut stream).await;
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            }
            let watched = Arc::new(Watched {
                closed_after: Mutex::new(None),
            });
            drop(permit);
            let _ = ready.send(Arc::clone(&watched)).await;
            let since = Instant::now();
            watch(stream, kind).await;
            *watched
                .closed_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(since.elapsed());
        });
    }
    drop(ready);
    let mut all = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(120);
    while all.len() < count {
        match tokio::time::timeout_at(deadline, readied.recv()).await {
            Ok(Some(watched)) => all.push(watched),
            Ok(None) => panic!(
                "only {} of {count} {kind:?} connections were set up",
                all.len()
            ),
            Err(_) => panic!(
                "{} of {count} {kind:?} connections set up within 120 s",
                all.len()
            ),
        }
    }
    all
}

/// Reads one short answer (head and a `Content-Length` body).
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return text,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Plays `kind` on `stream` until the server closes it.
async fn watch(mut stream: TcpStream, kind: Hostile) {
    let head = b"GET /ping HTTP/1.1\r\nHost: sekisho\r\nX-Slow: ";
    let mut sent = 0usize;
    let mut buf = [0u8; 512];
    loop {
        let period = match kind {
            Hostile::Slowloris { period } => period,
            _ => Duration::from_secs(3600),
        };
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            () = tokio::time::sleep(period) => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                sent += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits up to `within` until every one of `watched` is closed; panics naming how many are not.
async fn all_closed(watched: &[Arc<Watched>], within: Duration, what: &str) -> Vec<Duration> {
    let deadline = Instant::now() + within;
    loop {
        let closed: Vec<Duration> = watched.iter().filter_map(|w| w.closed_after()).collect();
        if closed.len() == watched.len() {
            return closed;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {} connections still open after {within:?}",
            watched.len() - closed.len(),
            watched.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn open_count(watched: &[Arc<Watched>]) -> usize {
    watched
        .iter()
        .filter(|w| w.closed_after().is_none())
        .count()
}

/// Waits until the number of sockets Sekisho holds has stopped changing for 0.4 s (at most
/// 60 s), and returns it: a connect completes in the kernel before Sekisho accepts it, and a
/// burst of them waits in (or overflows, to be retried) the listen backlog.
async fn settled(pid: u32) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = sockets(pid);
    let mut steady = 0;
    while steady < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sockets(pid);
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
    }
    last
}

/// [`open`] in batches small enough for the listen backlog, each accepted before the next.
async fn open_paced(pid: u32, addr: SocketAddr, kind: Hostile, count: usize) -> Vec<Arc<Watched>> {
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        let batch = (count - all.len()).min(250);
        all.extend(open(addr, kind, batch).await);
        settled(pid).await;
    }
    all
}

/// Sockets the process holds, from `/proc/<pid>/fd`.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn resident(sekisho: &Sekisho) -> u64 {
    memory::resident(sekisho.pid())
        .expect("sekisho is running")
        .now
}

fn stack_options(timeouts: (&str, &str), max: i64) -> StackOptions {
    StackOptions::default()
        .set("connections.header_read_timeout", timeouts.0)
        .set("connections.idle_timeout", timeouts.1)
        .set("connections.max", max)
}

/// `/oauth2/start` through nginx answers with a redirect to the provider's authorization
/// endpoint, and `/ping` answers straight from Sekisho.
async fn assert_answering(stack: &OidcStack, context: &str) {
    let ping = stack.sekisho_get("/ping", &[]).await;
    assert_eq!(ping.status, 200, "{context}: /ping: {ping:?}");
    let start: Response = Client::new()
        .get(stack.nginx.addr(), "/oauth2/start?rd=/", &[])
        .await;
    assert_eq!(start.status, 302, "{context}: /oauth2/start: {start:?}");
    let location = start.header("location").unwrap_or_default();
    assert!(
        location.contains(&stack.authorization_path()),
        "{context}: /oauth2/start sends the browser to the provider, not to {location}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_after_their_timeouts() {
    let header_read = Duration::from_secs(1);
    let idle = Duration::from_secs(2);
    let stack = OidcStack::start(stack_options(("1s", "2s"), 10_000)).await;
    let addr = stack.sekisho.addr();

    let silent = open(addr, Hostile::Silent, 20).await;
    let slow = open(
        addr,
        Hostile::Slowloris {
            period: Duration::from_millis(200),
        },
        20,
    )
    .await;
    let idle_ones = open(addr, Hostile::IdleAfterRequest, 20).await;

    for (what, watched, timeout) in [
        ("silent", &silent, header_read),
        ("slowloris", &slow, header_read),
        ("idle after a request", &idle_ones, idle),
    ] {
        let closed = all_closed(watched, timeout + MARGIN, what).await;
        let earliest = closed.iter().min().copied().unwrap_or_default();
        assert!(
            earliest + Duration::from_millis(300) >= timeout,
            "{what}: a connection was closed after {earliest:?}, before its {timeout:?} timeout"
        );
    }
    assert!(
        idle_ones
            .iter()
            .filter_map(|w| w.closed_after())
            .all(|after| after >= idle - Duration::from_millis(300)),
        "idle keep-alive connections get the idle timeout, not the shorter header-read one"
    );

    let metrics = stack.sekisho_get("/metrics", &[]).await.body;
    for (reason, at_least) in [("header_timeout", 40), ("idle", 20)] {
        let counted = metrics
            .lines()
            .find(|l| {
                l.starts_with("sekisho_connections_closed_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(
            counted >= at_least,
            "sekisho_connections_closed_total{{reason={reason}}} is {counted}:\n{metrics}"
        );
    }
    assert!(metrics.contains("sekisho_connections_open "), "{metrics}");

    // A keep-alive connection idle longer than the header-read timeout still takes a request.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    for round in 0..2 {
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: sekisho\r\n\r\n")
            .await
            .expect("send");
        let answer = read_answer(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "round {round}: {answer}"
        );
        tokio::time::sleep(header_read + Duration::from_millis(500)).await;
    }

    // nginx keeps idle connections to Sekisho (`keepalive 16`); once Sekisho has closed them,
    // nginx notices and opens new ones: no request fails.
    for round in 0..3 {
        assert_answering(&stack, &format!("nginx round {round}")).await;
        tokio::time::sleep(idle + Duration::from_millis(500)).await;
    }
    let log = stack.nginx.error_log();
    assert!(
        !log.contains("upstream prematurely closed") && !log.contains("reset by peer"),
        "nginx saw a connection closed under a request:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_answered_431() {
    let stack = OidcStack::start(
        StackOptions::default()
            .set("connections.max_header_bytes", 16_384)
            .set("connections.max_headers", 20),
    )
    .await;
    let big = "a".repeat(20_000);
    let response = stack.sekisho_get("/ping", &[("x-big", &big)]).await;
    assert_eq!(response.status, 431, "a 20 kB head: {response:?}");
    let many: Vec<(String, String)> = (0..30).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let response = stack.sekisho_get("/ping", &many).await;
    assert_eq!(response.status, 431, "30 header fields: {response:?}");
    let fitting = "a".repeat(8_000);
    let response = stack.sekisho_get("/ping", &[("x-big", &fitting)]).await;
    assert_eq!(response.status, 200, "an 8 kB head fits: {response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_sign_in_answer_while_10000_hostile_connections_are_open() {
    const EACH: usize = 3_333;
    /// Beyond the limit: the table must make room.
    const EXTRA: usize = 200;
    const MAX: usize = 10_000;
    // The test holds one socket per hostile connection; Sekisho raises its own limit.
    let limit = sekisho::server::open_files::raise().expect("raise the open-files limit");
    assert!(
        limit.now >= (3 * EACH + EXTRA) as u64 + 512,
        "this test needs {} open files; the hard limit is {} (ulimit -Hn)",
        3 * EACH + EXTRA + 512,
        limit.now
    );
    let mut stack = OidcStack::start(stack_options(("300s", "300s"), MAX as i64)).await;
    let addr = stack.sekisho.addr();
    let pid = stack.sekisho.pid();
    assert_answering(&stack, "before").await;

    let base = settled(pid).await;
    let before = resident(&stack.sekisho);
    let idle = open_paced(pid, addr, Hostile::IdleAfterRequest, EACH).await;
    let with_idle_sockets = settled(pid).await;
    let with_idle = resident(&stack.sekisho);
    let slow = open_paced(
        pid,
        addr,
        Hostile::Slowloris {
            period: Duration::from_secs(2),
        },
        EACH,
    )
    .await;
    let with_slow_sockets = settled(pid).await;
    // Every slowloris connection has sent a byte or two (one every 2 s), so its buffer is in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let with_slow = resident(&stack.sekisho);
    let silent = open_paced(pid, addr, Hostile::Silent, EACH).await;
    let with_silent_sockets = settled(pid).await;
    let with_silent = resident(&stack.sekisho);
    let per_connection = |from: (u64, usize), to: (u64, usize)| {
        to.0.saturating_sub(from.0) as f64 / to.1.saturating_sub(from.1).max(1) as f64
    };
    eprintln!(
        "sekisho RSS: {:.1} MB before; per connection: {:.0} bytes idle after a request ({} accepted), {:.0} slowloris ({}), {:.0} silent ({}); {:.1} MB holding {} sockets",
        memory::mb(before),
        per_connection((before, base), (with_idle, with_idle_sockets)),
        with_idle_sockets - base,
        per_connection(
            (with_idle, with_idle_sockets),
            (with_slow, with_slow_sockets)
        ),
        with_slow_sockets - with_idle_sockets,
        per_connection(
            (with_slow, with_slow_sockets),
            (with_silent, with_silent_sockets)
        ),
        with_silent_sockets.saturating_sub(with_slow_sockets),
        memory::mb(with_silent),
        with_silent_sockets
    );
    assert!(
        with_silent_sockets >= MAX - 100,
        "sekisho accepted only {with_silent_sockets} of the 10,002 connections"
    );

    // 200 more than the table holds: each takes the place of one that never sent a whole
    // request. (Counting open connections on the client side would mislead: a connect the
    // kernel completed while the backlog overflowed can stay open on the client alone.)
    let extra = open_paced(pid, addr, Hostile::Silent, EXTRA).await;
    settled(pid).await;
    assert_answering(&stack, "with 10,000 hostile connections open").await;
    for round in 0..5 {
        assert_answering(&stack, &format!("round {round}")).await;
    }
    let metrics = stack.sekisho_get("/metrics", &[]).await.body;
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let open_now = metric("sekisho_connections_open ");
    let evicted = metric("sekisho_connections_closed_total{reason=\"evicted\"}");
    let refused = metric("sekisho_connections_closed_total{reason=\"refused\"}");
    let held = sockets(pid);
    eprintln!(
        "at the limit: {open_now} connections open, {evicted} closed for room, {refused} refused; sekisho holds {held} sockets"
    );
    assert!(
        open_now <= MAX as u64 + 1,
        "{open_now} connections open with connections.max = {MAX}"
    );
    assert!(
        held <= MAX + 64,
        "sekisho holds {held} sockets with connections.max = {MAX}"
    );
    assert!(
        evicted >= 50 && refused == 0,
        "the full table made room by closing waiting connections: {evicted} closed, {refused} refused"
    );
    let closed_for_room: usize = [&slow, &silent, &extra]
        .iter()
        .map(|w| w.len() - open_count(w))
        .sum();
    assert!(
        closed_for_room >= 50,
        "only {closed_for_room} never-answered connections saw their close"
    );
    assert_eq!(
        open_count(&idle),
        EACH,
        "connections that were answered are closed for room only when no never-answered one is left"
    );
    assert!(
        stack.sekisho.process().exit_status().is_none(),
        "sekisho is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_slow_uploads_and_websockets_outlive_the_timeouts_and_stalled_uploads_do_not()
 {
    let app = AppServer::start("app").await;
    let chat = WsEcho::start().await;
    let config = format!(
        r#"
[session]
secret = "connections-test-secret-0123456789abcdef"
secure = false

[connections]
header_read_timeout = "1s"
idle_timeout = "2s"
body_read_timeout = "1s"

[[upstream]]
host = "chat.test"
url = "{}"
skip_auth = ["^/"]

[[upstream]]
host = "*"
url = "{}"
skip_auth = ["^/"]
"#,
        chat.url(),
        app.url()
    );
    let sekisho = Sekisho::start(&config).await;
    let addr = sekisho.addr();
    let outlives = Duration::from_millis(3_500);

    // An app that takes longer than both timeouts to answer.
    let slow = Client::new()
        .get(addr, &format!("/slow?ms={}", outlives.as_millis()), &[])
        .await;
    assert_eq!(slow.status, 200, "a slow answer: {slow:?}");

    // An upload that trickles in for longer than both timeouts.
    let pieces = 8usize;
    let piece = 1_000usize;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!(
                "POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: {}\r\n\r\n",
                pieces * piece
            )
            .as_bytes(),
        )
        .await
        .expect("send the head");
    for i in 0..pieces {
        tokio::time::sleep(outlives / pieces as u32).await;
        stream
            .write_all(&pattern::block()[i * piece..(i + 1) * piece])
            .await
            .expect("the upload is not cut");
    }
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"bytes\": {}, \"intact\": true", pieces * piece)),
        "{answer}"
    );

    // An upload that stops is given up after the body-read timeout, not held for ever.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n")
        .await
        .expect("send the head");
    stream
        .write_all(&pattern::block()[..1_000])
        .await
        .expect("send a first part");
    let stalled = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(1) + MARGIN, read_answer(&mut stream))
        .await
        .expect("a stalled upload is given up within the body-read timeout");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
        "{answer}"
    );
    assert!(
        stalled.elapsed() + Duration::from_millis(300) >= Duration::from_secs(1),
        "given up after {:?}, before the 1 s body-read timeout",
        stalled.elapsed()
    );

    // A WebSocket that says nothing for longer than both timeouts.
    let mut request = format!("ws://{addr}/socket")
        .into_client_request()
        .expect("WebSocket request");
    request
        .headers_mut()
        .insert("host", "chat.test".parse().expect("host"));
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the upgrade succeeds");
    assert_eq!(response.status(), 101);
    let _greeting = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    tokio::time::sleep(outlives).await;
    socket
        .send(Message::text("still here"))
        .await
        .expect("the upgraded connection is open");
    let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an echo within 5 s")
        .expect("the socket is open")
        .expect("a message");
    assert_eq!(echoed, Message::text("still here"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed_too() {
    let idle = Duration::from_secs(2);
    let stack = OidcStack::start(stack_options(("1s", "2s"), 10_000)).await;
    let stream = TcpStream::connect(stack.sekisho.addr())
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake::<_, http_body_util::Empty<bytes::Bytes>>(hyper_util::rt::TokioIo::new(
                stream,
            ))
            .await
            .expect("HTTP/2 with prior knowledge");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/ping", stack.sekisho.addr()))
        .body(http_body_util::Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    drop(response);
    let answered = Instant::now();
    tokio::time::timeout(idle + MARGIN, connection)
        .await
        .expect("the idle HTTP/2 connection is closed")
        .expect("the connection task ends")
        .ok();
    let after = answered.elapsed();
    assert!(
        after + Duration::from_millis(300) >= idle,
        "closed after {after:?}, before the {idle:?} idle timeout"
    );
}
