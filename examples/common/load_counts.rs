//! What the load generator counts: every answer by door, kind of request and answer class,
//! and the slowest answer of each; the kinds themselves and what each must get.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a request is, and what the answer must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Trusted,
    SignedIn,
    /// Signed in for real at the identity provider: a session with a refresh token.
    SignedInIdp,
    Expired,
    ForgedAddress,
    TamperedCookie,
    NoSession,
}

pub const KINDS: [Kind; 7] = [
    Kind::Trusted,
    Kind::SignedIn,
    Kind::SignedInIdp,
    Kind::Expired,
    Kind::ForgedAddress,
    Kind::TamperedCookie,
    Kind::NoSession,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trusted => "trusted",
            Kind::SignedIn => "signed_in",
            Kind::SignedInIdp => "signed_in_idp",
            Kind::Expired => "expired",
            Kind::ForgedAddress => "forged_address",
            Kind::TamperedCookie => "tampered_cookie",
            Kind::NoSession => "no_session",
        }
    }

    /// Whether this kind must pass (2xx) or must not pass (anything but 2xx).
    pub fn must_pass(self) -> bool {
        matches!(self, Kind::Trusted | Kind::SignedIn | Kind::SignedInIdp)
    }

    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The answer classes counted, in the order printed. 5xx are told apart: nginx's 500 (an
/// auth answer it does not understand), 502 (its upstream failed) and Sekisho's 503 (a store
/// it cannot reach) mean different things under a fault.
/// The last two are no answer at all: `conn_err` when the connection failed (refused, reset,
/// closed mid-answer), `timeout` when none came within the generator's patience.
pub const CLASSES: [&str; 13] = [
    "2xx", "3xx", "401", "403", "4xx", "500", "502", "503", "504", "5xx", "other", "conn_err",
    "timeout",
];
pub const CONNECTION_ERROR: usize = 11;
pub const TIMEOUT: usize = 12;

pub fn class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        401 => 2,
        403 => 3,
        400..=499 => 4,
        500 => 5,
        502 => 6,
        503 => 7,
        504 => 8,
        501..=599 => 9,
        _ => 10,
    }
}

/// Answers slower than this are counted apart: one second is the most a Redis operation may
/// take by default (`session.redis_timeout`), so slower ones waited on something else.
pub const SLOW_MICROS: u64 = 1_000_000;

/// Counters per door × kind × class, and per door × kind the slowest answer (microseconds)
/// and how many took longer than [`SLOW_MICROS`].
pub struct Counts {
    doors: usize,
    cells: Vec<AtomicU64>,
    slowest: Vec<AtomicU64>,
    slow: Vec<AtomicU64>,
}

impl Counts {
    pub fn new(doors: usize) -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            doors,
            cells: zeros(doors * KINDS.len() * CLASSES.len()),
            slowest: zeros(doors * KINDS.len()),
            slow: zeros(doors * KINDS.len()),
        }
    }

    fn cell(&self, door: usize, kind: Kind, class: usize) -> &AtomicU64 {
        &self.cells[(door * KINDS.len() + kind.index()) * CLASSES.len() + class]
    }

    pub fn add(&self, door: usize, kind: Kind, class: usize, micros: u64) {
        self.cell(door, kind, class).fetch_add(1, Ordering::Relaxed);
        let at = door * KINDS.len() + kind.index();
        self.slowest[at].fetch_max(micros, Ordering::Relaxed);
        if micros > SLOW_MICROS {
            self.slow[at].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, door: usize, kind: Kind, class: usize) -> u64 {
        self.cell(door, kind, class).load(Ordering::Relaxed)
    }

    /// The slowest answer since the last call, in microseconds; starts over.
    pub fn take_slowest(&self, door: usize, kind: Kind) -> u64 {
        self.slowest[door * KINDS.len() + kind.index()].swap(0, Ordering::Relaxed)
    }

    /// How many answers took longer than [`SLOW_MICROS`] since the last call; starts over.
    pub fn take_slow(&self, door: usize, kind: Kind) -> u64 {
        self.slow[door * KINDS.len() + kind.index()].swap(0, Ordering::Relaxed)
    }

    /// Every counter as it is now, in cell order (for differences between two moments).
    pub fn snapshot(&self) -> Vec<u64> {
        self.cells
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The count of one cell in a snapshot.
    pub fn of(snapshot: &[u64], door: usize, kind: Kind, class: usize) -> u64 {
        snapshot[(door * KINDS.len() + kind.index()) * CLASSES.len() + class]
    }

    /// Answers that must never be: a forged, expired, tampered or session-less request let
    /// through.
    pub fn breaches(&self) -> u64 {
        (0..self.doors)
            .flat_map(|d| KINDS.iter().map(move |k| (d, *k)))
            .filter(|(_, k)| !k.must_pass())
            .map(|(d, k)| self.get(d, k, 0))
            .sum()
    }

    /// Trusted or signed-in requests that did not pass (connection errors aside).
    pub fn unexpected(&self) -> u64 {
        (0..self.doors)
            .flat_map(|d| KINDS.iter().map(move |k| (d, *k)))
            .filter(|(_, k)| k.must_pass())
            .map(|(d, k)| {
                (1..CONNECTION_ERROR)
                    .map(|c| self.get(d, k, c))
                    .sum::<u64>()
            })
            .sum()
    }

    pub fn connection_errors(&self) -> u64 {
        (0..self.doors)
            .flat_map(|d| KINDS.iter().map(move |k| (d, *k)))
            .map(|(d, k)| self.get(d, k, CONNECTION_ERROR) + self.get(d, k, TIMEOUT))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_tell_the_fault_answers_apart() {
        assert_eq!(CLASSES[class(202)], "2xx");
        assert_eq!(CLASSES[class(302)], "3xx");
        assert_eq!(CLASSES[class(401)], "401");
        assert_eq!(CLASSES[class(500)], "500");
        assert_eq!(CLASSES[class(502)], "502");
        assert_eq!(CLASSES[class(503)], "503");
        assert_eq!(CLASSES[class(599)], "5xx");
        assert_eq!(CLASSES[CONNECTION_ERROR], "conn_err");
        assert_eq!(CLASSES[TIMEOUT], "timeout");
    }

    #[test]
    fn only_refused_kinds_let_through_are_breaches() {
        let counts = Counts::new(2);
        counts.add(0, Kind::Trusted, 0, 1);
        counts.add(1, Kind::SignedInIdp, 0, 1);
        assert_eq!(counts.breaches(), 0);
        counts.add(1, Kind::NoSession, 0, 1);
        assert_eq!(counts.breaches(), 1);
        counts.add(0, Kind::SignedIn, class(503), 1);
        assert_eq!(counts.unexpected(), 1);
    }
}
