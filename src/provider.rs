//! Identity providers: where users sign in and what they are said to be.

mod claims;
pub mod keys;
mod oidc;

pub use claims::{Identity, identity};
pub use oidc::{LoginRedirect, Oidc, OidcError, RefreshError};
