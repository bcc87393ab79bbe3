#![cfg(not(any(loom, shuttle)))]
//! The garbage limit (`set_garbage_limit`, `src/reclaim.rs`): a retiring
//! call that finds the retired memory still waiting for the epoch over the
//! limit waits (unpinned, yielding) until it is back under, so a pin held
//! by a thread that stalls inside a registry call cannot make garbage pile
//! up without bound; and a call made inside a pin of the registry's own
//! (a `with_state` closure) never waits for itself. The limit and the count
//! are process-wide, so these tests have their own binary and run one at a
//! time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use channel_registry::{
    __held_back, __pin, DEFAULT_GARBAGE_LIMIT, Registry, garbage_bytes, reclaim, set_garbage_limit,
};

/// One test at a time: the limit and the count are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const LIMIT: usize = 256 << 10;

#[test]
fn a_stalled_pin_cannot_push_the_garbage_past_the_limit() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    reclaim();
    set_garbage_limit(LIMIT);
    let registry = Arc::new(Registry::<u64, u64>::new());
    let done = Arc::new(AtomicBool::new(false));

    // A thread that stalls inside a registry pin (what a thread descheduled
    // in the middle of a call does), over and over: it holds the pin until
    // a retiring call is held back by the limit, then lets go.
    let staller = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut stalls = 0;
            while !done.load(Ordering::Relaxed) {
                let held_before = __held_back().0;
                let pin = __pin();
                while __held_back().0 == held_before && !done.load(Ordering::Relaxed) {
                    thread::yield_now();
                }
                drop(pin);
                stalls += 1;
                thread::sleep(Duration::from_micros(200));
            }
            stalls
        })
    };

    // Churn: every call retires a channel or an index entry. After each call
    // that did not give up waiting, the garbage is under the limit.
    let (held_before, gave_up_before) = __held_back();
    let mut peak = 0;
    let mut checked = 0;
    for i in 0..200_000u64 {
        let id = i % 64;
        let gave_up = __held_back().1;
        if i % 2 == 0 {
            drop(registry.set(id, 2).unwrap());
        } else {
            registry.delete(&id);
        }
        let garbage = garbage_bytes();
        if __held_back().1 == gave_up {
            assert!(
                garbage <= LIMIT,
                "{garbage} bytes of garbage after call {i}, over the {LIMIT}-byte limit"
            );
            checked += 1;
        }
        peak = peak.max(garbage);
    }
    done.store(true, Ordering::Relaxed);
    let stalls = staller.join().unwrap();
    let (held, gave_up) = __held_back();
    let (held, gave_up) = (held - held_before, gave_up - gave_up_before);
    println!(
        "{stalls} stalls, {held} calls held back, {gave_up} gave up, peak {peak} bytes, {checked} calls checked"
    );
    // The limit did the work: the staller's pins held the garbage back
    // many times, and calls waited them out. (Some may give up on a loaded
    // machine, where the staller can stay descheduled past the time limit;
    // their calls are not checked above.)
    assert!(held >= 20, "only {held} calls were held back");
    assert!(
        held - gave_up >= 10,
        "{gave_up} of {held} held-back calls gave up"
    );
    set_garbage_limit(DEFAULT_GARBAGE_LIMIT);
    drop(registry);
    reclaim();
}

#[test]
fn a_call_inside_with_state_does_not_wait_for_its_own_pin() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    reclaim();
    set_garbage_limit(usize::MAX);
    let registry = Registry::<u64, u64>::new();
    // Garbage that cannot be collected: retired under another thread's pin,
    // and more of it than a thread keeps to itself before counting it.
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let pinner = thread::spawn(move || {
        let pin = __pin();
        pinned_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(pin);
    });
    pinned_rx.recv().unwrap();
    for i in 0..2_000u64 {
        drop(registry.set(i % 8, 4).unwrap());
    }
    assert!(garbage_bytes() > 0, "the churn left no counted garbage");
    set_garbage_limit(0);

    // Inside `with_state` this thread is pinned: a replacing `set` there
    // finds the garbage over the limit but must not wait (it would wait for
    // its own pin, and for the other thread's, until the time limit).
    let before = __held_back();
    let inside = registry.with_state(&1, |_| {
        drop(registry.set(1, 4).unwrap());
        registry.delete(&2)
    });
    assert_eq!(inside, Some(true));
    assert_eq!(
        __held_back(),
        before,
        "a call inside with_state waited for the epoch"
    );

    // Outside, the same call waits; the pin goes away and the garbage with it.
    release_tx.send(()).unwrap();
    pinner.join().unwrap();
    set_garbage_limit(64 << 10);
    let before = __held_back();
    drop(registry.set(3, 4).unwrap());
    let after = __held_back();
    assert_eq!(after.0, before.0 + 1, "the call outside did not wait");
    assert_eq!(
        after.1, before.1,
        "it gave up, with no pin left to wait for"
    );
    assert!(garbage_bytes() <= 64 << 10);
    set_garbage_limit(DEFAULT_GARBAGE_LIMIT);
    drop(registry);
    reclaim();
}
