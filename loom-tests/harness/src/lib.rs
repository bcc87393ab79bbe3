//! The scenario harness shared by the loom suite and the shuttle suite
//! (`loom-tests/`): a crate of its own so that each test binary takes the
//! part of it that it uses.
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
//!   (`spec::model`), and the final drains and `contains` agree with the
//!   model state after it, so nothing was lost, duplicated, reordered, or
//!   left open. The order must respect program order under loom and real
//!   time under shuttle (`spec::linearize` says why). Operations are
//!   written in this harness's shorthand ([`Op`]: receivers named by where
//!   they came from, one capacity per scenario) and lowered into the
//!   spec's vocabulary for the check;
//! * **handed back**: a failed send returns its own message (asserted on
//!   the spot);
//! * **prompt close / no lost wake-up**: a receive or send without a
//!   deadline that is never woken makes the checker report a deadlock;
//! * **reclamation**: every message counts its creation and its drop;
//!   after the registry is dropped and `reclaim()` has run, every message
//!   must have been dropped exactly once. Under loom, each channel is one
//!   allocation tracked by `loom::alloc` and each message carries a loom
//!   `Arc`, so loom also fails the run on a channel or message leaked, or
//!   an `Arc` released twice.
//!
//! Message values must be unique within a scenario: the model tells
//! messages apart by value.
#![cfg(any(loom, shuttle))]
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use channel_registry::{
    Receiver, RecvError, RecvTimeoutError, RegisterError, Registry, SendError, SendTimeoutError,
    Sender, TryRecvError, TrySendError,
};

use rt::{Arc, thread};
use spec::linearize::{self, Event, Order};
use spec::model::{self, Label, Wait};
use spec::{Counted, Ledger};

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

fn count_outcomes(records: &[(Op, Out)]) {
    let mut outcomes = OUTCOMES.lock().unwrap_or_else(|p| p.into_inner());
    *outcomes.entry("executions").or_default() += 1;
    for (op, out) in records {
        let kind = match *out {
            Out::NewRx => "created",
            Out::Replaced(None) => "set created",
            Out::Replaced(Some(_)) => "set replaced",
            Out::State(None) => "state: no such id",
            Out::State(Some(_)) => "state read",
            Out::Occupied => "occupied",
            Out::Bool(true) => "true",
            Out::Bool(false) => "false",
            Out::Sent if op.waits_forever() => "sent after waiting",
            Out::Sent => "sent",
            Out::NoSuchId(_) => "no such id",
            Out::Full(_) => "full",
            Out::Closed(_) => "closed",
            Out::Timeout(_) => "send timed out",
            Out::Msg(_) => "received",
            Out::Empty => "empty",
            Out::RxClosed if op.waits_forever() => "wait ended by close",
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

/// A message: its value, counted by the execution's `Ledger`.
pub struct Msg {
    counted: Counted,
    /// loom tracks every `Arc` it allocates: leaked or released twice fails
    /// the run.
    #[cfg(loom)]
    _witness: loom::sync::Arc<()>,
}

/// A generation's state: the label of its receiver, which is the
/// generation's name in the spec's model, so a state read reports which
/// generation it read. Counted while alive (a std atomic, invisible to the
/// checker, so it adds no interleavings): a state dropped twice takes the
/// count below zero. (A leak is a leaked generation, which loom reports;
/// `tests/state_drops.rs` counts every state on real threads.)
pub struct Tag {
    label: Label,
    alive: std::sync::Arc<AtomicI64>,
}

impl Tag {
    fn new(label: Label, alive: &std::sync::Arc<AtomicI64>) -> Tag {
        alive.fetch_add(1, SeqCst);
        Tag {
            label,
            alive: alive.clone(),
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let before = self.alive.fetch_sub(1, SeqCst);
        assert!(before > 0, "a generation's state dropped twice");
    }
}

impl Msg {
    fn new(val: u32, ledger: &std::sync::Arc<Ledger>) -> Msg {
        Msg {
            counted: ledger.message(val.into()),
            #[cfg(loom)]
            _witness: loom::sync::Arc::new(()),
        }
    }

    fn val(&self) -> u32 {
        self.counted.value() as u32
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
    /// `set_with`, the state being the new receiver's label; reports the
    /// state of the generation it replaced.
    Set(u64),
    Register(u64),
    Delete(u64),
    Contains(u64),
    /// `with_state`: the label of the generation whose state it read.
    State(u64),
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

impl Rx {
    /// Its label in the spec's vocabulary.
    fn label(self) -> Label {
        match self {
            Rx::Initial(n) => n as Label,
            Rx::New { thread, op } => ((thread as Label + 1) << 32) | op as Label,
        }
    }
}

impl Op {
    /// This operation in the spec's vocabulary, as run by operation
    /// `index` of thread `thread` on channels of capacity `cap`.
    pub fn lower(self, thread: usize, index: usize, cap: usize) -> model::Op {
        use model::Op as M;
        let new_rx = Rx::New { thread, op: index }.label();
        let send = |id, m: u32, wait| M::Send {
            id,
            msg: m.into(),
            wait,
        };
        let handle = |h: usize, m: u32, wait| M::HandleSend {
            handle: h as Label,
            msg: m.into(),
            wait,
        };
        let recv = |rx: Rx, wait| M::Recv {
            rx: rx.label(),
            wait,
        };
        match self {
            Op::Set(id) => M::Set {
                id,
                cap,
                rx: new_rx,
            },
            Op::Register(id) => M::Register {
                id,
                cap,
                rx: new_rx,
            },
            Op::Delete(id) => M::Delete(id),
            Op::Contains(id) => M::Contains(id),
            Op::State(id) => M::State(id),
            Op::Ids => M::Ids,
            Op::TrySend(id, m) => send(id, m, Wait::No),
            Op::SendTimeout(id, m) => send(id, m, Wait::Timeout),
            Op::SendAsync(id, m) | Op::SendBlocking(id, m) => send(id, m, Wait::Forever),
            Op::SendAsyncOnce(id, m) => send(id, m, Wait::Once),
            Op::HandleSend(h, m) => handle(h, m, Wait::No),
            Op::HandleSendAsync(h, m) | Op::HandleSendBlocking(h, m) => handle(h, m, Wait::Forever),
            Op::TryRecv(rx) => recv(rx, Wait::No),
            Op::Recv(rx) | Op::RecvAsync(rx) => recv(rx, Wait::Forever),
            Op::RecvTimeout(rx) => recv(rx, Wait::Timeout),
            Op::RecvAsyncOnce(rx) => recv(rx, Wait::Once),
            Op::DropRx(rx) => M::DropRx(rx.label()),
        }
    }
}

impl Out {
    /// This result in the spec's vocabulary (the message a failed send
    /// handed back was checked on the spot).
    pub fn lower(self) -> model::Out {
        use model::Out as M;
        match self {
            Out::NewRx => M::Installed,
            Out::Replaced(old) => M::Replaced(old),
            Out::State(label) => M::State(label),
            Out::Occupied => M::Occupied,
            Out::Bool(b) => M::Bool(b),
            Out::Sent => M::Sent,
            Out::NoSuchId(_) => M::NoSuchId,
            Out::Full(_) => M::Full,
            Out::Closed(_) => M::Closed,
            Out::Timeout(_) => M::Timeout,
            Out::Msg(m) => M::Msg(m.into()),
            Out::Empty => M::Empty,
            Out::RxClosed => M::RxClosed,
            Out::RxTimeout => M::RxTimeout,
            Out::Dropped => M::Dropped,
            Out::Listed => M::Listed,
            Out::Cancelled => M::Cancelled,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    NewRx,
    /// `set_with` installed, replacing the generation of this label (or
    /// creating the id).
    Replaced(Option<Label>),
    /// `with_state` read the state of the generation of this label.
    State(Option<Label>),
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
    /// Ids deleted at the end of the set-up (after `initial` and
    /// `handles`). With `keep_deleted_keys`, each one's node stays in the
    /// point index with its slot deleted: the threads then start on the
    /// re-creation-in-place path (`src/registry.rs`, *Deleted ids' nodes*).
    pub deleted: Vec<u64>,
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
    /// The process's garbage limit for the execution
    /// (`channel_registry::set_garbage_limit`): `Some(0)` makes every
    /// `set`, `register` and `delete` that retired something wait for the
    /// epoch and release ready objects before it returns (the hold-back
    /// path); `None` keeps the default, which these scenarios never reach.
    pub garbage_limit: Option<usize>,
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

/// What one thread returns: its results with clock readings, and the
/// receivers it still holds.
type ThreadResult = (Vec<(Out, u64, u64)>, Vec<(Rx, Receiver<Msg, Tag>)>);

/// What every thread shares in one execution.
struct Shared {
    registry: Registry<u64, Msg, Tag>,
    /// States alive (`Tag`): zero once everything is torn down.
    states: std::sync::Arc<AtomicI64>,
    handles: Vec<Sender<Msg, Tag>>,
    receivers: Vec<Option<Receiver<Msg, Tag>>>,
    ledger: std::sync::Arc<Ledger>,
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
    /// The model's state after the scenario's set-up: the initial ids with
    /// their buffered messages, and the initial handles.
    pub fn start(&self) -> model::Model {
        use model::{Op as M, Out as O};
        let mut m = model::Model::new();
        for (n, (id, msgs)) in self.initial.iter().enumerate() {
            let rx = Rx::Initial(n).label();
            assert_eq!(
                m.step(M::Set {
                    id: *id,
                    cap: self.cap,
                    rx
                }),
                Some(O::Installed)
            );
            for msg in msgs {
                let send = M::Send {
                    id: *id,
                    msg: (*msg).into(),
                    wait: Wait::No,
                };
                assert_eq!(m.step(send), Some(O::Sent), "set-up send");
            }
        }
        for (h, id) in self.handles.iter().enumerate() {
            let sender = M::Sender {
                id: *id,
                handle: h as Label,
            };
            assert_eq!(m.step(sender), Some(O::Handle(true)), "set-up handle");
        }
        for id in &self.deleted {
            assert_eq!(m.step(M::Delete(*id)), Some(O::Bool(true)), "set-up delete");
        }
        m
    }

    /// One more than the largest message value of the scenario: the size
    /// of its ledger.
    fn message_values(&self) -> usize {
        let initial = self
            .initial
            .iter()
            .flat_map(|(_, msgs)| msgs.iter().copied());
        let sent = self.threads.iter().flatten().filter_map(|op| match *op {
            Op::TrySend(_, m)
            | Op::SendTimeout(_, m)
            | Op::SendAsync(_, m)
            | Op::SendBlocking(_, m)
            | Op::SendAsyncOnce(_, m)
            | Op::HandleSend(_, m)
            | Op::HandleSendAsync(_, m)
            | Op::HandleSendBlocking(_, m) => Some(m),
            _ => None,
        });
        initial.chain(sent).max().map_or(0, |m| m as usize + 1)
    }

    /// One execution. Threads are spawned in `order` (indices into
    /// `self.threads`); each keeps its own index for naming and results.
    pub fn run_once(&self, order: &[usize]) {
        if let Some(limit) = self.garbage_limit {
            channel_registry::set_garbage_limit(limit);
        }
        let ledger = Ledger::new(self.message_values());
        let registry = Registry::<u64, Msg, Tag>::new()
            .__keep_deleted_keys(self.keep_deleted_keys.then_some((0, 1 << 20)));
        // Set-up, on the main thread before any other thread exists.
        let states = std::sync::Arc::new(AtomicI64::new(0));
        let mut initial_rx = Vec::new();
        for (n, (id, msgs)) in self.initial.iter().enumerate() {
            let state = Tag::new(Rx::Initial(n).label(), &states);
            let rx = registry
                .set_with(*id, self.cap, state)
                .expect("valid capacity")
                .receiver;
            for m in msgs {
                assert!(
                    registry.try_send(id, Msg::new(*m, &ledger)).is_ok(),
                    "set-up send"
                );
            }
            initial_rx.push(Some(rx));
        }
        let handles: Vec<Sender<Msg, Tag>> = self
            .handles
            .iter()
            .map(|id| {
                let handle = registry.sender(id).expect("set-up handle");
                let n = self.initial.iter().position(|(i, _)| i == id);
                assert_eq!(
                    Some(handle.state().label),
                    n.map(|n| Rx::Initial(n).label()),
                    "a handle's state"
                );
                handle
            })
            .collect();
        for id in &self.deleted {
            assert!(registry.delete(id), "set-up delete");
        }

        // An initial receiver that a thread drops is moved into that thread;
        // the others are shared.
        let mut owned: Vec<HashMap<usize, Receiver<Msg, Tag>>> =
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
            states: states.clone(),
            handles,
            receivers: initial_rx,
            ledger: ledger.clone(),
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
        let mut drain = |name: Rx, rx: &Receiver<Msg, Tag>| loop {
            let out = match rx.try_recv() {
                Ok(m) => Out::Msg(m.val()),
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
                | Op::State(id)
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

        let records: Vec<(usize, usize, Op, Out, u64, u64)> = threads
            .iter()
            .zip(&outs)
            .enumerate()
            .flat_map(|(thread, (ops, outs))| {
                ops.iter()
                    .zip(outs)
                    .enumerate()
                    .map(move |(index, (op, &(out, inv, res)))| (thread, index, *op, out, inv, res))
            })
            .collect();
        let events: Vec<Event> = records
            .iter()
            .map(|&(thread, index, op, out, inv, res)| Event {
                thread,
                index,
                op: op.lower(thread, index, self.cap),
                out: out.lower(),
                inv,
                res,
            })
            .collect();
        let lowered_finals: Vec<(model::Op, model::Out)> = finals
            .iter()
            .map(|&(op, out)| (op.lower(0, 0, self.cap), out.lower()))
            .collect();
        if let Err(why) =
            linearize::linearizable(&self.start(), &events, rt::ORDER, &lowered_finals)
        {
            panic!(
                "scenario {}: not linearizable: {why}\nscenario: {self:?}\nhistory (thread, index, op, result, invoked, returned):\n{}final: {finals:?}",
                self.name,
                records
                    .iter()
                    .map(|(thread, index, op, out, inv, res)| format!(
                        "  {thread} {index} {op:?} -> {out:?} [{inv}, {res}]\n"
                    ))
                    .collect::<String>(),
            );
        }

        let ops_outs: Vec<(Op, Out)> = records.iter().map(|r| (r.2, r.3)).collect();
        count_outcomes(&ops_outs);

        // Tear down inside the execution so the checker sees every drop.
        drop(held);
        drop(shared);
        channel_registry::reclaim();
        ledger.assert_all_dropped_once(&format!(
            "scenario {} (after the registry and every receiver were dropped and reclaim() ran)",
            self.name
        ));
        // States are not all dropped yet: a retired generation is freed
        // through the epoch, and garbage sealed late in the execution is
        // freed when the execution's collector goes (its `Arc`s are loom's,
        // so loom fails the run on one leaked or released twice). What can
        // be checked here: none was dropped twice (`Tag`'s `Drop`).
        assert!(states.load(SeqCst) >= 0, "scenario {}", self.name);
    }
}

fn run_thread(
    t: usize,
    ops: &[Op],
    shared: &Shared,
    mut owned: HashMap<usize, Receiver<Msg, Tag>>,
) -> ThreadResult {
    let registry = &shared.registry;
    let msg = |m: u32| Msg::new(m, &shared.ledger);
    let last_install = ops.iter().rposition(Op::installs);
    if last_install.is_none() && shared.counts_installs {
        shared.installs_done.fetch_add(1, SeqCst);
    }
    let mut outs = Vec::new();
    let mut new_rx: Vec<(Rx, Receiver<Msg, Tag>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let inv = shared.clock.fetch_add(1, SeqCst);
        let out = {
            let receiver = |rx: &Rx| -> &Receiver<Msg, Tag> {
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
                    let name = Rx::New { thread: t, op: i };
                    let state = Tag::new(name.label(), &shared.states);
                    let created = registry
                        .set_with(id, shared.cap, state)
                        .expect("valid capacity");
                    assert_eq!(created.receiver.state().label, name.label());
                    let replaced = created.replaced.map(|old| {
                        assert!(old.is_closed(), "set_with returned an open generation");
                        old.state().label
                    });
                    new_rx.push((name, created.receiver));
                    Out::Replaced(replaced)
                }
                Op::Register(id) => {
                    let name = Rx::New { thread: t, op: i };
                    let state = Tag::new(name.label(), &shared.states);
                    match registry.register_with(id, shared.cap, state) {
                        Ok(rx) => {
                            new_rx.push((name, rx));
                            Out::NewRx
                        }
                        Err(refused) if refused.error == RegisterError::Occupied => {
                            assert_eq!(refused.state.label, name.label(), "state handed back");
                            Out::Occupied
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::State(id) => Out::State(registry.with_state(&id, |s| s.label)),
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
                    Ok(x) => Out::Msg(x.val()),
                    Err(TryRecvError::Empty) => Out::Empty,
                    Err(TryRecvError::Closed) => Out::RxClosed,
                },
                Op::Recv(rx) => match receiver(&rx).recv() {
                    Ok(x) => Out::Msg(x.val()),
                    Err(RecvError) => Out::RxClosed,
                },
                Op::RecvAsync(rx) => match rt::block_on(receiver(&rx).recv_async()) {
                    Ok(x) => Out::Msg(x.val()),
                    Err(RecvError) => Out::RxClosed,
                },
                Op::RecvAsyncOnce(rx) => match poll_once(receiver(&rx).recv_async()) {
                    Some(Ok(x)) => Out::Msg(x.val()),
                    Some(Err(RecvError)) => Out::RxClosed,
                    None => Out::Cancelled,
                },
                Op::SendAsyncOnce(id, m) => match poll_once(registry.send_async(&id, msg(m))) {
                    Some(r) => send_out(m, r),
                    None => Out::Cancelled,
                },
                Op::RecvTimeout(rx) => match receiver(&rx).recv_timeout(Duration::from_secs(1)) {
                    Ok(x) => Out::Msg(x.val()),
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
        back.val(),
        sent,
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
