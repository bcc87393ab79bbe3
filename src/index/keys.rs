//! The ordered set of ids: crossbeam-skiplist's guard-based `base` API, with
//! no value. It serves `ids` and `ids_in` only; point operations use the
//! hash index, which alone decides whether an id exists (`crate::registry`).

use std::ops::Bound;

use crossbeam_epoch::Guard;
use crossbeam_skiplist::base;

pub(crate) struct Keys<K> {
    list: base::SkipList<K, ()>,
}

impl<K: Ord + Clone + Send + 'static> Keys<K> {
    pub(crate) fn new() -> Self {
        // The registry pins the crate's own collector (`sync::collector`);
        // the skip list checks that its guards come from its collector.
        Keys {
            list: base::SkipList::new(crate::sync::collector().clone()),
        }
    }

    /// Adds `key` unless it is present. A key that is present (the common
    /// case when ids are re-created, since a delete may leave its key in
    /// the set) costs one read-only walk: no clone, no write.
    pub(crate) fn insert(&self, key: &K, guard: &Guard) {
        if self.list.get(key, guard).is_none() {
            self.list
                .get_or_insert(key.clone(), (), guard)
                .release(guard);
        }
    }

    /// How many keys the set holds (a relaxed count, exact when quiescent).
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Removes `key` if it is present, in one walk of the list (a `get`
    /// then `Entry::remove` walked it twice).
    pub(crate) fn remove(&self, key: &K, guard: &Guard) {
        if let Some(entry) = self.list.remove(key, guard) {
            entry.release(guard);
        }
    }

    /// The first key within `bound` (`Unbounded`: the first key).
    pub(crate) fn first<'g>(&'g self, bound: Bound<&K>, guard: &'g Guard) -> Option<&'g K> {
        self.list.lower_bound(bound, guard).map(|e| e.key())
    }
}
