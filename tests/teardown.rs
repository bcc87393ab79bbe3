#![cfg(not(any(loom, shuttle)))]
//! Teardown stays off the operation path: crossbeam-epoch runs deferred
//! functions inline, up to 512 at a time, and the registry's only move the
//! retired generation or index node onto the collecting thread's ready list;
//! each `set`, `register` and `delete` then tears down at most two of them
//! (four while the shared overflow holds any)
//! (`src/reclaim.rs`). Counted with the hidden `__teardowns()`, the calling
//! thread's tally of releases from its ready list (and the shared overflow)
//! and inline (none any more: a full list overflows).
//! One test per binary: `channels_alive()` counts process-wide.

use std::sync::{Arc, Barrier};
use std::thread;

use channel_registry::{__teardowns, Registry, channels_alive, reclaim};

/// The most ready objects one call tears down: two from its thread's list,
/// four with the shared overflow's (`src/reclaim.rs`).
const PER_CALL: usize = 4;

/// Churns `ops` creates and deletes over `ids` ids on this thread, dropping
/// each receiver at once so that releases free whole channels; returns the
/// largest number of ready-list teardowns inside one call, the ready-list
/// teardowns in all, and the inline ones in all.
fn churn(registry: &Registry<u64, u64>, seed: u64, ops: u64, ids: u64) -> (usize, usize, usize) {
    let mut x = seed;
    let (start_ready, start_inline) = __teardowns();
    let mut most = 0;
    for _ in 0..ops {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = x % ids;
        let (before, _) = __teardowns();
        if x & 1 == 0 {
            let rx = registry.set(id, 2).unwrap();
            // A message, so each teardown drops one too.
            let _ = registry.try_send(&id, x);
            drop(rx);
        } else {
            registry.delete(&id);
        }
        let (after, _) = __teardowns();
        most = most.max(after - before);
    }
    let (end_ready, end_inline) = __teardowns();
    (most, end_ready - start_ready, end_inline - start_inline)
}

#[test]
fn calls_tear_down_at_most_four_and_everything_is_freed() {
    // One thread: it collects only its own retirements, so its ready list
    // never fills and nothing is torn down inline.
    let registry = Registry::<u64, u64>::new();
    let (most, ready, inline) = churn(&registry, 0x9E37_79B9, 20_000, 64);
    assert!(most <= PER_CALL, "a call tore down {most}");
    assert!(ready > 5_000, "the ready list was used: {ready} teardowns");
    assert_eq!(inline, 0, "torn down inline");

    // Four threads (oversubscribed on small machines): each call still
    // tears down at most four. A thread that collects more than its list
    // holds puts the surplus on the shared overflow, which every thread's
    // calls drain within the same limit: nothing is torn down inline.
    let registry = Arc::new(registry);
    let barrier = Arc::new(Barrier::new(4));
    let results: Vec<_> = (0..4u64)
        .map(|t| {
            let registry = Arc::clone(&registry);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                churn(&registry, 0x2545_F491 + t, 20_000, 64)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for (t, (most, ready, inline)) in results.iter().enumerate() {
        assert!(*most <= PER_CALL, "thread {t}: a call tore down {most}");
        assert_eq!(*inline, 0, "thread {t}: torn down inline");
        eprintln!("thread {t}: {ready} teardowns from its ready list and the overflow");
    }

    // Every generation is freed once the registry is gone and the ready
    // lists are drained (the workers' at their exit, this thread's by
    // `reclaim`).
    drop(registry);
    for _ in 0..4 {
        reclaim();
    }
    assert_eq!(channels_alive(), 0, "a retired channel was never freed");
}
