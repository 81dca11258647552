//! What one client connection is doing, as far as its timeouts care: waiting for a request,
//! receiving a request head, or busy with requests (or switched to another protocol).
//!
//! hyper 1.x's own `header_read_timeout` starts when a connection goes idle, not when the next
//! request's first byte arrives, so it also closes idle keep-alive connections after the same
//! short time, which would race with nginx reusing them. The two timeouts are kept here instead.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Shared by a connection's socket wrapper, its requests' response bodies, its watchdog and
/// the connection table.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    /// Stamps are read from this clock, not tokio's: they are taken twice per request, and
    /// a tokio stamp (a system clock read, a timespec subtraction, a 128-bit division) cost
    /// about 300 instructions per request where this one (a TSC read where the CPU has a
    /// stable one) costs a fraction. The two clocks drift apart by far less than the
    /// millisecond stamps over a connection's life.
    clock: quanta::Clock,
    /// `born` on `clock`.
    born_on_clock: quanta::Instant,
    /// Requests whose response has not been sent completely (HTTP/2: several).
    in_flight: AtomicU32,
    /// Milliseconds after `born`, plus one, at which the first byte arrived while no request
    /// was in flight; 0: none since the connection last went idle.
    head_started: AtomicU64,
    /// Milliseconds after `born`, plus one, at which the last response finished; 0: none yet.
    idle_since: AtomicU64,
    /// Answered `101 Switching Protocols`: the connection now belongs to the upgraded protocol.
    upgraded: AtomicBool,
    /// Asked to close to make room for a new connection.
    evicted: AtomicBool,
    /// Speaks HTTP/2, where bytes between requests are mostly control frames (window updates,
    /// pings, settings) and start no request head.
    multiplexed: AtomicBool,
    /// Wakes the watchdog when the connection is evicted.
    eviction: Notify,
}

/// Why a connection's watchdog fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// A request head (or, on a new connection, the first one) took too long.
    HeadTimeout,
    /// No request came within the idle timeout after the last one was answered.
    Idle,
    /// Closed to make room under the connection limit.
    Evicted,
}

/// One calibrated clock for the process: calibrating takes a while.
fn process_clock() -> quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Self::on(process_clock())
    }

    fn on(clock: quanta::Clock) -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            born_on_clock: clock.now(),
            clock,
            in_flight: AtomicU32::new(0),
            head_started: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            eviction: Notify::new(),
        })
    }

    fn stamp(&self) -> u64 {
        let since_born = self
            .clock
            .now()
            .saturating_duration_since(self.born_on_clock);
        since_born.as_secs() * 1000 + u64::from(since_born.subsec_millis()) + 1
    }

    fn at(&self, stamp: u64) -> Instant {
        self.born + Duration::from_millis(stamp - 1)
    }

    /// Bytes arrived from the client. Only the first ones while no request is in flight
    /// matter: they start the header-read timeout. Called on every read, so it is two loads.
    /// The watchdog is not woken: the deadline this starts lies at least a step ahead, and the
    /// watchdog looks again within a step (see [`Activity::expired`]).
    pub fn on_read(&self) {
        if self.head_started.load(Ordering::Relaxed) == 0
            && self.in_flight.load(Ordering::Acquire) == 0
            && !self.multiplexed.load(Ordering::Relaxed)
        {
            self.head_started.store(self.stamp(), Ordering::Relaxed);
        }
    }

    /// A request head has been read: the request is in flight until the guard drops (with
    /// the response body, once it is sent).
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// The connection speaks HTTP/2: only the idle timeout applies between its requests.
    pub fn multiplex(&self) {
        self.multiplexed.store(true, Ordering::Relaxed);
    }

    /// The connection switched protocols: its HTTP timeouts no longer apply.
    pub fn upgrade(&self) {
        self.upgraded.store(true, Ordering::Release);
    }

    /// Whether the connection could be closed now without cutting a request short.
    pub fn evictable(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && !self.upgraded.load(Ordering::Acquire)
            && !self.evicted.load(Ordering::Acquire)
    }

    /// Whether the connection has not yet been answered once (never sent a complete head).
    pub fn never_answered(&self) -> bool {
        self.idle_since.load(Ordering::Relaxed) == 0
    }

    /// Asks the connection to close.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.eviction.notify_one();
    }

    /// When the connection should be closed, as things stand, and why; `None` while a request
    /// is in flight.
    fn deadline(&self, header_read: Duration, idle: Duration) -> Option<(Instant, Expiry)> {
        if self.evicted.load(Ordering::Acquire) {
            return Some((Instant::now(), Expiry::Evicted));
        }
        if self.in_flight.load(Ordering::Acquire) > 0 || self.upgraded.load(Ordering::Acquire) {
            return None;
        }
        match (
            self.head_started.load(Ordering::Relaxed),
            self.idle_since.load(Ordering::Relaxed),
        ) {
            (0, 0) => Some((self.born + header_read, Expiry::HeadTimeout)),
            (0, idle_since) => Some((self.at(idle_since) + idle, Expiry::Idle)),
            (started, _) => Some((self.at(started) + header_read, Expiry::HeadTimeout)),
        }
    }

    /// Resolves when the connection has outstayed its welcome, exactly at its deadline.
    ///
    /// Requests never wake this: a wake-up per request start and end cost more than the rest of
    /// the bookkeeping together. Instead, every deadline that comes into being lies at least
    /// `step` (the shorter timeout) after the moment it does (a head starting now ends no
    /// sooner than `header_read` from now, an idle spell no sooner than `idle`). So looking
    /// again at the earliest known deadline, or `step` from now if that is sooner, never misses
    /// one; and since the state is re-read then, a request that began meanwhile is never cut.
    /// Only an eviction wakes it early.
    pub async fn expired(&self, header_read: Duration, idle: Duration) -> Expiry {
        let step = header_read.min(idle);
        let sleep = tokio::time::sleep(step);
        tokio::pin!(sleep);
        loop {
            let evicted = self.eviction.notified();
            let deadline = self.deadline(header_read, idle);
            // Read after the deadline: an eviction's deadline is the moment it was read.
            let now = Instant::now();
            let next_look = match deadline {
                Some((when, why)) if when <= now => return why,
                Some((when, _)) => when.min(now + step),
                None => now + step,
            };
            sleep.as_mut().reset(next_look);
            tokio::select! {
                () = evicted => {}
                () = sleep.as_mut() => {}
            }
        }
    }
}

/// A request in flight; dropping it (with the response body) marks the end of the request.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl InFlight {
    /// The response switches protocols: the connection's HTTP timeouts no longer apply.
    pub fn upgrade(&self) {
        self.0.upgrade();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since
            .store(activity.stamp(), Ordering::Relaxed);
        // No wake-up: the idle deadline this starts is found within a step.
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(75);

    /// Activities whose stamp clock moves with tokio's paused clock (see [`advance`]).
    struct Clocks {
        clock: quanta::Clock,
        mock: Arc<quanta::Mock>,
    }

    impl Clocks {
        fn new() -> Self {
            let (clock, mock) = quanta::Clock::mock();
            Self { clock, mock }
        }

        fn activity(&self) -> Arc<Activity> {
            Activity::on(self.clock.clone())
        }

        async fn advance(&self, by: Duration) {
            self.mock.increment(by);
            tokio::time::advance(by).await;
        }
    }

    async fn expiry_after(activity: &Activity) -> (Expiry, Duration) {
        let start = Instant::now();
        let why = activity.expired(HEAD, IDLE).await;
        (why, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_gets_the_header_read_timeout() {
        let activity = Clocks::new().activity();
        assert_eq!(expiry_after(&activity).await, (Expiry::HeadTimeout, HEAD));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_gets_the_idle_timeout_and_then_the_head_one() {
        let clocks = Clocks::new();
        let activity = clocks.activity();
        clocks.advance(Duration::from_secs(20)).await;
        drop(activity.start_request());
        assert_eq!(
            expiry_after(&activity).await,
            (Expiry::Idle, IDLE),
            "the idle clock starts when the answer is sent"
        );

        let activity = clocks.activity();
        clocks.advance(Duration::from_secs(5)).await;
        drop(activity.start_request());
        clocks.advance(Duration::from_secs(30)).await;
        activity.on_read();
        assert_eq!(
            expiry_after(&activity).await,
            (Expiry::HeadTimeout, HEAD),
            "the head clock starts at the first byte, not when the connection went idle"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_control_frames_between_requests_start_no_head_clock() {
        let activity = Clocks::new().activity();
        activity.multiplex();
        drop(activity.start_request());
        activity.on_read();
        assert_eq!(expiry_after(&activity).await, (Expiry::Idle, IDLE));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_cut() {
        let activity = Clocks::new().activity();
        let request = activity.start_request();
        activity.on_read(); // body bytes
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { expiry_after(&activity).await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!watchdog.is_finished());
        drop(request);
        let (why, _) = watchdog.await.unwrap();
        assert_eq!(why, Expiry::Idle);
        assert!(activity.evictable());
    }

    #[tokio::test(start_paused = true)]
    async fn upgraded_and_evicted_connections() {
        let activity = Clocks::new().activity();
        let request = activity.start_request();
        activity.upgrade();
        drop(request);
        assert!(!activity.evictable());
        let waiting = tokio::time::timeout(Duration::from_secs(3600), activity.expired(HEAD, IDLE));
        assert!(
            waiting.await.is_err(),
            "an upgraded connection has no HTTP timeout"
        );

        let activity = Clocks::new().activity();
        assert!(activity.evictable() && activity.never_answered());
        activity.evict();
        assert!(!activity.evictable(), "not picked twice");
        assert_eq!(
            expiry_after(&activity).await,
            (Expiry::Evicted, Duration::ZERO)
        );
    }
}
