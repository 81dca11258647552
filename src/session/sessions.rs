//! The sessions every handler and the authenticator use, whatever keeps them. What differs
//! between keeping sessions in sealed cookies and in Redis (whether a load waits, whether a
//! provider's logout can find sessions, how a refresh is shared between replicas) is decided
//! here and nowhere else.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use super::cookie_store::CookieStore;
use super::redis_store::{RedisStore, SessionIndex};
use super::shared_refresh::RefreshSite;
use super::state::Session;
use super::store::{Loaded, SessionError, SessionStore};

/// The configured sessions: sealed into the browser's cookies, or in Redis behind a ticket.
/// Cheap to clone. An enum inside rather than a trait object keeps `/oauth2/auth` free of a
/// boxed future per request.
#[derive(Clone, Debug)]
pub struct Sessions(Kept);

#[derive(Clone, Debug)]
enum Kept {
    Cookie(Arc<CookieStore>),
    Redis(Arc<RedisStore>),
}

/// Why sessions could not be ended by the provider's session.
#[derive(Debug, thiserror::Error)]
pub enum EndError {
    /// Sessions sealed into cookies live in browsers: nothing on the server can find them.
    #[error("sessions kept in cookies cannot be ended by the provider's session")]
    InCookies,
    #[error(transparent)]
    Store(#[from] SessionError),
}

impl Sessions {
    /// Sessions sealed into the browser's cookies.
    pub fn in_cookies(store: Arc<CookieStore>) -> Self {
        Self(Kept::Cookie(store))
    }

    /// Sessions in Redis, shared by every replica.
    pub fn in_redis(store: Arc<RedisStore>) -> Self {
        Self(Kept::Redis(store))
    }

    /// The session in `headers` when finding it needs no waiting (cookie sessions); `None`
    /// when the store must be asked over the network, with [`Sessions::load`].
    #[inline]
    pub fn load_now(&self, headers: &HeaderMap) -> Option<Loaded> {
        match &self.0 {
            Kept::Cookie(cookies) => Some(cookies.load_now(headers)),
            Kept::Redis(_) => None,
        }
    }

    /// The session in `headers`. A failing store is an error, never "no session".
    pub async fn load(&self, headers: &HeaderMap) -> Result<Loaded, SessionError> {
        match &self.0 {
            Kept::Cookie(cookies) => Ok(cookies.load_now(headers)),
            Kept::Redis(redis) => redis.load(headers).await,
        }
    }

    /// `Set-Cookie` lines that keep `session` for this browser, ending the one it had.
    pub async fn save(
        &self,
        headers: &HeaderMap,
        session: &Session,
    ) -> Result<Vec<HeaderValue>, SessionError> {
        match &self.0 {
            Kept::Cookie(cookies) => cookies.save(headers, session).await,
            Kept::Redis(redis) => redis.save(headers, session).await,
        }
    }

    /// Ends the session in `headers` (in the store too, where there is one); the `Set-Cookie`
    /// lines that remove it from the browser.
    pub async fn end(&self, headers: &HeaderMap) -> Result<Vec<HeaderValue>, SessionError> {
        match &self.0 {
            Kept::Cookie(cookies) => cookies.clear(headers).await,
            Kept::Redis(redis) => redis.clear(headers).await,
        }
    }

    /// Whether [`Sessions::end_by_provider_session`] can find sessions: only where they are
    /// kept on the server.
    pub fn can_end_by_provider_session(&self) -> bool {
        matches!(self.0, Kept::Redis(_))
    }

    /// Ends, on every replica, each session of the provider's session or subject that `index`
    /// names (a back-channel logout, a SAML LogoutRequest); how many there were.
    pub async fn end_by_provider_session(
        &self,
        index: SessionIndex<'_>,
    ) -> Result<usize, EndError> {
        match &self.0 {
            Kept::Cookie(_) => Err(EndError::InCookies),
            Kept::Redis(redis) => Ok(redis.end_sessions(index).await?),
        }
    }

    /// Where the refresh of the session `headers` carry runs; `None` when they carry none a
    /// refresh could store (no ticket, or a malformed one).
    pub fn refresh_site<'a>(&'a self, headers: &HeaderMap) -> Option<RefreshSite<'a>> {
        match &self.0 {
            Kept::Cookie(cookies) => Some(RefreshSite::in_cookies(cookies)),
            Kept::Redis(redis) => {
                let ticket = redis.ticket(headers).ok().flatten()?;
                Some(RefreshSite::in_redis(redis, ticket))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CookieSettings, Secret};
    use http::header::COOKIE;

    fn in_cookies() -> Sessions {
        let settings = CookieSettings {
            name: "_sekisho".into(),
            secure: false,
            domain: None,
            path: "/".into(),
        };
        let secret = Secret::parse("sessions-test-secret-of-32-bytes-at-least").unwrap();
        Sessions::in_cookies(Arc::new(CookieStore::new(settings, &secret)))
    }

    #[tokio::test]
    async fn cookie_sessions_cannot_be_ended_by_the_providers_session() {
        let sessions = in_cookies();
        assert!(!sessions.can_end_by_provider_session());
        let outcome = sessions
            .end_by_provider_session(SessionIndex::OidcSession("sid-1"))
            .await;
        assert!(matches!(outcome, Err(EndError::InCookies)), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_refreshed_cookie_session_goes_back_in_a_new_cookie() {
        let sessions = in_cookies();
        let headers = HeaderMap::new();
        let site = sessions
            .refresh_site(&headers)
            .expect("cookie sessions refresh here");
        let refreshed = Session::new("alice", std::time::Duration::from_secs(60));
        let lines = site.set_cookie(&headers, &refreshed).await.unwrap();
        let mut request = HeaderMap::new();
        let cookie = lines[0].to_str().unwrap().split(';').next().unwrap();
        request.insert(COOKIE, cookie.parse().unwrap());
        assert_eq!(
            sessions.load_now(&request),
            Some(Loaded::Valid(Arc::new(refreshed)))
        );
    }

    #[tokio::test]
    async fn in_redis_a_refresh_needs_the_ticket_and_changes_no_cookie() {
        let server = crate::session::test_redis::RedisServer::start();
        let redis = Arc::new(crate::session::test_redis_store(&server.url()));
        let sessions = Sessions::in_redis(redis.clone());
        assert!(sessions.can_end_by_provider_session());
        assert!(
            sessions.refresh_site(&HeaderMap::new()).is_none(),
            "no ticket"
        );
        let alice = Session::new("alice", std::time::Duration::from_secs(60));
        let mut request = HeaderMap::new();
        request.insert(
            COOKIE,
            redis.request_cookie(&alice).await.unwrap().parse().unwrap(),
        );
        let site = sessions
            .refresh_site(&request)
            .expect("the request carries a ticket");
        assert_eq!(
            site.set_cookie(&request, &alice).await.unwrap(),
            Vec::<HeaderValue>::new()
        );
    }
}
