//! The ordered index from id to slot: a black box with four operations
//! (`get`, `get_or_insert_with`, `lower_bound`, `Entry::remove`), each
//! assumed linearizable, with acquire/release between an insert and the reads
//! that see it.
//!
//! * Normal builds: `crossbeam-skiplist`'s guard-based `base::SkipList`. A
//!   lookup is a traversal under an epoch guard, with no reference-count
//!   read-modify-write (unlike `SkipMap::get`).
//! * `--cfg loom`: a loom-visible stand-in with the same operations (a sorted
//!   vector behind a loom `Mutex`). crossbeam-skiplist uses `core` atomics that
//!   loom cannot see, and does not work under `crossbeam_loom` (see
//!   `loom-tests/README.md`), so the model checks the registry's protocol
//!   *around* the index, assuming the index itself is linearizable.
//!
//! Both free removed nodes through the epoch guard, so an `Entry` stays valid
//! while the guard that found it is pinned.

#[cfg(loom)]
mod model;
#[cfg(not(loom))]
mod skiplist;

#[cfg(loom)]
pub(crate) use model::{Entry, Index};
#[cfg(not(loom))]
pub(crate) use skiplist::{Entry, Index};
