//! The version word of an entry of the ordered set of ids, and the protocol
//! it carries: a removal of an id's key never takes out a key that a
//! creation of the id relies on.
//!
//! The ordered set is a hint for iteration; the point index decides which
//! ids exist (`crate::registry`, *Two indexes, one truth*). A creation first
//! writes the point index (its linearization point), then makes sure the
//! id's key is in the set. A removal (after a delete, or by `ids` passing a
//! deleted id's key) takes the key out if the point index shows the id has
//! no node that needs it. The two race: a removal that read the point index
//! before a creation wrote it, and took the key out after the creation
//! found it present, left an id that exists with no key, and `ids` missed it
//! until the removal's repair step put it back. (The registry's first
//! protocol did exactly that: remove, then look again and repair; an `ids`
//! that ran in between missed an id created by a call that had returned.)
//!
//! So every entry carries a version, and:
//!
//! * **A creation** ([`bump`](Version::bump)), after its point-index write,
//!   finds the key's entry (inserting one if there is none) and advances
//!   its version (a read-modify-write), even when the key was present. If it finds the
//!   entry *claimed*, it puts a fresh entry in its place and bumps that.
//! * **A removal** ([`read`](Version::read), then
//!   [`claim`](Version::claim)) reads the entry's version, then asks the point index whether the id has a node
//!   that needs the key, and if not, CASes the version it read to itself
//!   with the claim bit set; only then does it unlink the entry, that exact entry and no
//!   fresh one.
//!
//! Why a creation that has returned always leaves its key in the set: its
//! bump is a read-modify-write of the version. If the removal's load read
//! that bump or a later value, the load (`Acquire`) synchronizes with the
//! bump (`Release`; later bumps continue its release sequence), so the
//! removal's look-up sees the creation's point-index write and does not
//! claim. If the load read an earlier value, the bump comes between the load
//! and the claim in the version's modification order, or after the claim:
//! in the first case the claim's CAS fails, in the second the bump fails,
//! finds the entry claimed, and the creation inserts a fresh entry. Either
//! way the key is in the set when the creation returns, and no removal
//! takes it out while the id exists (a removal that claims after that reads
//! the bump, and sees the id's node).
//!
//! The window that remains: between a creation's point-index write and its
//! bump the id may exist without a key, so `ids` lists an id only if its
//! creating call had returned before the iteration began (or the key was
//! already there).
//!
//! Versions are even and a bump adds two; a claim sets the low bit. So a
//! bump is one `fetch_add` that learns from the value it read whether the
//! entry was claimed (a claimed entry stays odd, whatever bumps come
//! after), and a creation costs one read-modify-write on its key's entry,
//! not a load and a CAS. A
//! version comes back only after 2^63 creations of one id on 64-bit
//! targets (2^31 on 32-bit ones), and a removal would have to stay between
//! its load and its claim for all of them to mistake a bumped entry for the
//! one it read.
//!
//! Negative controls: `touch_without_bump` (a creation that finds its key
//! present only reads it, as the first protocol did) and
//! `remove_without_claim` (a removal that unlinks after its look-up without
//! the claim's CAS); `loom-tests/listing.rs` catches both.

// The standard atomics, not the `crate::sync` shim: the only reader and
// writer of versions under loom and shuttle is the ordered set's stand-in
// (`keys_model.rs`), which touches them only while it holds its lock, so the
// lock orders every access and the checker gains nothing from seeing them;
// seen, they were three more steps per creation and removal, and every step
// multiplies the interleavings of every scenario that creates or deletes an
// id (`loom-tests/README.md` has the figures). The protocol's logic is still
// checked there (both negative controls below are caught); its orderings,
// which a lock-free skip list does rely on, are argued above, and Miri runs
// the real list.
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bit a removal's claim sets: versions are even.
const CLAIMED: usize = 1;

pub(crate) struct Version(AtomicUsize);

impl Version {
    pub(crate) fn new() -> Self {
        Version(AtomicUsize::new(0))
    }

    /// Whether a removal claimed this entry (it is being unlinked).
    /// `Relaxed`: a creation that reads it only puts a fresh entry in.
    pub(crate) fn is_claimed(&self) -> bool {
        self.0.load(Ordering::Relaxed) & CLAIMED != 0
    }

    /// The creation's side: advances the version. Returns `false` if the
    /// entry was claimed: the caller puts a fresh entry in.
    pub(crate) fn bump(&self) -> bool {
        if cfg!(channel_registry_broken = "touch_without_bump") {
            // Negative control: the first protocol's read-only add.
            return !self.is_claimed();
        }
        // `Release`: publishes the caller's point-index write to a removal
        // whose `Acquire` load reads this version or a later one (module
        // docs). Adding two keeps the claim bit as it was.
        self.0.fetch_add(2, Ordering::Release) & CLAIMED == 0
    }

    /// A removal's first step: the version, or `None` if a removal already
    /// claimed the entry. `Acquire`: pairs with `bump`'s `Release` (module
    /// docs).
    pub(crate) fn read(&self) -> Option<usize> {
        let seen = self.0.load(Ordering::Acquire);
        (seen & CLAIMED == 0).then_some(seen)
    }

    /// A removal's last step, once the point index said no node needs the
    /// key: claims the entry if its version is still `seen` (no bump came
    /// between). Returns whether this call claimed it.
    pub(crate) fn claim(&self, seen: usize) -> bool {
        if cfg!(channel_registry_broken = "remove_without_claim") {
            // Negative control: check, then unlink.
            return true;
        }
        // `Relaxed` both ways: the claim publishes nothing (a creation that
        // reads it only inserts a fresh entry), and its success means no
        // bump came between the load and here.
        self.0
            .compare_exchange(seen, seen | CLAIMED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}
