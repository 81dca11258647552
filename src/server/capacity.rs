//! The connection table: at most `connections.max` client connections are open at once.
//!
//! When the table is full, a new connection takes the place of one that is waiting (idle
//! between requests, or still sending its first request head) rather than being turned away:
//! idle and slow clients then cannot crowd out `/ping` or a sign-in, which is what holding
//! connections open is meant to achieve. nginx reuses its own idle connections the same way when
//! `worker_connections` run out. Connections that have never been answered go first, then
//! idle ones; a connection with a request in flight or switched to WebSocket is never picked.
//! Only when every connection is busy is the new one closed at once, which a proxy in front sees
//! as a quick error it can retry elsewhere, rather than a connect that hangs in the backlog.

use std::sync::{Arc, Mutex, PoisonError};

use super::activity::Activity;
use crate::telemetry::record_connections_open;

/// Where the open connections are listed.
#[derive(Debug)]
pub struct Capacity {
    max: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    entries: Vec<Option<Arc<Activity>>>,
    free: Vec<usize>,
    open: usize,
    /// Where the next search for a connection to close starts, so the same ones are not
    /// scanned over and over.
    cursor: usize,
}

/// A connection's place in the table, given up when dropped (when its socket closes).
#[derive(Debug)]
pub struct Slot {
    capacity: Arc<Capacity>,
    index: usize,
}

/// Every connection is busy with a request: the new one is not taken.
#[derive(Debug)]
pub struct Full;

/// A connection admitted into a full table by closing another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Room,
    Evicted,
}

impl Capacity {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            table: Mutex::new(Table::default()),
        })
    }

    /// Connections open now, those being closed to make room included.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.lock().open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists a new connection, closing a waiting one if the table is full.
    pub fn admit(self: &Arc<Self>, activity: &Arc<Activity>) -> Result<(Slot, Admission), Full> {
        let mut table = self.lock();
        let admission = if table.open < self.max {
            Admission::Room
        } else if table.evict_one() {
            Admission::Evicted
        } else {
            return Err(Full);
        };
        table.open += 1;
        table.report();
        let index = match table.free.pop() {
            Some(index) => {
                table.entries[index] = Some(Arc::clone(activity));
                index
            }
            None => {
                table.entries.push(Some(Arc::clone(activity)));
                table.entries.len() - 1
            }
        };
        Ok((
            Slot {
                capacity: Arc::clone(self),
                index,
            },
            admission,
        ))
    }
}

impl Table {
    fn report(&self) {
        record_connections_open(self.open);
    }

    /// Asks one waiting connection to close; false if every connection is busy.
    fn evict_one(&mut self) -> bool {
        let len = self.entries.len();
        let mut idle = None;
        for step in 0..len {
            let index = (self.cursor + step) % len;
            let Some(activity) = &self.entries[index] else {
                continue;
            };
            if !activity.evictable() {
                continue;
            }
            if activity.never_answered() {
                idle = Some(index);
                break;
            }
            idle.get_or_insert(index);
        }
        let Some(index) = idle else {
            return false;
        };
        if let Some(activity) = &self.entries[index] {
            activity.evict();
        }
        self.cursor = (index + 1) % len;
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.capacity.lock();
        table.entries[self.index] = None;
        table.free.push(self.index);
        table.open -= 1;
        table.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_table_makes_room_by_closing_a_waiting_connection() {
        let capacity = Capacity::new(3);
        let answered = Activity::new();
        drop(answered.start_request());
        let silent = Activity::new();
        let busy = Activity::new();
        let _request = busy.start_request();
        let slots: Vec<_> = [&answered, &silent, &busy]
            .into_iter()
            .map(|a| capacity.admit(a).expect("room").0)
            .collect();
        assert_eq!(capacity.open(), 3);

        let first = Activity::new();
        let (_first, admission) = capacity.admit(&first).expect("room is made");
        assert_eq!(admission, Admission::Evicted);
        assert!(
            !silent.evictable() && answered.evictable(),
            "the never-answered one goes first"
        );
        drop(first.start_request());
        let (_second, _) = capacity.admit(&Activity::new()).expect("room is made");
        assert!(
            answered.evictable() != first.evictable(),
            "then one idle connection"
        );
        assert_eq!(capacity.open(), 5, "until they close");

        drop(slots);
        assert_eq!(capacity.open(), 2);
    }

    #[tokio::test]
    async fn busy_and_upgraded_connections_are_never_closed_for_room() {
        let capacity = Capacity::new(2);
        let busy = Activity::new();
        let _request = busy.start_request();
        let upgraded = Activity::new();
        upgraded.upgrade();
        let _slots = [
            capacity.admit(&busy).expect("room"),
            capacity.admit(&upgraded).expect("room"),
        ];
        assert!(capacity.admit(&Activity::new()).is_err());
        assert_eq!(capacity.open(), 2);
    }
}
