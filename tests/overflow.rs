#![cfg(not(any(loom, shuttle)))]
//! The shared overflow of ready lists (`src/reclaim.rs`): a thread that only
//! sends collects other threads' garbage with its pins but never tears
//! anything down; once its ready list is full, what it collects goes to the
//! overflow, which other threads' `set`, `register` and `delete` drain
//! within the same per-call limit. Nothing is ever torn down inline. (Its
//! own binary: `channels_alive()` counts process-wide.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use channel_registry::{__overflowed, __teardowns, Registry, channels_alive, reclaim};

/// The most ready objects one call tears down (`src/reclaim.rs`).
const PER_CALL: usize = 4;

#[test]
fn a_sending_thread_overflows_and_churning_calls_drain_it_within_the_limit() {
    let registry = Arc::new(Registry::<u64, u64>::new());
    let (overflowed_before, _) = __overflowed();

    // A churning thread and a thread that only sends, side by side: the
    // sender's pins collect much of the churner's garbage onto its ready
    // list, which fills, and the rest goes to the overflow. The sender
    // tears nothing down, from its list or inline. (Rounds until something
    // overflowed: the share each thread collects depends on the schedule.)
    // (`thread::spawn` and `join`, not scoped threads: a scope can return
    // before its threads' thread-locals, ready lists included, are dropped.)
    for _round in 0..20 {
        let done = Arc::new(AtomicBool::new(false));
        let churner = {
            let (registry, done) = (Arc::clone(&registry), Arc::clone(&done));
            thread::spawn(move || {
                for i in 0..50_000u64 {
                    let id = i % 64;
                    if i % 2 == 0 {
                        drop(registry.set(id, 2).unwrap());
                    } else {
                        registry.delete(&id);
                    }
                }
                done.store(true, Ordering::Release);
            })
        };
        let sender = {
            let (registry, done) = (Arc::clone(&registry), Arc::clone(&done));
            thread::spawn(move || {
                let before = __teardowns();
                let mut i = 0u64;
                while !done.load(Ordering::Acquire) {
                    let _ = registry.try_send(&(i % 64), i);
                    i += 1;
                }
                assert_eq!(__teardowns(), before, "a send tore something down");
            })
        };
        churner.join().unwrap();
        sender.join().unwrap();
        if __overflowed().0 > overflowed_before {
            break;
        }
    }
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
    eprintln!(
        "{calls} calls drained it, tearing down {} objects",
        __teardowns().0 - start_ready
    );

    drop(registry);
    for _ in 0..4 {
        reclaim();
    }
    assert_eq!(channels_alive(), 0, "a retired channel was never freed");
}
