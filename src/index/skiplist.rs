//! The production index: crossbeam-skiplist's guard-based `base` API.

use std::ops::Bound;

use crossbeam_epoch::Guard;
use crossbeam_skiplist::base;

pub(crate) struct Index<K, V> {
    list: base::SkipList<K, V>,
}

/// A node found under a guard; valid while that guard is pinned.
pub(crate) struct Entry<'g, K, V> {
    inner: base::Entry<'g, 'g, K, V>,
}

impl<K: Ord + Send + 'static, V: Send + 'static> Index<K, V> {
    pub(crate) fn new() -> Self {
        // The registry pins with `epoch::pin()`, i.e. the default collector;
        // the skip list checks that its guards come from its own collector.
        Index {
            list: base::SkipList::new(crossbeam_epoch::default_collector().clone()),
        }
    }

    #[inline]
    pub(crate) fn get<'g>(&'g self, key: &K, guard: &'g Guard) -> Option<Entry<'g, K, V>> {
        self.list.get(key, guard).map(|inner| Entry { inner })
    }

    /// Inserts `(key, make())` unless a node has `key`, and tells whether
    /// the node that has `key` afterwards passes `is_mine`.
    ///
    /// `make` running does not mean the node was inserted: crossbeam-skiplist
    /// 0.1.3 builds the node, and destroys it (dropping the value) if a
    /// concurrent insert of the same key wins the link. Callers must tell by
    /// `is_mine`, and a value must be safe to drop unused.
    pub(crate) fn get_or_insert_with(
        &self,
        key: K,
        make: impl FnOnce() -> V,
        is_mine: impl FnOnce(&V) -> bool,
        guard: &Guard,
    ) -> bool {
        let entry = self.list.get_or_insert_with(key, make, guard);
        let mine = is_mine(entry.value());
        entry.release(guard);
        mine
    }

    /// The first node whose key is within `bound` (`Unbounded`: the first).
    pub(crate) fn lower_bound<'g>(
        &'g self,
        bound: Bound<&K>,
        guard: &'g Guard,
    ) -> Option<Entry<'g, K, V>> {
        self.list
            .lower_bound(bound, guard)
            .map(|inner| Entry { inner })
    }
}

impl<'g, K: Ord + Send + 'static, V: Send + 'static> Entry<'g, K, V> {
    pub(crate) fn key(&self) -> &'g K {
        self.inner.key()
    }

    pub(crate) fn value(&self) -> &'g V {
        self.inner.value()
    }

    /// Removes this very node (not whatever node has its key now). Returns
    /// `false` if it was already removed.
    pub(crate) fn remove(&self) -> bool {
        self.inner.remove()
    }

    /// The next node in key order.
    pub(crate) fn next(&self) -> Option<Entry<'g, K, V>> {
        self.inner.next().map(|inner| Entry { inner })
    }
}
