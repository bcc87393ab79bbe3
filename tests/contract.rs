//! One or more tests per clause of the crate-level contract, on real threads
//! and the real skip list. (Loom checks the same clauses exhaustively on small
//! scenarios: `loom-tests/`.)
#![cfg(not(any(loom, shuttle)))]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use channel_registry::{
    CapacityError, MAX_CAPACITY, RecvError, RecvTimeoutError, RegisterError, Registry, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
use futures_core::Stream;
use spec::block_on;

/// `native` natively, `miri` under Miri, where each step costs thousands of
/// times more: the threaded tests keep their shape and shrink their loops.
fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    block_on(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut *stream).poll_next(cx)
    }))
}

// ---- the basic operations -------------------------------------------------

#[test]
fn set_send_recv_delete() {
    let registry = Registry::<u64, u32>::new();
    assert!(registry.is_empty());
    let rx = registry.set(1, 2).unwrap();
    assert!(registry.contains(&1));
    assert_eq!(registry.len(), 1);
    assert_eq!(registry.try_send(&1, 10), Ok(()));
    assert_eq!(registry.try_send(&1, 11), Ok(()));
    assert_eq!(registry.try_send(&1, 12), Err(TrySendError::Full(12)));
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.capacity(), 2);
    assert_eq!(rx.try_recv(), Ok(10));
    assert!(registry.delete(&1));
    assert!(!registry.delete(&1));
    assert!(!registry.contains(&1));
    assert_eq!(registry.len(), 0);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Ok(11));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(registry.try_send(&1, 13), Err(TrySendError::NoSuchId(13)));
}

#[test]
fn register_refuses_a_present_id() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.register(5, 1).unwrap();
    assert_eq!(
        registry.register(5, 1).unwrap_err(),
        RegisterError::Occupied
    );
    drop(rx); // receiver gone, but the id stays registered
    assert!(registry.contains(&5));
    assert_eq!(
        registry.register(5, 1).unwrap_err(),
        RegisterError::Occupied
    );
    assert_eq!(registry.try_send(&5, 1), Err(TrySendError::Closed(1)));
    assert!(registry.delete(&5));
    let rx = registry.register(5, 1).unwrap();
    registry.try_send(&5, 2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn bad_capacities_are_errors_and_change_nothing() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    for cap in [0, MAX_CAPACITY + 1, usize::MAX] {
        let err: CapacityError = registry.set(1, cap).unwrap_err();
        assert_eq!(err.requested(), cap);
        assert!(!err.to_string().is_empty());
        assert_eq!(
            registry.register(2, cap).unwrap_err(),
            RegisterError::Capacity(err)
        );
    }
    // A capacity that fits the slot limit but not the byte limit.
    let big = Registry::<u64, [u8; 4096]>::new();
    assert!(big.set(1, MAX_CAPACITY).is_err());
    // Nothing changed.
    assert!(!rx.is_closed());
    assert!(!registry.contains(&2));
    assert_eq!(registry.len(), 1);
    assert_eq!(
        registry.set(3, MAX_CAPACITY).unwrap().capacity(),
        MAX_CAPACITY
    );
}

#[test]
fn ids_are_ordered_and_ranges_work() {
    let registry = Registry::<u64, ()>::new();
    let mut rxs = Vec::new();
    for id in [9, 3, 7, 1, 5] {
        rxs.push(registry.set(id, 1).unwrap());
    }
    registry.delete(&7);
    assert_eq!(registry.ids().collect::<Vec<_>>(), [1, 3, 5, 9]);
    assert_eq!(registry.ids_in(3..9).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(registry.ids_in(3..=9).collect::<Vec<_>>(), [3, 5, 9]);
    assert_eq!(registry.ids_in(..4).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(registry.ids_in(6..).collect::<Vec<_>>(), [9]);
    assert_eq!(registry.ids_in(10..).count(), 0);
}

#[test]
fn string_ids() {
    let registry = Registry::<String, &'static str>::new();
    let rx = registry.set("instance-a".to_string(), 5).unwrap();
    registry.try_send(&"instance-a".to_string(), "hi").unwrap();
    assert_eq!(rx.try_recv(), Ok("hi"));
    assert_eq!(registry.ids().collect::<Vec<_>>(), ["instance-a"]);
}

#[test]
fn debug_impls_do_not_need_debug_messages() {
    struct Opaque;
    let registry = Registry::<u64, Opaque>::new();
    let rx = registry.set(1, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    let err = registry.try_send(&2, Opaque).unwrap_err();
    for text in [
        format!("{registry:?}"),
        format!("{rx:?}"),
        format!("{tx:?}"),
        format!("{err:?}"),
        format!("{:?}", registry.ids()),
        format!("{:?}", rx.recv_async()),
        format!("{:?}", tx.send_async(Opaque)),
        format!("{:?}", registry.send_async(&1, Opaque)),
    ] {
        assert!(!text.is_empty());
    }
    assert_eq!(format!("{err:?}"), "NoSuchId(..)");
    assert_eq!(err.to_string(), "sending on an id with no channel");
}

/// Every error says what happened in its `Display`, and `RegisterError`
/// exposes its capacity cause as its `source`.
#[test]
fn errors_say_what_happened() {
    use std::error::Error;
    assert_eq!(
        TryRecvError::Empty.to_string(),
        "receiving on an empty channel"
    );
    assert_eq!(
        TryRecvError::Closed.to_string(),
        "receiving on a closed and drained channel"
    );
    assert_eq!(
        RecvError.to_string(),
        "receiving on a closed and drained channel"
    );
    assert_eq!(
        RecvTimeoutError::Timeout.to_string(),
        "timed out waiting for a message"
    );
    assert_eq!(
        RecvTimeoutError::Closed.to_string(),
        "receiving on a closed and drained channel"
    );
    let registry = Registry::<u64, u8>::new();
    let zero: CapacityError = match registry.set(1, 0) {
        Err(e) => e,
        Ok(_) => panic!("capacity 0 accepted"),
    };
    assert!(zero.to_string().contains("at least 1"), "{zero}");
    let huge = match registry.set(1, MAX_CAPACITY + 1) {
        Err(e) => e,
        Ok(_) => panic!("capacity above the maximum accepted"),
    };
    assert!(huge.to_string().contains("above the maximum"), "{huge}");
    let _rx = registry.set(1, 1).unwrap();
    let occupied = registry.register(1, 1).unwrap_err();
    assert_eq!(occupied, RegisterError::Occupied);
    assert_eq!(occupied.to_string(), "the id already has a channel");
    assert!(occupied.source().is_none());
    let capacity = registry.register(2, 0).unwrap_err();
    assert_eq!(capacity.to_string(), zero.to_string());
    assert_eq!(
        capacity.source().map(|e| e.to_string()),
        Some(zero.to_string())
    );
}

/// A receiver's `Debug` shows its channel's state: open, then closed and
/// retired once the id is replaced.
#[test]
fn receiver_debug_shows_the_channel_state() {
    let registry = Registry::<u64, u8>::new();
    let rx = registry.set(1, 2).unwrap();
    registry.try_send(&1, 7).unwrap();
    let open = format!("{rx:?}");
    assert!(
        open.contains("len: 1") && open.contains("capacity: 2"),
        "{open}"
    );
    assert!(
        open.contains("closed: false") && open.contains("retired: false"),
        "{open}"
    );
    assert!(open.contains("receivers: 0, senders: 0"), "{open}");
    let (_, waker) = counting();
    assert_eq!(rx.try_recv(), Ok(7));
    let mut fut = pin!(rx.recv_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let waiting = format!("{rx:?}");
    assert!(waiting.contains("receivers: 1, senders: 0"), "{waiting}");
    let _next = registry.set(1, 2).unwrap();
    let replaced = format!("{rx:?}");
    assert!(
        replaced.contains("closed: true") && replaced.contains("retired: true"),
        "{replaced}"
    );
}

/// A wait polled again with another waker is woken through the new one.
#[test]
fn a_wait_polled_with_a_new_waker_wakes_that_one() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    let (old, old_waker) = counting();
    let (new, new_waker) = counting();
    let mut fut = pin!(rx.recv_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&old_waker))
            .is_pending()
    );
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_pending()
    );
    registry.try_send(&1, 7).unwrap();
    assert_eq!((woken(&old), woken(&new)), (0, 1));
    assert_eq!(
        fut.poll(&mut Context::from_waker(&new_waker)),
        Poll::Ready(Ok(7))
    );
}

// ---- clause 1: linearizable per id ------------------------------------------

/// A `set` over a live id swaps the channel in place: a sender hammering the
/// id while another thread keeps replacing it never sees `NoSuchId`.
#[test]
fn set_never_makes_a_live_id_absent() {
    let registry = Arc::new(Registry::<u64, u64>::new());
    let _first = registry.set(1, 4).unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let setter = {
        let (registry, stop) = (registry.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0;
            while stop.load(Ordering::Relaxed) == 0 {
                drop(registry.set(1, 4).unwrap());
                n += 1;
            }
            n
        })
    };
    let mut absent = 0;
    let deadline = Instant::now() + Duration::from_millis(300);
    let mut sends = 0u64;
    let mut rounds = scaled(usize::MAX, 3);
    while Instant::now() < deadline && rounds > 0 {
        rounds -= 1;
        for _ in 0..100 {
            if let Err(TrySendError::NoSuchId(_)) = registry.try_send(&1, sends) {
                absent += 1;
            }
            if !registry.contains(&1) {
                absent += 1;
            }
            sends += 1;
        }
    }
    stop.store(1, Ordering::Relaxed);
    let replacements = setter.join().unwrap();
    assert!(replacements > 0);
    assert_eq!(absent, 0, "a set made the id look absent");
}

/// Real-time order: once `delete` returned, no send that starts later
/// succeeds into the deleted channel, and `contains` agrees.
#[test]
fn after_delete_returns_sends_fail() {
    for _ in 0..scaled(200, 2) {
        let registry = Arc::new(Registry::<u64, u32>::new());
        let rx = registry.set(1, 8).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let deleter = {
            let (registry, barrier) = (registry.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                assert!(registry.delete(&1));
            })
        };
        barrier.wait();
        let mut accepted = 0;
        loop {
            match registry.try_send(&1, accepted) {
                Ok(()) => accepted += 1,
                Err(TrySendError::NoSuchId(_)) => break,
                Err(TrySendError::Full(_)) => thread::yield_now(),
                Err(TrySendError::Closed(_)) => panic!("routed send saw a retired channel"),
            }
        }
        deleter.join().unwrap();
        assert!(!registry.contains(&1));
        assert!(matches!(
            registry.try_send(&1, 99),
            Err(TrySendError::NoSuchId(99))
        ));
        let received: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(received, (0..accepted).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

// ---- clause 2: nothing lost ---------------------------------------------------

/// Regression: crossbeam-skiplist may build a node and discard it when a
/// concurrent insert of the same key wins; the registry once took "the
/// closure ran" for "inserted" and lost that generation (its receiver never
/// saw the channel closed). After deleting every id, every receiver ever
/// handed out must be closed, and `len` must be 0.
#[test]
fn concurrent_inserts_never_lose_a_generation() {
    for round in 0..scaled(60, 2) as u64 {
        let registry = Arc::new(Registry::<u64, u64>::new());
        let receivers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (registry, receivers) = (registry.clone(), receivers.clone());
                thread::spawn(move || {
                    let mut rng = (t * 7919 + 1) ^ (round << 20);
                    for _ in 0..scaled(2_000, 25) {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let id = rng % 4;
                        match (rng >> 32) % 3 {
                            0 => receivers.lock().unwrap().push(registry.set(id, 2).unwrap()),
                            1 => drop(registry.delete(&id)),
                            _ => drop(registry.try_send(&id, rng)),
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        for id in 0..4 {
            registry.delete(&id);
        }
        assert_eq!(registry.len(), 0, "round {round}");
        let open = receivers
            .lock()
            .unwrap()
            .iter()
            .filter(|rx| !rx.is_closed())
            .count();
        assert_eq!(
            open, 0,
            "round {round}: generations lost with their channel open"
        );
    }
}

/// Messages sent while the id is replaced over and over are each received
/// exactly once, by the receiver of the generation they went into, in order.
#[test]
fn replacement_storm_loses_nothing() {
    let registry = Arc::new(Registry::<u64, u64>::new());
    let (rx_tx, rx_rx) = std::sync::mpsc::channel();
    rx_tx.send(registry.set(1, 3).unwrap()).unwrap();
    let senders: Vec<_> = (0..2u64)
        .map(|t| {
            let registry = registry.clone();
            thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0..scaled(20_000, 40) as u64 {
                    let msg = (t << 32) | i;
                    match registry.try_send(&1, msg) {
                        Ok(()) => accepted.push(msg),
                        Err(e) => assert_eq!(e.into_inner(), msg),
                    }
                }
                accepted
            })
        })
        .collect();
    let setter = {
        let registry = registry.clone();
        thread::spawn(move || {
            for _ in 0..scaled(2_000, 8) {
                rx_tx.send(registry.set(1, 3).unwrap()).unwrap();
            }
            registry.delete(&1);
        })
    };
    let drainer = thread::spawn(move || {
        let mut received = Vec::new();
        for rx in rx_rx {
            let mut last = [None::<u64>; 2];
            while let Ok(msg) = rx.recv() {
                // per-sender FIFO within one generation
                let t = (msg >> 32) as usize;
                assert!(last[t].is_none_or(|l| l < msg));
                last[t] = Some(msg);
                received.push(msg);
            }
        }
        received
    });
    let mut accepted: Vec<u64> = senders
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    setter.join().unwrap();
    let mut received = drainer.join().unwrap();
    accepted.sort_unstable();
    received.sort_unstable();
    assert_eq!(accepted, received);
}

/// Each message value is dropped exactly once, whichever way it went.
#[test]
fn every_message_is_dropped_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let registry = Registry::<u64, Counted>::new();
    let rx = registry.set(1, 2).unwrap();
    registry.try_send(&1, Counted).unwrap(); // received below
    registry.try_send(&1, Counted).unwrap(); // dropped with the receiver
    drop(registry.try_send(&1, Counted).unwrap_err()); // full: handed back
    drop(registry.try_send(&2, Counted).unwrap_err()); // no such id
    assert_eq!(DROPS.load(Ordering::Relaxed), 2);
    drop(rx.try_recv().unwrap());
    assert_eq!(DROPS.load(Ordering::Relaxed), 3);
    drop(rx);
    assert_eq!(DROPS.load(Ordering::Relaxed), 4);
    drop(registry.try_send(&1, Counted).unwrap_err()); // closed: receiver gone
    assert_eq!(DROPS.load(Ordering::Relaxed), 5);
}

// ---- clause 3: prompt close -------------------------------------------------------

#[test]
fn delete_wakes_a_blocked_receiver() {
    let registry = Arc::new(Registry::<u64, u32>::new());
    let rx = registry.set(1, 1).unwrap();
    let waiter = thread::spawn(move || rx.recv());
    thread::sleep(Duration::from_millis(50)); // let it block (not needed for correctness)
    assert!(registry.delete(&1));
    assert_eq!(waiter.join().unwrap(), Err(RecvError));
}

#[test]
fn replace_wakes_an_async_receiver_and_routes_waiting_senders() {
    let registry = Arc::new(Registry::<u64, u32>::new());
    let old = registry.set(1, 1).unwrap();
    registry.try_send(&1, 1).unwrap(); // full now
    let sender = {
        let registry = registry.clone();
        thread::spawn(move || block_on(registry.send_async(&1, 2)))
    };
    let waiting = {
        let registry = registry.clone();
        thread::spawn(move || registry.send_timeout(&1, 3, Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    let new = registry.set(1, 4).unwrap(); // retires `old`: waiting sends move to `new`
    assert_eq!(sender.join().unwrap(), Ok(()));
    assert_eq!(waiting.join().unwrap(), Ok(()));
    assert_eq!(block_on(old.recv_async()), Ok(1));
    assert_eq!(block_on(old.recv_async()), Err(RecvError));
    let mut got = vec![new.try_recv().unwrap(), new.try_recv().unwrap()];
    got.sort_unstable();
    assert_eq!(got, [2, 3]);
}

#[test]
fn handles_fail_closed_after_replace_and_hand_the_message_back() {
    let registry = Registry::<u64, &str>::new();
    let _rx = registry.set(1, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    tx.try_send("a").unwrap();
    assert_eq!(tx.try_send("b"), Err(TrySendError::Full("b")));
    assert_eq!(
        tx.send_timeout("c", Duration::from_millis(10)),
        Err(SendTimeoutError::Timeout("c"))
    );
    let _rx2 = registry.set(1, 1).unwrap();
    assert!(tx.is_closed());
    assert_eq!(tx.try_send("d"), Err(TrySendError::Closed("d")));
    assert_eq!(block_on(tx.send_async("e")), Err(SendError::Closed("e")));
    assert_eq!(
        tx.send_timeout("f", Duration::from_secs(1)),
        Err(SendTimeoutError::Closed("f"))
    );
    let fresh = registry.sender(&1).unwrap();
    assert!(!fresh.same_channel(&tx));
    fresh.try_send("g").unwrap();
    assert!(registry.sender(&2).is_none());
}

#[test]
fn blocked_handle_sender_wakes_on_recv() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    tx.try_send(1).unwrap();
    let t = thread::spawn(move || tx.send_timeout(2, Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(rx.recv(), Ok(2));
}

/// Rounds of two threads each blocking once on one receiver while a producer
/// sends two messages: both messages are received, every round. A wake-up
/// kept by a receiver whose own re-check succeeded used to leave the other
/// asleep with a message waiting (loom found it: the two-waiter shapes in
/// `loom-tests/shapes.rs`); here that hangs the round. Then both block again
/// and a delete must wake both.
#[test]
fn two_blocked_receivers_on_one_channel() {
    let registry = Arc::new(Registry::<u64, u32>::new());
    let rx = Arc::new(registry.set(1, 2).unwrap());
    for round in 0..scaled(2_000, 4) as u32 {
        let barrier = Arc::new(Barrier::new(3));
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (rx, barrier) = (rx.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    rx.recv_timeout(Duration::from_secs(30))
                })
            })
            .collect();
        barrier.wait();
        registry.try_send(&1, 2 * round).unwrap();
        registry.try_send(&1, 2 * round + 1).unwrap();
        let mut got: Vec<u32> = receivers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap()
                    .expect("a receiver slept with a message waiting")
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, [2 * round, 2 * round + 1]);
    }
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_timeout(Duration::from_secs(30)))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    assert!(registry.delete(&1));
    for r in receivers {
        assert_eq!(r.join().unwrap(), Err(RecvTimeoutError::Closed));
    }
}

/// Two threads block sending into one full channel while one receiver
/// drains it: every message arrives once.
#[test]
fn two_blocked_senders_on_one_channel() {
    let registry = Arc::new(Registry::<u64, u32>::new());
    let rx = registry.set(1, 1).unwrap();
    let n = scaled(1_000, 10) as u32;
    let senders: Vec<_> = (0..2u32)
        .map(|t| {
            let registry = registry.clone();
            thread::spawn(move || {
                for i in 0..n {
                    let m = t * n + i;
                    assert_eq!(block_on(registry.send_async(&1, m)), Ok(()));
                }
            })
        })
        .collect();
    let mut got: Vec<u32> = (0..2 * n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("a blocked sender was not woken")
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, (0..2 * n).collect::<Vec<_>>());
}

#[test]
fn timeouts() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    registry.try_send(&1, 1).unwrap();
    assert_eq!(
        registry.send_timeout(&1, 2, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert_eq!(
        registry.send_timeout(&9, 2, Duration::from_millis(5)),
        Err(SendTimeoutError::NoSuchId(2))
    );
    // A timeout too large for `Instant` means "no limit", not a panic.
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    registry.delete(&1);
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn stream_yields_then_ends() {
    let registry = Registry::<u64, u32>::new();
    let mut rx = registry.set(1, 4).unwrap();
    for i in 0..3 {
        registry.try_send(&1, i).unwrap();
    }
    registry.delete(&1);
    assert_eq!(rx.size_hint(), (3, None));
    let got: Vec<u32> = std::iter::from_fn(|| next(&mut rx)).collect();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(next(&mut rx), None); // and again
}

#[test]
fn stream_wakes_across_threads() {
    let registry = Arc::new(Registry::<u64, u32>::new());
    let mut rx = registry.set(1, 1).unwrap();
    let producer = {
        let registry = registry.clone();
        thread::spawn(move || {
            for i in 0..scaled(1000, 20) as u32 {
                let mut msg = i;
                loop {
                    match registry.try_send(&1, msg) {
                        Ok(()) => break,
                        Err(TrySendError::Full(m)) => {
                            msg = m;
                            thread::yield_now();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            registry.delete(&1);
        })
    };
    let got: Vec<u32> = std::iter::from_fn(|| next(&mut rx)).collect();
    producer.join().unwrap();
    assert_eq!(got, (0..scaled(1000, 20) as u32).collect::<Vec<_>>());
}

// ---- clause 4: reclamation ---------------------------------------------------------

/// Counts live channels through a message type: each channel holds one
/// `Canary` the test sends into it first; it is dropped exactly when the
/// channel's buffer is dropped (or received).
#[test]
fn dropping_the_registry_closes_and_frees() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    struct Canary;
    impl Canary {
        fn new() -> Self {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Canary
        }
    }
    impl Drop for Canary {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let registry = Registry::<u64, Canary>::new();
    let kept = registry.set(0, 2).unwrap();
    registry.try_send(&0, Canary::new()).unwrap();
    for id in 1..100 {
        drop(registry.set(id, 2).unwrap()); // receiver dropped: buffer dropped at once
        assert!(matches!(
            registry.try_send(&id, Canary::new()),
            Err(TrySendError::Closed(_))
        ));
    }
    let tx = registry.sender(&0).unwrap();
    assert_eq!(LIVE.load(Ordering::SeqCst), 1);
    drop(registry);
    assert!(kept.is_closed());
    assert!(tx.is_closed());
    assert!(matches!(
        tx.try_send(Canary::new()),
        Err(TrySendError::Closed(_))
    ));
    assert!(kept.try_recv().is_ok());
    assert!(matches!(kept.try_recv(), Err(TryRecvError::Closed)));
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

// ---- wait lists: who is woken ---------------------------------------------

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    (count, waker)
}

fn woken(count: &Count) -> usize {
    count.0.load(Ordering::SeqCst)
}

/// A receive future dropped while it waits leaves the wait list: the next
/// message wakes the receive that waits now.
#[test]
fn a_dropped_receive_leaves_the_wait_list() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    let (first, first_waker) = counting();
    let (second, second_waker) = counting();
    {
        let mut fut = pin!(rx.recv_async());
        let mut cx = Context::from_waker(&first_waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    let mut fut = pin!(rx.recv_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );
    registry.try_send(&1, 7).unwrap();
    assert_eq!((woken(&first), woken(&second)), (0, 1));
    assert_eq!(
        fut.poll(&mut Context::from_waker(&second_waker)),
        Poll::Ready(Ok(7))
    );
}

/// A receive woken and then dropped passes its wake-up on to the next
/// waiting receive; one dropped before any wake-up wakes nobody.
#[test]
fn a_dropped_receive_passes_on_only_a_wakeup_it_took() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 2).unwrap();
    let (first, first_waker) = counting();
    let (second, second_waker) = counting();
    let (third, third_waker) = counting();
    let mut a = Box::pin(rx.recv_async());
    let mut b = Box::pin(rx.recv_async());
    let mut c = Box::pin(rx.recv_async());
    assert!(
        a.as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending()
    );
    assert!(
        b.as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );
    assert!(
        c.as_mut()
            .poll(&mut Context::from_waker(&third_waker))
            .is_pending()
    );
    // `b` was not woken: dropping it wakes nobody.
    drop(b);
    assert_eq!((woken(&first), woken(&second), woken(&third)), (0, 0, 0));
    // `a` takes the wake-up of the first message, then gives up: `c` gets it.
    registry.try_send(&1, 7).unwrap();
    assert_eq!((woken(&first), woken(&third)), (1, 0));
    drop(a);
    assert_eq!(woken(&third), 1);
    assert_eq!(
        c.as_mut().poll(&mut Context::from_waker(&third_waker)),
        Poll::Ready(Ok(7))
    );
}

/// A receive that completes without having been woken (it found a message
/// meant for another waiter's wake-up) wakes nobody else.
#[test]
fn a_completed_receive_that_was_not_woken_wakes_nobody() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 2).unwrap();
    let (first, first_waker) = counting();
    let (second, second_waker) = counting();
    let (third, third_waker) = counting();
    let mut a = Box::pin(rx.recv_async());
    let mut b = Box::pin(rx.recv_async());
    let mut c = Box::pin(rx.recv_async());
    assert!(
        a.as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending()
    );
    assert!(
        b.as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );
    assert!(
        c.as_mut()
            .poll(&mut Context::from_waker(&third_waker))
            .is_pending()
    );
    registry.try_send(&1, 7).unwrap();
    assert_eq!((woken(&first), woken(&second), woken(&third)), (1, 0, 0));
    // `b` polls anyway and takes the message: it was still registered, so
    // its completion passes nothing on.
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&second_waker)),
        Poll::Ready(Ok(7))
    );
    assert_eq!((woken(&first), woken(&second), woken(&third)), (1, 0, 0));
    drop((a, c));
}

/// A send future dropped while it waits for space leaves the wait list: the
/// next free slot wakes the send that waits now.
#[test]
fn a_dropped_send_leaves_the_wait_list() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    tx.try_send(0).unwrap();
    let (first, first_waker) = counting();
    let (second, second_waker) = counting();
    {
        let mut fut = pin!(tx.send_async(1));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
    }
    let mut fut = pin!(tx.send_async(2));
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((woken(&first), woken(&second)), (0, 1));
    assert!(fut.poll(&mut Context::from_waker(&second_waker)).is_ready());
    assert_eq!(rx.try_recv(), Ok(2));
}
