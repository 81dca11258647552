//! Token refresh, once per session however many requests notice it is due.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::provider::{Oidc, RefreshError};
use crate::session::Session;

/// How long a finished refresh is remembered, so requests still carrying the old cookie get
/// the refreshed session instead of spending a refresh token the provider has rotated away.
const REMEMBER: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub enum Refreshed {
    New(Arc<Session>),
    /// The provider ended the session.
    Ended(String),
    /// The provider could not be asked; the old session stands until it expires.
    Failed(String),
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
    pub async fn refresh(&self, oidc: &Oidc, session: &Session) -> Refreshed {
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
        let outcome = flight
            .get_or_init(|| async {
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
            })
            .await
            .clone();
        if matches!(outcome, Refreshed::Failed(_)) {
            // A transient failure must not stick: the next request may try again.
            self.flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
        outcome
    }
}
