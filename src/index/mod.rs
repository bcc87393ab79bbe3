//! The two indexes of the registry, both pointing the way to the same
//! [`Node`]s and reclaimed through the same epoch guard:
//!
//! * [`hash`]: the point index, a lock-free hash table that every point
//!   operation uses (O(1)), and the only index that decides whether an id
//!   exists. Owned code, through [`crate::sync`], so loom and shuttle model it
//!   whole.
//! * the ordered set of ids ([`Keys`]), for `ids` and `ids_in`: in normal
//!   builds `crossbeam-skiplist`'s guard-based `base::SkipList` with no value
//!   (`keys.rs`); under `--cfg loom` and `--cfg shuttle` a stand-in that the
//!   checker sees, with the same operations (a sorted vector behind the
//!   checker's `Mutex`, `keys_model.rs`). crossbeam-skiplist uses `core`
//!   atomics that neither checker can see, and does not work under
//!   `crossbeam_loom` (`loom-tests/README.md`), so the models assume its
//!   operations are linearizable. Each key carries a version word
//!   (`version.rs`) through which removals and creations of one id agree on
//!   whether its key may go.

pub(crate) mod hash;
#[cfg(not(any(loom, shuttle)))]
mod keys;
#[cfg(any(loom, shuttle))]
mod keys_model;
mod version;

pub(crate) use hash::{HashIndex, Node};
#[cfg(not(any(loom, shuttle)))]
pub(crate) use keys::Keys;
#[cfg(any(loom, shuttle))]
pub(crate) use keys_model::Keys;
