//! Refreshing one request's session where it is kept. A cookie session is refreshed by the
//! request that carries it. A session in Redis is refreshed once across replicas: the replica
//! that takes a short lock in Redis asks the provider and stores the result; the others wait
//! for the refreshed session to appear there. (Single flight within one process, and the
//! memory of finished refreshes, are `auth::Refresher`'s.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};

use super::cookie_store::CookieStore;
use super::redis_store::RedisStore;
use super::state::{Session, unix_now};
use super::store::{Loaded, SessionError, SessionStore};
use super::ticket::Ticket;

/// How often a replica waiting for another's refresh looks for its result.
const POLL: Duration = Duration::from_millis(25);

/// The outcome of refreshing a session.
#[derive(Clone, Debug)]
pub enum Refreshed {
    New(Arc<Session>),
    /// The provider ended the session (or it was signed out meanwhile).
    Ended(String),
    /// The provider could not be asked; the old session stands until it expires.
    Failed(String),
    /// The session store failed; the request must fail closed.
    StoreFailed(String),
}

/// How long a refresh may take, from the OpenID Connect settings.
#[derive(Clone, Copy, Debug)]
pub struct RefreshTiming {
    /// `oidc.refresh_before_expiry`: a session whose access token expires within this is due.
    pub margin: Duration,
    /// `oidc.http_timeout`: how long the provider may take to answer.
    pub http_timeout: Duration,
}

/// Where the refresh of one request's session runs, from
/// [`Sessions::refresh_site`](super::Sessions::refresh_site).
#[derive(Debug)]
pub struct RefreshSite<'a>(Site<'a>);

#[derive(Debug)]
enum Site<'a> {
    /// In this request: the refreshed session goes back to the browser in a new cookie.
    Cookie(&'a CookieStore),
    /// Coordinated with every replica; the ticket keeps standing for the refreshed session.
    Redis {
        redis: &'a RedisStore,
        ticket: Ticket,
    },
}

impl<'a> RefreshSite<'a> {
    pub(super) fn in_cookies(cookies: &'a CookieStore) -> Self {
        Self(Site::Cookie(cookies))
    }

    pub(super) fn in_redis(redis: &'a RedisStore, ticket: Ticket) -> Self {
        Self(Site::Redis { redis, ticket })
    }

    /// Refreshes `current` with `ask` (the provider's answer): at once for a cookie session;
    /// for a session in Redis, by whichever replica takes its lock, the others using its result.
    pub async fn run<A, Fut>(
        &self,
        ask: &A,
        timing: RefreshTiming,
        current: Arc<Session>,
    ) -> Refreshed
    where
        A: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Refreshed>,
    {
        match &self.0 {
            Site::Cookie(_) => ask(current).await,
            Site::Redis { redis, ticket } => coordinate(ask, timing, current, redis, ticket).await,
        }
    }

    /// `Set-Cookie` lines that hand the browser its refreshed session: a new sealed cookie, or
    /// none where the unchanged ticket already stands for it.
    pub async fn set_cookie(
        &self,
        headers: &HeaderMap,
        refreshed: &Session,
    ) -> Result<Vec<HeaderValue>, SessionError> {
        match &self.0 {
            Site::Cookie(cookies) => cookies.save(headers, refreshed).await,
            Site::Redis { .. } => Ok(Vec::new()),
        }
    }
}

/// One replica refreshes: the one that takes the session's lock. The others wait for the
/// refreshed session to appear under the same ticket and use it; none spends the refresh
/// token a second time (the provider rotates it, and a second use ends the whole login).
async fn coordinate<A, Fut>(
    ask: &A,
    timing: RefreshTiming,
    current: Arc<Session>,
    redis: &RedisStore,
    ticket: &Ticket,
) -> Refreshed
where
    A: Fn(Arc<Session>) -> Fut,
    Fut: Future<Output = Refreshed>,
{
    // The lock outlives the provider's slowest answer; waiting replicas give up a little
    // later, keeping the old session, which is still valid (refresh starts before expiry).
    let lock_ttl = timing.http_timeout + Duration::from_secs(5);
    let deadline = Instant::now() + timing.http_timeout + Duration::from_secs(1);
    let token = Ticket::generate().encode();
    let mut current = current;
    let mut waited = false;
    loop {
        match redis.lock(ticket, &token, lock_ttl).await {
            Err(e) => return Refreshed::StoreFailed(e.to_string()),
            Ok(true) => {
                let outcome =
                    refresh_locked(ask, timing.margin, &current, redis, ticket, waited).await;
                if let Err(e) = redis.unlock(ticket, &token).await {
                    // It expires by itself; the others only wait a little longer.
                    tracing::warn!(error = %e, "refresh lock not released");
                }
                return outcome;
            }
            Ok(false) => waited = true,
        }
        tokio::time::sleep(POLL).await;
        match changed(redis, ticket, &current).await {
            Some(Refreshed::New(stored)) if !stored.usable(timing.margin, unix_now()) => {
                // Refreshed meanwhile, and due again already: the next refresh spends the
                // stored (newest) refresh token, never the one this request came with.
                current = stored;
            }
            Some(outcome) => {
                tracing::debug!(user = %current.user, "session refreshed by another replica");
                return outcome;
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Refreshed::Failed("another replica's refresh did not finish in time".into());
        }
    }
}

/// The refresh, with the lock held; `waited` when another replica held it first.
async fn refresh_locked<A, Fut>(
    ask: &A,
    margin: Duration,
    current: &Arc<Session>,
    redis: &RedisStore,
    ticket: &Ticket,
    waited: bool,
) -> Refreshed
where
    A: Fn(Arc<Session>) -> Fut,
    Fut: Future<Output = Refreshed>,
{
    // Another replica may have refreshed between this request's read and the lock; what it
    // stored is used as it is only while not due itself, else refreshed with its own tokens.
    let current = match changed(redis, ticket, current).await {
        Some(Refreshed::New(stored)) if !stored.usable(margin, unix_now()) => stored,
        Some(outcome) => return outcome,
        // The replica that held the lock stored nothing: its refresh failed (or it stopped),
        // and that failure is this request's too. The provider is not asked again at once:
        // against a hung provider every replica would otherwise wait its whole
        // `oidc.http_timeout` in turn, and a request waiting on them all the longer.
        None if waited => {
            return Refreshed::Failed("another replica's refresh did not succeed".into());
        }
        None => current.clone(),
    };
    let outcome = ask(current).await;
    match &outcome {
        Refreshed::New(new) => match redis.replace(ticket, new).await {
            Ok(true) => {}
            Ok(false) => return Refreshed::Ended("the session ended during the refresh".into()),
            Err(e) => return Refreshed::StoreFailed(e.to_string()),
        },
        Refreshed::Ended(_) => {
            // Ended for every replica: none may spend the refused token again, nor accept the
            // session until it expires.
            if let Err(e) = redis.delete(ticket).await {
                tracing::warn!(error = %e, "session the provider ended not deleted from redis");
            }
        }
        Refreshed::Failed(_) | Refreshed::StoreFailed(_) => {}
    }
    outcome
}

/// The session as stored now, if it is no longer the one `current` was read as.
async fn changed(redis: &RedisStore, ticket: &Ticket, current: &Session) -> Option<Refreshed> {
    match redis.read(ticket).await {
        Err(e) => Some(Refreshed::StoreFailed(e.to_string())),
        Ok(Loaded::Valid(stored)) if stored.tokens != current.tokens => {
            Some(Refreshed::New(stored))
        }
        Ok(Loaded::Valid(_)) => None,
        Ok(_) => Some(Refreshed::Ended("the session was ended".into())),
    }
}
