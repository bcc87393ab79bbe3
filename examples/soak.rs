//! Soak with exact accounting, on real threads and the real skip list.
//!
//! ```text
//! cargo run --release --example soak -- [--ops N] [--threads T] [--ids K]
//! ```
//!
//! T workers run `set`, `delete`, routed `try_send`, `send_timeout` and
//! `send_async`, and sends through cached handles on a small id space, while
//! two drainers receive with `try_recv`, `recv_timeout` and `recv_async`. At
//! the end it checks, and exits non-zero unless:
//! * every message is accounted for exactly once: received, or handed back
//!   by a failed send (per-message bitmaps; zero lost, zero duplicated);
//! * every message value was dropped exactly once (a drop counter);
//! * every channel created was freed: `channels_alive()` returns to 0 after
//!   the registry is dropped and the epoch flushed;
//! * live heap returns to its baseline, within a fixed 1 KiB (`HEAP_SLACK`),
//!   measured by a counting global allocator.
//!
//! It also reports the peak of retired-but-unreclaimed channels (garbage)
//! under churn, in channels and bytes.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use channel_registry::{
    Receiver, RecvTimeoutError, Registry, SendError, SendTimeoutError, TryRecvError, TrySendError,
    channels_alive, reclaim,
};
use spec::{CountingAlloc, block_on};

// ---- a counting allocator -----------------------------------------------------

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ---- messages that count their drops --------------------------------------------

static DROPS: AtomicU64 = AtomicU64::new(0);

/// A message: `(thread << 40) | seq`.
struct Msg(u64);

impl Drop for Msg {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// One bit per message, set at most once.
struct Bits(Vec<AtomicU64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }
    /// Sets the bit; returns whether it was already set.
    fn set(&self, i: usize) -> bool {
        let bit = 1u64 << (i % 64);
        self.0[i / 64].fetch_or(bit, Ordering::Relaxed) & bit != 0
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Relaxed) & (1u64 << (i % 64)) != 0
    }
}

struct Ledger {
    per_thread: usize,
    accepted: Bits,
    returned: Bits,
    received: Bits,
    duplicates: AtomicU64,
    wrong_return: AtomicU64,
}

impl Ledger {
    fn index(&self, msg: u64) -> usize {
        (msg >> 40) as usize * self.per_thread + (msg & ((1 << 40) - 1)) as usize
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            let v = v.replace('_', "");
            v.parse::<f64>()
                .map(|x| x as u64)
                .unwrap_or_else(|_| panic!("{name}: {v:?}"))
        })
        .unwrap_or(default)
}

fn main() {
    CountingAlloc::enable();
    let ops = arg("--ops", 2_000_000);
    let threads = arg("--threads", 4) as usize;
    let ids = arg("--ids", 16);
    let per_thread = (ops as usize).div_ceil(threads);

    println!("soak: {ops} ops on {threads} threads, {ids} ids, capacities 1-4");
    // Warm-up before the baseline: lazily allocated process state (stdout's
    // buffer, the epoch's global collector and this thread's participant, a
    // first thread spawn) is not the registry's.
    reclaim();
    thread::spawn(reclaim).join().unwrap();
    reclaim();
    let baseline = CountingAlloc::live();
    let ledger = Arc::new(Ledger {
        per_thread,
        accepted: Bits::new(per_thread * threads),
        returned: Bits::new(per_thread * threads),
        received: Bits::new(per_thread * threads),
        duplicates: AtomicU64::new(0),
        wrong_return: AtomicU64::new(0),
    });
    let ledger_bytes = CountingAlloc::live() - baseline;

    let registry = Arc::new(Registry::<u64, Msg>::new());
    let stop_drain = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicU64::new(0));
    let sets = Arc::new(AtomicUsize::new(0));
    // (garbage channels, registered ids, channels alive, live heap) at the
    // sample with the most garbage. Racy snapshots: a statistic.
    let peak_garbage = Arc::new((
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicIsize::new(0),
    ));
    let open_receivers = Arc::new(AtomicUsize::new(0));

    let mut drain_tx = Vec::new();
    let mut drainers = Vec::new();
    for d in 0..2 {
        let (tx, rx) = mpsc::channel::<Receiver<Msg>>();
        drain_tx.push(tx);
        let (ledger, open) = (ledger.clone(), open_receivers.clone());
        drainers.push(thread::spawn(move || drain(d, rx, &ledger, &open)));
    }
    let started = Instant::now();

    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (registry, ledger, created) = (registry.clone(), ledger.clone(), created.clone());
            let (sets, peak, open) = (sets.clone(), peak_garbage.clone(), open_receivers.clone());
            let drain_tx = drain_tx[t % 2].clone();
            thread::spawn(move || {
                let mut rng = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut handles: Vec<Option<channel_registry::Sender<Msg>>> =
                    (0..ids).map(|_| None).collect();
                for seq in 0..per_thread as u64 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let id = rng % ids;
                    let msg = ((t as u64) << 40) | seq;
                    match (rng >> 40) % 20 {
                        0..=2 => {
                            let rx = registry.set(id, 1 + (rng >> 50) as usize % 4).unwrap();
                            open.fetch_add(1, Ordering::Relaxed);
                            drain_tx.send(rx).unwrap();
                            if sets.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
                                // Garbage: channels allocated but neither
                                // registered nor held by an open receiver.
                                let alive = channels_alive();
                                let held = registry.len().max(open.load(Ordering::Relaxed));
                                let garbage = alive.saturating_sub(held);
                                if garbage > peak.0.load(Ordering::Relaxed) {
                                    peak.0.store(garbage, Ordering::Relaxed);
                                    peak.1.store(registry.len(), Ordering::Relaxed);
                                    peak.2.store(alive, Ordering::Relaxed);
                                    peak.3.store(CountingAlloc::live(), Ordering::Relaxed);
                                }
                            }
                        }
                        3..=5 => drop(registry.delete(&id)),
                        6..=11 => {
                            created.fetch_add(1, Ordering::Relaxed);
                            account(
                                &ledger,
                                msg,
                                registry
                                    .try_send(&id, Msg(msg))
                                    .map_err(TrySendError::into_inner),
                            );
                        }
                        12 => {
                            created.fetch_add(1, Ordering::Relaxed);
                            let r = registry.send_timeout(&id, Msg(msg), Duration::from_micros(50));
                            account(&ledger, msg, r.map_err(SendTimeoutError::into_inner));
                        }
                        13 => {
                            created.fetch_add(1, Ordering::Relaxed);
                            let r = registry.send_timeout(&id, Msg(msg), Duration::from_millis(2));
                            account(&ledger, msg, r.map_err(SendTimeoutError::into_inner));
                        }
                        14 => {
                            created.fetch_add(1, Ordering::Relaxed);
                            let handle = &mut handles[id as usize];
                            if handle.as_ref().is_none_or(|h| h.is_closed()) {
                                *handle = registry.sender(&id);
                            }
                            let r = match handle {
                                Some(h) => h.try_send(Msg(msg)).map_err(TrySendError::into_inner),
                                None => Err(Msg(msg)),
                            };
                            account(&ledger, msg, r);
                        }
                        _ => {
                            created.fetch_add(1, Ordering::Relaxed);
                            // An async routed send, polled once: dropped if still pending.
                            let r = block_on(async {
                                let mut fut = pin!(registry.send_async(&id, Msg(msg)));
                                std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
                                    Poll::Pending => Poll::Ready(None),
                                    Poll::Ready(r) => Poll::Ready(Some(r)),
                                })
                                .await
                            });
                            match r {
                                Some(r) => account(&ledger, msg, r.map_err(SendError::into_inner)),
                                // Dropped while pending: the future dropped the
                                // message unsent (documented); count it as handed back.
                                None => {
                                    ledger.returned.set(ledger.index(msg));
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    for id in 0..ids {
        registry.delete(&id);
    }
    drop(drain_tx);
    stop_drain.store(true, Ordering::Relaxed);
    for d in drainers {
        d.join().unwrap();
    }
    drop(registry);
    for _ in 0..8 {
        reclaim();
    }

    // ---- the accounting ----
    let n = per_thread * threads;
    let (mut accepted, mut returned, mut lost, mut both, mut neither) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut received = 0u64;
    for i in 0..n {
        let (a, r, v) = (
            ledger.accepted.get(i),
            ledger.returned.get(i),
            ledger.received.get(i),
        );
        accepted += a as u64;
        returned += r as u64;
        received += v as u64;
        lost += (a && !v) as u64;
        both += (a && r) as u64;
        let created_here = a || r;
        neither += (!created_here && v) as u64;
    }
    let duplicates = ledger.duplicates.load(Ordering::Relaxed);
    let created = created.load(Ordering::Relaxed);
    let drops = DROPS.load(Ordering::Relaxed);
    let alive = channels_alive();
    let heap = CountingAlloc::live() - baseline - ledger_bytes;
    let garbage = peak_garbage.0.load(Ordering::Relaxed);
    let registered_at_peak = peak_garbage.1.load(Ordering::Relaxed);
    let alive_at_peak = peak_garbage.2.load(Ordering::Relaxed);
    // Heap held by the registry's channels at the peak (total live heap less
    // the baseline and the test's own ledger), split evenly per channel.
    let heap_at_peak = peak_garbage.3.load(Ordering::Relaxed) - baseline - ledger_bytes;
    let per_channel = heap_at_peak.max(0) as f64 / alive_at_peak.max(1) as f64;
    println!(
        "ran {secs:.1}s: {n} ops ({:.0} ops/s), {} sets",
        n as f64 / secs,
        sets.load(Ordering::Relaxed)
    );
    println!(
        "messages created {created}: accepted {accepted}, handed back {returned}, received {received}"
    );
    println!(
        "lost {lost}, duplicated {duplicates}, accepted-and-returned {both}, received-but-never-sent {neither}, wrong message handed back {}",
        ledger.wrong_return.load(Ordering::Relaxed)
    );
    println!(
        "message drops {drops} (created {created}); channels alive after drop+reclaim {alive}"
    );
    println!(
        "peak garbage (retired channels not yet freed, sampled every 256 sets): {garbage} channels, \
         ~{:.0} bytes at ~{per_channel:.0} bytes/channel (live heap / channels alive at that sample), \
         {:.1}x the {registered_at_peak} registered ids",
        garbage as f64 * per_channel,
        garbage as f64 / registered_at_peak.max(1) as f64
    );
    println!("live heap vs baseline after drop+reclaim: {heap} bytes");
    let ok = lost == 0
        && duplicates == 0
        && both == 0
        && neither == 0
        && accepted + returned == created
        && drops == created
        && alive == 0
        && heap <= HEAP_SLACK
        && ledger.wrong_return.load(Ordering::Relaxed) == 0;
    if !ok {
        println!("FAILED");
        std::process::exit(1);
    }
    println!("ok: every message accounted for once, every channel freed");
}

/// Live heap may exceed the baseline by this much after everything is
/// dropped: 120 to 144 bytes stay behind in every run measured (2e5 to 8e6
/// ops, 4 or 8 threads), a fixed one-time allocation not identified yet.
/// (Until the shared overflow gave its buffer back once drained, about one
/// run in twelve left 1,024 bytes more and failed this bound.) Leaks of
/// channels and messages are caught exactly by `channels_alive()` and the drop
/// count; this bound catches anything else that grows.
const HEAP_SLACK: isize = 1024;

fn account(ledger: &Ledger, msg: u64, result: Result<(), Msg>) {
    let i = ledger.index(msg);
    match result {
        Ok(()) => {
            ledger.accepted.set(i);
        }
        Err(back) => {
            if back.0 != msg {
                ledger.wrong_return.fetch_add(1, Ordering::Relaxed);
            }
            ledger.returned.set(i);
        }
    }
}

fn drain(
    which: usize,
    incoming: mpsc::Receiver<Receiver<Msg>>,
    ledger: &Ledger,
    open: &AtomicUsize,
) {
    let mut receivers: Vec<Receiver<Msg>> = Vec::new();
    let mut gone = false;
    let mut turn = 0usize;
    let record = |m: Msg| {
        if ledger.received.set(ledger.index(m.0)) {
            ledger.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    };
    loop {
        while !gone {
            match incoming.try_recv() {
                Ok(rx) => receivers.push(rx),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => gone = true,
            }
        }
        if receivers.is_empty() {
            if gone {
                return;
            }
            thread::yield_now();
            continue;
        }
        turn = turn.wrapping_add(1);
        let k = turn % receivers.len();
        let rx = &receivers[k];
        let closed = match (turn + which) % 3 {
            0 => loop {
                match rx.try_recv() {
                    Ok(m) => record(m),
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Closed) => break true,
                }
            },
            1 => match rx.recv_timeout(Duration::from_micros(20)) {
                Ok(m) => {
                    record(m);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Closed) => true,
            },
            _ => {
                if rx.is_empty() && !rx.is_closed() {
                    false
                } else {
                    match block_on(rx.recv_async()) {
                        Ok(m) => {
                            record(m);
                            false
                        }
                        Err(_) => true,
                    }
                }
            }
        };
        if closed {
            receivers.swap_remove(k);
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
