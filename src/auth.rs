//! Deciding who a request is from: a trusted network, a session, or nobody.

mod authenticate;
mod identity_headers;
mod policy;
mod principal;
mod redirect;
mod refresh;
mod trusted_ip;

pub use authenticate::{Authentication, Authenticator, bearer_challenge};
pub use identity_headers::{HeaderStyle, IdentityHeaders};
pub use policy::{Denial, Policy};
pub use principal::{AuthReason, Principal};
pub use redirect::{DomainRule, RedirectPolicy};
pub use refresh::{Refreshed, Refresher};
pub use trusted_ip::{TrustedIp, TrustedIpLayer};
