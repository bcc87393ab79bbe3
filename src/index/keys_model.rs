//! The model checkers' stand-in for the ordered set of ids: the same
//! operations, each one atomic behind the checker's `Mutex`, so the checker
//! sees (and orders) every operation as one linearizable step with
//! acquire/release edges, which is what the registry assumes of the skip
//! list. Keys handed out stay valid while the guard is pinned: a removed
//! key is freed through the epoch guard, as the skip list frees its nodes.
//! Each entry carries the real [`Version`], read and written only under the
//! lock, so the claim protocol between creations and removals
//! (`version.rs`) runs as the registry drives it, with the lock ordering
//! every access (the version is a standard atomic, which the checker does
//! not see: it would only add steps); the real skip list's read-only
//! look-ups order less, and `version.rs` argues the orderings that the
//! checkers therefore cannot.

use std::ops::Bound;

use crossbeam_epoch::Guard;

use super::version::Version;
use crate::sync::{Mutex, lock};

/// A key and its version, as the skip list's entry holds them.
struct Entry<K> {
    key: K,
    version: Version,
}

pub(crate) struct Keys<K> {
    /// Owned entries (from `Box::into_raw`), sorted by key, unique.
    entries: Mutex<Vec<*mut Entry<K>>>,
}

// SAFETY: the raw pointers are owned boxes of entries; the set hands out
// `&K` to other threads and drops entries on whichever thread runs the
// epoch's deferred function, exactly what `K: Send + Sync` permits.
unsafe impl<K: Send + Sync> Send for Keys<K> {}
// SAFETY: as above; all mutation of the vector is behind the mutex, and an
// entry's version is an atomic of the checker's.
unsafe impl<K: Send + Sync> Sync for Keys<K> {}

/// A raw entry pointer moved into a deferred function.
struct SendPtr<K>(*mut Entry<K>);
// SAFETY: only turned back into its `Box`; `K: Send`.
unsafe impl<K: Send> Send for SendPtr<K> {}

impl<K: Ord + Clone + Send + 'static> Keys<K> {
    pub(crate) fn new() -> Self {
        Keys {
            entries: Mutex::new(Vec::new()),
        }
    }

    fn position(entries: &[*mut Entry<K>], key: &K) -> Result<usize, usize> {
        // SAFETY: every pointer in the vector is a live entry (lock held).
        entries.binary_search_by(|e| unsafe { &(**e).key }.cmp(key))
    }

    fn fresh(key: &K) -> *mut Entry<K> {
        Box::into_raw(Box::new(Entry {
            key: key.clone(),
            version: Version::new(),
        }))
    }

    /// Frees an unlinked entry once every thread pinned now has unpinned.
    fn retire(entry: *mut Entry<K>, guard: &Guard) {
        let entry = SendPtr(entry);
        // SAFETY: unlinked, so only threads pinned now can still hold it; the
        // epoch runs this after all of them unpin.
        unsafe {
            guard.defer_unchecked(move || {
                let entry = entry;
                crate::sync::releasing();
                drop(Box::from_raw(entry.0));
            })
        };
    }

    /// As the skip list's `touch` (`keys.rs`, and `Version`), in one step
    /// under the lock: find or insert the entry, and bump its version. The
    /// skip list walks, then bumps, and a removal may claim and unlink the
    /// entry in between (its bump then finds the entry claimed and inserts a
    /// fresh one); here a removal claims and unlinks in one step, so a
    /// creation finds the key present and unclaimed, or absent, which comes
    /// to the same. One step, not a look-up and a bump, because every extra
    /// step of a creation multiplies the interleavings of every scenario
    /// that creates an id (`loom-tests/README.md` has figures).
    pub(crate) fn touch(&self, key: &K, _guard: &Guard) {
        let mut entries = lock(&self.entries);
        let i = match Self::position(&entries, key) {
            Ok(i) => i,
            Err(i) => {
                entries.insert(i, Self::fresh(key));
                i
            }
        };
        // SAFETY: a live entry (lock held).
        let bumped = unsafe { &*entries[i] }.version.bump();
        // Claims happen under the lock, with the unlink.
        assert!(bumped, "a linked entry is unclaimed");
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// As the skip list's `remove_unless` (`keys.rs`, and `Version`), in
    /// the real code's three steps, each version access under the lock: find
    /// the entry and read its version; ask the point index (outside the
    /// lock, so creations interleave); claim and unlink that exact entry.
    /// The claim and the unlink are one step here (the real removal can be
    /// preempted between them; a creation that bumps then finds the entry
    /// claimed, which here is the same as finding it absent).
    pub(crate) fn remove_unless(&self, key: &K, exists: impl FnOnce() -> bool, guard: &Guard) {
        let (target, seen) = {
            let entries = lock(&self.entries);
            let Ok(i) = Self::position(&entries, key) else {
                return;
            };
            let target = entries[i];
            // SAFETY: a live entry (lock held).
            let Some(seen) = unsafe { &*target }.version.read() else {
                return;
            };
            (target, seen)
        };
        if exists() {
            return;
        }
        let mut entries = lock(&self.entries);
        let Ok(i) = Self::position(&entries, key) else {
            return;
        };
        // Only this exact entry: a fresh one that a creation put in its
        // place stays. SAFETY: `target` is still in the vector (compared
        // under the lock), so live.
        if !std::ptr::eq(entries[i], target) || !unsafe { &*target }.version.claim(seen) {
            return;
        }
        let old = entries.remove(i);
        drop(entries);
        Self::retire(old, guard);
    }

    pub(crate) fn first<'g>(&'g self, bound: Bound<&K>, _guard: &'g Guard) -> Option<&'g K> {
        let entries = lock(&self.entries);
        let i = match bound {
            Bound::Unbounded => 0,
            Bound::Included(k) => Self::position(&entries, k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => Self::position(&entries, k).map_or_else(|i| i, |i| i + 1),
        };
        // SAFETY: in the vector while the lock is held and the guard pinned;
        // removal defers the free past every pinned guard.
        entries.get(i).map(|&e| unsafe { &(*e).key })
    }
}

impl<K> Drop for Keys<K> {
    fn drop(&mut self) {
        let entries = std::mem::take(&mut *lock(&self.entries));
        for entry in entries {
            // SAFETY: `&mut self`: no reference is alive; each entry is owned
            // once.
            drop(unsafe { Box::from_raw(entry) });
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
                keys.touch(&key(k), &guard);
            }
            assert_eq!(keys.len(), 3);
            keys.remove_unless(&key(1), || false, &guard);
            keys.remove_unless(&key(7), || false, &guard);
            keys.remove_unless(&key(2), || true, &guard);
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
