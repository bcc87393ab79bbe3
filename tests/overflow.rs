#![cfg(not(any(loom, shuttle)))]
//! The shared overflow of ready lists (`src/reclaim.rs`): a thread that only
//! sends collects other threads' garbage with its pins but never tears
//! anything down; once its ready list is full, what it collects goes to the
//! overflow, which other threads' `set`, `register` and `delete` drain
//! within the same per-call limit. Nothing is ever torn down inline. (Its
//! own binary: `channels_alive()` counts process-wide.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use channel_registry::{__overflowed, __teardowns, Registry, channels_alive, reclaim};

/// The most ready objects one call tears down (`src/reclaim.rs`).
const PER_CALL: usize = 4;

#[test]
fn a_sending_thread_overflows_and_churning_calls_drain_it_within_the_limit() {
    let registry = Registry::<u64, u64>::new();
    let overflowed_before = __overflowed();

    // A churning thread and a thread that only sends, side by side: the
    // sender's pins collect much of the churner's garbage onto its ready
    // list, which fills, and the rest goes to the overflow. The sender
    // tears nothing down, from its list or inline. (Rounds until something
    // overflowed: the share each thread collects depends on the schedule.)
    for _round in 0..20 {
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50_000u64 {
                    let id = i % 64;
                    if i % 2 == 0 {
                        drop(registry.set(id, 2).unwrap());
                    } else {
                        registry.delete(&id);
                    }
                }
                done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                let before = __teardowns();
                let mut i = 0u64;
                while !done.load(Ordering::Acquire) {
                    let _ = registry.try_send(&(i % 64), i);
                    i += 1;
                }
                assert_eq!(__teardowns(), before, "a send tore something down");
            });
        });
        if __overflowed() > overflowed_before {
            break;
        }
    }
    let overflowed = __overflowed() - overflowed_before;
    assert!(overflowed > 0, "nothing reached the overflow");
    eprintln!("{overflowed} retired objects went to the overflow");

    // This thread's calls drain the overflow, at most four objects a call.
    let (mut most, mut calls) = (0, 0);
    let (start_ready, start_inline) = __teardowns();
    for i in 0..(overflowed as u64) {
        let (before, _) = __teardowns();
        drop(registry.set(i % 64, 2).unwrap());
        let (after, _) = __teardowns();
        most = most.max(after - before);
        calls += 1;
    }
    let (end_ready, end_inline) = __teardowns();
    assert!(most <= PER_CALL, "a call tore down {most}");
    assert_eq!(end_inline, start_inline, "torn down inline");
    assert!(
        end_ready - start_ready >= overflowed,
        "{calls} calls tore down {} objects; {overflowed} had overflowed",
        end_ready - start_ready
    );

    drop(registry);
    for _ in 0..4 {
        reclaim();
    }
    assert_eq!(channels_alive(), 0, "a retired channel was never freed");
}
