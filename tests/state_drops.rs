#![cfg(not(any(loom, shuttle)))]
//! Every generation's state is dropped exactly once, whoever holds it last:
//! the registry, a receiver, a handle, or a replaced generation handed back
//! by `set_with`. One test per binary: other tests' epoch pins would hold
//! garbage back while this one counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;

use channel_registry::{Created, Registry, reclaim};

/// A state that counts itself alive.
struct Counted {
    value: u64,
    alive: Arc<AtomicI64>,
}

impl Counted {
    fn new(value: u64, alive: &Arc<AtomicI64>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Counted {
            value,
            alive: Arc::clone(alive),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn every_state_is_dropped_exactly_once() {
    let alive = Arc::new(AtomicI64::new(0));
    let registry = Arc::new(Registry::<u64, u64, Counted>::new());
    let mut kept = Vec::new();
    thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (registry, alive) = (&registry, &alive);
                s.spawn(move || {
                    let mut kept = Vec::new();
                    for n in 0..20_000u64 {
                        let id = (n * 7 + t) % 32;
                        match n % 5 {
                            0 | 1 => {
                                let created =
                                    registry.set_with(id, 2, Counted::new(n, alive)).unwrap();
                                // Some receivers and replaced generations
                                // outlive the registry.
                                if n % 97 == 0 {
                                    kept.push(created);
                                }
                            }
                            2 => {
                                let state = Counted::new(n, alive);
                                if let Err(refused) = registry.register_with(id, 2, state) {
                                    assert_eq!(refused.state.value, n);
                                }
                            }
                            3 => {
                                registry.delete(&id);
                            }
                            _ => {
                                let _ = registry.with_state(&id, |s| s.value);
                                if let Some(h) = registry.sender(&id) {
                                    let _ = h.state().value;
                                }
                            }
                        }
                    }
                    kept
                })
            })
            .collect();
        for w in workers {
            kept.extend(w.join().unwrap());
        }
    });
    assert!(alive.load(Ordering::SeqCst) > 0);
    drop(registry);
    settle(&alive);
    let held: i64 = kept
        .iter()
        .map(|c: &Created<u64, Counted>| 1 + i64::from(c.replaced.is_some()))
        .sum();
    assert!(
        alive.load(Ordering::SeqCst) <= held,
        "states alive beyond what is held: {} > {held}",
        alive.load(Ordering::SeqCst)
    );
    drop(kept);
    settle(&alive);
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "a state leaked or was dropped twice"
    );
}

/// Runs `reclaim` until the count of live states stops falling: each call
/// frees a bounded amount, and the worker threads' garbage reaches the
/// global queue when they exit.
fn settle(alive: &AtomicI64) {
    let mut last = i64::MAX;
    for _ in 0..256 {
        reclaim();
        let now = alive.load(Ordering::SeqCst);
        if now == last {
            return;
        }
        last = now;
    }
}
