//! Recently stored events, so a repeat of the same `(project_id, event_id)`
//! (an SDK retry, an offline cache flushed twice, the nginx mirror plus a
//! direct write during a migration) is acknowledged but not stored again, as
//! Sentry does with its `ev:{project}:{event_id}` key (docs/schema.md §5).
//!
//! Best effort by design: it lives in memory, forgets entries after `ttl`,
//! holds at most `capacity` of them (oldest dropped first), and starts empty
//! after a restart. Queries still treat rows with one `event_id` as one event.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sentry_sls_event::{EventId, ProjectId};

type Key = (u64, EventId);

struct Inner {
    seen: HashMap<Key, Instant>,
    order: VecDeque<(Instant, Key)>,
}

/// A bounded, expiring set of stored event ids.
pub struct SeenSet {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
}

impl SeenSet {
    /// A set that remembers up to `capacity` ids for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> SeenSet {
        SeenSet {
            inner: Mutex::new(Inner {
                seen: HashMap::new(),
                order: VecDeque::new(),
            }),
            ttl,
            capacity,
        }
    }

    /// Whether the event was recorded within the last `ttl`.
    pub fn contains(&self, project: ProjectId, event_id: &EventId) -> bool {
        let inner = self.inner.lock().expect("seen lock");
        inner
            .seen
            .get(&(project.0, *event_id))
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    /// Records a stored event.
    pub fn insert(&self, project: ProjectId, event_id: EventId) {
        if self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("seen lock");
        let key = (project.0, event_id);
        inner.seen.insert(key, now);
        inner.order.push_back((now, key));
        // Expired or over capacity: drop from the front. A key re-inserted
        // later has a newer time in the map and survives its old entry.
        while let Some(&(at, old)) = inner.order.front() {
            if inner.order.len() <= self.capacity && at.elapsed() < self.ttl {
                break;
            }
            inner.order.pop_front();
            if inner.seen.get(&old) == Some(&at) {
                inner.seen.remove(&old);
            }
        }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("seen lock").seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EventId {
        EventId::parse(&format!("{n:032x}")).unwrap()
    }

    #[test]
    fn remembers_per_project_within_capacity_and_ttl() {
        let seen = SeenSet::new(3, Duration::from_secs(3600));
        seen.insert(ProjectId(1), id(1));
        assert!(seen.contains(ProjectId(1), &id(1)));
        assert!(!seen.contains(ProjectId(2), &id(1)), "per project");
        for n in 2..=4 {
            seen.insert(ProjectId(1), id(n));
        }
        assert!(!seen.contains(ProjectId(1), &id(1)), "oldest dropped");
        assert!(seen.contains(ProjectId(1), &id(4)));
        assert_eq!(seen.len(), 3);
        // A repeat refreshes the entry instead of being dropped with its old copy.
        seen.insert(ProjectId(1), id(2));
        seen.insert(ProjectId(1), id(5));
        assert!(seen.contains(ProjectId(1), &id(2)));

        let expiring = SeenSet::new(10, Duration::from_millis(1));
        expiring.insert(ProjectId(1), id(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!expiring.contains(ProjectId(1), &id(1)));
        expiring.insert(ProjectId(1), id(2));
        assert_eq!(expiring.len(), 1, "expired entries are dropped");
    }
}
