//! Deciding who a request is from: a trusted network, a session, or nobody.

mod authenticate;
mod identity_headers;
mod principal;
mod trusted_ip;

pub use authenticate::{Authentication, authenticate};
pub use identity_headers::IdentityHeaders;
pub use principal::{AuthReason, Principal};
pub use trusted_ip::{TrustedIp, TrustedIpLayer};
