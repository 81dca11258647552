//! A TCP relay on loopback: listens on a port of 127.0.0.1 and forwards every connection's
//! bytes, both ways, to a target (the run's Keycloak). Stopping it closes the listener and cuts
//! every open connection, as a provider going down does; starting it again listens on the SAME
//! port, so whatever was told the relay's address (Sekisho's `issuer_url`, a browser's cookies)
//! reaches the target again without being told anything new.
//!
//! Keycloak's dev mode derives its URLs from the `Host` header, so through the relay a realm's
//! issuer is `http://127.0.0.1:RELAYPORT/realms/NAME`, the same for Sekisho and the browser.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Attempts at listening again on the relay's port (the kernel may hold it a moment).
const REBIND_ATTEMPTS: usize = 50;

/// A relay to `target`; stopped (listener closed, connections cut) on drop.
pub struct TcpRelay {
    port: u16,
    target: SocketAddr,
    /// The accepting task; it owns the listener and every connection's task, so aborting
    /// it closes them all.
    running: Option<JoinHandle<()>>,
    accepted: Arc<AtomicU64>,
}

impl TcpRelay {
    /// Starts relaying from a fresh port of 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port for the relay");
        let port = listener.local_addr().expect("the relay's address").port();
        let mut relay = Self {
            port,
            target,
            running: None,
            accepted: Arc::new(AtomicU64::new(0)),
        };
        relay.run(listener);
        relay
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Connections accepted so far, over every start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes the listener and cuts every open connection; returns once the port refuses
    /// connections.
    pub async fn stop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            // Awaited so the listener and the connections are really dropped on return.
            let _ = task.await;
        }
    }

    /// Listens on the same port again. Panics if the port cannot be had back.
    pub async fn resume(&mut self) {
        assert!(self.running.is_none(), "the relay is already running");
        let mut last = None;
        for _ in 0..REBIND_ATTEMPTS {
            match TcpListener::bind(self.addr()).await {
                Ok(listener) => {
                    self.run(listener);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the relay could not listen on {} again: {last:?}",
            self.addr()
        );
    }

    fn run(&mut self, listener: TcpListener) {
        let target = self.target;
        let accepted = self.accepted.clone();
        self.running = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    incoming = listener.accept() => {
                        let Ok((client, _)) = incoming else { continue };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        connections.spawn(relay(client, target));
                    }
                    // Reap finished connections so the set does not grow.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }
}

/// Copies bytes both ways until either side closes; a target that refuses closes the client.
async fn relay(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}
