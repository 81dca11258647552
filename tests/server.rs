//! The listener: peer addresses reach the stack, and shutdown drains in-flight requests.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sekisho::net::Origin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get_raw(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn in_flight_requests_finish_after_shutdown_starts() {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "finished"
            }),
        )
        .route(
            "/peer",
            get(|req: axum::extract::Request| async move {
                Origin::peer_ip(req.extensions())
                    .map(|ip| ip.to_string())
                    .unwrap_or_default()
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sekisho::server::run(
        listener,
        sekisho::server::OriginInExtensions(app),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
        sekisho::config::ConnectionsConfig::default(),
    ));

    assert!(get_raw(addr, "/peer").await.unwrap().ends_with("127.0.0.1"));
    let slow = tokio::spawn(get_raw(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();

    let response = slow.await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("finished"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_binary_cleanly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "listen = '127.0.0.1:0'\n[session]\nsecret = 'sigterm-test-secret-0123456789abcdef'\n[log]\nformat = 'json'").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args(["serve", "--config", file.path().to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("sekisho started"));
    assert!(started.is_some(), "no start line");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sekisho did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("SIGTERM received")),
        "{rest:?}"
    );
}
