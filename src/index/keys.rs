//! The ordered set of ids: crossbeam-skiplist's guard-based `base` API, with
//! no value. It serves `ids` and `ids_in` only; point operations use the
//! hash index, which alone decides whether an id exists (`crate::registry`).

use std::ops::Bound;

use crossbeam_epoch::Guard;
use crossbeam_skiplist::base;

pub(crate) struct Keys<K> {
    list: base::SkipList<K, ()>,
}

impl<K: Ord + Send + 'static> Keys<K> {
    pub(crate) fn new() -> Self {
        // The registry pins with `epoch::pin()`, i.e. the default collector;
        // the skip list checks that its guards come from its own collector.
        Keys {
            list: base::SkipList::new(crossbeam_epoch::default_collector().clone()),
        }
    }

    /// Adds `key` unless it is present.
    pub(crate) fn insert(&self, key: K, guard: &Guard) {
        self.list.get_or_insert(key, (), guard).release(guard);
    }

    /// Removes `key` if it is present.
    pub(crate) fn remove(&self, key: &K, guard: &Guard) {
        if let Some(entry) = self.list.get(key, guard) {
            entry.remove();
        }
    }

    /// The first key within `bound` (`Unbounded`: the first key).
    pub(crate) fn first<'g>(&'g self, bound: Bound<&K>, guard: &'g Guard) -> Option<&'g K> {
        self.list.lower_bound(bound, guard).map(|e| e.key())
    }
}
