use std::sync::Arc;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::AuthReason;
use super::refresh::{Refreshed, Refresher};
use crate::error::Error;
use crate::provider::{Oidc, OidcError};
use crate::session::{Loaded, ProviderKind, Rejection, Session, SessionError, Sessions, unix_now};

/// The outcome of authenticating one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Authentication {
    /// `set_cookie` carries a refreshed session for the browser.
    Allowed {
        session: Arc<Session>,
        reason: AuthReason,
        set_cookie: Vec<HeaderValue>,
    },
    Denied(AuthReason),
    /// A bearer token was presented and refused: why, in a few words for the client's
    /// `WWW-Authenticate` (see [`bearer_challenge`]).
    InvalidBearer(String),
}

/// `WWW-Authenticate` for a refused bearer token (RFC 6750, 3): `invalid_token`, and the short
/// reason as `error_description`, kept to the characters it allows.
pub fn bearer_challenge(why: &str) -> HeaderValue {
    let description: String = why
        .chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .collect();
    HeaderValue::from_str(&format!(
        r#"Bearer error="invalid_token", error_description="{description}""#
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer error="invalid_token""#))
}

/// Everything that decides who a request is from.
#[derive(Clone, Debug)]
pub struct Authenticator {
    sessions: Sessions,
    oidc: Option<Arc<Oidc>>,
    refresher: Arc<Refresher>,
}

impl Authenticator {
    /// Sessions from `sessions`; bearer tokens and refresh from `oidc`, when configured.
    pub fn new(sessions: Sessions, oidc: Option<Arc<Oidc>>) -> Self {
        Self {
            sessions,
            oidc,
            refresher: Arc::new(Refresher::default()),
        }
    }

    /// The sessions this authenticator reads, for the handlers that sign in and out.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// A bearer token, when accepted; then the session, refreshed when its access token is
    /// about to expire. A failing store is an error, never a pass. (Trusted networks are the
    /// gate's to decide, before anything here is asked.)
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Authentication, Error> {
        if let Some(token) = self.bearer_token(headers) {
            // Boxed: the rare paths keep their large futures off the common one, whose
            // future is moved on every request.
            return Ok(Box::pin(self.authenticate_bearer(token)).await);
        }
        let session = match self.sessions.load(headers).await? {
            Loaded::Valid(session) => session,
            Loaded::Missing => return Ok(Authentication::Denied(AuthReason::NoSession)),
            Loaded::Rejected(rejection) => {
                tracing::debug!(reason = rejection.as_str(), "session cookie rejected");
                return Ok(Authentication::Denied(match rejection {
                    Rejection::Expired => AuthReason::SessionExpired,
                    _ => AuthReason::SessionInvalid,
                }));
            }
        };
        match self.refresh_due(&session) {
            Some(oidc) => Box::pin(self.refresh(oidc, session, headers)).await,
            None => Ok(allowed(session, AuthReason::Session)),
        }
    }

    /// The outcome when it needs no waiting: a cookie session that is not due for refresh, or
    /// none at all. `None` sends the request down the full, asynchronous path (bearer tokens,
    /// refresh, stores that do I/O).
    pub fn authenticate_now(&self, headers: &HeaderMap) -> Option<Authentication> {
        if self.bearer_token(headers).is_some() {
            return None;
        }
        // A store that answers over the network (Redis) takes the asynchronous path.
        Some(match self.sessions.load_now(headers)? {
            Loaded::Valid(session) if self.refresh_due(&session).is_none() => {
                allowed(session, AuthReason::Session)
            }
            Loaded::Valid(_) => return None,
            Loaded::Missing => Authentication::Denied(AuthReason::NoSession),
            Loaded::Rejected(rejection) => {
                tracing::debug!(reason = rejection.as_str(), "session cookie rejected");
                Authentication::Denied(match rejection {
                    Rejection::Expired => AuthReason::SessionExpired,
                    _ => AuthReason::SessionInvalid,
                })
            }
        })
    }

    fn bearer_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.oidc
            .as_ref()
            .filter(|o| o.config().accept_bearer_tokens)?;
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    async fn authenticate_bearer(&self, token: &str) -> Authentication {
        let Some(oidc) = &self.oidc else {
            return Authentication::InvalidBearer("no identity provider".into());
        };
        match oidc.verify_bearer(token).await {
            Ok(session) => allowed(Arc::new(session), AuthReason::Bearer),
            Err(e) => {
                tracing::info!(error = %e, "bearer token refused");
                Authentication::InvalidBearer(match e {
                    OidcError::Rejected(why) => why,
                    // Where the provider is and why it failed stay in the log.
                    OidcError::Unavailable(_) => "identity provider unavailable".into(),
                })
            }
        }
    }

    fn refresh_due(&self, session: &Session) -> Option<&Oidc> {
        let oidc = self.oidc.as_deref()?;
        let tokens = session.tokens.as_ref()?;
        tokens.refresh_token.as_ref()?;
        let margin = oidc.config().refresh_before_expiry;
        (session.provider == Some(ProviderKind::Oidc) && session.access_due(margin, unix_now()))
            .then_some(oidc)
    }

    async fn refresh(
        &self,
        oidc: &Oidc,
        session: Arc<Session>,
        headers: &HeaderMap,
    ) -> Result<Authentication, Error> {
        // A session was loaded, so the request carries one a refresh can store.
        let Some(site) = self.sessions.refresh_site(headers) else {
            return Ok(Authentication::Denied(AuthReason::SessionInvalid));
        };
        match self.refresher.refresh(oidc, &session, &site).await {
            Refreshed::New(new) => {
                let set_cookie = site.set_cookie(headers, &new).await?;
                Ok(Authentication::Allowed {
                    session: new,
                    reason: AuthReason::Refreshed,
                    set_cookie,
                })
            }
            Refreshed::Ended(_) => Ok(Authentication::Denied(AuthReason::SessionEnded)),
            Refreshed::StoreFailed(why) => Err(Error::SessionStore(SessionError::Unavailable(why))),
            Refreshed::Failed(_) if still_valid(&session) => {
                Ok(allowed(session, AuthReason::Session))
            }
            Refreshed::Failed(_) => Ok(Authentication::Denied(AuthReason::SessionExpired)),
        }
    }
}

/// The session itself outlives a failed refresh; the access token may not, which only
/// matters to apps that use it.
fn still_valid(session: &Session) -> bool {
    !session.is_expired_at(unix_now()) && session.remaining(unix_now()) > Duration::ZERO
}

fn allowed(session: Arc<Session>, reason: AuthReason) -> Authentication {
    Authentication::Allowed {
        session,
        reason,
        set_cookie: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_bearer_token_is_told_why_in_the_challenge() {
        assert_eq!(
            bearer_challenge("token expired"),
            r#"Bearer error="invalid_token", error_description="token expired""#
        );
        // Quotes, backslashes and anything outside printable ASCII cannot be in the value.
        assert_eq!(
            bearer_challenge("kid \"k\\1\"\n\u{e9}t\u{e9}"),
            r#"Bearer error="invalid_token", error_description="kid k1t""#
        );
    }
}
