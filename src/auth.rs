//! Who a request is from (a session, a bearer token, or nobody), and what they may do.

mod authenticate;
mod identity_headers;
mod policy;
mod reason;
mod redirect;
mod refresh;

pub use authenticate::{Authentication, Authenticator, bearer_challenge};
pub use identity_headers::{HeaderStyle, IdentityHeaders};
pub use policy::{Denial, Policy};
pub use reason::AuthReason;
pub use redirect::{DomainRule, RedirectPolicy};
pub use refresh::{Refreshed, Refresher};
