// The sequential model of the registry and the harness that checks the real
// registry against it, one operation at a time. Shared, with `include!`, by
// `tests/model.rs` (proptest draws the operations) and by the fuzz target in
// `fuzz/` (libFuzzer's bytes decode into the operations). Entry point: `run`.
//
// The model maps each id to its current *generation* (the channel created by
// one successful `set`/`register`). Every generation ever created is kept in
// a `Vec` (indexed like the `Receiver`s the test holds), so the receiver of a
// replaced or deleted generation can still drain what was accepted into it.
//
// Messages carry a unique `u32` and record their own drop in a shared set of
// live messages: after every step the set of messages that exist must be
// exactly the union of the model's queues (nothing lost, nothing duplicated,
// buffered messages dropped with their receiver, every handed-back message
// is the one that was sent).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use channel_registry::{
    CapacityError, MAX_BUFFER_BYTES, MAX_CAPACITY, Receiver, RecvError, RecvTimeoutError,
    RegisterError, Registry, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use futures_core::Stream;

// ---------------------------------------------------------------------------
// Messages that know whether they are alive.

#[derive(Default)]
struct Liveness {
    alive: BTreeSet<u32>,
    /// Values dropped while not alive (double drops); must stay empty.
    double_drops: Vec<u32>,
}

type Live = Arc<Mutex<Liveness>>;

struct Msg {
    val: u32,
    live: Live,
}

impl Msg {
    fn new(val: u32, live: &Live) -> Msg {
        assert!(live.lock().unwrap().alive.insert(val));
        Msg {
            val,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // No panic here: a drop may run inside the library.
        let mut l = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if !l.alive.remove(&self.val) {
            l.double_drops.push(self.val);
        }
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Msg({})", self.val)
    }
}

// The capacities generated below are far from the byte limit for `Msg`, so
// validity is exactly `1..=MAX_CAPACITY`.
const _: () = assert!(MAX_CAPACITY * 64 <= MAX_BUFFER_BYTES);
const _: () = assert!(std::mem::size_of::<Msg>() <= 48);

fn cap_valid(cap: usize) -> bool {
    (1..=MAX_CAPACITY).contains(&cap)
}

// ---------------------------------------------------------------------------
// Operations.

/// Picks one of the receivers or handles held at the time (modulo their
/// number), so indices stay meaningful while the history shrinks.
#[derive(Clone, Copy, Debug)]
struct Index(usize);

impl Index {
    fn index(&self, len: usize) -> usize {
        self.0 % len
    }
}

#[derive(Clone, Copy, Debug)]
enum Range {
    HalfOpen(u64, u64),
    Inclusive(u64, u64),
    From(u64),
    To(u64),
    ToInclusive(u64),
    /// `(Excluded(a), Included(b))`
    ExclIncl(u64, u64),
    Full,
}

#[derive(Clone, Debug)]
enum Op {
    Set(u64, usize),
    Register(u64, usize),
    Delete(u64),
    /// `try_send` of that many messages in a row (bursts fill bigger buffers).
    TrySend(u64, u8),
    SendTimeout(u64),
    GetSender(u64),
    HandleTrySend(Index, u8),
    HandleSendTimeout(Index),
    HandleInspect(Index, Index),
    DropHandle(Index),
    TryRecv(Index),
    RecvTimeout(Index),
    /// Blocking `recv`, issued only when the model says it cannot block.
    Recv(Index),
    /// One poll with a no-op waker: `Stream::poll_next` (true) or `recv_async` (false).
    PollRecv(Index, bool),
    DropReceiver(Index),
    InspectReceiver(Index),
    Contains(u64),
    Len,
    Ids,
    IdsIn(Range),
}

const IDS: u64 = 4;

// ---------------------------------------------------------------------------
// The model.

#[derive(Debug)]
struct ModelChan {
    id: u64,
    cap: usize,
    queue: VecDeque<u32>,
    /// Retired (replaced/deleted), receiver dropped, or registry dropped.
    closed: bool,
    receiver_dropped: bool,
}

impl ModelChan {
    fn full(&self) -> bool {
        self.queue.len() >= self.cap
    }
}

#[derive(Debug, Default)]
struct Model {
    /// id -> index of its current generation in `gens`.
    map: BTreeMap<u64, usize>,
    gens: Vec<ModelChan>,
}

impl Model {
    fn current(&self, id: u64) -> Option<usize> {
        self.map.get(&id).copied()
    }

    /// A new generation under `id`, replacing (closing) the current one.
    fn install(&mut self, id: u64, cap: usize) -> usize {
        let g = self.gens.len();
        self.gens.push(ModelChan {
            id,
            cap,
            queue: VecDeque::new(),
            closed: false,
            receiver_dropped: false,
        });
        if let Some(old) = self.map.insert(id, g) {
            self.gens[old].closed = true;
        }
        g
    }

    fn delete(&mut self, id: u64) -> bool {
        match self.map.remove(&id) {
            Some(g) => {
                self.gens[g].closed = true;
                true
            }
            None => false,
        }
    }

    fn all_queued(&self) -> BTreeSet<u32> {
        self.gens
            .iter()
            .flat_map(|g| g.queue.iter().copied())
            .collect()
    }
}

/// What a send did, with the message it handed back (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    NoSuchId,
    Full,
    Timeout,
    Closed,
}

fn try_outcome(r: Result<(), TrySendError<Msg>>) -> (Outcome, Option<Msg>) {
    match r {
        Ok(()) => (Outcome::Ok, None),
        Err(TrySendError::NoSuchId(m)) => (Outcome::NoSuchId, Some(m)),
        Err(TrySendError::Full(m)) => (Outcome::Full, Some(m)),
        Err(TrySendError::Closed(m)) => (Outcome::Closed, Some(m)),
    }
}

fn timeout_outcome(r: Result<(), SendTimeoutError<Msg>>) -> (Outcome, Option<Msg>) {
    match r {
        Ok(()) => (Outcome::Ok, None),
        Err(SendTimeoutError::NoSuchId(m)) => (Outcome::NoSuchId, Some(m)),
        Err(SendTimeoutError::Timeout(m)) => (Outcome::Timeout, Some(m)),
        Err(SendTimeoutError::Closed(m)) => (Outcome::Closed, Some(m)),
    }
}

/// What the model expects from a send into generation `g` (`None`: the id is
/// not registered). `full` is the outcome for a full buffer.
fn expect_send(model: &Model, g: Option<usize>, full: Outcome) -> Outcome {
    match g {
        None => Outcome::NoSuchId,
        Some(g) => {
            let c = &model.gens[g];
            if c.closed {
                Outcome::Closed
            } else if c.full() {
                full
            } else {
                Outcome::Ok
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The system under test and the runner.

struct Harness {
    model: Model,
    registry: Option<Registry<u64, Msg>>,
    /// Indexed by generation; `None` once the test dropped it.
    receivers: Vec<Option<Receiver<Msg>>>,
    /// Sender handles with the generation they are bound to.
    handles: Vec<(usize, Sender<Msg>)>,
    live: Live,
    next_msg: u32,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            model: Model::default(),
            registry: Some(Registry::new()),
            receivers: Vec::new(),
            handles: Vec::new(),
            live: Live::default(),
            next_msg: 0,
        }
    }

    fn reg(&self) -> &Registry<u64, Msg> {
        self.registry.as_ref().unwrap()
    }

    fn msg(&mut self) -> (u32, Msg) {
        let v = self.next_msg;
        self.next_msg += 1;
        (v, Msg::new(v, &self.live))
    }

    /// Checks a send's result against the model and updates the model.
    fn settle_send(
        &mut self,
        what: &str,
        g: Option<usize>,
        v: u32,
        expected: Outcome,
        got: (Outcome, Option<Msg>),
    ) {
        let (outcome, back) = got;
        assert_eq!(
            outcome, expected,
            "{what}: message {v} into generation {g:?}"
        );
        match (outcome, back) {
            (Outcome::Ok, None) => self.model.gens[g.unwrap()].queue.push_back(v),
            (_, Some(m)) => assert_eq!(m.val, v, "{what}: handed back another message"),
            (o, None) => panic!("{what}: {o:?} without a message"),
        }
    }

    /// The generation of the `ix`-th receiver still held, if any.
    fn pick_receiver(&self, ix: &Index) -> Option<usize> {
        let held: Vec<usize> = (0..self.receivers.len())
            .filter(|&g| self.receivers[g].is_some())
            .collect();
        (!held.is_empty()).then(|| held[ix.index(held.len())])
    }

    fn pick_handle(&self, ix: &Index) -> Option<usize> {
        (!self.handles.is_empty()).then(|| ix.index(self.handles.len()))
    }

    fn check_new_receiver(&self, g: usize, rx: &Receiver<Msg>) {
        let c = &self.model.gens[g];
        assert_eq!(rx.capacity(), c.cap);
        assert_eq!(rx.len(), 0);
        assert!(rx.is_empty());
        assert!(!rx.is_closed());
    }

    fn check_registry(&self) {
        let reg = self.reg();
        let keys: Vec<u64> = self.model.map.keys().copied().collect();
        assert_eq!(reg.len(), keys.len(), "len");
        assert_eq!(reg.is_empty(), keys.is_empty(), "is_empty");
        assert_eq!(reg.ids().collect::<Vec<_>>(), keys, "ids");
        for id in 0..IDS + 1 {
            assert_eq!(
                reg.contains(&id),
                self.model.map.contains_key(&id),
                "contains({id})"
            );
        }
    }

    fn check_receiver(&self, g: usize) {
        let rx = self.receivers[g].as_ref().unwrap();
        let c = &self.model.gens[g];
        assert_eq!(rx.len(), c.queue.len(), "receiver {g} len");
        assert_eq!(rx.is_empty(), c.queue.is_empty(), "receiver {g} is_empty");
        assert_eq!(rx.capacity(), c.cap, "receiver {g} capacity");
        assert_eq!(rx.is_closed(), c.closed, "receiver {g} is_closed");
    }

    fn check_handle(&self, k: usize) {
        let (g, h) = &self.handles[k];
        let c = &self.model.gens[*g];
        assert_eq!(h.len(), c.queue.len(), "handle {k} len");
        assert_eq!(h.is_empty(), c.queue.is_empty(), "handle {k} is_empty");
        assert_eq!(h.capacity(), c.cap, "handle {k} capacity");
        assert_eq!(h.is_closed(), c.closed, "handle {k} is_closed");
    }

    /// The messages that exist are exactly the ones the model has queued.
    fn check_live(&self) {
        let l = self.live.lock().unwrap();
        assert!(
            l.double_drops.is_empty(),
            "dropped twice: {:?}",
            l.double_drops
        );
        assert_eq!(
            l.alive,
            self.model.all_queued(),
            "live messages vs model queues"
        );
    }

    /// Expected result of a receive on generation `g`, popping the model.
    fn expect_recv(&mut self, g: usize) -> Result<u32, TryRecvError> {
        let c = &mut self.model.gens[g];
        match c.queue.pop_front() {
            Some(v) => Ok(v),
            None if c.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Set(id, cap) => {
                let r = self.reg().set(id, cap);
                if cap_valid(cap) {
                    let rx = r.unwrap_or_else(|e| panic!("set({id}, {cap}): {e:?}"));
                    let g = self.model.install(id, cap);
                    self.check_new_receiver(g, &rx);
                    self.receivers.push(Some(rx));
                } else {
                    let e: CapacityError = r.expect_err("set with an invalid capacity");
                    assert_eq!(e.requested(), cap);
                    self.check_registry();
                }
            }
            Op::Register(id, cap) => {
                let r = self.reg().register(id, cap);
                let present = self.model.map.contains_key(&id);
                match (present, cap_valid(cap), r) {
                    (false, true, Ok(rx)) => {
                        let g = self.model.install(id, cap);
                        self.check_new_receiver(g, &rx);
                        self.receivers.push(Some(rx));
                    }
                    (true, true, Err(RegisterError::Occupied)) => self.check_registry(),
                    (false, false, Err(RegisterError::Capacity(e))) => {
                        assert_eq!(e.requested(), cap);
                        self.check_registry();
                    }
                    // Both reasons apply: the contract does not say which is
                    // reported, only that nothing changes.
                    (true, false, Err(RegisterError::Occupied)) => self.check_registry(),
                    (true, false, Err(RegisterError::Capacity(e))) => {
                        assert_eq!(e.requested(), cap);
                        self.check_registry();
                    }
                    (p, v, r) => {
                        panic!("register({id}, {cap}) present={p} valid_cap={v}: got {r:?}")
                    }
                }
            }
            Op::Delete(id) => {
                let got = self.reg().delete(&id);
                assert_eq!(got, self.model.delete(id), "delete({id})");
            }
            Op::TrySend(id, burst) => {
                for _ in 0..burst {
                    let (v, m) = self.msg();
                    let g = self.model.current(id);
                    let expected = expect_send(&self.model, g, Outcome::Full);
                    let got = try_outcome(self.reg().try_send(&id, m));
                    self.settle_send("try_send", g, v, expected, got);
                }
            }
            Op::SendTimeout(id) => {
                let (v, m) = self.msg();
                let g = self.model.current(id);
                let expected = expect_send(&self.model, g, Outcome::Timeout);
                let got = timeout_outcome(self.reg().send_timeout(&id, m, Duration::ZERO));
                self.settle_send("send_timeout", g, v, expected, got);
            }
            Op::GetSender(id) => {
                let h = self.reg().sender(&id);
                match (self.model.current(id), h) {
                    (None, None) => {}
                    (Some(g), Some(h)) => {
                        if let Some((_, other)) = self.handles.iter().find(|(hg, _)| *hg == g) {
                            assert!(h.same_channel(other));
                        }
                        self.handles.push((g, h));
                        self.check_handle(self.handles.len() - 1);
                    }
                    (g, h) => panic!("sender({id}): model generation {g:?}, got {h:?}"),
                }
            }
            Op::HandleTrySend(ref ix, burst) => {
                let Some(k) = self.pick_handle(ix) else {
                    return;
                };
                let g = self.handles[k].0;
                for _ in 0..burst {
                    let (v, m) = self.msg();
                    let expected = expect_send(&self.model, Some(g), Outcome::Full);
                    let got = try_outcome(self.handles[k].1.try_send(m));
                    self.settle_send("handle try_send", Some(g), v, expected, got);
                }
            }
            Op::HandleSendTimeout(ref ix) => {
                let Some(k) = self.pick_handle(ix) else {
                    return;
                };
                let g = self.handles[k].0;
                let (v, m) = self.msg();
                let expected = expect_send(&self.model, Some(g), Outcome::Timeout);
                let got = timeout_outcome(self.handles[k].1.send_timeout(m, Duration::ZERO));
                self.settle_send("handle send_timeout", Some(g), v, expected, got);
            }
            Op::HandleInspect(ref a, ref b) => {
                let (Some(a), Some(b)) = (self.pick_handle(a), self.pick_handle(b)) else {
                    return;
                };
                self.check_handle(a);
                self.check_handle(b);
                let (ga, ha) = &self.handles[a];
                let (gb, hb) = &self.handles[b];
                assert_eq!(ha.same_channel(hb), ga == gb, "same_channel");
                let clone = ha.clone();
                assert!(clone.same_channel(ha));
            }
            Op::DropHandle(ref ix) => {
                let Some(k) = self.pick_handle(ix) else {
                    return;
                };
                self.handles.swap_remove(k);
            }
            Op::TryRecv(ref ix) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                let got = self.receivers[g]
                    .as_ref()
                    .unwrap()
                    .try_recv()
                    .map(|m| m.val);
                assert_eq!(got, self.expect_recv(g), "try_recv on generation {g}");
            }
            Op::RecvTimeout(ref ix) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                let got = self.receivers[g]
                    .as_ref()
                    .unwrap()
                    .recv_timeout(Duration::ZERO)
                    .map(|m| m.val);
                let expected = self.expect_recv(g).map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Closed => RecvTimeoutError::Closed,
                });
                assert_eq!(got, expected, "recv_timeout(0) on generation {g}");
            }
            Op::Recv(ref ix) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                let c = &self.model.gens[g];
                if c.queue.is_empty() && !c.closed {
                    return; // would block forever
                }
                let got = self.receivers[g].as_ref().unwrap().recv().map(|m| m.val);
                let expected = self.expect_recv(g).map_err(|_| RecvError);
                assert_eq!(got, expected, "recv on generation {g}");
            }
            Op::PollRecv(ref ix, stream) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                let mut cx = Context::from_waker(Waker::noop());
                let rx = self.receivers[g].as_mut().unwrap();
                let got: Poll<Result<u32, ()>> = if stream {
                    match Pin::new(rx).poll_next(&mut cx) {
                        Poll::Ready(Some(m)) => Poll::Ready(Ok(m.val)),
                        Poll::Ready(None) => Poll::Ready(Err(())),
                        Poll::Pending => Poll::Pending,
                    }
                } else {
                    let mut fut = rx.recv_async();
                    let p = Pin::new(&mut fut).poll(&mut cx);
                    p.map(|r| r.map(|m| m.val).map_err(|RecvError| ()))
                };
                let expected = match self.expect_recv(g) {
                    Ok(v) => Poll::Ready(Ok(v)),
                    Err(TryRecvError::Closed) => Poll::Ready(Err(())),
                    Err(TryRecvError::Empty) => Poll::Pending,
                };
                assert_eq!(got, expected, "poll (stream: {stream}) on generation {g}");
            }
            Op::DropReceiver(ref ix) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                drop(self.receivers[g].take());
                let c = &mut self.model.gens[g];
                c.receiver_dropped = true;
                c.closed = true;
                c.queue.clear();
                // The id stays registered if this was its current generation.
                let id = c.id;
                let current = self.model.current(id) == Some(g);
                assert!(
                    !current || self.reg().contains(&id),
                    "id {id} deregistered by a receiver drop"
                );
            }
            Op::InspectReceiver(ref ix) => {
                let Some(g) = self.pick_receiver(ix) else {
                    return;
                };
                self.check_receiver(g);
            }
            Op::Contains(id) => {
                assert_eq!(
                    self.reg().contains(&id),
                    self.model.map.contains_key(&id),
                    "contains({id})"
                );
            }
            Op::Len => {
                assert_eq!(self.reg().len(), self.model.map.len(), "len");
                assert_eq!(self.reg().is_empty(), self.model.map.is_empty(), "is_empty");
            }
            Op::Ids => self.check_registry(),
            Op::IdsIn(r) => {
                let reg = self.reg();
                let (got, expected): (Vec<u64>, Vec<u64>) = match r {
                    Range::HalfOpen(a, b) => (reg.ids_in(a..b).collect(), self.expect_ids(a..b)),
                    Range::Inclusive(a, b) => (reg.ids_in(a..=b).collect(), self.expect_ids(a..=b)),
                    Range::From(a) => (reg.ids_in(a..).collect(), self.expect_ids(a..)),
                    Range::To(b) => (reg.ids_in(..b).collect(), self.expect_ids(..b)),
                    Range::ToInclusive(b) => (reg.ids_in(..=b).collect(), self.expect_ids(..=b)),
                    Range::ExclIncl(a, b) => {
                        let r = (Bound::Excluded(a), Bound::Included(b));
                        (reg.ids_in(r).collect(), self.expect_ids(r))
                    }
                    Range::Full => (reg.ids_in(..).collect(), self.expect_ids(..)),
                };
                assert_eq!(got, expected, "ids_in({r:?})");
            }
        }
    }

    fn expect_ids(&self, r: impl RangeBounds<u64>) -> Vec<u64> {
        self.model
            .map
            .keys()
            .copied()
            .filter(|k| r.contains(k))
            .collect()
    }

    /// Drops the registry: every channel closes, receivers drain what was
    /// accepted, handles fail `Closed`; then everything is dropped.
    fn finish(mut self) {
        self.check_registry();
        for g in 0..self.receivers.len() {
            if self.receivers[g].is_some() {
                self.check_receiver(g);
            }
        }
        for k in 0..self.handles.len() {
            self.check_handle(k);
        }
        drop(self.registry.take());
        for c in &mut self.model.gens {
            c.closed = true;
        }
        self.check_live();
        for k in 0..self.handles.len() {
            self.check_handle(k);
            let (v, m) = self.msg();
            let g = self.handles[k].0;
            let got = try_outcome(self.handles[k].1.try_send(m));
            self.settle_send(
                "handle try_send after registry drop",
                Some(g),
                v,
                Outcome::Closed,
                got,
            );
        }
        for g in 0..self.receivers.len() {
            if self.receivers[g].is_none() {
                continue;
            }
            self.check_receiver(g);
            loop {
                let got = self.receivers[g]
                    .as_ref()
                    .unwrap()
                    .try_recv()
                    .map(|m| m.val);
                let expected = self.expect_recv(g);
                assert_eq!(got, expected, "draining generation {g} after registry drop");
                if got.is_err() {
                    break;
                }
            }
        }
        self.check_live();
        self.handles.clear();
        self.receivers.clear();
        let l = self.live.lock().unwrap();
        assert!(l.alive.is_empty(), "messages never dropped: {:?}", l.alive);
        assert!(
            l.double_drops.is_empty(),
            "dropped twice: {:?}",
            l.double_drops
        );
    }
}

fn run(ops: &[Op]) {
    let mut h = Harness::new();
    for op in ops {
        h.apply(op);
        h.check_live();
    }
    h.finish();
}
