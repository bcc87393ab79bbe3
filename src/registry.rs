//! The registry: ids mapped to channel generations, and the protocol that
//! replaces and deletes them without locks.
//!
//! # Data
//!
//! The index ([`crate::index`]) maps each id to a [`Slot`]: one atomic pointer
//! to the id's current generation ([`Chan`]), or [`deleted()`] once the id is
//! deleted. A slot never comes back from `deleted()`; the node that holds it
//! is removed from the index and a later `set` inserts a new node. A `set` on
//! a live id never touches the index: it swaps the generation inside the slot,
//! so a concurrent send can never see the id as absent (crossbeam #1023 is
//! the window that `insert` over an existing key would open).
//!
//! # Retiring a generation (`set` over a live id, `delete`)
//!
//! 1. **Claim**: CAS the current generation's `successor` from null to the new
//!    generation (or `deleted()`). Only the slot's current generation can be
//!    claimed, and only once, so at most one generation is ever waiting
//!    behind the slot.
//! 2. **Close** the old generation's queue: the linearization point. Pushes
//!    that beat it are delivered; later ones fail and follow `successor`.
//! 3. **Advance** the slot from the old generation to the successor (CAS).
//!    The thread whose CAS succeeds removes the node if the successor is
//!    `deleted()`, and hands the old generation's registry reference to the
//!    epoch (`defer`), so it is freed once no pinned thread can reach it.
//!
//! Any thread that finds a claimed generation (a racing `set`, `delete`,
//! `register`, `contains`, a send that follows it) performs steps 2 and 3
//! itself before going on, so no operation waits for another.
//!
//! # Negative controls
//!
//! `--cfg channel_registry_broken="NAME"` compiles one deliberately broken
//! variant of the protocol, for `just loom-negative`, which requires the loom
//! suite to fail on each: `skip_close` (retirement never closes the old
//! generation), `no_follow` (a routed send reports `Closed` instead of
//! following the successor), `close_before_claim` (`delete` closes before it
//! claims), `trust_insert_closure` (takes "the index ran our constructor"
//! for "our node is in the index", see `install`), and `no_notify_fence` in
//! [`crate::waiters`]. Normal builds contain
//! none of them.
//!
//! # Reclamation
//!
//! The registry owns one `Arc` count of each live generation, stored as the
//! raw pointer in the slot. Senders on the routed path dereference that
//! pointer under an epoch guard and never touch the count. A generation is
//! deferred only by the thread that moved the slot past it, so a thread that
//! pins afterwards cannot load it; a thread pinned before can, and it can also
//! reach the successor through `successor`, which is alive for the same
//! reason (the slot had not moved past it when that thread pinned).

use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::ring::PushError;

use crate::block::{block_on, deadline_after};
use crate::chan::{Chan, SendWait, check_capacity, clone_counted, deleted};
use crate::error::{CapacityError, RegisterError, SendError, SendTimeoutError, TrySendError};
use crate::index::{Entry, Index};
use crate::receiver::Receiver;
use crate::sender::Sender;
use crate::sync::{self, Arc, AtomicPtr, AtomicUsize, Guard, Ordering};

/// The index's value for one id.
pub(crate) struct Slot<T> {
    /// The current generation (an `Arc::into_raw` pointer owning the
    /// registry's count), or `deleted()`.
    current: AtomicPtr<Chan<T>>,
    /// The address of the generation this slot was made with; never
    /// dereferenced. It tells `install` whether the node that the index
    /// returned is the one it built (see there).
    origin: usize,
    /// Makes `Slot<T>` `Send`/`Sync` exactly when `Arc<Chan<T>>` is.
    _owns: PhantomData<Arc<Chan<T>>>,
}

impl<T> Slot<T> {
    /// A slot owning one count of `chan`: this takes a new count, so a slot
    /// that the index builds and then throws away releases only its own.
    fn new(chan: *mut Chan<T>) -> Self {
        // SAFETY: `chan` is a live `Arc` pointer; the caller holds a count.
        let own = unsafe { clone_counted(chan) };
        Slot {
            current: AtomicPtr::new(Arc::into_raw(own).cast_mut()),
            origin: chan as usize,
            _owns: PhantomData,
        }
    }

    /// `Acquire`: pairs with the release of the insert that published the
    /// slot or of the advancing CAS, so the generation's fields are visible.
    fn load(&self) -> *mut Chan<T> {
        self.current.load(Ordering::Acquire)
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // A read-modify-write, not a load: the node holding this slot may be
        // dropped by the epoch's deferred destructor on another thread, and
        // an RMW reads the last value in the slot's modification order (the
        // advancing CAS to `deleted()`) whatever that thread has synchronized
        // with. A plain load is correct only through the reclaimer's own
        // fences, which loom cannot see unless crossbeam-epoch is modelled
        // too; it found this as a double release. Acquire: the generation's
        // contents were published by a release (insert or CAS).
        let current = self.current.swap(deleted(), Ordering::Acquire);
        if current != deleted() {
            // SAFETY: a slot that still holds a generation owns the
            // registry's `Arc` count of it (module docs); the slot is being
            // dropped, so nothing can read the pointer again.
            drop(unsafe { Arc::from_raw(current) });
        }
    }
}

/// A lock-free map from ids to bounded channels.
///
/// See the [crate documentation](crate) for the contract. All methods take
/// `&self`; share a registry between threads with `Arc` or a `static`.
///
/// Dropping the registry closes every channel still registered: receivers
/// drain what was buffered and then see the channel closed, and `Sender`
/// handles fail with `Closed`.
pub struct Registry<K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    index: Index<K, Slot<T>>,
    /// Ids with a slot that is not `deleted()`; see [`Registry::len`].
    ///
    /// `Relaxed` everywhere: a statistic that no protocol decision reads. It
    /// is incremented by the insert that made a slot live and decremented by
    /// the CAS that made it `deleted()`, each exactly once per slot, so it is
    /// exact whenever no `set`/`register`/`delete` is in flight.
    live: AtomicUsize,
}

/// What `install` does when the id already has a channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occupied {
    Replace,
    Refuse,
}

impl<K, T> Registry<K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            index: Index::new(),
            live: AtomicUsize::new(0),
        }
    }

    /// Creates a channel of `capacity` under `id`, replacing (and closing)
    /// any channel already there, and returns its receiver (Go's
    /// `m[id] = make(chan T, capacity)`).
    ///
    /// The replaced channel's receiver still gets every message accepted
    /// into it, then sees it closed. A concurrent send never sees `id` as
    /// absent because of a `set`.
    ///
    /// `K: Clone` because a `set` that races with a `delete` of the same id
    /// may have to insert the id more than once.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] if `capacity` is 0, above [`MAX_CAPACITY`](crate::MAX_CAPACITY),
    /// or needs a buffer above [`MAX_BUFFER_BYTES`](crate::MAX_BUFFER_BYTES); the
    /// registry is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let old = registry.set(7, 5)?;
    /// registry.try_send(&7, "to the old channel").unwrap();
    /// let new = registry.set(7, 5)?; // replaces and closes `old`
    /// registry.try_send(&7, "to the new channel").unwrap();
    ///
    /// assert_eq!(old.try_recv(), Ok("to the old channel"));
    /// assert!(old.try_recv().is_err()); // drained, then closed
    /// assert_eq!(new.try_recv(), Ok("to the new channel"));
    /// # Ok::<(), channel_registry::CapacityError>(())
    /// ```
    pub fn set(&self, id: K, capacity: usize) -> Result<Receiver<T>, CapacityError>
    where
        K: Clone,
    {
        check_capacity::<T>(capacity)?;
        let (receiver, chan) = new_generation(capacity);
        let installed = self.install(id, chan, Occupied::Replace);
        debug_assert!(installed.is_ok());
        Ok(receiver)
    }

    /// Creates a channel of `capacity` under `id` only if `id` has none.
    ///
    /// # Errors
    ///
    /// [`RegisterError::Occupied`] if `id` has a channel (even one whose
    /// receiver was dropped), [`RegisterError::Capacity`] for a capacity that
    /// [`set`](Self::set) would refuse. Either way nothing is changed.
    pub fn register(&self, id: K, capacity: usize) -> Result<Receiver<T>, RegisterError>
    where
        K: Clone,
    {
        check_capacity::<T>(capacity)?;
        let (receiver, chan) = new_generation(capacity);
        match self.install(id, chan, Occupied::Refuse) {
            Ok(()) => Ok(receiver),
            Err(Refused) => Err(RegisterError::Occupied),
        }
    }

    /// Removes `id` and closes its channel (Go's `delete(m, id)`). Returns
    /// `false` if `id` had no channel.
    ///
    /// When this returns, the channel is closed: sends into it fail, and a
    /// receiver waiting on it wakes, drains what was buffered, then sees
    /// `Closed`.
    pub fn delete(&self, id: &K) -> bool {
        let guard = sync::pin();
        loop {
            let Some(entry) = self.index.get(id, &guard) else {
                return false;
            };
            let current = entry.value().load();
            if current == deleted() {
                return false;
            }
            // SAFETY: loaded from the slot under `guard` (module docs).
            let chan = unsafe { &*current };
            #[cfg(channel_registry_broken = "close_before_claim")]
            chan.close();
            match chan.claim(deleted()) {
                Ok(()) => {
                    self.finish_retire(&entry, current, deleted(), &guard);
                    return true;
                }
                Err(successor) => self.finish_retire(&entry, current, successor, &guard),
            }
        }
    }

    /// Sends `msg` to `id`'s channel without waiting.
    ///
    /// Looking the id up costs an epoch pin and a skip-list traversal; the
    /// only shared-memory write on success is the push into the channel.
    ///
    /// # Errors
    ///
    /// The message comes back in [`TrySendError::NoSuchId`], [`Full`](TrySendError::Full)
    /// or [`Closed`](TrySendError::Closed) (the receiver was dropped while
    /// `id` stayed registered).
    pub fn try_send(&self, id: &K, msg: T) -> Result<(), TrySendError<T>> {
        let guard = sync::pin();
        let Some(entry) = self.index.get(id, &guard) else {
            return Err(TrySendError::NoSuchId(msg));
        };
        let mut current = entry.value().load();
        let mut msg = msg;
        loop {
            if current == deleted() {
                return Err(TrySendError::NoSuchId(msg));
            }
            // SAFETY: `current` was loaded from the slot, or from the
            // `successor` of a generation loaded under the same guard; both
            // stay allocated while `guard` is pinned (module docs).
            let chan = unsafe { &*current };
            match chan.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Full(m)) => return Err(TrySendError::Full(m)),
                Err(PushError::Closed(m)) => {
                    let successor = chan.successor_after_failed_push();
                    if successor.is_null() || cfg!(channel_registry_broken = "no_follow") {
                        return Err(TrySendError::Closed(m));
                    }
                    // Retired after we loaded it: follow it.
                    msg = m;
                    current = successor;
                }
            }
        }
    }

    /// Sends `msg` to `id`'s channel, waiting up to `timeout` for space.
    ///
    /// If the id is replaced while this waits, the send moves to the new
    /// channel; if it is deleted, the send fails with `NoSuchId`. A timeout
    /// too large for `Instant` waits without limit.
    ///
    /// # Errors
    ///
    /// The message comes back in every error.
    pub fn send_timeout(
        &self,
        id: &K,
        msg: T,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut msg = Some(msg);
        let mut wait = SendWait::new();
        match block_on(deadline_after(timeout), |waker| {
            self.poll_send(id, &mut msg, &mut wait, waker)
        }) {
            Some(done) => done.map_err(SendTimeoutError::from),
            None => match msg.take() {
                Some(m) => Err(SendTimeoutError::Timeout(m)),
                None => unreachable!("a pending send keeps its message"),
            },
        }
    }

    /// Sends `msg` to `id`'s channel, waiting asynchronously for space.
    ///
    /// Like [`send_timeout`](Self::send_timeout) without the timeout. Any
    /// executor works. Dropping the future before it completes drops the
    /// message unsent.
    ///
    /// # Panics
    ///
    /// The future panics if polled again after it returned `Ready`.
    pub fn send_async<'a>(&'a self, id: &'a K, msg: T) -> RoutedSendFut<'a, K, T> {
        RoutedSendFut {
            registry: self,
            id,
            msg: Some(msg),
            wait: SendWait::new(),
        }
    }

    /// One attempt of a waiting send, re-routed on every call.
    fn poll_send(
        &self,
        id: &K,
        msg: &mut Option<T>,
        wait: &mut SendWait<T>,
        waker: &std::task::Waker,
    ) -> Poll<Result<(), SendError<T>>> {
        let guard = sync::pin();
        let mut current = match self.index.get(id, &guard) {
            Some(entry) => entry.value().load(),
            None => deleted(),
        };
        loop {
            if current == deleted() {
                wait.cancel();
                return Poll::Ready(match msg.take() {
                    Some(m) => Err(SendError::NoSuchId(m)),
                    None => panic!("channel-registry: send future polled after completion"),
                });
            }
            // SAFETY: `current` is an `Arc` pointer kept alive by `guard`
            // (as in `try_send`), for the whole call.
            match unsafe { wait.poll(current, msg, waker) } {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(PushError::Full(_))) => {
                    unreachable!("poll_push waits instead of returning Full")
                }
                Poll::Ready(Err(PushError::Closed(m))) => {
                    // SAFETY: as above.
                    let successor = unsafe { &*current }.successor_after_failed_push();
                    if successor.is_null() {
                        return Poll::Ready(Err(SendError::Closed(m)));
                    }
                    *msg = Some(m);
                    current = successor;
                }
            }
        }
    }

    /// A handle to `id`'s current channel, or `None` if `id` has none.
    ///
    /// Sends through the handle skip the lookup. The handle stays bound to
    /// this channel: once `id` is deleted or replaced, its sends fail with
    /// `Closed` and hand the message back; fetch a new handle then.
    pub fn sender(&self, id: &K) -> Option<Sender<T>> {
        let guard = sync::pin();
        let entry = self.index.get(id, &guard)?;
        let current = self.current(&entry, &guard)?;
        // SAFETY: `current` carries the registry's count and stays alive
        // under `guard`.
        Some(Sender::new(unsafe { clone_counted(current) }))
    }

    /// Whether `id` has a channel (possibly one whose receiver was dropped).
    pub fn contains(&self, id: &K) -> bool {
        let guard = sync::pin();
        match self.index.get(id, &guard) {
            Some(entry) => self.current(&entry, &guard).is_some(),
            None => false,
        }
    }

    /// The number of ids with a channel.
    ///
    /// Exact when no `set`, `register` or `delete` runs concurrently; while
    /// they do, a snapshot that may be off by the operations in flight.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether no id has a channel (same caveat as [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids with a channel, in ascending order.
    ///
    /// The iterator pins no epoch between items: it resumes after the last id
    /// it returned, so it sees every id present for its whole run, never one
    /// twice, and may or may not see ids added or removed meanwhile.
    pub fn ids(&self) -> Ids<'_, K, T, std::ops::RangeFull>
    where
        K: Clone,
    {
        self.ids_in(..)
    }

    /// The ids within `range`, in ascending order (see [`ids`](Self::ids)).
    pub fn ids_in<R: RangeBounds<K>>(&self, range: R) -> Ids<'_, K, T, R>
    where
        K: Clone,
    {
        Ids {
            registry: self,
            range,
            last: None,
            done: false,
        }
    }

    /// Installs the generation `chan` under `id`, handing the index or the
    /// old generation's `successor` one count of it. With
    /// `Occupied::Refuse`, does nothing if `id` has a channel.
    ///
    /// `chan` stays an owned `Arc` until the one instruction that transfers
    /// its count (a successful claim), so a panic on the way (an `Ord` that
    /// panics inside the index) leaks nothing.
    fn install(&self, id: K, chan: Arc<Chan<T>>, occupied: Occupied) -> Result<(), Refused>
    where
        K: Clone,
    {
        let chan_ptr = Arc::as_ptr(&chan).cast_mut();
        let guard = sync::pin();
        loop {
            let Some(entry) = self.index.get(&id, &guard) else {
                // The skip list may run `Slot::new` and then discard the
                // node, if another insert of `id` wins the link CAS; so
                // whether *our* slot got in is read off the slot the index
                // kept. `chan` is alive (we hold a count), so no other slot
                // can have its address as origin.
                let mut made = false;
                let ours = self.index.get_or_insert_with(
                    id.clone(),
                    || {
                        made = true;
                        Slot::new(chan_ptr)
                    },
                    |slot| slot.origin == chan_ptr as usize,
                    &guard,
                );
                // Negative control: the bug this check replaced.
                let ours = if cfg!(channel_registry_broken = "trust_insert_closure") {
                    made
                } else {
                    ours
                };
                if ours {
                    // The slot took its own count; ours drops with `chan`.
                    self.live.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                // Lost a race with another insert of `id`: look again.
                continue;
            };
            let current = entry.value().load();
            if current == deleted() {
                // A deleted node on its way out: unlink it (idempotent), so
                // the next round inserts a fresh node.
                entry.remove();
                continue;
            }
            // SAFETY: loaded from the slot under `guard`.
            let old = unsafe { &*current };
            if occupied == Occupied::Refuse {
                let successor = old.successor();
                if successor.is_null() {
                    return Err(Refused);
                }
                self.finish_retire(&entry, current, successor, &guard);
                continue;
            }
            match old.claim(chan_ptr) {
                Ok(()) => {
                    // The claimed `successor` now carries our count.
                    let _ = Arc::into_raw(chan);
                    self.finish_retire(&entry, current, chan_ptr, &guard);
                    return Ok(());
                }
                Err(successor) => self.finish_retire(&entry, current, successor, &guard),
            }
        }
    }

    /// The slot's current generation, finishing any retirement in progress
    /// first; `None` if the id is deleted.
    fn current<'g>(&self, entry: &Entry<'g, K, Slot<T>>, guard: &'g Guard) -> Option<*mut Chan<T>> {
        loop {
            let current = entry.value().load();
            if current == deleted() {
                return None;
            }
            // SAFETY: loaded from the slot under `guard`.
            let successor = unsafe { &*current }.successor();
            if successor.is_null() {
                return Some(current);
            }
            self.finish_retire(entry, current, successor, guard);
        }
    }

    /// Steps 2 and 3 of a retirement (module docs): close `old`, advance the
    /// slot to `successor`, and, if this thread advanced it, unlink a deleted
    /// node and defer the release of `old`. Idempotent.
    fn finish_retire(
        &self,
        entry: &Entry<'_, K, Slot<T>>,
        old: *mut Chan<T>,
        successor: *mut Chan<T>,
        guard: &Guard,
    ) {
        // SAFETY: `old` was loaded from this slot under `guard`.
        #[cfg(not(channel_registry_broken = "skip_close"))]
        unsafe { &*old }.close();
        // `AcqRel` on success: acquire the claim (and so the successor's
        // contents) before publishing the successor to `Slot::load`, which
        // acquires. Failure: another thread advanced it; nothing to read.
        let advanced = entry
            .value()
            .current
            .compare_exchange(old, successor, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if !advanced {
            return;
        }
        let old = SendPtr(old);
        // SAFETY: the slot no longer points at `old`, and nothing else that a
        // thread pinning from now on can reach does (module docs); the
        // registry's count of it is released after every current pin ends.
        // Deferred *before* the node is unlinked below: unlinking runs the
        // user's `Ord`, which may panic, and the release must not be skipped.
        unsafe {
            guard.defer_unchecked(move || {
                let old = old;
                drop(Arc::from_raw(old.0));
            });
        }
        if successor == deleted() {
            self.live.fetch_sub(1, Ordering::Relaxed);
            entry.remove();
        }
    }
}

/// Frees retired channels that no thread can reach any more, now.
///
/// `delete` and replacing `set` hand the registry's reference to a retired
/// channel to `crossbeam-epoch`, which frees it once every thread that was
/// pinned at the time has unpinned; the epoch normally advances as threads
/// pin and accumulate garbage. A service that wants the memory back at a
/// quiet moment (or a test that counts it) calls this: it flushes the calling
/// thread's deferred frees to the global queue and advances the epoch a few
/// times, running every deferred free that became safe.
///
/// It cannot free what is still reachable from a pinned thread, nor garbage
/// that another live thread has deferred but not yet flushed (up to 64
/// entries per thread; a thread flushes them when it exits). A retired
/// channel whose [`Receiver`] or [`Sender`] handles are still alive is not
/// freed by this either: they keep it, by design.
pub fn reclaim() {
    // Garbage sealed in epoch `e` is freed once the global epoch reaches
    // `e + 2`; each flush advances it at most once.
    for _ in 0..3 {
        sync::pin().flush();
    }
}

/// A raw generation pointer moved into a deferred function. The function
/// runs on whichever thread collects the garbage; `Chan<T>` is `Send + Sync`
/// for `T: Send`.
struct SendPtr<T>(*mut Chan<T>);
// SAFETY: see the type's docs; the pointer is only turned back into the
// `Arc` it came from.
unsafe impl<T: Send> Send for SendPtr<T> {}

/// `install` found the id occupied and was told not to replace.
struct Refused;

/// A new generation: its receiver, and the count that `install` hands on.
fn new_generation<T>(capacity: usize) -> (Receiver<T>, Arc<Chan<T>>) {
    let chan = Arc::new(Chan::new(capacity));
    (Receiver::new(Arc::clone(&chan)), chan)
}

impl<K, T> Default for Registry<K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, T> Drop for Registry<K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    fn drop(&mut self) {
        // Close every generation still registered, so receivers and handles
        // learn that no sender can reach them any more. `&mut self`: no other
        // thread uses the index; the slots release their counts when the
        // index drops them.
        let guard = sync::pin();
        let mut next = self.index.lower_bound(Bound::Unbounded, &guard);
        while let Some(entry) = next {
            let current = entry.value().current.load(Ordering::Acquire);
            if current != deleted() {
                // SAFETY: the slot owns a count of `current`.
                unsafe { &*current }.close();
            }
            next = entry.next();
        }
    }
}

impl<K, T> std::fmt::Debug for Registry<K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Future of [`Registry::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RoutedSendFut<'a, K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    registry: &'a Registry<K, T>,
    id: &'a K,
    msg: Option<T>,
    wait: SendWait<T>,
}

impl<K, T> Unpin for RoutedSendFut<'_, K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
}

impl<K, T> std::future::Future for RoutedSendFut<'_, K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    type Output = Result<(), SendError<T>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.registry
            .poll_send(this.id, &mut this.msg, &mut this.wait, cx.waker())
    }
}

impl<K, T> std::fmt::Debug for RoutedSendFut<'_, K, T>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedSendFut")
            .field("pending", &self.msg.is_some())
            .finish_non_exhaustive()
    }
}

/// Iterator of [`Registry::ids`] and [`Registry::ids_in`].
pub struct Ids<'a, K, T, R>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    registry: &'a Registry<K, T>,
    range: R,
    last: Option<K>,
    done: bool,
}

impl<K, T, R> Iterator for Ids<'_, K, T, R>
where
    K: Ord + Clone + Send + Sync + 'static,
    T: Send + 'static,
    R: RangeBounds<K>,
{
    type Item = K;

    fn next(&mut self) -> Option<K> {
        if self.done {
            return None;
        }
        let guard = sync::pin();
        let mut entry = match &self.last {
            Some(last) => self
                .registry
                .index
                .lower_bound(Bound::Excluded(last), &guard),
            None => self
                .registry
                .index
                .lower_bound(self.range.start_bound(), &guard),
        };
        while let Some(e) = entry {
            if !self.range.contains(e.key()) {
                break;
            }
            if self.registry.current(&e, &guard).is_some() {
                self.last = Some(e.key().clone());
                return self.last.clone();
            }
            entry = e.next();
        }
        self.done = true;
        None
    }
}

impl<K, T, R> std::fmt::Debug for Ids<'_, K, T, R>
where
    K: Ord + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
