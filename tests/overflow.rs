#![cfg(not(any(loom, shuttle)))]
//! The shared overflow of ready lists (`src/reclaim.rs`): a thread that only
//! sends collects other threads' garbage with its pins but never tears
//! anything down; once its ready list is full, what it collects goes to the
//! overflow, which other threads' `set`, `register` and `delete` drain
//! within the same per-call limit. Nothing is ever torn down inline. Once
//! drained, the overflow gives its buffer back. (Its own binary:
//! `channels_alive()` and the heap count are process-wide.)

use std::sync::Arc;
use std::thread;

use channel_registry::{
    __overflowed, __pin, __teardowns, Registry, channels_alive, reclaim, set_garbage_limit,
};
use spec::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The most ready objects one call tears down (`src/reclaim.rs`).
const PER_CALL: usize = 4;

#[test]
fn a_sending_thread_overflows_and_churning_calls_drain_it_within_the_limit() {
    // The heap before anything: the epoch's lazily built global state
    // first, so that it is part of the baseline.
    drop(__pin());
    reclaim();
    // This test holds garbage back on purpose: no limit, or the churner
    // would wait for the pin below.
    set_garbage_limit(usize::MAX);
    CountingAlloc::enable();
    let baseline = CountingAlloc::live();
    let registry = Arc::new(Registry::<u64, u64>::new());
    let (overflowed_before, _) = __overflowed();

    // A churning thread retires about 30,000 objects while this thread
    // holds a pin of the registry's epoch collector, so none of them can be
    // collected yet.
    let pin = __pin();
    let churner = {
        let registry = Arc::clone(&registry);
        thread::spawn(move || {
            for i in 0..20_000u64 {
                let id = i % 64;
                if i % 2 == 0 {
                    drop(registry.set(id, 2).unwrap());
                } else {
                    registry.delete(&id);
                }
            }
        })
    };
    churner.join().unwrap();
    drop(pin);

    // A thread that only sends: its pins collect that garbage onto its
    // ready list, which fills, and the rest goes to the overflow. It tears
    // nothing down, from its list or inline. (`thread::spawn` and `join`,
    // not a scope: a scope can return before its threads' thread-locals,
    // ready lists included, are dropped.)
    let sender = {
        let registry = Arc::clone(&registry);
        thread::spawn(move || {
            let before = __teardowns();
            for i in 0..200_000u64 {
                let _ = registry.try_send(&(i % 64), i);
            }
            assert_eq!(__teardowns(), before, "a send tore something down");
        })
    };
    sender.join().unwrap();
    let (total, held) = __overflowed();
    let overflowed = total - overflowed_before;
    assert!(overflowed > 0, "nothing reached the overflow");
    eprintln!("{overflowed} retired objects went to the overflow, {held} are still there");

    // This thread's calls drain the overflow (each retires at most two
    // objects and takes up to four), never tearing down more than four.
    let (start_ready, start_inline) = __teardowns();
    let (mut most, mut calls) = (0, 0);
    while __overflowed().1 != 0 {
        assert!(
            calls < 2 * held + 10,
            "{calls} calls did not drain the overflow"
        );
        let (before, _) = __teardowns();
        drop(registry.set(calls as u64 % 64, 2).unwrap());
        let (after, _) = __teardowns();
        most = most.max(after - before);
        calls += 1;
    }
    assert!(most <= PER_CALL, "a call tore down {most}");
    assert_eq!(__teardowns().1, start_inline, "torn down inline");
    // While the overflow holds any, a call takes four, and retires one (a
    // replace): the overflow shrinks by about three a call, so it drains in
    // about a third as many calls as it held objects. At two a call it
    // would take about as many calls as objects.
    assert!(
        calls <= held / 2 + 16,
        "{calls} calls to drain {held} objects: fewer than four a call"
    );
    eprintln!(
        "{calls} calls drained it, tearing down {} objects",
        __teardowns().0 - start_ready
    );

    drop(registry);
    for _ in 0..8 {
        reclaim();
    }
    assert_eq!(channels_alive(), 0, "a retired channel was never freed");
    // The overflow held thousands of objects (16 bytes each); its buffer
    // must not stay: 268,360 bytes did before it was given back. What
    // may stay is the epoch's record of the two exited threads (about 2 KiB
    // each, freed by crossbeam-epoch in its own time).
    let left = CountingAlloc::live() - baseline;
    assert!(left <= 16 * 1024, "{left} bytes of heap left behind");
}
