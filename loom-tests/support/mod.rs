//! The loom suite's harness.
//!
//! A [`Scenario`] is an initial state (ids with a channel, messages already
//! buffered, sender handles taken) and one list of operations per thread.
//! [`Scenario::check`] runs it inside `loom::model` on the real registry,
//! records every result, then, still inside the model, drains every receiver
//! and asks `contains` for every id, and checks the whole history against a
//! sequential model of the contract:
//!
//! * **linearizable**: some interleaving of the threads' operations, each
//!   thread's in program order, gives exactly the recorded results when
//!   replayed on the model, and the final drains and `contains` agree with the
//!   model state after it (so nothing was lost, duplicated, reordered, or left
//!   open);
//! * **prompt close / no lost wake-up**: a blocking or async receive or send
//!   that never wakes makes loom report a deadlock;
//! * **reclamation**: messages are `loom::sync::Arc<u32>` and channels live in
//!   loom `Arc`s; after the registry is dropped and `reclaim()` flushed the
//!   epoch, loom fails the run on any `Arc` leaked (never dropped) or dropped
//!   twice.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use channel_registry::{
    RecvError, RecvTimeoutError, RegisterError, Registry, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};
use loom::sync::Arc;
use loom::thread;

/// A message: loom tracks every `Arc` it allocates, so a message that is
/// never dropped, or dropped twice, fails the run.
pub type Msg = Arc<u32>;

/// A receiver, named by where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rx {
    /// The receiver of the `n`th initial id.
    Initial(usize),
    /// The receiver returned by operation `op` of thread `thread`.
    New { thread: usize, op: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Set(u64),
    Register(u64),
    Delete(u64),
    Contains(u64),
    TrySend(u64, u32),
    /// Under loom a deadline has always passed when the first attempt finds
    /// the channel full: this explores the time-out path.
    SendTimeout(u64, u32),
    SendAsync(u64, u32),
    /// A send through the `n`th initial handle.
    HandleSend(usize, u32),
    TryRecv(Rx),
    Recv(Rx),
    RecvAsync(Rx),
    /// Blocking receive with a timeout (under loom: one attempt, then time-out).
    RecvTimeout(Rx),
    DropRx(Rx),
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
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    /// Capacity of every channel.
    pub cap: usize,
    /// Ids with a channel at the start, and the messages already buffered.
    pub initial: Vec<(u64, Vec<u32>)>,
    /// Sender handles taken at the start, by id.
    pub handles: Vec<u64>,
    pub threads: Vec<Vec<Op>>,
}

/// How a model run is bounded.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// No preemption bound: every interleaving.
    Exhaustive,
    /// `LOOM_MAX_PREEMPTIONS` if set, else this.
    Preemptions(usize),
}

impl Scenario {
    /// Runs the scenario under loom and checks it (module docs).
    pub fn check(self, bound: Bound) {
        let mut builder = loom::model::Builder::new();
        match bound {
            // `just loom-deep` bounds the pairs too (epoch modelled: the
            // unbounded pairs do not finish); the default run leaves them
            // unbounded.
            Bound::Exhaustive => {
                builder.preemption_bound = std::env::var("LOOM_PAIRS_BOUND")
                    .ok()
                    .and_then(|b| b.parse().ok())
            }
            Bound::Preemptions(n) => {
                if builder.preemption_bound.is_none() {
                    builder.preemption_bound = Some(n);
                }
            }
        }
        // loom 0.7's DPOR remembers only the last access to each atomic, so
        // a thread's own load of a location hides an earlier load of it by
        // another thread: when that thread later stores, the race with the
        // earlier load is not seen and the reversed order is never explored
        // (tokio-rs/loom#392, #166; `loom-tests/limits.rs` is a three-line
        // reproducer). Loom's first schedule runs the spawned threads one
        // after the other in spawn order, so every scenario is also run with
        // each other thread spawned first: the order that the first run
        // can miss is then the first schedule of another run. Threads whose
        // operations are identical need only one order.
        let n = self.threads.len();
        let symmetric = n > 1 && self.threads.iter().all(|t| same_ops(t, &self.threads[0]));
        // `LOOM_SPAWN_ORDERS=first` keeps only the written order (the
        // negative controls use it: a bug caught there is caught here).
        let first_only = std::env::var("LOOM_SPAWN_ORDERS").is_ok_and(|v| v == "first");
        let rotations = if symmetric || first_only { 1 } else { n.max(1) };
        for first in 0..rotations {
            let order: Vec<usize> = (first..n).chain(0..first).collect();
            let started = std::time::Instant::now();
            let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = runs.clone();
            let scenario = self.clone();
            let spawn_order = order.clone();
            builder.check(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                scenario.run_once(&spawn_order);
            });
            // One line per scenario and order, for the closing report
            // (`--nocapture`).
            println!(
                "loom scenario={} spawn_order={:?} bound={} interleavings={} secs={:.2}",
                self.name,
                order,
                builder
                    .preemption_bound
                    .map_or_else(|| "none".to_string(), |b| b.to_string()),
                runs.load(std::sync::atomic::Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// One execution. Threads are spawned in `order` (indices into
    /// `self.threads`); each keeps its own index for naming and results.
    fn run_once(&self, order: &[usize]) {
        let registry = Arc::new(Registry::<u64, Msg>::new());
        // Set-up, on the main thread before any other thread exists.
        let mut initial_rx = Vec::new();
        for (id, msgs) in &self.initial {
            let rx = registry.set(*id, self.cap).expect("valid capacity");
            for m in msgs {
                assert!(registry.try_send(id, Arc::new(*m)).is_ok(), "set-up send");
            }
            initial_rx.push(Some(rx));
        }
        let handles: Vec<Sender<Msg>> = self
            .handles
            .iter()
            .map(|id| registry.sender(id).expect("set-up handle"))
            .collect();
        let handles = Arc::new(handles);

        // Receivers a thread drops are moved into it; receivers threads only
        // receive on are shared.
        let mut owned: Vec<HashMap<usize, channel_registry::Receiver<Msg>>> =
            (0..self.threads.len()).map(|_| HashMap::new()).collect();
        for (t, ops) in self.threads.iter().enumerate() {
            for op in ops {
                if let Op::DropRx(Rx::Initial(n)) = op {
                    let rx = initial_rx[*n].take().expect("a receiver is dropped once");
                    owned[t].insert(*n, rx);
                }
            }
        }
        let shared: Arc<Vec<Option<channel_registry::Receiver<Msg>>>> = Arc::new(initial_rx);

        let mut owned: Vec<Option<_>> = owned.into_iter().map(Some).collect();
        let mut joins: Vec<Option<_>> = (0..self.threads.len()).map(|_| None).collect();
        for &t in order {
            let ops = self.threads[t].clone();
            let owned = owned[t].take().expect("each thread is spawned once");
            let (registry, handles, shared) = (registry.clone(), handles.clone(), shared.clone());
            let cap = self.cap;
            joins[t] = Some(thread::spawn(move || {
                run_thread(t, cap, &ops, &registry, &handles, &shared, owned)
            }));
        }
        let mut outs = Vec::new();
        let mut new_rx = Vec::new();
        for join in joins {
            let join = join.expect("order names every thread");
            let (o, rx) = join.join().expect("thread panicked");
            outs.push(o);
            new_rx.extend(rx);
        }

        // Final observations: drain every receiver still alive, then ask
        // `contains` for every id.
        let mut finals = Vec::new();
        let mut drain = |name: Rx, rx: &channel_registry::Receiver<Msg>| loop {
            let out = match rx.try_recv() {
                Ok(m) => Out::Msg(*m),
                Err(TryRecvError::Empty) => Out::Empty,
                Err(TryRecvError::Closed) => Out::RxClosed,
            };
            finals.push((Op::TryRecv(name), out));
            if !matches!(out, Out::Msg(_)) {
                break;
            }
        };
        for (n, rx) in shared.iter().enumerate() {
            if let Some(rx) = rx {
                drain(Rx::Initial(n), rx);
            }
        }
        for (name, rx) in &new_rx {
            drain(*name, rx);
        }
        let mut ids: Vec<u64> = self.initial.iter().map(|(id, _)| *id).collect();
        for ops in &self.threads {
            for op in ops {
                if let Op::Set(id) | Op::Register(id) | Op::Delete(id) | Op::TrySend(id, _) = op {
                    ids.push(*id);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            finals.push((Op::Contains(id), Out::Bool(registry.contains(&id))));
        }

        if let Err(why) = linearizable(self, &outs, &finals) {
            panic!(
                "scenario {}: not linearizable: {why}\nthreads: {:?}\nresults: {:?}\nfinal: {:?}",
                self.name, self.threads, outs, finals
            );
        }

        // Tear down inside the model so loom sees every drop.
        drop(new_rx);
        drop(shared);
        drop(handles);
        drop(registry);
        channel_registry::reclaim();
    }
}

/// Whether two threads run the same operations, up to message values.
fn same_ops(a: &[Op], b: &[Op]) -> bool {
    fn shape(op: &Op) -> Op {
        match *op {
            Op::TrySend(id, _) => Op::TrySend(id, 0),
            Op::SendTimeout(id, _) => Op::SendTimeout(id, 0),
            Op::SendAsync(id, _) => Op::SendAsync(id, 0),
            Op::HandleSend(h, _) => Op::HandleSend(h, 0),
            other => other,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| shape(x) == shape(y))
}

type NewRx = Vec<(Rx, channel_registry::Receiver<Msg>)>;

fn run_thread(
    t: usize,
    cap: usize,
    ops: &[Op],
    registry: &Registry<u64, Msg>,
    handles: &[Sender<Msg>],
    shared: &[Option<channel_registry::Receiver<Msg>>],
    mut owned: HashMap<usize, channel_registry::Receiver<Msg>>,
) -> (Vec<Out>, NewRx) {
    let mut outs = Vec::new();
    let mut new_rx: NewRx = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let receiver = |rx: &Rx| -> &channel_registry::Receiver<Msg> {
            match rx {
                Rx::Initial(n) => shared[*n].as_ref().expect("shared receiver"),
                Rx::New { .. } => panic!("threads receive on initial receivers only"),
            }
        };
        let out = match *op {
            Op::Set(id) => {
                let rx = registry.set(id, cap).expect("valid capacity");
                new_rx.push((Rx::New { thread: t, op: i }, rx));
                Out::NewRx
            }
            Op::Register(id) => match registry.register(id, cap) {
                Ok(rx) => {
                    new_rx.push((Rx::New { thread: t, op: i }, rx));
                    Out::NewRx
                }
                Err(RegisterError::Occupied) => Out::Occupied,
                Err(e) => panic!("{e}"),
            },
            Op::Delete(id) => Out::Bool(registry.delete(&id)),
            Op::Contains(id) => Out::Bool(registry.contains(&id)),
            Op::TrySend(id, m) => send_out(m, registry.try_send(&id, Arc::new(m))),
            Op::SendTimeout(id, m) => {
                match registry.send_timeout(&id, Arc::new(m), std::time::Duration::from_secs(1)) {
                    Ok(()) => Out::Sent,
                    Err(SendTimeoutError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
                    Err(SendTimeoutError::Timeout(x)) => returned(m, x, Out::Timeout(m)),
                    Err(SendTimeoutError::Closed(x)) => returned(m, x, Out::Closed(m)),
                }
            }
            Op::SendAsync(id, m) => {
                match loom::future::block_on(registry.send_async(&id, Arc::new(m))) {
                    Ok(()) => Out::Sent,
                    Err(SendError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
                    Err(SendError::Closed(x)) => returned(m, x, Out::Closed(m)),
                }
            }
            Op::HandleSend(h, m) => send_out(m, handles[h].try_send(Arc::new(m))),
            Op::TryRecv(rx) => match receiver(&rx).try_recv() {
                Ok(x) => Out::Msg(*x),
                Err(TryRecvError::Empty) => Out::Empty,
                Err(TryRecvError::Closed) => Out::RxClosed,
            },
            Op::Recv(rx) => match receiver(&rx).recv() {
                Ok(x) => Out::Msg(*x),
                Err(RecvError) => Out::RxClosed,
            },
            Op::RecvAsync(rx) => match loom::future::block_on(receiver(&rx).recv_async()) {
                Ok(x) => Out::Msg(*x),
                Err(RecvError) => Out::RxClosed,
            },
            Op::RecvTimeout(rx) => {
                match receiver(&rx).recv_timeout(std::time::Duration::from_secs(1)) {
                    Ok(x) => Out::Msg(*x),
                    Err(RecvTimeoutError::Timeout) => Out::RxTimeout,
                    Err(RecvTimeoutError::Closed) => Out::RxClosed,
                }
            }
            Op::DropRx(Rx::Initial(n)) => {
                drop(owned.remove(&n).expect("owned receiver"));
                Out::Dropped
            }
            Op::DropRx(Rx::New { .. }) => panic!("threads drop initial receivers only"),
        };
        outs.push(out);
    }
    (outs, new_rx)
}

fn returned(sent: u32, back: Msg, out: Out) -> Out {
    assert_eq!(*back, sent, "a failed send must hand back its own message");
    out
}

fn send_out(m: u32, r: Result<(), TrySendError<Msg>>) -> Out {
    match r {
        Ok(()) => Out::Sent,
        Err(TrySendError::NoSuchId(x)) => returned(m, x, Out::NoSuchId(m)),
        Err(TrySendError::Full(x)) => returned(m, x, Out::Full(m)),
        Err(TrySendError::Closed(x)) => returned(m, x, Out::Closed(m)),
    }
}

// ---- the sequential model ---------------------------------------------------

#[derive(Clone, Debug)]
struct Gen {
    queue: VecDeque<u32>,
    closed: bool,
}

#[derive(Clone, Debug)]
struct Model {
    cap: usize,
    ids: BTreeMap<u64, usize>,
    gens: Vec<Gen>,
    rx: HashMap<Rx, usize>,
    handles: Vec<usize>,
}

impl Model {
    fn new(s: &Scenario) -> Self {
        let mut m = Model {
            cap: s.cap,
            ids: BTreeMap::new(),
            gens: Vec::new(),
            rx: HashMap::new(),
            handles: Vec::new(),
        };
        for (n, (id, msgs)) in s.initial.iter().enumerate() {
            let g = m.new_gen(*id);
            m.gens[g].queue.extend(msgs);
            m.rx.insert(Rx::Initial(n), g);
        }
        for id in &s.handles {
            m.handles.push(m.ids[id]);
        }
        m
    }

    fn new_gen(&mut self, id: u64) -> usize {
        let g = self.gens.len();
        self.gens.push(Gen {
            queue: VecDeque::new(),
            closed: false,
        });
        if let Some(old) = self.ids.insert(id, g) {
            self.gens[old].closed = true;
        }
        g
    }

    fn push(&mut self, g: usize, m: u32, full: Out) -> Option<Out> {
        let generation = &mut self.gens[g];
        Some(if generation.closed {
            Out::Closed(m)
        } else if generation.queue.len() >= self.cap {
            full
        } else {
            generation.queue.push_back(m);
            Out::Sent
        })
    }

    /// The result of `op`, or `None` if it would block here.
    fn step(&mut self, name: Rx, op: Op) -> Option<Out> {
        match op {
            Op::Set(id) => {
                let g = self.new_gen(id);
                self.rx.insert(name, g);
                Some(Out::NewRx)
            }
            Op::Register(id) => {
                if self.ids.contains_key(&id) {
                    Some(Out::Occupied)
                } else {
                    let g = self.new_gen(id);
                    self.rx.insert(name, g);
                    Some(Out::NewRx)
                }
            }
            Op::Delete(id) => Some(Out::Bool(match self.ids.remove(&id) {
                Some(g) => {
                    self.gens[g].closed = true;
                    true
                }
                None => false,
            })),
            Op::Contains(id) => Some(Out::Bool(self.ids.contains_key(&id))),
            Op::TrySend(id, m) => match self.ids.get(&id) {
                None => Some(Out::NoSuchId(m)),
                Some(&g) => self.push(g, m, Out::Full(m)),
            },
            Op::SendTimeout(id, m) => match self.ids.get(&id) {
                None => Some(Out::NoSuchId(m)),
                Some(&g) => self.push(g, m, Out::Timeout(m)),
            },
            Op::SendAsync(id, m) => match self.ids.get(&id) {
                None => Some(Out::NoSuchId(m)),
                Some(&g) => match self.push(g, m, Out::Full(m)) {
                    Some(Out::Full(_)) => None,
                    out => out,
                },
            },
            Op::HandleSend(h, m) => self.push(self.handles[h], m, Out::Full(m)),
            Op::TryRecv(rx) | Op::Recv(rx) | Op::RecvAsync(rx) | Op::RecvTimeout(rx) => {
                let generation = &mut self.gens[self.rx[&rx]];
                match generation.queue.pop_front() {
                    Some(m) => Some(Out::Msg(m)),
                    None if generation.closed => Some(Out::RxClosed),
                    None => match op {
                        Op::TryRecv(_) => Some(Out::Empty),
                        Op::RecvTimeout(_) => Some(Out::RxTimeout),
                        _ => None,
                    },
                }
            }
            Op::DropRx(rx) => {
                let generation = &mut self.gens[self.rx[&rx]];
                generation.closed = true;
                generation.queue.clear();
                Some(Out::Dropped)
            }
        }
    }
}

/// Searches for an interleaving that explains `outs` and then `finals`.
fn linearizable(s: &Scenario, outs: &[Vec<Out>], finals: &[(Op, Out)]) -> Result<(), String> {
    fn search(
        s: &Scenario,
        model: &Model,
        pos: &mut Vec<usize>,
        outs: &[Vec<Out>],
        finals: &[(Op, Out)],
    ) -> bool {
        if pos.iter().zip(&s.threads).all(|(p, ops)| *p == ops.len()) {
            let mut m = model.clone();
            return finals
                .iter()
                .all(|(op, out)| m.step(Rx::Initial(usize::MAX), *op) == Some(*out));
        }
        for t in 0..s.threads.len() {
            let i = pos[t];
            if i == s.threads[t].len() {
                continue;
            }
            let mut m = model.clone();
            if m.step(Rx::New { thread: t, op: i }, s.threads[t][i]) == Some(outs[t][i]) {
                pos[t] += 1;
                let ok = search(s, &m, pos, outs, finals);
                pos[t] -= 1;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let model = Model::new(s);
    let mut pos = vec![0; s.threads.len()];
    if search(s, &model, &mut pos, outs, finals) {
        Ok(())
    } else {
        Err("no sequential order of the operations gives these results".into())
    }
}
