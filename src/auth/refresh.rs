//! Token refresh, once per refresh token however many requests notice it is due: once per
//! process (single flight keyed by the refresh token), and with Redis once across replicas
//! (behind [`RefreshSite`]: a short lock in Redis; the others wait for the refreshed session to
//! appear there).
//!
//! A finished refresh is remembered, so that a request still carrying the session from before
//! it (a browser's parallel requests, a client that never stores the new cookie, such as nginx
//! without `Set-Cookie` forwarding) gets the refreshed session instead of spending the refresh
//! token a second time: the provider has rotated it away, refuses it, and may end the whole
//! login for the reuse. What is remembered spares that second use and never extends a session:
//! it is handed out only while its own access token is not due for refresh. Once it is, the
//! request refreshes it in turn with the newest tokens (single flight on their refresh token),
//! so a chain of old cookies follows the chain of refreshes, each refresh token is spent once,
//! and when the provider refuses the newest one, every older cookie is refused with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::provider::{Oidc, RefreshError};
use crate::session::{RefreshSite, RefreshTiming, Session, unix_now};

pub use crate::session::Refreshed;

/// Spent refresh tokens remembered at most (with the session each was refreshed into, a few
/// kilobytes). When full, the oldest eighth is forgotten: one of those presented again goes to
/// the provider, which refuses a rotated token, so the old cookie is refused (never accepted).
const REMEMBERED: usize = 10_000;
/// How often entries whose sessions have expired are swept out, full or not.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a refresh the provider did not answer (unreachable, timed out, 5xx) is held before
/// the provider is asked again with the same refresh token. Until then the session stands as
/// it is (while it lasts), at once: otherwise every request of a session due for refresh asks
/// a provider that is down again (a warning each), and against a hung one each request waits
/// the whole `oidc.http_timeout` before it is let through.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Remembered refreshes one request follows before refusing (a chain is shortened as it is
/// followed, so two or three is the most seen).
const MAX_HOPS: usize = 8;

type Flight = Arc<OnceCell<Refreshed>>;
/// SHA-256 of a refresh token: fixed size, and spent tokens are not kept in the clear.
type Key = [u8; 32];

fn key_of(session: &Session) -> Option<Key> {
    let token = session.tokens.as_ref()?.refresh_token.as_ref()?;
    Some(Sha256::digest(token.as_bytes()).into())
}

struct Entry {
    flight: Flight,
    /// Unix seconds. The session that carried the token expires then; no cookie carrying it
    /// can be presented afterwards, so the entry has no use.
    keep_until: u64,
    /// When the entry was made or last pointed at a newer outcome; the oldest go first.
    since: Instant,
    /// Set when the refresh failed for the time being: the failure is handed out until then,
    /// and after it a new refresh takes the entry's place.
    failed_until: Option<Instant>,
}

#[derive(Default)]
struct Memory {
    entries: HashMap<Key, Entry>,
    swept: Option<Instant>,
}

impl Memory {
    /// Sweeps out what has expired, and when still full forgets the oldest eighth (at least
    /// one), so one more entry fits within `capacity`.
    fn make_room(&mut self, now: u64, capacity: usize) {
        let full = self.entries.len() >= capacity;
        if full || self.swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            self.entries.retain(|_, e| e.keep_until > now);
            self.swept = Some(Instant::now());
        }
        if self.entries.len() < capacity {
            return;
        }
        let mut ages: Vec<(Instant, Key)> =
            self.entries.iter().map(|(k, e)| (e.since, *k)).collect();
        let forget = (capacity / 8)
            .max(self.entries.len() + 1 - capacity)
            .min(ages.len());
        if forget == 0 {
            return;
        }
        ages.select_nth_unstable(forget - 1);
        for (_, key) in &ages[..forget] {
            self.entries.remove(key);
        }
    }
}

/// Single-flight refreshes keyed by the refresh token being spent, and the memory of those
/// finished.
pub struct Refresher {
    memory: Mutex<Memory>,
    capacity: usize,
    retry_after: Duration,
}

impl Default for Refresher {
    fn default() -> Self {
        Self::with_capacity(REMEMBERED)
    }
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refresher")
    }
}

impl Refresher {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            memory: Mutex::default(),
            capacity: capacity.max(1),
            retry_after: RETRY_AFTER,
        }
    }

    /// Refreshes `session` at `site` (where it is kept: with Redis, the refreshed session is
    /// stored there when this returns `New`).
    pub async fn refresh(
        &self,
        oidc: &Oidc,
        session: &Arc<Session>,
        site: &RefreshSite<'_>,
    ) -> Refreshed {
        let timing = RefreshTiming {
            margin: oidc.config().refresh_before_expiry,
            http_timeout: oidc.config().http_timeout,
        };
        let ask = |s: Arc<Session>| async move { ask_provider(oidc, &s).await };
        self.follow(session.clone(), timing.margin, |s| {
            site.run(&ask, timing, s)
        })
        .await
    }

    /// Refreshes `session` with `run`, once per refresh token. A refresh found finished is
    /// used only while its result is [`Session::usable`]; past that the result is refreshed
    /// in turn.
    async fn follow<F, Fut>(&self, session: Arc<Session>, margin: Duration, run: F) -> Refreshed
    where
        F: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Refreshed>,
    {
        let mut current = session.clone();
        // Entries passed through on the way to the newest outcome.
        let mut passed: Vec<(Key, Flight)> = Vec::new();
        for _ in 0..MAX_HOPS {
            if current.is_expired_at(unix_now()) {
                return Refreshed::Ended("the session expired".into());
            }
            let Some(key) = key_of(&current) else {
                let outcome = Refreshed::Ended("no refresh token".into());
                self.settle(&passed, &outcome);
                return outcome;
            };
            let (flight, remembered) = self.flight(key, current.expires_at);
            let outcome = flight.get_or_init(|| run(current.clone())).await.clone();
            match &outcome {
                Refreshed::New(next) if remembered && !next.usable(margin, unix_now()) => {
                    if key_of(next) == Some(key) {
                        // A provider that does not rotate refresh tokens: the same one is
                        // spent anew, in a new flight.
                        self.forget(&key, &flight);
                    } else {
                        passed.push((key, flight));
                    }
                    current = next.clone();
                }
                Refreshed::Failed(_) if !Arc::ptr_eq(&current, &session) => {
                    // The cookie's session was replaced on the way: while the provider cannot
                    // be asked, the newest session stands, never the older one (whose groups
                    // and roles a refresh may since have taken away).
                    self.hold_failure(&key, &flight);
                    self.settle(&passed, &Refreshed::New(current.clone()));
                    return Refreshed::New(current);
                }
                Refreshed::Failed(_) => {
                    // Held for `retry_after`, then the provider is asked again.
                    self.hold_failure(&key, &flight);
                    return outcome;
                }
                Refreshed::StoreFailed(_) => {
                    // Redis answers within its own timeout: the next request may try again.
                    self.forget(&key, &flight);
                    return outcome;
                }
                Refreshed::New(_) | Refreshed::Ended(_) => {
                    self.settle(&passed, &outcome);
                    return outcome;
                }
            }
        }
        // Not a transient failure (which would let the old session stand): refused. The
        // entries passed now lead to where the walk stopped, so the next request goes on
        // from there instead of walking the same hops again.
        self.settle(&passed, &Refreshed::New(current));
        Refreshed::Ended("too many refreshes in a row".into())
    }

    /// The flight for `key`, and whether it had already finished (a remembered outcome rather
    /// than one this request waits for). The lock is held only here, never across an await.
    fn flight(&self, key: Key, keep_until: u64) -> (Flight, bool) {
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let now = unix_now();
        if let Some(entry) = memory.entries.get(&key)
            && entry.keep_until > now
            && entry
                .failed_until
                .is_none_or(|until| Instant::now() < until)
        {
            return (entry.flight.clone(), entry.flight.initialized());
        }
        memory.make_room(now, self.capacity);
        let flight = Flight::default();
        memory.entries.insert(
            key,
            Entry {
                flight: flight.clone(),
                keep_until,
                since: Instant::now(),
                failed_until: None,
            },
        );
        (flight, false)
    }

    /// Drops the entry for `key` if it still is `flight`.
    fn forget(&self, key: &Key, flight: &Flight) {
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if memory
            .entries
            .get(key)
            .is_some_and(|e| Arc::ptr_eq(&e.flight, flight))
        {
            memory.entries.remove(key);
        }
    }

    /// Holds the failed `flight` for `key` for `retry_after` from its first failure (requests
    /// that meet it meanwhile do not push the time back).
    fn hold_failure(&self, key: &Key, flight: &Flight) {
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = memory.entries.get_mut(key)
            && Arc::ptr_eq(&entry.flight, flight)
            && entry.failed_until.is_none()
        {
            entry.failed_until = Some(Instant::now() + self.retry_after);
        }
    }

    /// Points the entries passed through at the newest outcome, so the next request with an
    /// old cookie goes there at once, and one whose chain the provider ended is refused even
    /// if the entries in between are forgotten.
    fn settle(&self, passed: &[(Key, Flight)], outcome: &Refreshed) {
        if passed.is_empty() {
            return;
        }
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        for (key, flight) in passed {
            if let Some(entry) = memory.entries.get_mut(key)
                && Arc::ptr_eq(&entry.flight, flight)
            {
                entry.flight = Arc::new(OnceCell::new_with(Some(outcome.clone())));
                entry.since = Instant::now();
            }
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::*;
    use crate::session::test_redis::RedisServer;
    use crate::session::{Loaded, ProviderKind, RedisStore, Sessions, Ticket, Tokens};

    /// Issued access tokens last this long.
    const TTL: u64 = 100;
    /// A margin under which a session refreshed just now is not due.
    const NOW: Duration = Duration::from_secs(10);
    /// A margin under which every session is due: as if its access token's life had passed.
    const LATER: Duration = Duration::from_secs(1_000);

    /// A provider that rotates refresh tokens (`rt-1`, `rt-2`...) and records every refresh
    /// token presented to it.
    #[derive(Default)]
    struct Provider {
        presented: Mutex<Vec<String>>,
        issued: AtomicU64,
        refused: Mutex<HashSet<String>>,
        keeps_refresh_token: AtomicBool,
        unreachable: AtomicBool,
    }

    impl Provider {
        async fn refresh(&self, session: Arc<Session>) -> Refreshed {
            // Long enough for concurrent requests to find the flight in progress.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let spent = session
                .tokens
                .as_ref()
                .unwrap()
                .refresh_token
                .clone()
                .unwrap();
            self.presented.lock().unwrap().push(spent.clone());
            if self.unreachable.load(Ordering::SeqCst) {
                return Refreshed::Failed("connection refused".into());
            }
            if self.refused.lock().unwrap().contains(&spent) {
                return Refreshed::Ended("invalid_grant".into());
            }
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let mut next = (*session).clone();
            next.tokens = Some(Tokens {
                access_token: Some(format!("at-{n}")),
                id_token: None,
                refresh_token: Some(if self.keeps_refresh_token.load(Ordering::SeqCst) {
                    spent
                } else {
                    format!("rt-{n}")
                }),
                access_expires_at: Some(unix_now() + TTL),
            });
            Refreshed::New(Arc::new(next))
        }

        fn presented(&self) -> Vec<String> {
            self.presented.lock().unwrap().clone()
        }

        fn refuse(&self, token: &str) {
            self.refused.lock().unwrap().insert(token.into());
        }
    }

    fn signed_in() -> Arc<Session> {
        let mut s = Session::new("alice", Duration::from_secs(3_600));
        s.provider = Some(ProviderKind::Oidc);
        s.tokens = Some(Tokens {
            access_token: Some("at-0".into()),
            id_token: None,
            refresh_token: Some("rt-0".into()),
            access_expires_at: Some(unix_now() + 5),
        });
        Arc::new(s)
    }

    fn refresh_token(outcome: &Refreshed) -> String {
        match outcome {
            Refreshed::New(s) => s.tokens.as_ref().unwrap().refresh_token.clone().unwrap(),
            other => panic!("expected a refreshed session, got {other:?}"),
        }
    }

    async fn refresh(
        refresher: &Refresher,
        provider: &Provider,
        session: &Arc<Session>,
        margin: Duration,
    ) -> Refreshed {
        refresher
            .follow(session.clone(), margin, |s| provider.refresh(s))
            .await
    }

    #[tokio::test]
    async fn concurrent_requests_refresh_once() {
        let refresher = Arc::new(Refresher::default());
        let provider = Arc::new(Provider::default());
        let session = signed_in();
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (refresher, provider, session) =
                (refresher.clone(), provider.clone(), session.clone());
            requests.spawn(async move {
                refresh_token(&refresh(&refresher, &provider, &session, NOW).await)
            });
        }
        let tokens = requests.join_all().await;
        assert!(tokens.iter().all(|t| t == "rt-1"), "{tokens:?}");
        assert_eq!(provider.presented(), ["rt-0"]);
    }

    #[tokio::test]
    async fn a_remembered_refresh_is_handed_out_only_until_it_is_due_itself() {
        let refresher = Refresher::default();
        let provider = Provider::default();
        let old = signed_in();
        let first = refresh(&refresher, &provider, &old, NOW).await;
        assert_eq!(refresh_token(&first), "rt-1");
        // The old cookie again, while the refreshed tokens are fresh: the same result, and
        // the provider is not asked.
        let again = refresh(&refresher, &provider, &old, NOW).await;
        match (&first, &again) {
            (Refreshed::New(a), Refreshed::New(b)) => assert!(Arc::ptr_eq(a, b)),
            other => panic!("{other:?}"),
        }
        assert_eq!(provider.presented(), ["rt-0"]);
        // Once the refreshed tokens are due, the old cookie does not ride on them: they are
        // refreshed in turn, with the newest refresh token.
        let later = refresh(&refresher, &provider, &old, LATER).await;
        assert_eq!(refresh_token(&later), "rt-2");
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
        let later = refresh(&refresher, &provider, &old, LATER).await;
        assert_eq!(refresh_token(&later), "rt-3");
        assert_eq!(provider.presented(), ["rt-0", "rt-1", "rt-2"]);
    }

    #[tokio::test]
    async fn old_cookies_follow_the_chain_of_refreshes_and_spend_each_token_once() {
        let refresher = Refresher::default();
        let provider = Provider::default();
        let s0 = signed_in();
        let Refreshed::New(s1) = refresh(&refresher, &provider, &s0, NOW).await else {
            panic!("first refresh")
        };
        // The holder of the refreshed cookie refreshes when it is due.
        let Refreshed::New(s2) = refresh(&refresher, &provider, &s1, LATER).await else {
            panic!("second refresh")
        };
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
        // Cookies of every age, several times each, concurrently too: each leads to the
        // newest tokens, and no refresh token reaches the provider twice.
        for round in 0..3 {
            let mut requests = Vec::new();
            for s in [&s0, &s1, &s2, &s0, &s1] {
                requests.push(refresh(&refresher, &provider, s, LATER));
            }
            for outcome in tokio_join_all(requests).await {
                assert!(
                    matches!(outcome, Refreshed::New(_)),
                    "round {round}: {outcome:?}"
                );
            }
        }
        let presented = provider.presented();
        let distinct: HashSet<&String> = presented.iter().collect();
        assert_eq!(
            distinct.len(),
            presented.len(),
            "a refresh token was presented twice: {presented:?}"
        );
    }

    /// Runs `futures` concurrently on this task, in order.
    async fn tokio_join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
                if output.is_none() {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(o) => *output = Some(o),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outputs.into_iter().map(Option::unwrap).collect()
    }

    #[tokio::test]
    async fn when_the_provider_ends_the_newest_refresh_every_older_cookie_is_refused() {
        let refresher = Refresher::default();
        let provider = Provider::default();
        let s0 = signed_in();
        let Refreshed::New(s1) = refresh(&refresher, &provider, &s0, NOW).await else {
            panic!("first refresh")
        };
        // The user signs out at the provider: the newest refresh token is refused.
        provider.refuse("rt-1");
        for s in [&s0, &s1, &s0] {
            let outcome = refresh(&refresher, &provider, s, LATER).await;
            assert!(matches!(outcome, Refreshed::Ended(_)), "{outcome:?}");
        }
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
        // The old token's entry was pointed at the end itself: forgetting the newer one
        // does not bring the provider a dead token again.
        refresher.forget(
            &key_of(&s1).unwrap(),
            &refresher.flight(key_of(&s1).unwrap(), 0).0,
        );
        let outcome = refresh(&refresher, &provider, &s0, LATER).await;
        assert!(matches!(outcome, Refreshed::Ended(_)), "{outcome:?}");
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
    }

    #[tokio::test]
    async fn a_provider_that_keeps_the_refresh_token_is_asked_again_once_due() {
        let refresher = Refresher::default();
        let provider = Provider::default();
        provider.keeps_refresh_token.store(true, Ordering::SeqCst);
        let s0 = signed_in();
        let Refreshed::New(s1) = refresh(&refresher, &provider, &s0, NOW).await else {
            panic!("first refresh")
        };
        assert!(matches!(
            refresh(&refresher, &provider, &s1, NOW).await,
            Refreshed::New(s) if Arc::ptr_eq(&s, &s1)
        ));
        assert_eq!(provider.presented().len(), 1);
        for expected in 2..=3 {
            let outcome = refresh(&refresher, &provider, &s1, LATER).await;
            assert!(matches!(outcome, Refreshed::New(_)), "{outcome:?}");
            assert_eq!(provider.presented().len(), expected);
        }
    }

    #[tokio::test]
    async fn a_chain_too_long_to_follow_is_refused_not_passed() {
        let refresher = Refresher::default();
        let provider = Provider::default();
        // Remembered refreshes rt-0 -> rt-1 -> ... each already due, longer than one request
        // follows.
        let mut current = signed_in();
        let first = current.clone();
        for n in 1..=MAX_HOPS + 2 {
            let mut next = (*current).clone();
            next.tokens.as_mut().unwrap().refresh_token = Some(format!("rt-{n}"));
            let next = Arc::new(next);
            let (flight, _) = refresher.flight(key_of(&current).unwrap(), current.expires_at);
            flight.set(Refreshed::New(next.clone())).unwrap();
            current = next;
        }
        let outcome = refresh(&refresher, &provider, &first, LATER).await;
        assert!(matches!(outcome, Refreshed::Ended(_)), "{outcome:?}");
        assert!(provider.presented().is_empty());
    }

    /// A refresher that holds a failed refresh for `HELD` only.
    fn holding_briefly() -> Refresher {
        Refresher {
            retry_after: HELD,
            ..Refresher::default()
        }
    }
    const HELD: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_transient_failure_is_held_briefly_then_the_provider_is_asked_again() {
        let refresher = holding_briefly();
        let provider = Provider::default();
        let s0 = signed_in();
        provider.unreachable.store(true, Ordering::SeqCst);
        for _ in 0..5 {
            let outcome = refresh(&refresher, &provider, &s0, NOW).await;
            assert!(matches!(outcome, Refreshed::Failed(_)), "{outcome:?}");
        }
        // One attempt: the requests after it got its failure without asking (against a hung
        // provider, without waiting for it).
        assert_eq!(provider.presented(), ["rt-0"]);
        // Back, but the failure is still held: not asked yet.
        provider.unreachable.store(false, Ordering::SeqCst);
        let outcome = refresh(&refresher, &provider, &s0, NOW).await;
        assert!(matches!(outcome, Refreshed::Failed(_)), "{outcome:?}");
        assert_eq!(provider.presented(), ["rt-0"]);
        // Once the hold is over, the next request refreshes by itself.
        tokio::time::sleep(HELD + Duration::from_millis(50)).await;
        assert_eq!(
            refresh_token(&refresh(&refresher, &provider, &s0, NOW).await),
            "rt-1"
        );
        assert_eq!(provider.presented(), ["rt-0", "rt-0"]);
    }

    #[tokio::test]
    async fn requests_meeting_a_held_failure_do_not_extend_it() {
        let refresher = holding_briefly();
        let provider = Provider::default();
        let s0 = signed_in();
        provider.unreachable.store(true, Ordering::SeqCst);
        refresh(&refresher, &provider, &s0, NOW).await;
        provider.unreachable.store(false, Ordering::SeqCst);
        // Requests keep coming all through the hold; the hold still ends on time.
        let until = Instant::now() + HELD + Duration::from_millis(50);
        while Instant::now() < until {
            refresh(&refresher, &provider, &s0, NOW).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            refresh_token(&refresh(&refresher, &provider, &s0, NOW).await),
            "rt-1"
        );
    }

    #[tokio::test]
    async fn an_old_cookie_stands_for_the_newest_session_while_the_provider_is_down() {
        let refresher = holding_briefly();
        let provider = Provider::default();
        let old = signed_in();
        assert_eq!(
            refresh_token(&refresh(&refresher, &provider, &old, NOW).await),
            "rt-1"
        );
        // The refreshed session is due and the provider cannot be asked: the old cookie gets
        // the newest session it was replaced by, never its own older one.
        provider.unreachable.store(true, Ordering::SeqCst);
        let outcome = refresh(&refresher, &provider, &old, LATER).await;
        assert_eq!(refresh_token(&outcome), "rt-1");
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
        // Back up: while the failure is held, the newest session still stands, unasked.
        provider.unreachable.store(false, Ordering::SeqCst);
        let outcome = refresh(&refresher, &provider, &old, LATER).await;
        assert_eq!(refresh_token(&outcome), "rt-1");
        assert_eq!(provider.presented(), ["rt-0", "rt-1"]);
        // Then the newest refresh token is spent, once.
        tokio::time::sleep(HELD + Duration::from_millis(50)).await;
        assert_eq!(
            refresh_token(&refresh(&refresher, &provider, &old, LATER).await),
            "rt-2"
        );
        assert_eq!(provider.presented(), ["rt-0", "rt-1", "rt-1"]);
    }

    #[tokio::test]
    async fn the_memory_is_bounded_and_keeps_the_newest() {
        let refresher = Refresher::with_capacity(16);
        let provider = Provider::default();
        let mut sessions = Vec::new();
        for i in 0..100 {
            let mut s = (*signed_in()).clone();
            s.tokens.as_mut().unwrap().refresh_token = Some(format!("own-{i}"));
            let s = Arc::new(s);
            refresh(&refresher, &provider, &s, NOW).await;
            assert!(refresher.remembered() <= 16, "{}", refresher.remembered());
            sessions.push(s);
        }
        assert_eq!(provider.presented().len(), 100);
        // The newest are still remembered: no second use of their tokens.
        refresh(&refresher, &provider, &sessions[99], NOW).await;
        assert_eq!(provider.presented().len(), 100);
    }

    #[test]
    fn entries_go_when_the_session_that_carried_the_token_expires() {
        let now = unix_now();
        let mut memory = Memory::default();
        for (i, keep_until) in [now - 1, now, now + 1, now + 3_600].into_iter().enumerate() {
            memory.entries.insert(
                [i as u8; 32],
                Entry {
                    flight: Flight::default(),
                    keep_until,
                    since: Instant::now(),
                    failed_until: None,
                },
            );
        }
        memory.make_room(now, 100);
        let mut kept: Vec<u64> = memory.entries.values().map(|e| e.keep_until).collect();
        kept.sort_unstable();
        assert_eq!(kept, [now + 1, now + 3_600]);
    }

    // With sessions in Redis

    const TIMING: RefreshTiming = RefreshTiming {
        margin: NOW,
        http_timeout: Duration::from_secs(2),
    };

    /// `session` stored in `redis`: the ticket, and a request that carries it.
    async fn stored(redis: &RedisStore, session: &Session) -> (Ticket, http::HeaderMap) {
        let cookie = redis.request_cookie(session).await.unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        (redis.ticket(&headers).unwrap().unwrap(), headers)
    }

    /// Refreshes the session `headers` carry through the sessions interface, as every replica
    /// does.
    async fn refresh_in(
        sessions: &Sessions,
        headers: &http::HeaderMap,
        provider: &Provider,
        current: &Arc<Session>,
    ) -> Refreshed {
        let site = sessions
            .refresh_site(headers)
            .expect("the request carries a ticket");
        site.run(&|s| provider.refresh(s), TIMING, current.clone())
            .await
    }

    #[tokio::test]
    async fn a_session_the_provider_ended_is_deleted_from_redis() {
        let server = RedisServer::start();
        let redis = Arc::new(crate::session::test_redis_store(&server.url()));
        let sessions = Sessions::in_redis(redis.clone());
        let provider = Provider::default();
        let s0 = signed_in();
        let (ticket, headers) = stored(&redis, &s0).await;
        provider.refuse("rt-0");
        let outcome = refresh_in(&sessions, &headers, &provider, &s0).await;
        assert!(matches!(outcome, Refreshed::Ended(_)), "{outcome:?}");
        // Every replica now finds no session, instead of spending the refused token again.
        assert!(matches!(
            redis.read(&ticket).await.unwrap(),
            Loaded::Rejected(_)
        ));
    }

    #[tokio::test]
    async fn a_replica_that_waited_for_a_failed_refresh_does_not_ask_again_at_once() {
        let server = RedisServer::start();
        let redis = Arc::new(crate::session::test_redis_store(&server.url()));
        // Two replicas: their own refreshers and stores, one Redis.
        let first = Sessions::in_redis(redis.clone());
        let second = Sessions::in_redis(Arc::new(crate::session::test_redis_store(&server.url())));
        let s0 = signed_in();
        let (_, headers) = stored(&redis, &s0).await;
        let hung = Provider::default();
        hung.unreachable.store(true, Ordering::SeqCst);
        let answering = Provider::default();
        let slow_failure = |s: Arc<Session>| {
            let hung = &hung;
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                hung.refresh(s).await
            }
        };
        let first_site = first.refresh_site(&headers).unwrap();
        let second_site = second.refresh_site(&headers).unwrap();
        let (a, b) = tokio::join!(first_site.run(&slow_failure, TIMING, s0.clone()), async {
            // Starts while the first replica holds the lock.
            tokio::time::sleep(Duration::from_millis(50)).await;
            second_site
                .run(&|s| answering.refresh(s), TIMING, s0.clone())
                .await
        });
        assert!(matches!(a, Refreshed::Failed(_)), "{a:?}");
        assert!(matches!(b, Refreshed::Failed(_)), "{b:?}");
        assert_eq!(hung.presented(), ["rt-0"]);
        assert!(
            answering.presented().is_empty(),
            "the second replica asked the provider right after the first one's failure"
        );
        // Not held in Redis: the next request, with nobody waiting before it, asks.
        let outcome = refresh_in(&second, &headers, &answering, &s0).await;
        assert_eq!(refresh_token(&outcome), "rt-1");
    }

    #[tokio::test]
    async fn a_stored_session_due_itself_is_refreshed_with_its_own_tokens() {
        let server = RedisServer::start();
        let redis = Arc::new(crate::session::test_redis_store(&server.url()));
        let sessions = Sessions::in_redis(redis.clone());
        let provider = Provider::default();
        let s0 = signed_in();
        let (ticket, headers) = stored(&redis, &s0).await;
        // Another replica refreshed meanwhile, into tokens already due.
        let mut other = (*s0).clone();
        other.tokens = Some(Tokens {
            access_token: Some("at-other".into()),
            id_token: None,
            refresh_token: Some("rt-other".into()),
            access_expires_at: Some(unix_now()),
        });
        assert!(redis.replace(&ticket, &other).await.unwrap());
        let outcome = refresh_in(&sessions, &headers, &provider, &s0).await;
        assert_eq!(refresh_token(&outcome), "rt-1");
        assert_eq!(
            provider.presented(),
            ["rt-other"],
            "only the newest token is spent"
        );
        let Loaded::Valid(now_stored) = redis.read(&ticket).await.unwrap() else {
            panic!("the refreshed session is stored")
        };
        assert_eq!(refresh_token(&Refreshed::New(now_stored)), "rt-1");
        // A stored session that is not due is used as it is.
        let outcome = refresh_in(&sessions, &headers, &provider, &s0).await;
        assert_eq!(refresh_token(&outcome), "rt-1");
        assert_eq!(provider.presented(), ["rt-other"]);
    }
}
