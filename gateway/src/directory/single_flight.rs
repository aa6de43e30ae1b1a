//! One load at a time per key. When many requests miss the directory for the same key at once —
//! a restart under load, when every client's first request arrives within a second — one of them
//! loads it and the others wait for its result, instead of each running the same queries: 9,000
//! clients at once queued behind the database's few connections for seconds (the streams
//! benchmark, 2026-12-07).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;

/// Whose turn it is to load each key being loaded.
pub(super) struct SingleFlight<K> {
    gates: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K: Eq + Hash + Clone> SingleFlight<K> {
    pub fn new() -> Self {
        Self {
            gates: Mutex::default(),
        }
    }

    /// `cached()` at once when it has the value (the hot path: no lock but the cache's); else,
    /// once this caller's turn for `key` comes, `cached()` again or `load()` (which fills the
    /// cache `cached` reads). A load that fails fills nothing: the next waiter tries its own.
    pub async fn get<V, E, Fut>(
        &self,
        key: &K,
        cached: impl Fn() -> Option<V>,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = cached() {
            return Ok(value);
        }
        let turn = Turn {
            flight: self,
            key,
            gate: self.gates.lock().entry(key.clone()).or_default().clone(),
        };
        let _mine = turn.gate.lock().await;
        match cached() {
            Some(value) => Ok(value),
            None => load().await,
        }
    }

    #[cfg(test)]
    fn keys_in_flight(&self) -> usize {
        self.gates.lock().len()
    }
}

/// A caller's place for one key; leaving (done, or dropped midway by a client that went away)
/// removes the key's gate once nobody else holds it, so refused keys leave nothing behind.
struct Turn<'a, K: Eq + Hash> {
    flight: &'a SingleFlight<K>,
    key: &'a K,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl<K: Eq + Hash> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        let mut gates = self.flight.gates.lock();
        // Clones are made under this lock only: two holders, the map and this turn, means
        // nobody else is waiting.
        if gates
            .get(self.key)
            .is_some_and(|gate| Arc::ptr_eq(gate, &self.gate) && Arc::strong_count(gate) == 2)
        {
            gates.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use parking_lot::RwLock;

    use super::*;

    struct Cache {
        flight: SingleFlight<u32>,
        values: RwLock<HashMap<u32, u32>>,
        loads: AtomicUsize,
    }

    impl Cache {
        fn new() -> Self {
            Self {
                flight: SingleFlight::new(),
                values: RwLock::default(),
                loads: AtomicUsize::new(0),
            }
        }

        /// The value of `key` (its double), loaded slowly; `fail` refuses it instead.
        async fn get(&self, key: u32, fail: bool) -> Result<u32, &'static str> {
            let cached = || self.values.read().get(&key).copied();
            self.flight
                .get(&key, cached, || async {
                    self.loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if fail {
                        return Err("refused");
                    }
                    self.values.write().insert(key, key * 2);
                    Ok(key * 2)
                })
                .await
        }
    }

    #[tokio::test]
    async fn a_burst_of_misses_loads_each_key_once() {
        let cache = Cache::new();
        let burst = (0..200).map(|i| cache.get(i % 2, false));
        let values = futures::future::join_all(burst).await;
        assert!(
            values
                .iter()
                .enumerate()
                .all(|(i, v)| *v == Ok((i as u32 % 2) * 2))
        );
        assert_eq!(cache.loads.load(Ordering::SeqCst), 2, "one load per key");
        assert_eq!(cache.flight.keys_in_flight(), 0);
    }

    #[tokio::test]
    async fn a_failed_load_leaves_the_next_waiter_to_try_and_nothing_behind() {
        let cache = Cache::new();
        let burst = (0..5).map(|_| cache.get(7, true));
        let values = futures::future::join_all(burst).await;
        assert!(values.iter().all(|v| *v == Err("refused")));
        // Nothing was cached, so each waiter loaded in turn, one at a time.
        assert_eq!(cache.loads.load(Ordering::SeqCst), 5);
        assert_eq!(cache.flight.keys_in_flight(), 0);
    }

    // On the paused clock the 5 ms deadline always comes before the 20 ms load ends: on a busy
    // machine's real clock both could have passed by the next poll, and the load won (CI,
    // 3940615).
    #[tokio::test(start_paused = true)]
    async fn a_caller_that_goes_away_midway_leaves_nothing_behind() {
        let cache = Cache::new();
        let gone = tokio::time::timeout(Duration::from_millis(5), cache.get(3, false)).await;
        assert!(gone.is_err(), "the load takes 20 ms");
        assert_eq!(cache.flight.keys_in_flight(), 0);
        assert_eq!(cache.get(3, false).await, Ok(6));
        assert_eq!(cache.flight.keys_in_flight(), 0);
    }
}
