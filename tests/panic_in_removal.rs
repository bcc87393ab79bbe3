//! A key whose `Ord` panics inside the removal from the ordered set of ids
//! that `delete` performs after it has retired the channel: the retired
//! channel must still be freed.
//! Its own test binary, because `channels_alive()` counts process-wide.
#![cfg(not(any(loom, shuttle)))]

use std::cmp::Ordering as CmpOrdering;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use channel_registry::{Registry, channels_alive, reclaim};

/// Comparisons made so far, and the comparison number that panics (0: never).
static COMPARISONS: AtomicUsize = AtomicUsize::new(0);
static PANIC_AT: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key(u64);

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        let n = COMPARISONS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == PANIC_AT.load(Ordering::SeqCst) {
            panic!("Ord panicked at comparison {n}");
        }
        self.0.cmp(&other.0)
    }
}

#[test]
fn ord_panicking_in_delete_removal_leaks_no_channel() {
    // A registry whose deletes take their keys out of the ordered set at
    // once (by default a delete may keep it, and then compares nothing).
    let registry = Registry::<Key, u32>::new().__keep_deleted_keys(None);
    let receivers: Vec<_> = (0..8).map(|i| registry.set(Key(i), 1).unwrap()).collect();
    // The count is process-wide, and this binary's only test makes channels.
    assert_eq!(channels_alive(), 8, "one channel per registered id");
    // `delete` first looks the key up exactly as `contains` does: count that.
    let before = COMPARISONS.load(Ordering::SeqCst);
    assert!(registry.contains(&Key(5)));
    let lookup = COMPARISONS.load(Ordering::SeqCst) - before;
    // Panic on the first comparison after the lookup: inside the removal of
    // the node, after the channel was retired.
    PANIC_AT.store(
        COMPARISONS.load(Ordering::SeqCst) + lookup + 1,
        Ordering::SeqCst,
    );
    let deleted = catch_unwind(AssertUnwindSafe(|| registry.delete(&Key(5))));
    PANIC_AT.store(0, Ordering::SeqCst);
    assert!(deleted.is_err(), "the panic happened inside delete");
    // The retirement itself completed before the panic.
    assert!(receivers[5].is_closed());
    assert!(!registry.contains(&Key(5)));
    assert_eq!(registry.len(), 7);
    // Everything is freed once the registry, the receivers and the epoch's
    // deferred releases are gone.
    drop(receivers);
    drop(registry);
    for _ in 0..4 {
        reclaim();
    }
    assert_eq!(channels_alive(), 0, "a retired channel leaked");
}
