//! The loom stand-in for the skip list: the same operations, each one atomic
//! behind a loom `Mutex`, so loom sees (and orders) every index operation as a
//! single linearizable step with acquire/release edges, which is what the
//! registry assumes of the skip list. Removed nodes are freed through the
//! epoch guard, as the skip list frees them.

use std::ops::Bound;

use crossbeam_epoch::Guard;

use crate::sync::{Mutex, lock};

struct Node<K, V> {
    key: K,
    value: V,
}

pub(crate) struct Index<K, V> {
    /// Owned nodes (from `Box::into_raw`), sorted by key, keys unique.
    nodes: Mutex<Vec<*mut Node<K, V>>>,
}

// SAFETY: the raw pointers are owned boxes of `Node<K, V>`; the index hands
// out `&K`/`&V` to other threads and drops nodes on whichever thread runs the
// epoch's deferred function, exactly what `K, V: Send + Sync` permits.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for Index<K, V> {}
// SAFETY: as above; all mutation of the vector is behind the mutex.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Index<K, V> {}

pub(crate) struct Entry<'g, K, V> {
    index: &'g Index<K, V>,
    node: &'g Node<K, V>,
    guard: &'g Guard,
}

impl<K: Ord + Send + 'static, V: Send + 'static> Index<K, V> {
    pub(crate) fn new() -> Self {
        Index {
            nodes: Mutex::new(Vec::new()),
        }
    }

    fn entry<'g>(&'g self, node: *mut Node<K, V>, guard: &'g Guard) -> Entry<'g, K, V> {
        // SAFETY: `node` was in the vector while the lock was held and the
        // guard pinned; removal defers the free past every pinned guard.
        let node = unsafe { &*node };
        Entry {
            index: self,
            node,
            guard,
        }
    }

    fn position(nodes: &[*mut Node<K, V>], key: &K) -> Result<usize, usize> {
        // SAFETY: every pointer in the vector is a live node (lock held).
        nodes.binary_search_by(|n| unsafe { &(**n).key }.cmp(key))
    }

    pub(crate) fn get<'g>(&'g self, key: &K, guard: &'g Guard) -> Option<Entry<'g, K, V>> {
        let nodes = lock(&self.nodes);
        let i = Self::position(&nodes, key).ok()?;
        Some(self.entry(nodes[i], guard))
    }

    /// As the skip list's: if `key` is absent, build the value *outside*
    /// the lock, then link it unless another insert of `key` got in first,
    /// in which case the built value is dropped. This reproduces the skip
    /// list's "closure ran, node discarded" outcome, so loom explores it.
    pub(crate) fn get_or_insert_with(
        &self,
        key: K,
        make: impl FnOnce() -> V,
        is_mine: impl FnOnce(&V) -> bool,
        _guard: &Guard,
    ) -> bool {
        {
            let nodes = lock(&self.nodes);
            if let Ok(i) = Self::position(&nodes, &key) {
                // SAFETY: live node, lock held.
                return is_mine(unsafe { &(*nodes[i]).value });
            }
        }
        let value = make();
        let mut nodes = lock(&self.nodes);
        match Self::position(&nodes, &key) {
            Ok(i) => {
                // SAFETY: live node, lock held.
                let mine = is_mine(unsafe { &(*nodes[i]).value });
                drop(nodes);
                drop(value);
                mine
            }
            Err(i) => {
                let mine = is_mine(&value);
                nodes.insert(i, Box::into_raw(Box::new(Node { key, value })));
                mine
            }
        }
    }

    pub(crate) fn lower_bound<'g>(
        &'g self,
        bound: Bound<&K>,
        guard: &'g Guard,
    ) -> Option<Entry<'g, K, V>> {
        let nodes = lock(&self.nodes);
        let i = match bound {
            Bound::Unbounded => 0,
            Bound::Included(k) => Self::position(&nodes, k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => Self::position(&nodes, k).map_or_else(|i| i, |i| i + 1),
        };
        nodes.get(i).map(|&n| self.entry(n, guard))
    }
}

impl<'g, K: Ord + Send + 'static, V: Send + 'static> Entry<'g, K, V> {
    pub(crate) fn key(&self) -> &'g K {
        &self.node.key
    }

    pub(crate) fn value(&self) -> &'g V {
        &self.node.value
    }

    pub(crate) fn remove(&self) -> bool {
        let mut nodes = lock(&self.index.nodes);
        let me = self.node as *const Node<K, V> as *mut Node<K, V>;
        let Some(i) = nodes.iter().position(|&n| n == me) else {
            return false;
        };
        nodes.remove(i);
        drop(nodes);
        // SAFETY: the node is unlinked, so only threads pinned now can still
        // hold it; the epoch runs this after all of them unpin.
        unsafe { self.guard.defer_unchecked(move || drop(Box::from_raw(me))) };
        true
    }

    pub(crate) fn next(&self) -> Option<Entry<'g, K, V>> {
        self.index
            .lower_bound(Bound::Excluded(&self.node.key), self.guard)
    }
}

impl<K, V> Drop for Index<K, V> {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut *lock(&self.nodes));
        for node in nodes {
            // SAFETY: `&mut self`: no entry is alive; each node is owned once.
            drop(unsafe { Box::from_raw(node) });
        }
    }
}
