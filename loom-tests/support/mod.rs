//! The harness shared by the loom suite and the shuttle suite.
//!
//! A [`Scenario`] is an initial state (ids with a channel, messages already
//! buffered, sender handles taken) and one list of operations per thread.
//! [`Scenario::check`] runs it on the real registry under the model checker
//! of the build (`--cfg loom`: every interleaving up to a bound; `--cfg
//! shuttle`: random and PCT schedules), records every result with clock
//! readings at its start and end, then, still inside the execution, drains
//! every receiver and asks `contains` for every id, and checks the history:
//!
//! * **linearizable**: some order of all operations gives exactly the
//!   recorded results when replayed on the sequential model of the contract
//!   (`model.rs`), and the final drains and `contains` agree with the model
//!   state after it, so nothing was lost, duplicated, reordered, or left
//!   open. The order must respect program order under loom and real time
//!   under shuttle (`linearize.rs` says why);
//! * **handed back**: a failed send returns its own message (asserted on
//!   the spot);
//! * **prompt close / no lost wake-up**: a receive or send without a
//!   deadline that is never woken makes the checker report a deadlock;
//! * **reclamation**: every message records its creation and its drop;
//!   after the registry is dropped and `reclaim()` has run, every message
//!   must have been dropped exactly once. Under loom, channels live in loom
//!   `Arc`s and each message carries one too, so loom also fails the run on
//!   an `Arc` leaked or released twice.
//!
//! Message values must be unique within a scenario: the model tells
//! messages apart by value.
#![allow(dead_code)]

pub mod linearize;
pub mod model;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use channel_registry::{
    Receiver, RecvError, RecvTimeoutError, RegisterError, Registry, SendError, SendTimeoutError,
    Sender, TryRecvError, TrySendError,
};

use linearize::{Event, Order};
use rt::{Arc, thread};

/// The model checker of this build.
#[cfg(loom)]
mod rt {
    pub use loom::future::block_on;
    pub use loom::sync::Arc;
    pub use loom::sync::atomic::AtomicUsize;
    pub use loom::thread;
    pub const ORDER: super::Order = super::Order::Program;
}

#[cfg(shuttle)]
mod rt {
    pub use shuttle::future::block_on;
    pub use shuttle::sync::Arc;
    pub use shuttle::sync::atomic::AtomicUsize;
    pub use shuttle::thread;
    pub const ORDER: super::Order = super::Order::RealTime;
}

// ---- what the executions exercised -------------------------------------------

/// Outcomes seen, by kind, over every execution of this process: printed by
/// the shuttle runs, so that a report shows the scenarios reach the
/// interesting cases (full, closed, time-outs, waits that ended in a close).
static OUTCOMES: StdMutex<BTreeMap<&'static str, u64>> = StdMutex::new(BTreeMap::new());

fn count_outcomes(events: &[Event]) {
    let mut outcomes = OUTCOMES.lock().unwrap_or_else(|p| p.into_inner());
    *outcomes.entry("executions").or_default() += 1;
    for e in events {
        let kind = match e.out {
            Out::NewRx => "created",
            Out::Occupied => "occupied",
            Out::Bool(true) => "true",
            Out::Bool(false) => "false",
            Out::Sent if e.op.waits_forever() => "sent after waiting",
            Out::Sent => "sent",
            Out::NoSuchId(_) => "no such id",
            Out::Full(_) => "full",
            Out::Closed(_) => "closed",
            Out::Timeout(_) => "send timed out",
            Out::Msg(_) => "received",
            Out::Empty => "empty",
            Out::RxClosed if e.op.waits_forever() => "wait ended by close",
            Out::RxClosed => "receiver saw closed",
            Out::RxTimeout => "receive timed out",
            Out::Dropped => "receiver dropped",
            Out::Cancelled => "wait cancelled",
            Out::Listed => "ids listed",
        };
        *outcomes.entry(kind).or_default() += 1;
    }
}

/// The outcome counts so far (see `OUTCOMES`).
pub fn outcomes() -> BTreeMap<&'static str, u64> {
    OUTCOMES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

// ---- messages that account for themselves ----------------------------------

/// Creations minus drops, per message value, for one execution. A std
/// mutex: no checker operation happens while it is held, so it never
/// blocks a simulated thread.
#[derive(Default)]
pub struct Tracker {
    balance: StdMutex<BTreeMap<u32, i64>>,
    double_drops: StdMutex<Vec<u32>>,
}

impl Tracker {
    fn created(&self, val: u32) {
        *self.lock().entry(val).or_default() += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, i64>> {
        self.balance.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Panics unless every message ever created was dropped exactly once.
    fn assert_all_dropped_once(&self, scenario: &str) {
        let doubles = self.double_drops.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            doubles.is_empty(),
            "scenario {scenario}: messages dropped twice: {doubles:?}"
        );
        let alive: Vec<u32> = self
            .lock()
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(v, _)| *v)
            .collect();
        assert!(
            alive.is_empty(),
            "scenario {scenario}: messages never dropped after the registry and every \
             receiver were dropped and reclaim() ran: {alive:?}"
        );
    }
}

/// A message: its value, and its tracker.
pub struct Msg {
    val: u32,
    tracker: std::sync::Arc<Tracker>,
    /// loom tracks every `Arc` it allocates: leaked or released twice fails
    /// the run.
    #[cfg(loom)]
    _witness: loom::sync::Arc<()>,
}

impl Msg {
    fn new(val: u32, tracker: &std::sync::Arc<Tracker>) -> Msg {
        tracker.created(val);
        Msg {
            val,
            tracker: std::sync::Arc::clone(tracker),
            #[cfg(loom)]
            _witness: loom::sync::Arc::new(()),
        }
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        let mut balance = self.tracker.lock();
        let n = balance.entry(self.val).or_default();
        *n -= 1;
        if *n < 0 {
            drop(balance);
            self.tracker
                .double_drops
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.val);
        }
    }
}

// ---- the vocabulary ---------------------------------------------------------

/// A receiver, named by where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rx {
    /// The receiver of the `n`th initial id.
    Initial(usize),
    /// The receiver returned by operation `op` of thread `thread`. Only that
    /// thread may use it.
    New { thread: usize, op: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Set(u64),
    Register(u64),
    Delete(u64),
    Contains(u64),
    TrySend(u64, u32),
    /// Routed `send_timeout`. Under loom a deadline has always passed when
    /// the first attempt finds the channel full; under shuttle it may pass
    /// after any attempt.
    SendTimeout(u64, u32),
    /// Routed `send_async`, driven by the checker's `block_on`.
    SendAsync(u64, u32),
    /// Routed `send_timeout(Duration::MAX)`: a blocking send without
    /// deadline.
    SendBlocking(u64, u32),
    /// `try_send` through the `n`th initial handle.
    HandleSend(usize, u32),
    /// `send_async` through the `n`th initial handle.
    HandleSendAsync(usize, u32),
    /// `send_timeout(Duration::MAX)` through the `n`th initial handle.
    HandleSendBlocking(usize, u32),
    TryRecv(Rx),
    Recv(Rx),
    RecvAsync(Rx),
    /// Blocking receive with a deadline (see `SendTimeout`).
    RecvTimeout(Rx),
    /// `recv_async` polled once, and dropped if pending: a cancelled wait.
    RecvAsyncOnce(Rx),
    /// Routed `send_async` polled once, and dropped (with its message) if
    /// pending.
    SendAsyncOnce(u64, u32),
    DropRx(Rx),
    /// `ids()`, run to its end. Its result is not checked against the
    /// model (it is no atomic snapshot), but it takes deleted ids' keys out
    /// of the ordered set, which the quiescent check then judges.
    Ids,
}

impl Op {
    /// `set` or `register`: creates a generation.
    pub fn installs(&self) -> bool {
        matches!(self, Op::Set(_) | Op::Register(_))
    }

    /// Waits without a deadline: returns only when woken.
    pub fn waits_forever(&self) -> bool {
        matches!(
            self,
            Op::SendAsync(..)
                | Op::SendBlocking(..)
                | Op::HandleSendAsync(..)
                | Op::HandleSendBlocking(..)
                | Op::Recv(_)
                | Op::RecvAsync(_)
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    NewRx,
    Occupied,
    Bool(bool),
    Sent,
    NoSuchId(u32),
    Full(u32),
    Closed(u32),
    Timeout(u32),
    Msg(u32),
    Empty,
    RxClosed,
    RxTimeout,
    Dropped,
    /// `ids()` ran (`Op::Ids`).
    Listed,
    /// A `*Once` operation was pending after its one poll and was dropped.
    Cancelled,
}

#[derive(Clone, Debug, Default)]
pub struct Scenario {
    pub name: &'static str,
    /// Capacity of every channel.
    pub cap: usize,
    /// Ids with a channel at the start, and the messages already buffered.
    pub initial: Vec<(u64, Vec<u32>)>,
    /// Sender handles taken at the start, by id.
    pub handles: Vec<u64>,
    pub threads: Vec<Vec<Op>>,
    /// Ids that a closing thread deletes once every other thread has
    /// returned from its last `set` or `register`. Every generation is then
    /// closed in the end, so a scenario whose threads wait without deadline
    /// only after their last `set`/`register` always terminates unless a
    /// wake-up is lost. The closer's deletes are part of the history.
    pub closer: Vec<u64>,
    /// Deletes leave their ids' keys in the ordered set (the registry's
    /// keeping path); otherwise every delete takes its key out at once (the
    /// removal path). Production registries take either path by counts
    /// (`src/registry.rs`, *Deleted ids' keys*).
    pub keep_deleted_keys: bool,
}

/// How a loom run is bounded (shuttle runs are bounded by iterations).
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// No preemption bound: every interleaving.
    Exhaustive,
    /// `LOOM_MAX_PREEMPTIONS` if set, else this.
    Preemptions(usize),
}

#[cfg(loom)]
mod check_loom;
#[cfg(shuttle)]
pub mod check_shuttle;

/// Whether two threads run the same operations, up to message values.
fn same_ops(a: &[Op], b: &[Op]) -> bool {
    fn shape(op: &Op) -> Op {
        match *op {
            Op::TrySend(id, _) => Op::TrySend(id, 0),
            Op::SendTimeout(id, _) => Op::SendTimeout(id, 0),
            Op::SendAsync(id, _) => Op::SendAsync(id, 0),
            Op::SendAsyncOnce(id, _) => Op::SendAsyncOnce(id, 0),
            Op::SendBlocking(id, _) => Op::SendBlocking(id, 0),
            Op::HandleSend(h, _) => Op::HandleSend(h, 0),
            Op::HandleSendAsync(h, _) => Op::HandleSendAsync(h, 0),
            Op::HandleSendBlocking(h, _) => Op::HandleSendBlocking(h, 0),
            other => other,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| shape(x) == shape(y))
}

/// What one thread returns: its results with clock readings, and the
/// receivers it still holds.
type ThreadResult = (Vec<(Out, u64, u64)>, Vec<(Rx, Receiver<Msg>)>);

/// What every thread shares in one execution.
struct Shared {
    registry: Registry<u64, Msg>,
    handles: Vec<Sender<Msg>>,
    receivers: Vec<Option<Receiver<Msg>>>,
    tracker: std::sync::Arc<Tracker>,
    /// The clock of the invocation and response readings: a std atomic,
    /// invisible to the checker, so it adds no interleavings; the
    /// checkers run one simulated thread at a time, so its readings follow
    /// the schedule.
    clock: AtomicU64,
    /// Threads that have returned from their last `set`/`register`, counted
    /// only for a scenario with a closer (under loom each count would be
    /// one more atomic step to interleave).
    installs_done: rt::AtomicUsize,
    counts_installs: bool,
    cap: usize,
}

impl Scenario {
    /// One execution. Threads are spawned in `order` (indices into
    /// `self.threads`); each keeps its own index for naming and results.
    pub fn run_once(&self, order: &[usize]) {
        let tracker = std::sync::Arc::new(Tracker::default());
        let registry = Registry::<u64, Msg>::new()
            .__keep_deleted_keys(self.keep_deleted_keys.then_some((0, 1 << 20)));
        // Set-up, on the main thread before any other thread exists.
        let mut initial_rx = Vec::new();
        for (id, msgs) in &self.initial {
            let rx = registry.set(*id, self.cap).expect("valid capacity");
            for m in msgs {
                assert!(
                    registry.try_send(id, Msg::new(*m, &tracker)).is_ok(),
                    "set-up send"
                );
            }
            initial_rx.push(Some(rx));
        }
        let handles: Vec<Sender<Msg>> = self
            .handles
            .iter()
            .map(|id| registry.sender(id).expect("set-up handle"))
            .collect();

        // An initial receiver that a thread drops is moved into that thread;
        // the others are shared.
        let mut owned: Vec<HashMap<usize, Receiver<Msg>>> =
            (0..self.threads.len()).map(|_| HashMap::new()).collect();
        for (t, ops) in self.threads.iter().enumerate() {
            for op in ops {
                if let Op::DropRx(Rx::Initial(n)) = op {
                    if let Some(rx) = initial_rx[*n].take() {
                        owned[t].insert(*n, rx);
                    }
                }
            }
        }
        let shared = Arc::new(Shared {
            registry,
            handles,
            receivers: initial_rx,
            tracker: tracker.clone(),
            clock: AtomicU64::new(0),
            installs_done: rt::AtomicUsize::new(0),
            counts_installs: !self.closer.is_empty(),
            cap: self.cap,
        });

        let mut owned: Vec<Option<_>> = owned.into_iter().map(Some).collect();
        let mut joins: Vec<Option<_>> = (0..self.threads.len()).map(|_| None).collect();
        for &t in order {
            let ops = self.threads[t].clone();
            let owned = owned[t].take().expect("each thread is spawned once");
            let shared = shared.clone();
            joins[t] = Some(thread::spawn(move || run_thread(t, &ops, &shared, owned)));
        }
        let closer = (!self.closer.is_empty()).then(|| {
            let ops: Vec<Op> = self.closer.iter().map(|id| Op::Delete(*id)).collect();
            let (shared, workers, t) = (shared.clone(), self.threads.len(), self.threads.len());
            thread::spawn(move || {
                while shared.installs_done.load(SeqCst) < workers {
                    thread::yield_now();
                }
                run_thread(t, &ops, &shared, HashMap::new())
            })
        });
        let mut outs = Vec::new();
        let mut held = Vec::new();
        for join in joins.into_iter().chain(std::iter::once(None)) {
            let Some(join) = join else { continue };
            let (o, rx) = join.join().expect("thread panicked");
            outs.push(o);
            held.extend(rx);
        }
        let mut threads = self.threads.clone();
        if let Some(closer) = closer {
            let (o, rx) = closer.join().expect("closer panicked");
            outs.push(o);
            held.extend(rx);
            threads.push(self.closer.iter().map(|id| Op::Delete(*id)).collect());
        }

        // Final observations: drain every receiver still alive, then ask
        // `contains` for every id.
        let mut finals = Vec::new();
        let mut drain = |name: Rx, rx: &Receiver<Msg>| loop {
            let out = match rx.try_recv() {
                Ok(m) => Out::Msg(m.val),
                Err(TryRecvError::Empty) => Out::Empty,
                Err(TryRecvError::Closed) => Out::RxClosed,
            };
            finals.push((Op::TryRecv(name), out));
            if !matches!(out, Out::Msg(_)) {
                break;
            }
        };
        for (n, rx) in shared.receivers.iter().enumerate() {
            if let Some(rx) = rx {
                drain(Rx::Initial(n), rx);
            }
        }
        for (name, rx) in &held {
            drain(*name, rx);
        }
        let mut ids: Vec<u64> = self.initial.iter().map(|(id, _)| *id).collect();
        for ops in &threads {
            for op in ops {
                if let Op::Set(id)
                | Op::Register(id)
                | Op::Delete(id)
                | Op::Contains(id)
                | Op::TrySend(id, _)
                | Op::SendTimeout(id, _)
                | Op::SendAsync(id, _)
                | Op::SendBlocking(id, _)
                | Op::SendAsyncOnce(id, _) = op
                {
                    ids.push(*id);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut existing = Vec::new();
        for id in ids {
            let contains = shared.registry.contains(&id);
            finals.push((Op::Contains(id), Out::Bool(contains)));
            if contains {
                existing.push(id);
            }
        }
        // Quiescent, the ordered set of ids agrees with the point index
        // (`src/registry.rs`, *Two indexes, one truth*): `ids` lists exactly
        // the ids that exist, in order.
        let listed: Vec<u64> = shared.registry.ids().collect();
        assert_eq!(
            listed, existing,
            "scenario {}: ids() disagrees with contains() at quiescence\nscenario: {self:?}",
            self.name
        );

        let events: Vec<Event> = threads
            .iter()
            .zip(&outs)
            .enumerate()
            .flat_map(|(thread, (ops, outs))| {
                ops.iter()
                    .zip(outs)
                    .enumerate()
                    .map(move |(index, (op, &(out, inv, res)))| Event {
                        thread,
                        index,
                        op: *op,
                        out,
                        inv,
                        res,
                    })
            })
            .collect();
        if let Err(why) =
            linearize::linearizable(&model::Model::new(self), &events, rt::ORDER, &finals)
        {
            panic!(
                "scenario {}: not linearizable: {why}\nscenario: {self:?}\nhistory (thread, index, op, result, invoked, returned):\n{}final: {finals:?}",
                self.name,
                events
                    .iter()
                    .map(|e| format!(
                        "  {} {} {:?} -> {:?} [{}, {}]\n",
                        e.thread, e.index, e.op, e.out, e.inv, e.res
                    ))
                    .collect::<String>(),
            );
        }

        count_outcomes(&events);

        // Tear down inside the execution so the checker sees every drop.
        drop(held);
        drop(shared);
        channel_registry::reclaim();
        tracker.assert_all_dropped_once(self.name);
    }
}

fn run_thread(
    t: usize,
    ops: &[Op],
    shared: &Shared,
    mut owned: HashMap<usize, Receiver<Msg>>,
) -> ThreadResult {
    let registry = &shared.registry;
    let msg = |m: u32| Msg::new(m, &shared.tracker);
    let last_install = ops.iter().rposition(Op::installs);
    if last_install.is_none() && shared.counts_installs {
        shared.installs_done.fetch_add(1, SeqCst);
    }
    let mut outs = Vec::new();
    let mut new_rx: Vec<(Rx, Receiver<Msg>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let inv = shared.clock.fetch_add(1, SeqCst);
        let out = {
            let receiver = |rx: &Rx| -> &Receiver<Msg> {
                match rx {
                    Rx::Initial(n) => owned
                        .get(n)
                        .or(shared.receivers[*n].as_ref())
                        .expect("an initial receiver"),
                    Rx::New { .. } => {
                        &new_rx
                            .iter()
                            .find(|(name, _)| name == rx)
                            .expect("a thread receives on its own new receivers only")
                            .1
                    }
                }
            };
            match *op {
                Op::Set(id) => {
                    let rx = registry.set(id, shared.cap).expect("valid capacity");
                    new_rx.push((Rx::New { thread: t, op: i }, rx));
                    Out::NewRx
                }
                Op::Register(id) => match registry.register(id, shared.cap) {
                    Ok(rx) => {
                        new_rx.push((Rx::New { thread: t, op: i }, rx));
                        Out::NewRx
                    }
                    Err(RegisterError::Occupied) => Out::Occupied,
                    Err(e) => panic!("{e}"),
                },
                Op::Delete(id) => Out::Bool(registry.delete(&id)),
                Op::Contains(id) => Out::Bool(registry.contains(&id)),
                Op::Ids => {
                    registry.ids().for_each(drop);
                    Out::Listed
                }
                Op::TrySend(id, m) => try_send_out(m, registry.try_send(&id, msg(m))),
                Op::SendTimeout(id, m) => timeout_out(
                    m,
                    registry.send_timeout(&id, msg(m), Duration::from_secs(1)),
                ),
                Op::SendBlocking(id, m) => {
                    timeout_out(m, registry.send_timeout(&id, msg(m), Duration::MAX))
                }
                Op::SendAsync(id, m) => send_out(m, rt::block_on(registry.send_async(&id, msg(m)))),
                Op::HandleSend(h, m) => try_send_out(m, shared.handles[h].try_send(msg(m))),
                Op::HandleSendAsync(h, m) => {
                    send_out(m, rt::block_on(shared.handles[h].send_async(msg(m))))
                }
                Op::HandleSendBlocking(h, m) => {
                    timeout_out(m, shared.handles[h].send_timeout(msg(m), Duration::MAX))
                }
                Op::TryRecv(rx) => match receiver(&rx).try_recv() {
                    Ok(x) => Out::Msg(x.val),
                    Err(TryRecvError::Empty) => Out::Empty,
                    Err(TryRecvError::Closed) => Out::RxClosed,
                },
                Op::Recv(rx) => match receiver(&rx).recv() {
                    Ok(x) => Out::Msg(x.val),
                    Err(RecvError) => Out::RxClosed,
                },
                Op::RecvAsync(rx) => match rt::block_on(receiver(&rx).recv_async()) {
                    Ok(x) => Out::Msg(x.val),
                    Err(RecvError) => Out::RxClosed,
                },
                Op::RecvAsyncOnce(rx) => match poll_once(receiver(&rx).recv_async()) {
                    Some(Ok(x)) => Out::Msg(x.val),
                    Some(Err(RecvError)) => Out::RxClosed,
                    None => Out::Cancelled,
                },
                Op::SendAsyncOnce(id, m) => match poll_once(registry.send_async(&id, msg(m))) {
                    Some(r) => send_out(m, r),
                    None => Out::Cancelled,
                },
                Op::RecvTimeout(rx) => match receiver(&rx).recv_timeout(Duration::from_secs(1)) {
                    Ok(x) => Out::Msg(x.val),
                    Err(RecvTimeoutError::Timeout) => Out::RxTimeout,
                    Err(RecvTimeoutError::Closed) => Out::RxClosed,
                },
                Op::DropRx(Rx::Initial(n)) => {
                    drop(owned.remove(&n).expect("an owned initial receiver"));
                    Out::Dropped
                }
                Op::DropRx(rx @ Rx::New { .. }) => {
                    let at = new_rx
                        .iter()
                        .position(|(name, _)| *name == rx)
                        .expect("a thread drops its own new receivers only");
                    drop(new_rx.remove(at));
                    Out::Dropped
                }
            }
        };
        let res = shared.clock.fetch_add(1, SeqCst);
        outs.push((out, inv, res));
        if Some(i) == last_install && shared.counts_installs {
            shared.installs_done.fetch_add(1, SeqCst);
        }
    }
    new_rx.extend(owned.into_iter().map(|(n, rx)| (Rx::Initial(n), rx)));
    (outs, new_rx)
}

/// Polls `fut` once with a waker that does nothing; drops it if pending
/// (which withdraws its registration, passing on a wake-up it took).
fn poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(&mut fut).poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

fn returned(sent: u32, back: Msg, out: Out) -> Out {
    assert_eq!(
        back.val, sent,
        "a failed send must hand back its own message"
    );
    out
}

fn try_send_out(m: u32, r: Result<(), TrySendError<Msg>>) -> Out {
    match r {
        Ok(()) => Out::Sent,
        Err(TrySendError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
        Err(TrySendError::Full(x)) => returned(m, x, Out::Full(m)),
        Err(TrySendError::Closed(x)) => returned(m, x, Out::Closed(m)),
    }
}

fn timeout_out(m: u32, r: Result<(), SendTimeoutError<Msg>>) -> Out {
    match r {
        Ok(()) => Out::Sent,
        Err(SendTimeoutError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
        Err(SendTimeoutError::Timeout(x)) => returned(m, x, Out::Timeout(m)),
        Err(SendTimeoutError::Closed(x)) => returned(m, x, Out::Closed(m)),
    }
}

fn send_out(m: u32, r: Result<(), SendError<Msg>>) -> Out {
    match r {
        Ok(()) => Out::Sent,
        Err(SendError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
        Err(SendError::Closed(x)) => returned(m, x, Out::Closed(m)),
    }
}
