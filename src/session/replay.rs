//! One-time tokens (SAML assertions, logout tokens) remembered until they could no longer be
//! valid anyway, so each is accepted once: in this process with the cookie store, in Redis
//! (and so across replicas) with the Redis store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::redis_store::RedisStore;
use super::store::SessionError;

/// Entries kept in process at most; beyond this the oldest-expiring are dropped first.
const LOCAL_LIMIT: usize = 100_000;

#[derive(Debug)]
pub enum Replay {
    Local(Mutex<HashMap<String, Instant>>),
    Redis(Arc<RedisStore>),
}

impl Default for Replay {
    fn default() -> Self {
        Self::Local(Mutex::default())
    }
}

impl Replay {
    /// True the first time `id` of `kind` is offered within `keep`. With Redis, a failure of
    /// Redis is an error: accepting would risk a replay.
    pub async fn first_time(
        &self,
        kind: &str,
        id: &str,
        keep: Duration,
    ) -> Result<bool, SessionError> {
        match self {
            Self::Redis(redis) => redis.first_time(kind, id, keep).await,
            Self::Local(seen) => {
                let now = Instant::now();
                let key = format!("{kind}\0{id}");
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.retain(|_, until| *until > now);
                if seen.contains_key(&key) {
                    return Ok(false);
                }
                if seen.len() >= LOCAL_LIMIT {
                    let soonest = seen
                        .iter()
                        .min_by_key(|(_, until)| **until)
                        .map(|(k, _)| k.clone());
                    if let Some(soonest) = soonest {
                        seen.remove(&soonest);
                    }
                }
                seen.insert(key, now + keep);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepts_once_per_kind() {
        let cache = Replay::default();
        let minute = Duration::from_secs(60);
        assert!(cache.first_time("assertion", "a", minute).await.unwrap());
        assert!(!cache.first_time("assertion", "a", minute).await.unwrap());
        assert!(cache.first_time("logout", "a", minute).await.unwrap());
        assert!(
            cache
                .first_time("assertion", "b", Duration::ZERO)
                .await
                .unwrap()
        );
        assert!(
            cache.first_time("assertion", "b", minute).await.unwrap(),
            "expired entries are forgotten"
        );
    }
}
