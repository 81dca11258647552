use http::{Extensions, HeaderMap};

use super::{AuthReason, Principal};
use crate::error::Error;
use crate::session::{Loaded, Rejection, SessionStore, Store};

/// The outcome of authenticating one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Authentication {
    Allowed(Principal, AuthReason),
    Denied(AuthReason),
}

/// A trusted network (marked by the trusted-IP layer) wins without touching the store;
/// otherwise the request's session decides. A failing store is an error, never a pass.
pub async fn authenticate(
    extensions: &Extensions,
    headers: &HeaderMap,
    store: &Store,
) -> Result<Authentication, Error> {
    if let Some(principal @ Principal::TrustedNetwork(_)) = extensions.get::<Principal>() {
        return Ok(Authentication::Allowed(
            principal.clone(),
            AuthReason::TrustedIp,
        ));
    }
    Ok(
        match store.load(headers).await.map_err(Error::SessionStore)? {
            Loaded::Valid(session) => {
                Authentication::Allowed(Principal::User(session), AuthReason::Session)
            }
            Loaded::Missing => Authentication::Denied(AuthReason::NoSession),
            Loaded::Rejected(rejection) => {
                tracing::debug!(reason = rejection.as_str(), "session cookie rejected");
                Authentication::Denied(match rejection {
                    Rejection::Expired => AuthReason::SessionExpired,
                    _ => AuthReason::SessionInvalid,
                })
            }
        },
    )
}
