#![cfg(not(any(loom, shuttle)))]
//! Per-generation state on real threads: never read stale by id once a
//! replacing `set_with` returned, and range operations that visit each
//! stable id exactly once. (The linearizability of state reads is checked
//! by the loom and shuttle scenarios, the proptest model and the history
//! checker; these are the real-thread complements. That every state is
//! dropped exactly once is `tests/state_drops.rs`, a binary of its own.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use channel_registry::Registry;

/// One writer replaces id 0 with states 1, 2, 3, …; readers by id must see
/// a value no older than the last `set_with` that returned before the read
/// began, and never go backwards.
#[test]
fn state_reads_are_never_stale() {
    let registry = Registry::<u64, (), u64>::new();
    let published = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let _first = registry.set_with(0, 1, 0).unwrap();
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    let floor = published.load(Ordering::SeqCst);
                    let seen = registry.with_state(&0, |v| *v).expect("id 0 always exists");
                    assert!(seen >= floor, "read state {seen} after {floor} was set");
                    assert!(seen >= last, "state went back from {last} to {seen}");
                    last = seen;
                }
            });
        }
        for n in 1..=50_000u64 {
            let created = registry.set_with(0, 1, n).unwrap();
            assert_eq!(created.replaced.map(|old| *old.state()), Some(n - 1));
            published.store(n, Ordering::SeqCst);
        }
        stop.store(true, Ordering::Release);
    });
}

/// Ids 0..64 stay registered while other threads churn ids 64..128 inside
/// the same range: every stable id gets exactly one message per `send_in`.
#[test]
fn send_in_reaches_every_stable_id_once() {
    let registry = Registry::<u64, u32>::new();
    let inboxes: Vec<_> = (0..64).map(|id| registry.set(id, 1024).unwrap()).collect();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                let id = 64 + n % 64;
                if n % 2 == 0 {
                    drop(registry.set(id, 1).unwrap());
                } else {
                    registry.delete(&id);
                }
                n += 1;
            }
        });
        for round in 0..200u32 {
            let sent = registry.send_in(0..128, round);
            assert!(sent.sent >= 64, "round {round}: {sent:?}");
        }
        stop.store(true, Ordering::Release);
    });
    for (id, inbox) in inboxes.iter().enumerate() {
        let got: Vec<u32> = std::iter::from_fn(|| inbox.try_recv().ok()).collect();
        assert_eq!(got, (0..200).collect::<Vec<_>>(), "id {id}");
    }
    assert_eq!(registry.delete_in(0..64), 64);
    assert!(registry.ids_in(0..64).next().is_none());
}
