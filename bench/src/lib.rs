//! The benchmark harness for `channel-registry` against its composite peers
//! (a map crate plus `async-channel`) and the Go daemon's original fix
//! ([`go`]), following the workload spec of `bench/README.md` (read-heavy, mixed, churn)
//! plus churn with a held reclamation pin (`bench/README.md`).
//!
//! Every Rust implementation is a type implementing [`Impl`]; the workers are
//! generic over it (static dispatch), so every implementation pays the same
//! harness cost.
//!
//! * Message type: `&'static str` (no allocation per message).
//! * Receiver policy (throughput runs): dropping the receiver closes the
//!   channel for this crate and for `async-channel`, so no receiver of a
//!   *current* channel is ever dropped. Each worker keeps its own table of K
//!   receivers; after its own `set(id)` it stores the new receiver, dropping
//!   the one it held for that id (already retired by this `set` or earlier).
//!   Receivers made by the prefill are held until the run ends.

#![warn(missing_docs)]

pub mod go;
pub mod report;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use async_channel::{Receiver as ARx, Sender as ATx};
use channel_registry::{Registry, TrySendError};
pub use spec::{CountingAlloc, XorShift64Star};

/// The message every send carries.
pub const MSG: &str = "event";
/// Channel capacity (the Go daemon's `make(chan string, 5)`).
pub const CAP: usize = 5;

/// One implementation under test: a shared structure plus a per-worker cache.
pub trait Impl: Sync + Send + Sized + 'static {
    /// What `set` returns that must be kept alive so the channel stays open.
    type Rx: RecvOne + Send + 'static;
    /// Per-worker state (handle cache for the cached-handle row).
    type Local: Send;
    /// The name in the output.
    const NAME: &'static str;
    /// An empty structure sized for `keys` ids.
    fn new(keys: usize) -> Self;
    /// Fresh per-worker state.
    fn local(&self, keys: usize) -> Self::Local;
    /// Look `id` up and try to send [`MSG`]; any outcome counts.
    fn send(&self, local: &mut Self::Local, id: u64);
    /// Create a channel of capacity [`CAP`] under `id`, closing the old one.
    fn set(&self, id: u64) -> Self::Rx;
    /// Remove `id`, closing its channel.
    fn delete(&self, id: u64);
    /// Flush deferred garbage (epoch-based structures), where the API allows.
    fn quiesce(&self) {}
    /// Enter the structure's deferred-reclamation scheme on this thread and
    /// stay in it until the returned value is dropped: the `churn-held-pin`
    /// cell holds one for 10 ms at a time, as a slow reader would. `None`
    /// for structures with no deferred reclamation (nothing to hold).
    fn hold_pin(&self) -> Option<HeldPin<'_>>;
}

/// Anything whose drop leaves a reclamation scheme: an epoch guard, a
/// `seize` guard, an `sdd` guard (see [`Impl::hold_pin`]).
pub trait Pinned {}
impl<T: ?Sized> Pinned for T {}

/// A held reclamation pin, released on drop.
pub type HeldPin<'a> = Box<dyn Pinned + 'a>;

/// The pin that keeps this crate's retired channels from being freed.
///
/// The registry defers its frees through an epoch collector of its own
/// (`Registry::delete`, `reclaim`), so this is a pin on that collector, as a
/// thread descheduled inside a registry call would hold. (A pin on
/// crossbeam-epoch's default collector holds nothing of the registry's.)
pub fn registry_pin() -> HeldPin<'static> {
    Box::new(channel_registry::__pin())
}

/// A receiver the micro-benchmarks can take one message from.
pub trait RecvOne {
    /// `try_recv` once; whether a message came.
    fn recv_one(&self) -> bool;
}

impl RecvOne for channel_registry::Receiver<&'static str> {
    #[inline]
    fn recv_one(&self) -> bool {
        self.try_recv().is_ok()
    }
}

impl RecvOne for ARx<&'static str> {
    #[inline]
    fn recv_one(&self) -> bool {
        self.try_recv().is_ok()
    }
}

/// A single-threaded fixture for the micro-benchmarks and instruction
/// counts: one structure with `keys` ids registered, their receivers held.
pub struct Fixture<I: Impl> {
    /// The structure.
    pub imp: I,
    /// The worker state.
    pub local: I::Local,
    /// The current receiver of each id.
    pub rxs: Vec<I::Rx>,
}

impl<I: Impl> Fixture<I> {
    /// `keys` ids, empty channels.
    pub fn new(keys: usize) -> Self {
        let imp = I::new(keys);
        let local = imp.local(keys);
        let rxs = (0..keys as u64).map(|id| imp.set(id)).collect();
        Fixture { imp, local, rxs }
    }
    /// Fill every channel (so sends find it full, as in the workloads).
    pub fn fill(&mut self) {
        for id in 0..self.rxs.len() as u64 {
            for _ in 0..CAP {
                self.imp.send(&mut self.local, id);
            }
        }
    }
    /// Look up and try to send.
    #[inline(never)]
    pub fn op_send(&mut self, id: u64) {
        self.imp.send(&mut self.local, id);
    }
    /// Send, then receive it.
    #[inline(never)]
    pub fn op_send_recv(&mut self, id: u64) -> bool {
        self.imp.send(&mut self.local, id);
        self.rxs[id as usize].recv_one()
    }
    /// Replace a live id's channel.
    #[inline(never)]
    pub fn op_set(&mut self, id: u64) {
        self.rxs[id as usize] = self.imp.set(id);
    }
    /// Delete a live id, then set it again.
    #[inline(never)]
    pub fn op_delete_set(&mut self, id: u64) {
        self.imp.delete(id);
        self.rxs[id as usize] = self.imp.set(id);
    }
}

fn new_chan() -> (ATx<&'static str>, ARx<&'static str>) {
    async_channel::bounded(CAP)
}

/// `channel_registry::Registry`, routed sends through `try_send(&id, …)`.
pub struct Routed(pub Registry<u64, &'static str>);

impl Impl for Routed {
    type Rx = channel_registry::Receiver<&'static str>;
    type Local = ();
    const NAME: &'static str = "registry-routed";
    fn new(_: usize) -> Self {
        Routed(Registry::new())
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let _ = std::hint::black_box(self.0.try_send(&id, MSG));
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        self.0.set(id, CAP).expect("capacity 5 is valid")
    }
    #[inline]
    fn delete(&self, id: u64) {
        self.0.delete(&id);
    }
    fn quiesce(&self) {
        channel_registry::reclaim();
    }
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        Some(registry_pin())
    }
}

/// `channel_registry::Registry`, sends through cached `sender(&id)` handles,
/// refreshed when a handle reports `Closed`.
pub struct Cached(pub Registry<u64, &'static str>);

impl Impl for Cached {
    type Rx = channel_registry::Receiver<&'static str>;
    type Local = Vec<Option<channel_registry::Sender<&'static str>>>;
    const NAME: &'static str = "registry-cached";
    fn new(_: usize) -> Self {
        Cached(Registry::new())
    }
    fn local(&self, keys: usize) -> Self::Local {
        (0..keys).map(|_| None).collect()
    }
    #[inline]
    fn send(&self, local: &mut Self::Local, id: u64) {
        let slot = &mut local[id as usize];
        if let Some(h) = slot {
            match h.try_send(MSG) {
                Err(TrySendError::Closed(m)) => {
                    // Deleted or replaced: refresh the handle and retry once.
                    *slot = self.0.sender(&id);
                    if let Some(h) = slot {
                        let _ = std::hint::black_box(h.try_send(m));
                    }
                }
                r => {
                    let _ = std::hint::black_box(r);
                }
            }
        } else {
            *slot = self.0.sender(&id);
            if let Some(h) = slot {
                let _ = std::hint::black_box(h.try_send(MSG));
            }
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        self.0.set(id, CAP).expect("capacity 5 is valid")
    }
    #[inline]
    fn delete(&self, id: u64) {
        self.0.delete(&id);
    }
    fn quiesce(&self) {
        channel_registry::reclaim();
    }
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        Some(registry_pin())
    }
}

/// `Mutex<HashMap<u64, Tx>>`: the Tx is cloned under the lock, the send
/// happens after releasing it.
pub struct MutexMap(pub Mutex<HashMap<u64, ATx<&'static str>>>);

impl Impl for MutexMap {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "mutex-hashmap";
    fn new(keys: usize) -> Self {
        MutexMap(Mutex::new(HashMap::with_capacity(keys)))
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let tx = self.0.lock().unwrap().get(&id).cloned();
        if let Some(tx) = tx {
            let _ = std::hint::black_box(tx.try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        let old = self.0.lock().unwrap().insert(id, tx);
        if let Some(old) = old {
            old.close();
        }
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        let old = self.0.lock().unwrap().remove(&id);
        if let Some(old) = old {
            old.close();
        }
    }
    /// No deferred reclamation: nothing to hold.
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        None
    }
}

/// `RwLock<HashMap<u64, Tx>>`: the Tx is cloned under the read lock, the
/// send happens after releasing it.
pub struct RwLockMap(pub RwLock<HashMap<u64, ATx<&'static str>>>);

impl Impl for RwLockMap {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "rwlock-hashmap";
    fn new(keys: usize) -> Self {
        RwLockMap(RwLock::new(HashMap::with_capacity(keys)))
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let tx = self.0.read().unwrap().get(&id).cloned();
        if let Some(tx) = tx {
            let _ = std::hint::black_box(tx.try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        let old = self.0.write().unwrap().insert(id, tx);
        if let Some(old) = old {
            old.close();
        }
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        let old = self.0.write().unwrap().remove(&id);
        if let Some(old) = old {
            old.close();
        }
    }
    /// No deferred reclamation: nothing to hold.
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        None
    }
}

/// `dashmap::DashMap<u64, Tx>`: the Tx is cloned under the shard's read
/// lock (`get`), the send happens after the guard is dropped.
pub struct Dash(pub dashmap::DashMap<u64, ATx<&'static str>>);

impl Impl for Dash {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "dashmap";
    fn new(keys: usize) -> Self {
        Dash(dashmap::DashMap::with_capacity(keys))
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let tx = self.0.get(&id).map(|r| r.value().clone());
        if let Some(tx) = tx {
            let _ = std::hint::black_box(tx.try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        if let Some(old) = self.0.insert(id, tx) {
            old.close();
        }
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        if let Some((_, old)) = self.0.remove(&id) {
            old.close();
        }
    }
    /// No deferred reclamation: nothing to hold.
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        None
    }
}

/// `papaya::HashMap<u64, Tx>`: lock-free reads; the send goes through the
/// reference returned under the pin (no lock is held, no clone).
pub struct Papaya(pub papaya::HashMap<u64, ATx<&'static str>>);

impl Impl for Papaya {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "papaya";
    fn new(keys: usize) -> Self {
        Papaya(papaya::HashMap::with_capacity(keys))
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let m = self.0.pin();
        if let Some(tx) = m.get(&id) {
            let _ = std::hint::black_box(tx.try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        let m = self.0.pin();
        if let Some(old) = m.insert(id, tx) {
            old.close();
        }
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        let m = self.0.pin();
        if let Some(old) = m.remove(&id) {
            old.close();
        }
    }
    /// The map's own `seize` guard.
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        Some(Box::new(self.0.guard()))
    }
}

/// `crossbeam_skiplist::SkipMap<u64, Tx>`: `get` returns a reference-counted
/// entry (no lock); the send goes through it. `set` is `compare_insert`
/// whose predicate closes the value it replaces (every value it is shown is
/// being replaced, by this insert or a racing one).
pub struct Skip(pub crossbeam_skiplist::SkipMap<u64, ATx<&'static str>>);

impl Impl for Skip {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "skipmap";
    fn new(_: usize) -> Self {
        Skip(crossbeam_skiplist::SkipMap::new())
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        if let Some(e) = self.0.get(&id) {
            let _ = std::hint::black_box(e.value().try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        self.0.compare_insert(id, tx, |old| {
            old.close();
            true
        });
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        if let Some(e) = self.0.remove(&id) {
            e.value().close();
        }
    }
    fn quiesce(&self) {
        for _ in 0..4 {
            crossbeam_epoch::pin().flush();
        }
    }
    /// An epoch pin on crossbeam-epoch's default collector, which
    /// `SkipMap::new` uses.
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        Some(Box::new(crossbeam_epoch::pin()))
    }
}

/// `scc::HashMap<u64, Tx>`: the Tx is cloned inside `read_sync` (which holds
/// the bucket's shared lock), the send happens after it returns.
pub struct Scc(pub scc::HashMap<u64, ATx<&'static str>>);

impl Impl for Scc {
    type Rx = ARx<&'static str>;
    type Local = ();
    const NAME: &'static str = "scc-hashmap";
    fn new(keys: usize) -> Self {
        Scc(scc::HashMap::with_capacity(keys))
    }
    fn local(&self, _: usize) {}
    #[inline]
    fn send(&self, _: &mut (), id: u64) {
        let tx = self.0.read_sync(&id, |_, v| v.clone());
        if let Some(tx) = tx {
            let _ = std::hint::black_box(tx.try_send(MSG));
        }
    }
    #[inline]
    fn set(&self, id: u64) -> Self::Rx {
        let (tx, rx) = new_chan();
        if let Some(old) = self.0.upsert_sync(id, tx) {
            old.close();
        }
        rx
    }
    #[inline]
    fn delete(&self, id: u64) {
        if let Some((_, old)) = self.0.remove_sync(&id) {
            old.close();
        }
    }
    /// scc's `sdd` guard (`scc::Guard`).
    fn hold_pin(&self) -> Option<HeldPin<'_>> {
        Some(Box::new(scc::Guard::new()))
    }
}

/// All implementation names, in the interleaving order.
pub const IMPLS: [&str; 8] = [
    Routed::NAME,
    Cached::NAME,
    MutexMap::NAME,
    RwLockMap::NAME,
    Dash::NAME,
    Papaya::NAME,
    Skip::NAME,
    Scc::NAME,
];

/// The Go daemon's original fix (`bench/go/`), run as a subprocess: a row
/// of its own, with no [`Impl`].
pub const GO: &str = "go-mutex-map";

/// Every row, in the interleaving order: the [`IMPLS`], then [`GO`].
pub const ROWS: [&str; 9] = [
    IMPLS[0], IMPLS[1], IMPLS[2], IMPLS[3], IMPLS[4], IMPLS[5], IMPLS[6], IMPLS[7], GO,
];

/// One workload: the op mix, and whether a thread holds a reclamation pin
/// while the workers run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// The name in the output.
    pub name: &'static str,
    /// Send share, percent.
    pub send: u64,
    /// Set share, percent (delete takes the rest).
    pub set: u64,
    /// An extra thread holds [`Impl::hold_pin`] for 10 ms at a time.
    pub held_pin: bool,
}

/// The spec's three workloads, then churn with a held pin.
pub const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "read-heavy",
        send: 98,
        set: 1,
        held_pin: false,
    },
    Workload {
        name: "mixed",
        send: 90,
        set: 5,
        held_pin: false,
    },
    Workload {
        name: "churn",
        send: 0,
        set: 50,
        held_pin: false,
    },
    Workload {
        name: "churn-held-pin",
        send: 0,
        set: 50,
        held_pin: true,
    },
];

impl Workload {
    /// The workload called `name`.
    pub fn by_name(name: &str) -> Option<Workload> {
        WORKLOADS.iter().copied().find(|w| w.name == name)
    }
    /// Churn cells (no sends): the ones whose peak garbage is measured.
    pub fn is_churn(&self) -> bool {
        self.send == 0
    }
    /// The next op of a worker: a uniform id in `[0, keys)`, then the op by
    /// the mix, both from `rng` (the Go row draws the same way).
    #[inline]
    pub fn next_op(&self, rng: &mut XorShift64Star, keys: u64) -> (u64, Op) {
        let id = rng.below(keys);
        let p = rng.below(100);
        let op = if p < self.send {
            Op::Send
        } else if p < self.send + self.set {
            Op::Set
        } else {
            Op::Delete
        };
        (id, op)
    }
}

/// One operation of a workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Look up and try to send.
    Send,
    /// Install a new channel.
    Set,
    /// Remove the id.
    Delete,
}

impl Op {
    /// The name `--print-ops` prints (the Go row prints the same).
    pub fn name(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Set => "set",
            Op::Delete => "delete",
        }
    }
}

/// Calls `$body` with `$t` bound to the implementation type named `$name`.
#[macro_export]
macro_rules! dispatch {
    ($name:expr, $t:ident => $body:expr) => {
        match $name {
            "registry-routed" => {
                type $t = $crate::Routed;
                $body
            }
            "registry-cached" => {
                type $t = $crate::Cached;
                $body
            }
            "mutex-hashmap" => {
                type $t = $crate::MutexMap;
                $body
            }
            "rwlock-hashmap" => {
                type $t = $crate::RwLockMap;
                $body
            }
            "dashmap" => {
                type $t = $crate::Dash;
                $body
            }
            "papaya" => {
                type $t = $crate::Papaya;
                $body
            }
            "skipmap" => {
                type $t = $crate::Skip;
                $body
            }
            "scc-hashmap" => {
                type $t = $crate::Scc;
                $body
            }
            other => panic!("unknown implementation {other}"),
        }
    };
}
