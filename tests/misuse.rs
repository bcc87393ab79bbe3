//! Bad input and misuse: each case has a defined, tested outcome (no
//! undefined behaviour, no deadlock, no leak beyond what is documented).
#![cfg(not(any(loom, shuttle)))]

use std::cmp::Ordering as CmpOrdering;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use channel_registry::{
    MAX_CAPACITY, RecvError, Registry, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

// ---- a message whose Drop panics ------------------------------------------------

/// Counts drops; panics in `drop` when asked to.
struct Bomb {
    armed: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.armed {
            panic!("bomb went off");
        }
    }
}

/// Dropping a receiver drops every buffered message even if some `Drop`s
/// panic, then resumes the first panic (outcome: the panic reaches the
/// dropper; nothing leaks; the process does not abort).
#[test]
fn panicking_message_drop_during_receiver_drop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let registry = Registry::<u64, Bomb>::new();
    let rx = registry.set(1, 4).unwrap();
    for armed in [true, false, true, false] {
        let bomb = Bomb {
            armed,
            drops: drops.clone(),
        };
        assert!(registry.try_send(&1, bomb).is_ok());
    }
    let result = catch_unwind(AssertUnwindSafe(|| drop(rx)));
    assert!(result.is_err(), "the first panic is resumed");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        4,
        "every message dropped once"
    );
    // The registry is still usable; the id is still registered, closed.
    assert!(registry.contains(&1));
    let back = registry.try_send(
        &1,
        Bomb {
            armed: false,
            drops: drops.clone(),
        },
    );
    assert!(matches!(back, Err(TrySendError::Closed(_))));
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

/// A received message that panics on drop panics in the receiver's code, not
/// inside the registry; the channel keeps working.
#[test]
fn panicking_message_drop_after_recv() {
    let drops = Arc::new(AtomicUsize::new(0));
    let registry = Registry::<u64, Bomb>::new();
    let rx = registry.set(1, 2).unwrap();
    assert!(
        registry
            .try_send(
                &1,
                Bomb {
                    armed: true,
                    drops: drops.clone()
                }
            )
            .is_ok()
    );
    let Ok(got) = rx.try_recv() else {
        panic!("the message was buffered")
    };
    assert!(catch_unwind(AssertUnwindSafe(|| drop(got))).is_err());
    assert!(
        registry
            .try_send(
                &1,
                Bomb {
                    armed: false,
                    drops: drops.clone()
                }
            )
            .is_ok()
    );
    assert!(rx.try_recv().is_ok());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

// ---- keys whose Hash, Eq or Ord misbehaves -----------------------------------------

/// Which of `TouchyKey`'s traits panic now.
static PANIC_HASH: AtomicBool = AtomicBool::new(false);
static PANIC_EQ: AtomicBool = AtomicBool::new(false);
static PANIC_ORD: AtomicBool = AtomicBool::new(false);
/// The flags are process-wide and the test harness runs tests in parallel:
/// each test that raises one holds this for its whole run.
static TOUCHY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn touchy_keys() -> std::sync::MutexGuard<'static, ()> {
    TOUCHY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
struct TouchyKey(u64);

impl std::hash::Hash for TouchyKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if PANIC_HASH.load(Ordering::SeqCst) {
            panic!("Hash panicked");
        }
        self.0.hash(state);
    }
}

impl PartialEq for TouchyKey {
    fn eq(&self, other: &Self) -> bool {
        if PANIC_EQ.load(Ordering::SeqCst) {
            panic!("Eq panicked");
        }
        self.0 == other.0
    }
}

impl Eq for TouchyKey {}

impl PartialOrd for TouchyKey {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for TouchyKey {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        if PANIC_ORD.load(Ordering::SeqCst) {
            panic!("Ord panicked");
        }
        self.0.cmp(&other.0)
    }
}

/// A `Hash` or `Eq` that panics: the panic reaches the caller of every point
/// operation, and the registry stays usable and consistent once it stops.
/// (The channel that a failed `set` created is dropped during the unwind:
/// `install` holds it as an owned `Arc`; this test does not count
/// allocations.)
#[test]
fn panicking_hash_and_eq() {
    let _serial = touchy_keys();
    for flag in [&PANIC_HASH, &PANIC_EQ] {
        let registry = Registry::<TouchyKey, u32>::new();
        let rx1 = registry.set(TouchyKey(1), 1).unwrap();
        let rx3 = registry.set(TouchyKey(3), 1).unwrap();
        flag.store(true, Ordering::SeqCst);
        assert!(catch_unwind(AssertUnwindSafe(|| registry.set(TouchyKey(1), 1))).is_err());
        assert!(catch_unwind(AssertUnwindSafe(|| registry.try_send(&TouchyKey(1), 5))).is_err());
        assert!(catch_unwind(AssertUnwindSafe(|| registry.delete(&TouchyKey(3)))).is_err());
        flag.store(false, Ordering::SeqCst);
        assert_eq!(registry.ids().map(|k| k.0).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(registry.len(), 2);
        registry.try_send(&TouchyKey(1), 7).unwrap();
        assert_eq!(rx1.try_recv(), Ok(7));
        assert!(registry.delete(&TouchyKey(3)));
        assert_eq!(rx3.try_recv(), Err(TryRecvError::Closed));
    }
}

/// An `Ord` that panics: only the ordered set of ids (`set` of a new id,
/// a `delete` that takes its key out, `ids`) uses `Ord`, so sends keep
/// working. A `set` whose `Ord` panicked has created the id in the point
/// index (point operations find it) but `ids` does not list it until it is
/// deleted and created again; nothing leaks. Run under both policies for
/// deleted ids' keys: a delete that keeps its key uses no `Ord` at all.
#[test]
fn panicking_ord() {
    let _serial = touchy_keys();
    for keeps_keys in [true, false] {
        let registry = Registry::<TouchyKey, u32>::new();
        let registry = if keeps_keys {
            registry
        } else {
            registry.__keep_deleted_keys(None)
        };
        let rx1 = registry.set(TouchyKey(1), 1).unwrap();
        let rx3 = registry.set(TouchyKey(3), 1).unwrap();
        PANIC_ORD.store(true, Ordering::SeqCst);
        registry.try_send(&TouchyKey(1), 5).unwrap();
        assert!(registry.contains(&TouchyKey(3)));
        let created = catch_unwind(AssertUnwindSafe(|| registry.set(TouchyKey(2), 1)));
        assert!(created.is_err());
        let deleted = catch_unwind(AssertUnwindSafe(|| registry.delete(&TouchyKey(3))));
        // Keeping its key, the delete never compares; taking it out, it
        // panics in the ordered set's removal, after the delete took effect.
        assert_eq!(deleted.is_ok(), keeps_keys);
        PANIC_ORD.store(false, Ordering::SeqCst);
        assert!(rx3.is_closed());
        assert!(!registry.contains(&TouchyKey(3)));
        assert!(registry.contains(&TouchyKey(2)), "the set created the id");
        assert_eq!(registry.len(), 2);
        // Replacing the id touches no index, so `ids` still misses it...
        let _rx2 = registry.set(TouchyKey(2), 1).unwrap();
        assert_eq!(registry.ids().map(|k| k.0).collect::<Vec<_>>(), [1]);
        // ...until it is deleted and created again.
        assert!(registry.delete(&TouchyKey(2)));
        let _rx2 = registry.set(TouchyKey(2), 1).unwrap();
        assert_eq!(registry.ids().map(|k| k.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(registry.__ordered_keys(), 2, "ids() took 3's key out");
        assert_eq!(rx1.try_recv(), Ok(5));
        registry.try_send(&TouchyKey(1), 7).unwrap();
        assert_eq!(rx1.try_recv(), Ok(7));
    }
}

/// A key whose `Hash` and `Ord` are inconsistent (answer at random): lookups
/// may miss and ids may be registered twice, but no operation crashes or
/// hangs, and dropping the registry closes every channel it created.
#[test]
fn inconsistent_hash_and_ord() {
    #[derive(Clone, PartialEq, Eq)]
    struct Liar(u64);
    static COIN: AtomicUsize = AtomicUsize::new(0x2545_F491);
    fn coin() -> usize {
        let mut x = COIN.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        COIN.store(x, Ordering::Relaxed);
        x
    }
    impl std::hash::Hash for Liar {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            state.write_usize(coin());
        }
    }
    impl PartialOrd for Liar {
        fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Liar {
        fn cmp(&self, _: &Self) -> CmpOrdering {
            [CmpOrdering::Less, CmpOrdering::Equal, CmpOrdering::Greater][coin() % 3]
        }
    }
    let registry = Arc::new(Registry::<Liar, u64>::new());
    let mut receivers = Vec::new();
    // Enough ids to make the point index resize, with lies in every copy
    // (fewer under Miri, still several migrations of the 16-bucket table).
    let ops = if cfg!(miri) { 400 } else { 3000u64 };
    for i in 0..ops {
        match i % 4 {
            0 | 1 => receivers.push(registry.set(Liar(i % 64), 2).unwrap()),
            2 => drop(registry.delete(&Liar(i % 64))),
            _ => drop(registry.try_send(&Liar(i % 64), i)),
        }
    }
    let _ = registry.ids().take(10_000).count();
    let _ = registry.len();
    drop(registry);
    assert!(
        receivers.iter().all(|rx| rx.is_closed()),
        "every channel closed"
    );
}

// ---- sending from inside a message's Drop ---------------------------------------------

/// A message whose `Drop` sends another message into the registry (here, to
/// another id) works wherever the registry drops messages: in a receiver's
/// drop and in a failed send's hand-back.
#[test]
fn send_from_message_drop() {
    struct Echo {
        registry: Arc<Registry<u64, Echo>>,
        to: Option<u64>,
    }
    impl Drop for Echo {
        fn drop(&mut self) {
            if let Some(to) = self.to.take() {
                let echo = Echo {
                    registry: self.registry.clone(),
                    to: None,
                };
                drop(self.registry.try_send(&to, echo));
            }
        }
    }
    let registry = Arc::new(Registry::<u64, Echo>::new());
    let rx1 = registry.set(1, 4).unwrap();
    let rx2 = registry.set(2, 4).unwrap();
    // Buffered in 1; dropped with rx1; its Drop sends to 2.
    assert!(
        registry
            .try_send(
                &1,
                Echo {
                    registry: registry.clone(),
                    to: Some(2)
                }
            )
            .is_ok()
    );
    drop(rx1);
    assert!(rx2.try_recv().is_ok(), "the echo sent from Drop arrived");
    // Sent to a missing id: handed back, dropped by us, echoes to 2.
    let back = registry.try_send(
        &9,
        Echo {
            registry: registry.clone(),
            to: Some(2),
        },
    );
    drop(back);
    assert!(rx2.try_recv().is_ok());
    // Dropping into the same, closed channel: the echo comes back, is dropped, ends.
    assert!(
        registry
            .try_send(
                &2,
                Echo {
                    registry: registry.clone(),
                    to: Some(1)
                }
            )
            .is_ok()
    );
    drop(rx2); // its Drop sends to 1, whose receiver is gone: Closed, handed back, dropped
    assert_eq!(
        Arc::strong_count(&registry),
        1,
        "no message kept a registry alive"
    );
}

// ---- dropping the registry under everyone -----------------------------------------------

/// Dropping the registry while receivers, handles and a blocked sender and
/// receiver are alive: the blocked ones wake with `Closed`; buffered messages
/// are still received; handles fail with `Closed`; nothing deadlocks.
#[test]
fn drop_registry_under_live_handles_and_waiters() {
    let registry = Registry::<u64, u32>::new();
    let rx_full = registry.set(1, 1).unwrap();
    let rx_empty = registry.set(2, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    tx.try_send(10).unwrap(); // channel 1 is full
    let barrier = Arc::new(Barrier::new(3));
    let blocked_send = {
        let (tx, barrier) = (tx.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            tx.send_timeout(11, Duration::from_secs(60))
        })
    };
    let blocked_recv = {
        let barrier = barrier.clone();
        thread::spawn(move || {
            barrier.wait();
            rx_empty.recv()
        })
    };
    barrier.wait();
    thread::sleep(Duration::from_millis(50)); // let them block (not needed for correctness)
    drop(registry);
    assert_eq!(
        blocked_send.join().unwrap(),
        Err(SendTimeoutError::Closed(11))
    );
    assert_eq!(blocked_recv.join().unwrap(), Err(RecvError));
    assert_eq!(rx_full.try_recv(), Ok(10));
    assert_eq!(rx_full.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(tx.try_send(12), Err(TrySendError::Closed(12)));
}

/// Pending futures of handles and receivers outlive the registry: polled
/// after it is gone, they complete with `Closed`.
#[test]
fn pending_futures_outlive_the_registry() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    let tx = registry.sender(&1).unwrap();
    tx.try_send(1).unwrap();
    let mut send = pin!(tx.send_async(2));
    assert!(poll_once(send.as_mut()).is_pending());
    let rx2 = registry.set(2, 1).unwrap();
    let mut recv = pin!(rx2.recv_async());
    assert!(poll_once(recv.as_mut()).is_pending());
    drop(registry);
    assert_eq!(
        poll_once(send.as_mut()),
        Poll::Ready(Err(SendError::Closed(2)))
    );
    assert_eq!(poll_once(recv.as_mut()), Poll::Ready(Err(RecvError)));
    assert_eq!(rx.try_recv(), Ok(1));
}

// ---- futures polled after completion ----------------------------------------------------

/// Documented outcome: a completed future panics if polled again (as std's
/// futures do); the channel is unaffected.
#[test]
fn recv_future_polled_after_completion_panics() {
    let registry = Registry::<u64, u32>::new();
    let rx = registry.set(1, 1).unwrap();
    registry.try_send(&1, 1).unwrap();
    let mut recv = pin!(rx.recv_async());
    assert_eq!(poll_once(recv.as_mut()), Poll::Ready(Ok(1)));
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(recv.as_mut())));
    assert!(again.is_err());
    registry.try_send(&1, 2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn send_futures_polled_after_completion_panic() {
    let registry = Registry::<u64, u32>::new();
    let _rx = registry.set(1, 4).unwrap();
    let tx = registry.sender(&1).unwrap();
    let mut routed = pin!(registry.send_async(&1, 1));
    assert_eq!(poll_once(routed.as_mut()), Poll::Ready(Ok(())));
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(routed.as_mut()))).is_err());
    let mut handle = pin!(tx.send_async(2));
    assert_eq!(poll_once(handle.as_mut()), Poll::Ready(Ok(())));
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(handle.as_mut()))).is_err());
    assert_eq!(tx.len(), 2);
}

// ---- capacities ---------------------------------------------------------------------------

/// Capacity 0 and huge capacities are errors that change nothing (more in
/// `contract.rs`); the largest allowed capacity works.
#[test]
fn capacity_zero_and_huge() {
    let registry = Registry::<u64, u8>::new();
    assert_eq!(registry.set(1, 0).unwrap_err().requested(), 0);
    assert_eq!(
        registry.set(1, usize::MAX).unwrap_err().requested(),
        usize::MAX
    );
    assert!(registry.is_empty());
    let rx = registry.set(1, MAX_CAPACITY).unwrap();
    for i in 0..1000 {
        registry.try_send(&1, i as u8).unwrap();
    }
    assert_eq!(rx.len(), 1000);
}
