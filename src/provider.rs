//! Identity providers: where users sign in and what they are said to be.

mod claims;
pub mod keys;
mod logout_token;
mod oidc;
mod saml;
pub(crate) mod saml_logout;
pub(crate) mod saml_redirect;
pub(crate) mod saml_shape;
mod token_endpoint;

pub use claims::{Identity, identity};
pub use logout_token::{BACKCHANNEL_EVENT, LogoutToken};
pub use oidc::{LoginRedirect, Oidc, OidcError, RefreshError};
pub use saml::{
    MetadataFetchError, Saml, SamlError, SamlLogin, SamlSignIn, SpUrls, check_idp_metadata,
    preflight_metadata,
};
pub use saml_logout::{IdpLogout, LogoutReturned, OnceId, SloMessage};
