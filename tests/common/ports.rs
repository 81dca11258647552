//! Free ports, for programs (nginx) that cannot listen on port 0 and report the port. Another
//! process may take the port between this check and the program binding it: callers must
//! retry with a fresh port when binding fails (see `nginx::Nginx::start`).

use std::net::{IpAddr, Ipv4Addr, TcpListener};

/// The loopback address `127.0.0.<n>`. On Linux all of 127.0.0.0/8 is local, so tests can
/// play several hosts (a CDN, an attacker) by choosing their source address.
pub const fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A TCP port that was free on `ip` a moment ago, chosen by the kernel.
pub fn free_port(ip: impl Into<IpAddr>) -> u16 {
    let ip = ip.into();
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"));
    listener
        .local_addr()
        .expect("bound listener has an address")
        .port()
}
