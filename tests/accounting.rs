#![cfg(not(any(loom, shuttle)))]
//! "Nothing lost", with real threads.
//!
//! Worker threads hammer a few ids with `set`, `register`, `delete`, routed
//! sends (`try_send`, `send_timeout`, `send_async`) and sends through
//! `Sender` handles, each message carrying a unique id. Every receiver that
//! `set`/`register` return goes to a drainer thread, which keeps receiving
//! from all of them until each reports closed-and-drained. When the workers
//! are done every id is deleted, so every channel closes and the drainer
//! ends. Then:
//!
//! * the messages whose send returned `Ok` are exactly the messages
//!   received, each once (no loss, no duplicate, nothing invented);
//! * every failed send handed back the very message it was given, with an
//!   error the call may return (a routed send never sees `Closed`, since no
//!   receiver is dropped before it reports closed-and-drained; a handle
//!   never sees `NoSuchId`);
//! * messages from one thread into one channel are received in the order
//!   they were sent;
//! * every message created was dropped exactly once.
//!
//! Waits in the test are bounded only to turn a lost wake-up into a failure
//! instead of a hang; no result depends on timing.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use channel_registry::{
    Receiver, RecvTimeoutError, Registry, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};
use futures_core::Stream;
use proptest::prelude::*;
use proptest::test_runner::Config;
use spec::{Counted, Ledger, XorShift64Star, block_on_until};

/// How long any single wait may take before the test declares a hang.
const HANG: Duration = Duration::from_secs(10);
/// The timeout of `send_timeout` calls.
const SEND_TIMEOUT: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------
// Messages that count their drops.

struct Msg {
    counted: Counted,
    from: usize,
}

impl Msg {
    fn id(&self) -> u32 {
        self.counted.value() as u32
    }
}

// ---------------------------------------------------------------------------
// Workers.

#[derive(Clone, Copy, Debug)]
struct Params {
    threads: usize,
    ops: usize,
    ids: u64,
    capacity: usize,
    /// Whether workers delete ids. Without deletes every id is registered
    /// before the workers start and stays registered (only replaced) until
    /// they are done, so a routed send must never report `NoSuchId`.
    deletes: bool,
    seed: u64,
}

#[derive(Default)]
struct WorkerLog {
    /// Messages whose send returned `Ok`.
    sent: Vec<u32>,
    /// Messages handed back by a failed send.
    returned: Vec<u32>,
    /// Every message this worker created.
    created: Vec<u32>,
    violations: Vec<String>,
    receivers: usize,
    /// Failed sends by kind: NoSuchId, Full, Timeout, Closed.
    failures: [usize; 4],
    /// No id is ever absent while the workers run.
    always_registered: bool,
}

/// Which kind of send produced a result, for the error-variant checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Routed,
    Handle,
}

#[derive(Clone, Copy, Debug)]
enum Failure {
    NoSuchId,
    Full,
    Timeout,
    Closed,
}

impl WorkerLog {
    fn record(&mut self, what: &str, via: Via, id: u32, result: Result<(), (Failure, Msg)>) {
        match result {
            Ok(()) => self.sent.push(id),
            Err((failure, back)) => {
                if back.id() != id {
                    self.violations.push(format!(
                        "{what}: sent message {id}, got back {} in {failure:?}",
                        back.id()
                    ));
                }
                let allowed = match (via, &failure) {
                    // Receivers are only dropped after they report
                    // closed-and-drained, i.e. once their generation is
                    // retired; a routed send must then move on.
                    (Via::Routed, Failure::Closed) => false,
                    // A `set` over a live id never makes a send see it absent.
                    (Via::Routed, Failure::NoSuchId) => !self.always_registered,
                    (Via::Handle, Failure::NoSuchId) => false,
                    _ => true,
                };
                if !allowed {
                    self.violations
                        .push(format!("{what}: message {id} failed with {failure:?}"));
                }
                self.failures[failure as usize] += 1;
                self.returned.push(back.id());
            }
        }
    }
}

fn from_try(r: Result<(), TrySendError<Msg>>) -> Result<(), (Failure, Msg)> {
    r.map_err(|e| match e {
        TrySendError::NoSuchId(m) => (Failure::NoSuchId, m),
        TrySendError::Full(m) => (Failure::Full, m),
        TrySendError::Closed(m) => (Failure::Closed, m),
    })
}

fn from_timeout(r: Result<(), SendTimeoutError<Msg>>) -> Result<(), (Failure, Msg)> {
    r.map_err(|e| match e {
        SendTimeoutError::NoSuchId(m) => (Failure::NoSuchId, m),
        SendTimeoutError::Timeout(m) => (Failure::Timeout, m),
        SendTimeoutError::Closed(m) => (Failure::Closed, m),
    })
}

fn from_async(r: Result<(), SendError<Msg>>) -> Result<(), (Failure, Msg)> {
    r.map_err(|e| match e {
        SendError::NoSuchId(m) => (Failure::NoSuchId, m),
        SendError::Closed(m) => (Failure::Closed, m),
    })
}

fn hand_over(to_drainer: &mpsc::Sender<Receiver<Msg>>, rx: Receiver<Msg>, log: &mut WorkerLog) {
    log.receivers += 1;
    if to_drainer.send(rx).is_err() {
        log.violations.push("the drainer stopped early".to_string());
    }
}

fn worker(
    tid: usize,
    p: Params,
    registry: Arc<Registry<u64, Msg>>,
    to_drainer: mpsc::Sender<Receiver<Msg>>,
    ledger: Arc<Ledger>,
    start: Arc<Barrier>,
) -> WorkerLog {
    let mut rng = XorShift64Star::for_stream(p.seed, tid as u64 + 1);
    let mut log = WorkerLog {
        always_registered: !p.deletes,
        ..WorkerLog::default()
    };
    let mut handles: Vec<Option<Sender<Msg>>> = (0..p.ids).map(|_| None).collect();
    let mut next = (tid * p.ops) as u32;
    let mut new_msg = |log: &mut WorkerLog| {
        let id = next;
        next += 1;
        log.created.push(id);
        (
            id,
            Msg {
                counted: ledger.message(id.into()),
                from: tid,
            },
        )
    };

    start.wait();
    for _ in 0..p.ops {
        let id = rng.below(p.ids);
        let cap = 1 + rng.below(p.capacity as u64) as usize;
        match rng.below(100) {
            0..=7 => {
                let rx = registry.set(id, cap).expect("valid capacity");
                hand_over(&to_drainer, rx, &mut log);
            }
            8..=11 => {
                if let Ok(rx) = registry.register(id, cap) {
                    hand_over(&to_drainer, rx, &mut log);
                }
            }
            12..=17 if p.deletes => {
                registry.delete(&id);
            }
            12..=17 => {
                let rx = registry.set(id, cap).expect("valid capacity");
                hand_over(&to_drainer, rx, &mut log);
            }
            18..=45 => {
                let (n, m) = new_msg(&mut log);
                let r = from_try(registry.try_send(&id, m));
                log.record("try_send", Via::Routed, n, r);
            }
            46..=54 => {
                let (n, m) = new_msg(&mut log);
                let r = from_timeout(registry.send_timeout(&id, m, SEND_TIMEOUT));
                log.record("send_timeout", Via::Routed, n, r);
            }
            55..=57 => {
                let (n, m) = new_msg(&mut log);
                let mut fut = registry.send_async(&id, m);
                match block_on_until(&mut fut, Instant::now() + HANG) {
                    Some(r) => log.record("send_async", Via::Routed, n, from_async(r)),
                    // The wait has no timeout and the drainer makes room: a
                    // lost wake-up. Stop this worker rather than hang again.
                    None => {
                        log.violations
                            .push(format!("send_async of message {n} hung for {HANG:?}"));
                        break;
                    }
                }
            }
            58..=64 => handles[id as usize] = registry.sender(&id),
            roll => {
                let Some(h) = handles[id as usize].clone() else {
                    handles[id as usize] = registry.sender(&id);
                    continue;
                };
                let (n, m) = new_msg(&mut log);
                match roll {
                    65..=87 => {
                        let r = from_try(h.try_send(m));
                        log.record("handle try_send", Via::Handle, n, r);
                    }
                    88..=96 => {
                        let r = from_timeout(h.send_timeout(m, SEND_TIMEOUT));
                        log.record("handle send_timeout", Via::Handle, n, r);
                    }
                    _ => {
                        let mut fut = h.send_async(m);
                        match block_on_until(&mut fut, Instant::now() + HANG) {
                            Some(r) => {
                                log.record("handle send_async", Via::Handle, n, from_async(r))
                            }
                            None => {
                                log.violations.push(format!(
                                    "handle send_async of message {n} hung for {HANG:?}"
                                ));
                                break;
                            }
                        }
                    }
                }
                if h.is_closed() && rng.below(2) == 0 {
                    handles[id as usize] = None;
                }
            }
        }
    }
    log
}

// ---------------------------------------------------------------------------
// The drainer.

#[derive(Default)]
struct DrainLog {
    received: Vec<u32>,
    receivers: usize,
    violations: Vec<String>,
}

struct Draining {
    rx: Receiver<Msg>,
    /// Last message received from each worker, for the per-sender FIFO check.
    last: Vec<Option<u32>>,
    done: bool,
}

impl Draining {
    fn accept(&mut self, m: Msg, log: &mut DrainLog) {
        if let Some(prev) = self.last[m.from] {
            if prev >= m.id() {
                log.violations.push(format!(
                    "worker {} message {} received after {prev}",
                    m.from,
                    m.id()
                ));
            }
        }
        self.last[m.from] = Some(m.id());
        log.received.push(m.id());
        // `m` is dropped here, after it was recorded.
    }

    /// Receives what is there without blocking; whether anything happened.
    fn drain_now(&mut self, rng: &mut XorShift64Star, log: &mut DrainLog) -> bool {
        let mut progress = false;
        if rng.below(4) == 0 {
            // Through the `Stream` implementation, with a waker that does nothing.
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                match Pin::new(&mut self.rx).poll_next(&mut cx) {
                    Poll::Ready(Some(m)) => self.accept(m, log),
                    Poll::Ready(None) => self.done = true,
                    Poll::Pending => break,
                }
                progress = true;
                if self.done {
                    break;
                }
            }
        } else {
            loop {
                match self.rx.try_recv() {
                    Ok(m) => self.accept(m, log),
                    Err(TryRecvError::Closed) => self.done = true,
                    Err(TryRecvError::Empty) => break,
                }
                progress = true;
                if self.done {
                    break;
                }
            }
        }
        progress
    }

    /// Waits a little for one message or the close.
    fn wait(&mut self, rng: &mut XorShift64Star, log: &mut DrainLog) {
        let patience = Duration::from_micros(200 + rng.below(800));
        if rng.below(2) == 0 {
            match self.rx.recv_timeout(patience) {
                Ok(m) => self.accept(m, log),
                Err(RecvTimeoutError::Closed) => self.done = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
        } else {
            let mut fut = self.rx.recv_async();
            match block_on_until(&mut fut, Instant::now() + patience) {
                Some(Ok(m)) => {
                    drop(fut);
                    self.accept(m, log);
                }
                Some(Err(_)) => self.done = true,
                None => {} // dropping the future withdraws it
            }
        }
    }
}

fn drainer(
    from_workers: mpsc::Receiver<Receiver<Msg>>,
    all_deleted: Arc<AtomicBool>,
    p: Params,
) -> DrainLog {
    let mut rng = XorShift64Star::for_stream(p.seed, 0);
    let mut log = DrainLog::default();
    let mut open: Vec<Draining> = Vec::new();
    let mut workers_done = false;
    let mut last_progress = Instant::now();
    let mut turn = 0usize;
    loop {
        let mut progress = false;
        while !workers_done {
            match from_workers.try_recv() {
                Ok(rx) => {
                    log.receivers += 1;
                    open.push(Draining {
                        rx,
                        last: vec![None; p.threads],
                        done: false,
                    });
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => workers_done = true,
            }
        }
        // Once the workers are gone and every id is deleted, every channel
        // ever created has been retired, so its receiver must already see it
        // closed (prompt close). One that does not belongs to a generation
        // the registry lost track of: report it instead of waiting forever.
        let retired_all = workers_done && all_deleted.load(Ordering::Acquire);
        for d in &mut open {
            if retired_all && !d.rx.is_closed() {
                log.violations.push(format!(
                    "a receiver (capacity {}, {} buffered) is still open after every id was deleted",
                    d.rx.capacity(),
                    d.rx.len()
                ));
                d.done = true;
                continue;
            }
            progress |= d.drain_now(&mut rng, &mut log);
        }
        // Dropped only once closed and drained: nothing is lost with them.
        open.retain(|d| !d.done);
        if workers_done && open.is_empty() {
            return log;
        }
        if progress {
            last_progress = Instant::now();
            continue;
        }
        if retired_all && last_progress.elapsed() > HANG {
            log.violations.push(format!(
                "drainer: {} receivers neither closed nor receiving for {HANG:?}",
                open.len()
            ));
            return log;
        }
        // Idle: wait on one receiver (woken by a push or a close), or for a
        // new receiver.
        if open.is_empty() {
            match from_workers.recv_timeout(Duration::from_millis(1)) {
                Ok(rx) => {
                    log.receivers += 1;
                    open.push(Draining {
                        rx,
                        last: vec![None; p.threads],
                        done: false,
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => workers_done = true,
            }
        } else {
            turn = turn.wrapping_add(1);
            let k = turn % open.len();
            open[k].wait(&mut rng, &mut log);
        }
    }
}

// ---------------------------------------------------------------------------
// One run.

fn run(p: Params) {
    let total = p.threads * p.ops;
    let ledger = Ledger::new(total);
    let registry = Arc::new(Registry::<u64, Msg>::new());
    let (to_drainer, from_workers) = mpsc::channel();

    let all_deleted = Arc::new(AtomicBool::new(false));
    let drain = {
        let all_deleted = Arc::clone(&all_deleted);
        thread::spawn(move || drainer(from_workers, all_deleted, p))
    };
    let mut pre_registered = 0;
    if !p.deletes {
        for id in 0..p.ids {
            to_drainer
                .send(registry.set(id, p.capacity).unwrap())
                .unwrap();
            pre_registered += 1;
        }
    }
    let start = Arc::new(Barrier::new(p.threads));
    let workers: Vec<_> = (0..p.threads)
        .map(|tid| {
            let registry = Arc::clone(&registry);
            let to_drainer = to_drainer.clone();
            let ledger = Arc::clone(&ledger);
            let start = Arc::clone(&start);
            thread::spawn(move || worker(tid, p, registry, to_drainer, ledger, start))
        })
        .collect();
    drop(to_drainer);

    let mut logs = Vec::new();
    let mut panics = Vec::new();
    for w in workers {
        match w.join() {
            Ok(log) => logs.push(log),
            Err(e) => panics.push(e),
        }
    }
    // Close every channel still registered, so the drainer can finish.
    for id in 0..p.ids {
        registry.delete(&id);
    }
    all_deleted.store(true, Ordering::Release);
    let ids_left: Vec<u64> = registry.ids().collect();
    let len_left = registry.len();
    let drained = drain.join();
    if let Some(e) = panics.pop() {
        std::panic::resume_unwind(e);
    }
    let drained = drained.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(Arc::strong_count(&registry), 1);
    drop(registry);

    let mut violations: Vec<String> = logs
        .iter()
        .flat_map(|l| l.violations.iter().cloned())
        .collect();
    violations.extend(drained.violations.iter().cloned());
    if !ids_left.is_empty() {
        violations.push(format!("ids() after deleting every id: {ids_left:?}"));
    }
    if len_left != 0 {
        violations.push(format!("len() after deleting every id: {len_left}"));
    }
    assert!(violations.is_empty(), "{p:?}: {violations:#?}");

    // Every receiver made it to the drainer.
    let made: usize = pre_registered + logs.iter().map(|l| l.receivers).sum::<usize>();
    assert_eq!(
        drained.receivers, made,
        "receivers handed over vs received by the drainer"
    );

    // Every created message either went in or came back, never both.
    let mut sent: Vec<u32> = logs.iter().flat_map(|l| l.sent.iter().copied()).collect();
    let mut returned: Vec<u32> = logs
        .iter()
        .flat_map(|l| l.returned.iter().copied())
        .collect();
    let mut created: Vec<u32> = logs
        .iter()
        .flat_map(|l| l.created.iter().copied())
        .collect();
    sent.sort_unstable();
    returned.sort_unstable();
    created.sort_unstable();
    let mut outcomes: Vec<u32> = sent.iter().chain(&returned).copied().collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes, created,
        "each created message has exactly one send outcome"
    );

    // Nothing lost, nothing duplicated, nothing invented.
    let mut received = drained.received.clone();
    received.sort_unstable();
    let dups: Vec<u32> = received
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(dups.is_empty(), "{p:?}: received more than once: {dups:?}");
    if received != sent {
        let lost: Vec<u32> = sent
            .iter()
            .filter(|m| received.binary_search(m).is_err())
            .copied()
            .collect();
        let extra: Vec<u32> = received
            .iter()
            .filter(|m| sent.binary_search(m).is_err())
            .copied()
            .collect();
        panic!(
            "{p:?}: accepted but never received: {lost:?}; received but not accepted: {extra:?}"
        );
    }

    // Every message dropped exactly once (the registry and all receivers are
    // gone; their buffers were drained).
    ledger.assert_all_dropped_once(&format!("{p:?}"));

    // The run was not vacuous (shown with `--nocapture`).
    let mut failures = [0usize; 4];
    for l in &logs {
        for (total, n) in failures.iter_mut().zip(l.failures) {
            *total += n;
        }
    }
    eprintln!(
        "{p:?}: {} receivers, {} accepted, failed: {} NoSuchId, {} Full, {} Timeout, {} Closed",
        made,
        sent.len(),
        failures[0],
        failures[1],
        failures[2],
        failures[3]
    );
    // Natively every case sends hundreds of times, so a case in which no
    // send succeeded means the workload is broken. Under Miri a thread runs
    // 12 to 30 operations, and a schedule in which every send finds its id
    // deleted happens (`just miri-seeds`, seed 1, in the CI run of the
    // change that keeps deleted ids' nodes); the accounting above has still
    // checked every create, delete and drop of that case.
    if !cfg!(miri) {
        assert!(!sent.is_empty(), "{p:?}: no send succeeded");
    }
}

/// `native` natively, `miri` under Miri (`just miri-seeds`), where each
/// step costs thousands of times more.
fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

fn params() -> impl Strategy<Value = Params> {
    (
        2usize..=scaled(4, 3),
        scaled(200, 12)..=scaled(2000, 30),
        1u64..=4,
        1usize..=4,
        proptest::bool::weighted(0.6),
        any::<u64>(),
    )
        .prop_map(|(threads, ops, ids, capacity, deletes, seed)| Params {
            threads,
            ops,
            ids,
            capacity,
            deletes,
            seed,
        })
}

proptest! {
    #![proptest_config(Config {
        cases: scaled(32, 2) as u32,
        // Runs are not reproducible (thread timing), so shrinking only
        // narrows the parameters; keep it short.
        max_shrink_iters: 8,
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn nothing_lost_nothing_duplicated(p in params()) {
        run(p);
    }
}

/// The heaviest corner: one id, capacity 1 (the single-slot queue), many
/// threads replacing it while sending.
#[test]
fn one_id_single_slot() {
    for seed in 0..scaled(4, 2) as u64 {
        run(Params {
            threads: scaled(4, 3),
            ops: scaled(2000, 30),
            ids: 1,
            capacity: 1,
            deletes: seed % 2 == 0,
            seed,
        });
    }
}

/// Two threads insert the same absent id at the same moment (`set` or
/// `register`), many times over. Sequentially, one insert comes first and the
/// other replaces it (`set`) or is refused (`register`); either way, once the
/// id is deleted no receiver may still be open, and `len()` is back to 0.
#[test]
fn racing_first_inserts_of_one_id() {
    let rounds = scaled(50_000, 20) as u64;
    for use_register in [false, true] {
        let registry = Arc::new(Registry::<u64, u32>::new());
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let registry = Arc::clone(&registry);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    (0..rounds)
                        .map(|id| {
                            barrier.wait();
                            if use_register {
                                registry.register(id, 1).ok()
                            } else {
                                Some(registry.set(id, 1).expect("valid capacity"))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<Vec<Option<Receiver<u32>>>> =
            racers.into_iter().map(|t| t.join().unwrap()).collect();
        let op = if use_register { "register" } else { "set" };
        for id in 0..rounds {
            let rxs: Vec<&Receiver<u32>> = results
                .iter()
                .filter_map(|r| r[id as usize].as_ref())
                .collect();
            if use_register {
                assert_eq!(
                    rxs.len(),
                    1,
                    "round {id}: {} racing register calls returned Ok",
                    rxs.len()
                );
            }
            assert!(registry.delete(&id), "round {id}: id missing before delete");
            let open = rxs.iter().filter(|rx| !rx.is_closed()).count();
            assert_eq!(
                open, 0,
                "round {id}: racing {op}s, then delete: a receiver is still open"
            );
        }
        assert_eq!(
            registry.len(),
            0,
            "len() after deleting every id (racing {op}s)"
        );
    }
}
