//! Addresses: who is on the other end of the TCP connection, and who the client really is.

mod client_ip;
pub(crate) mod forwarded;
mod networks;

pub use client_ip::{ClientIpResolver, ForwardedHeader, Origin};
pub use networks::{Networks, canonical};
