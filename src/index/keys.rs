//! The ordered set of ids: crossbeam-skiplist's guard-based `base` API, each
//! key with a [`Version`] word. It serves `ids` and `ids_in` only; point
//! operations use the hash index, which alone decides whether an id exists
//! (`crate::registry`). The protocol that keeps a removal from taking out a
//! key that a creation relies on lives in [`Version`]'s docs.

use std::ops::Bound;

use crossbeam_epoch::Guard;
use crossbeam_skiplist::base;

use super::version::Version;

pub(crate) struct Keys<K> {
    list: base::SkipList<K, Version>,
}

impl<K: Ord + Clone + Send + 'static> Keys<K> {
    pub(crate) fn new() -> Self {
        // The registry pins the crate's own collector (`sync::collector`);
        // the skip list checks that its guards come from its collector.
        Keys {
            list: base::SkipList::new(crate::sync::collector().clone()),
        }
    }

    /// A creation's side ([`Version`]): makes sure `key` is in the set, in
    /// an entry that no removal which has not yet claimed it will take out.
    /// A key that is present (the common case when ids are re-created,
    /// since a delete may leave its key in the set) costs one read-only walk
    /// and one CAS on its version: no clone, no allocation.
    pub(crate) fn touch(&self, key: &K, guard: &Guard) {
        loop {
            let bumped = match self.list.get(key, guard) {
                Some(entry) => entry.value().bump(),
                None => {
                    let entry = self.list.get_or_insert(key.clone(), Version::new(), guard);
                    let bumped = entry.value().bump();
                    entry.release(guard);
                    bumped
                }
            };
            if bumped {
                return;
            }
            // A removal claimed the entry: put a fresh one in its place
            // (unless another creation already did), then bump that one.
            self.list
                .compare_insert(key.clone(), Version::new(), Version::is_claimed, guard)
                .release(guard);
        }
    }

    /// How many keys the set holds (a relaxed count, exact when quiescent).
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// A removal's side ([`Version`]): takes `key` out unless `exists()`,
    /// read after the entry's version, says the id has a node that needs it,
    /// or a creation bumped the version meanwhile. One walk to find the
    /// entry; the removal of that exact entry walks again to unlink it.
    pub(crate) fn remove_unless(&self, key: &K, exists: impl FnOnce() -> bool, guard: &Guard) {
        let Some(entry) = self.list.get(key, guard) else {
            return;
        };
        let Some(seen) = entry.value().read() else {
            return;
        };
        if !exists() && entry.value().claim(seen) {
            // Only this entry: a fresh one that a creation put in its place
            // stays.
            entry.remove();
        }
    }

    /// The first key within `bound` (`Unbounded`: the first key).
    pub(crate) fn first<'g>(&'g self, bound: Bound<&K>, guard: &'g Guard) -> Option<&'g K> {
        self.list.lower_bound(bound, guard).map(|e| e.key())
    }
}
