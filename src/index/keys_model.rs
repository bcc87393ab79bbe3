//! The model checkers' stand-in for the ordered set of ids: the same
//! operations, each one atomic behind the checker's `Mutex`, so the checker
//! sees (and orders) every operation as one linearizable step with
//! acquire/release edges, which is what the registry assumes of the skip
//! list. Keys handed out stay valid while the guard is pinned: a removed
//! key is freed through the epoch guard, as the skip list frees its nodes.

use std::ops::Bound;

use crossbeam_epoch::Guard;

use crate::sync::{Mutex, lock};

pub(crate) struct Keys<K> {
    /// Owned keys (from `Box::into_raw`), sorted, unique.
    keys: Mutex<Vec<*mut K>>,
}

// SAFETY: the raw pointers are owned boxes of `K`; the set hands out `&K` to
// other threads and drops keys on whichever thread runs the epoch's deferred
// function, exactly what `K: Send + Sync` permits.
unsafe impl<K: Send + Sync> Send for Keys<K> {}
// SAFETY: as above; all mutation of the vector is behind the mutex.
unsafe impl<K: Send + Sync> Sync for Keys<K> {}

/// A raw key pointer moved into a deferred function.
struct SendPtr<K>(*mut K);
// SAFETY: only turned back into its `Box`; `K: Send`.
unsafe impl<K: Send> Send for SendPtr<K> {}

impl<K: Ord + Clone + Send + 'static> Keys<K> {
    pub(crate) fn new() -> Self {
        Keys {
            keys: Mutex::new(Vec::new()),
        }
    }

    fn position(keys: &[*mut K], key: &K) -> Result<usize, usize> {
        // SAFETY: every pointer in the vector is a live key (lock held).
        keys.binary_search_by(|k| unsafe { &**k }.cmp(key))
    }

    pub(crate) fn insert(&self, key: &K, _guard: &Guard) {
        let mut keys = lock(&self.keys);
        if let Err(i) = Self::position(&keys, key) {
            keys.insert(i, Box::into_raw(Box::new(key.clone())));
        }
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.keys).len()
    }

    pub(crate) fn remove(&self, key: &K, guard: &Guard) {
        let mut keys = lock(&self.keys);
        if let Ok(i) = Self::position(&keys, key) {
            let removed = SendPtr(keys.remove(i));
            drop(keys);
            // SAFETY: unlinked, so only threads pinned now can still hold
            // it; the epoch runs this after all of them unpin.
            unsafe {
                guard.defer_unchecked(move || {
                    let removed = removed;
                    crate::sync::releasing();
                    drop(Box::from_raw(removed.0));
                })
            };
        }
    }

    pub(crate) fn first<'g>(&'g self, bound: Bound<&K>, _guard: &'g Guard) -> Option<&'g K> {
        let keys = lock(&self.keys);
        let i = match bound {
            Bound::Unbounded => 0,
            Bound::Included(k) => Self::position(&keys, k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => Self::position(&keys, k).map_or_else(|i| i, |i| i + 1),
        };
        // SAFETY: in the vector while the lock is held and the guard pinned;
        // removal defers the free past every pinned guard.
        keys.get(i).map(|&k| unsafe { &*k })
    }
}

impl<K> Drop for Keys<K> {
    fn drop(&mut self) {
        let keys = std::mem::take(&mut *lock(&self.keys));
        for key in keys {
            // SAFETY: `&mut self`: no reference is alive; each key is owned once.
            drop(unsafe { Box::from_raw(key) });
        }
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;

    /// A key whose drop is counted: a key the set never drops keeps its
    /// witness's count up.
    #[derive(Clone, Debug)]
    struct Key(u64, #[allow(dead_code)] loom::sync::Arc<()>);

    impl PartialEq for Key {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Key {}
    impl PartialOrd for Key {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Key {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }

    /// The stand-in's own operations, in one thread: what the registry's
    /// bound on kept keys reads (`len`), what iteration reads (`first`), and
    /// that every key is dropped (by a removal, or with the set).
    #[test]
    fn len_and_first_follow_inserts_and_removals() {
        loom::model(|| {
            let witness = loom::sync::Arc::new(());
            let key = |k| Key(k, loom::sync::Arc::clone(&witness));
            let keys = Keys::<Key>::new();
            let guard = crate::sync::pin();
            for k in [3, 1, 2, 1] {
                keys.insert(&key(k), &guard);
            }
            assert_eq!(keys.len(), 3);
            keys.remove(&key(1), &guard);
            keys.remove(&key(7), &guard);
            assert_eq!(keys.len(), 2);
            let first = |bound: Bound<&Key>| keys.first(bound, &guard).map(|k| k.0);
            assert_eq!(first(Bound::Unbounded), Some(2));
            assert_eq!(first(Bound::Excluded(&key(2))), Some(3));
            assert_eq!(first(Bound::Included(&key(4))), None);
            // Free the removed key inside the execution, as the scenarios'
            // harness does; the set drops the other two.
            drop(guard);
            crate::reclaim();
            drop(keys);
            assert_eq!(
                loom::sync::Arc::strong_count(&witness),
                1,
                "a key was not dropped"
            );
        });
    }
}
