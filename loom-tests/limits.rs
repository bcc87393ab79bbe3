//! A canary for the loom limitation that the suite works around.
//!
//! loom 0.7's DPOR keeps only the last access to each atomic. When a spawned
//! thread loads a location and then stores to it, its own load hides an
//! earlier load of the same location by the main thread, so the race between
//! that earlier load and the store is never seen and the order "store first"
//! is never explored (tokio-rs/loom#392 and #166). The suite therefore runs
//! every scenario once per spawn order (`harness/src/lib.rs`), and the ring's
//! loom tests place each operation on both sides of the spawn.
//!
//! This test pins the limitation down: it fails once a loom release explores
//! both outcomes, which is the signal to drop the workaround.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;

/// The values the main thread's load can return, over every execution loom
/// explores, and how many executions that was.
fn main_thread_sees(spawned_loads_first: bool) -> (Vec<bool>, usize) {
    let seen = std::sync::Arc::new(Mutex::new((Vec::new(), 0)));
    let record = seen.clone();
    loom::model(move || {
        let flag = Arc::new(AtomicBool::new(false));
        let other = flag.clone();
        let t = thread::spawn(move || {
            if spawned_loads_first {
                let _ = other.load(Relaxed);
            }
            other.store(true, Relaxed);
        });
        let v = flag.load(Relaxed);
        t.join().unwrap();
        let mut r = record.lock().unwrap();
        if !r.0.contains(&v) {
            r.0.push(v);
        }
        r.1 += 1;
    });
    let mut r = seen.lock().unwrap().clone();
    r.0.sort_unstable();
    r
}

#[test]
fn loom_misses_the_store_first_order_after_a_load() {
    // Without the extra load, loom finds both outcomes.
    assert_eq!(main_thread_sees(false).0, vec![false, true]);
    // With it, loom explores a single execution and never lets the store
    // come first, though a real machine can.
    let (values, executions) = main_thread_sees(true);
    assert_eq!(
        (values, executions),
        (vec![false], 1),
        "loom now explores the store-first order: the spawn-order rotation in \
         loom-tests/harness/src/lib.rs may no longer be needed"
    );
}

/// loom 0.7.3 drops the unpark token of a thread that is yielding when it is
/// unparked: `set_unparked` (rt/thread.rs) makes a blocked *or yielded*
/// thread runnable, and saves the token only for a running one. With std, an
/// unpark before `park` always makes that `park` return. `src/block.rs`
/// carries its wake-ups in a flag under loom because of this; the test fails
/// once loom keeps the token, which is the signal to drop the flag.
#[test]
fn loom_drops_the_unpark_of_a_yielding_thread() {
    let deadlocked = std::panic::catch_unwind(|| {
        loom::model(|| {
            let parked = thread::spawn(|| {
                // Yield, then park: if the unpark lands during the yield,
                // std returns from `park` at once; loom blocks forever.
                thread::yield_now();
                thread::park();
            });
            parked.thread().unpark();
            parked.join().unwrap();
        })
    })
    .is_err();
    assert!(
        deadlocked,
        "loom now keeps the unpark token of a yielding thread: the flag in \
         src/block.rs's `Unparker` may no longer be needed"
    );
}
