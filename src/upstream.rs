//! Standing in front of apps as a reverse proxy (`[[upstream]]`): which app a request is for,
//! which of its routes need no sign-in, and forwarding it there with the identity attached:
//! bodies streamed, WebSockets spliced, connections to the app kept alive and reused.

mod client;
mod cookies;
mod forwarding;
mod hop_by_hop;
mod host;
mod proxy;
mod routes;
mod timing;
mod upgrade;

pub use host::{HostPattern, RequestHost, ambiguous_host};
pub use proxy::Proxy;
