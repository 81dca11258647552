//! Two Sekisho replicas sharing one session store: A is an [`OidcStack`]'s (behind nginx), B a
//! second process started with A's configuration and asked directly. What both the Redis and
//! the Keycloak session tests need of them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::http::{Client, Response};
use super::oidc_stack::{OidcStack, start_sekisho};
use super::sekisho::Sekisho;

/// Starts replica B with A's configuration and waits until it is ready.
pub async fn start_second_replica(stack: &OidcStack, timeout: Duration) -> Sekisho {
    let env = vec![
        ("no_proxy".to_owned(), "127.0.0.1,localhost".to_owned()),
        ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
    ];
    let b = start_sekisho(stack.config.clone(), env)
        .await
        .unwrap_or_else(|e| panic!("replica B did not start: {e}"));
    wait_status(b.addr(), "/ready", &[], 200, timeout, || {
        both_logs(&stack.sekisho, &b)
    })
    .await;
    b
}

/// Both replicas' output, for failure messages.
pub fn both_logs(a: &Sekisho, b: &Sekisho) -> String {
    format!(
        "----- replica A -----\n{}\n----- replica B -----\n{}",
        a.output().text(),
        b.output().text()
    )
}

/// Polls `path` on `addr` until it answers `status`; panics with `logs()` if it does not
/// within `timeout`.
pub async fn wait_status(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    status: u16,
    timeout: Duration,
    logs: impl Fn() -> String,
) -> Response {
    let deadline = Instant::now() + timeout;
    loop {
        let response = Client::new().get(addr, path, headers).await;
        if response.status == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "{path} on {addr} still answers {} (not {status}): {response:?}\n{}",
            response.status,
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /oauth2/auth` on `addr` with `cookie`.
pub async fn auth(addr: SocketAddr, cookie: &str) -> Response {
    Client::new()
        .get(addr, "/oauth2/auth", &[("Cookie", cookie)])
        .await
}
