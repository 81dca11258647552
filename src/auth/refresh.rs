//! Token refresh, once per session however many requests notice it is due: once per process
//! (single flight keyed by the refresh token), and with Redis once across replicas (a short
//! lock in Redis; the others wait for the refreshed session to appear there).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::provider::{Oidc, RefreshError};
use crate::session::{Loaded, RedisStore, Session, Ticket};

/// How long a finished refresh is remembered, so requests still carrying the old cookie get
/// the refreshed session instead of spending a refresh token the provider has rotated away.
const REMEMBER: Duration = Duration::from_secs(300);
/// How often a replica waiting for another's refresh looks for its result.
const POLL: Duration = Duration::from_millis(25);

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

type Flight = Arc<OnceCell<Refreshed>>;

/// Single-flight refreshes keyed by the refresh token being spent.
#[derive(Default)]
pub struct Refresher {
    flights: Mutex<HashMap<String, (Instant, Flight)>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refresher")
    }
}

impl Refresher {
    /// Refreshes a session that lives in the browser's cookie.
    pub async fn refresh(&self, oidc: &Oidc, session: &Session) -> Refreshed {
        self.once(session, || ask_provider(oidc, session)).await
    }

    /// Refreshes a session that lives in Redis behind `ticket`, coordinated with every other
    /// replica; the refreshed session is in Redis when this returns `New`.
    pub async fn refresh_shared(
        &self,
        oidc: &Oidc,
        session: &Session,
        redis: &RedisStore,
        ticket: &Ticket,
    ) -> Refreshed {
        self.once(session, || coordinate(oidc, session, redis, ticket))
            .await
    }

    async fn once<F, Fut>(&self, session: &Session, run: F) -> Refreshed
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Refreshed>,
    {
        let Some(key) = session
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
        else {
            return Refreshed::Ended("no refresh token".into());
        };
        let flight = {
            // Held only to find or create the flight; never across an await.
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.retain(|_, (started, _)| started.elapsed() < REMEMBER);
            flights
                .entry(key.clone())
                .or_insert_with(|| (Instant::now(), Flight::default()))
                .1
                .clone()
        };
        let outcome = flight.get_or_init(run).await.clone();
        if matches!(outcome, Refreshed::Failed(_) | Refreshed::StoreFailed(_)) {
            // A transient failure must not stick: the next request may try again.
            self.flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
        outcome
    }
}

async fn ask_provider(oidc: &Oidc, session: &Session) -> Refreshed {
    match oidc.refresh(session).await {
        Ok(new) => {
            tracing::info!(user = %session.user, "tokens refreshed");
            Refreshed::New(Arc::new(new))
        }
        Err(RefreshError::Ended(why)) => {
            tracing::info!(user = %session.user, reason = %why, "provider ended the session");
            Refreshed::Ended(why)
        }
        Err(RefreshError::Transient(why)) => {
            tracing::warn!(user = %session.user, reason = %why, "token refresh failed; keeping the session");
            Refreshed::Failed(why)
        }
    }
}

/// One replica refreshes: the one that takes the session's lock. The others wait for the
/// refreshed session to appear under the same ticket and use it; none spends the refresh
/// token a second time (the provider rotates it, and a second use ends the whole login).
async fn coordinate(
    oidc: &Oidc,
    current: &Session,
    redis: &RedisStore,
    ticket: &Ticket,
) -> Refreshed {
    // The lock outlives the provider's slowest answer; waiting replicas give up a little
    // later, keeping the old session, which is still valid (refresh starts before expiry).
    let http_timeout = oidc.config().http_timeout;
    let lock_ttl = http_timeout + Duration::from_secs(5);
    let deadline = Instant::now() + http_timeout + Duration::from_secs(1);
    let token = Ticket::generate().encode();
    loop {
        match redis.lock(ticket, &token, lock_ttl).await {
            Err(e) => return Refreshed::StoreFailed(e.to_string()),
            Ok(true) => {
                let outcome = refresh_locked(oidc, current, redis, ticket).await;
                if let Err(e) = redis.unlock(ticket, &token).await {
                    // It expires by itself; the others only wait a little longer.
                    tracing::warn!(error = %e, "refresh lock not released");
                }
                return outcome;
            }
            Ok(false) => {}
        }
        tokio::time::sleep(POLL).await;
        if let Some(outcome) = changed(redis, ticket, current).await {
            tracing::debug!(user = %current.user, "session refreshed by another replica");
            return outcome;
        }
        if Instant::now() >= deadline {
            return Refreshed::Failed("another replica's refresh did not finish in time".into());
        }
    }
}

async fn refresh_locked(
    oidc: &Oidc,
    current: &Session,
    redis: &RedisStore,
    ticket: &Ticket,
) -> Refreshed {
    // Another replica may have refreshed between this request's read and the lock.
    if let Some(outcome) = changed(redis, ticket, current).await {
        return outcome;
    }
    let outcome = ask_provider(oidc, current).await;
    if let Refreshed::New(new) = &outcome {
        match redis.replace(ticket, new).await {
            Ok(true) => {}
            Ok(false) => return Refreshed::Ended("the session ended during the refresh".into()),
            Err(e) => return Refreshed::StoreFailed(e.to_string()),
        }
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
