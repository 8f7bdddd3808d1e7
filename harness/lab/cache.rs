//! A small cache bounded in size and in age, with counters of what it did: the lab's interception
//! leaves live in one, so a proxy asked for thousands of host names keeps a flat memory.
//!
//! Written here rather than taken from a crate (moka, lru): it is touched only when a certificate is
//! served (a mint costs far more than the linear bookkeeping), needs first-stored-wins inserts and an
//! age bound, and fits in a page without another dependency to build.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a bounded cache holds and did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Entries held now.
    pub entries: usize,
    /// The most entries it holds; inserting beyond evicts the oldest.
    pub capacity: usize,
    /// Look-ups answered from the cache.
    pub hits: u64,
    /// Look-ups that found nothing (or only an expired entry).
    pub misses: u64,
    /// Entries removed for size or age.
    pub evictions: u64,
}

/// The counters, shared with whoever reports them (a proxy handle) without taking the cache's lock.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    entries: AtomicUsize,
    capacity: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl CacheCounters {
    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// A map from names to values that keeps at most `capacity` entries, none older than `max_age`;
/// the oldest entry goes first.
pub(crate) struct BoundedCache<V> {
    state: Mutex<State<V>>,
    capacity: usize,
    max_age: Duration,
    counters: Arc<CacheCounters>,
}

struct State<V> {
    entries: HashMap<String, (V, Instant)>,
    /// Keys in insertion order with their insertion time; a key whose time no longer matches its
    /// entry was removed and is skipped.
    order: VecDeque<(String, Instant)>,
}

impl<V: Clone> BoundedCache<V> {
    /// An empty cache of at most `capacity` entries (at least one), each kept for `max_age`.
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity = capacity.max(1);
        let counters = Arc::new(CacheCounters::default());
        counters.capacity.store(capacity, Ordering::Relaxed);
        BoundedCache {
            state: Mutex::new(State {
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity,
            max_age,
            counters,
        }
    }

    /// The counters, to be read while the cache works.
    pub(crate) fn counters(&self) -> Arc<CacheCounters> {
        Arc::clone(&self.counters)
    }

    /// The value stored for `key`, if there is one younger than the age bound.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    /// Store `value` for `key` unless a live value is already there (two first requests for one
    /// key may both compute it: the first stored wins); returns the value now cached.
    pub(crate) fn insert(&self, key: String, value: V) -> V {
        self.insert_at(key, value, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<V> {
        let mut state = self.lock();
        let found = match state.entries.get(key) {
            Some((_, stored)) if now.saturating_duration_since(*stored) >= self.max_age => {
                state.entries.remove(key);
                self.evicted(&state);
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        };
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn insert_at(&self, key: String, value: V, now: Instant) -> V {
        let mut state = self.lock();
        self.expire(&mut state, now);
        if let Some((value, _)) = state.entries.get(&key) {
            return value.clone();
        }
        while state.entries.len() >= self.capacity {
            let Some((oldest, stored)) = state.order.pop_front() else {
                break;
            };
            if state
                .entries
                .get(&oldest)
                .is_some_and(|(_, at)| *at == stored)
            {
                state.entries.remove(&oldest);
                self.evicted(&state);
            }
        }
        state.order.push_back((key.clone(), now));
        state.entries.insert(key, (value.clone(), now));
        self.counters
            .entries
            .store(state.entries.len(), Ordering::Relaxed);
        value
    }

    /// Drop every entry older than the age bound (they sit at the front of the order).
    fn expire(&self, state: &mut State<V>, now: Instant) {
        while let Some((key, stored)) = state.order.front() {
            if now.saturating_duration_since(*stored) < self.max_age {
                break;
            }
            let current = state.entries.get(key).is_some_and(|(_, at)| at == stored);
            if current {
                let key = key.clone();
                state.entries.remove(&key);
                self.evicted(state);
            }
            state.order.pop_front();
        }
    }

    fn evicted(&self, state: &State<V>) {
        self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .entries
            .store(state.entries.len(), Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State<V>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_bound_evicts_the_oldest_and_counts() {
        let cache = BoundedCache::new(2, Duration::from_secs(3600));
        let now = Instant::now();
        cache.insert_at("a".into(), 1, now);
        cache.insert_at("b".into(), 2, now);
        assert_eq!(cache.insert_at("a".into(), 9, now), 1, "first stored wins");
        cache.insert_at("c".into(), 3, now);
        assert_eq!(cache.get_at("a", now), None);
        assert_eq!(cache.get_at("b", now), Some(2));
        assert_eq!(cache.get_at("c", now), Some(3));
        let stats = cache.counters().stats();
        assert_eq!(
            (
                stats.entries,
                stats.capacity,
                stats.hits,
                stats.misses,
                stats.evictions
            ),
            (2, 2, 2, 1, 1)
        );
    }

    #[test]
    fn age_bound_expires_entries_and_the_order_stays_bounded() {
        let cache = BoundedCache::new(10, Duration::from_secs(60));
        let start = Instant::now();
        cache.insert_at("a".into(), 1, start);
        let later = start + Duration::from_secs(61);
        assert_eq!(cache.get_at("a", later), None);
        cache.insert_at("a".into(), 2, later);
        assert_eq!(cache.get_at("a", later), Some(2));
        for round in 0..100u64 {
            let at = later + Duration::from_secs(61 * (round + 1));
            cache.insert_at(format!("host{round}"), 0, at);
        }
        let state = cache.lock();
        assert_eq!(state.entries.len(), 1);
        assert!(state.order.len() <= 2, "{}", state.order.len());
    }
}
