//! One channel *generation*: the bounded buffer created by one `set` (or
//! `register`) of one id, with the wait lists of its receiver and senders and
//! the record of its retirement.
//!
//! The buffer is [`crate::ring`]'s bounded ring: its `close` keeps buffered
//! items poppable and makes every later push fail, which is the
//! drain-then-closed contract. What this module adds is the waking
//! ([`crate::waiters`]) and retirement.
//!
//! # Retirement
//!
//! A generation is *retired* when `delete` removes its id or `set` replaces it.
//! The retiring thread first *claims* the generation by writing its successor
//! into `successor` (null → [`DELETED`] or the next generation), then closes
//! the queue. The close is the linearization point of the retirement: a push
//! that wins the race against it is delivered to this generation's receiver
//! and is linearized before the `delete`/`set`; every push after it fails. A
//! queue that is closed while `successor` is still null was closed by its
//! receiver (dropped) and is still the id's current generation.
//!
//! # Waiting without spinning
//!
//! A waiting send or receive (`poll_push`, `poll_pop`) tries with the ring's
//! `push_unless_busy` / `pop_unless_busy`: a slot that another thread has
//! claimed and not finished (a pop still reading it, a push still writing
//! it) counts as full or empty, and the waiter registers and sleeps instead
//! of spinning on a thread that may be descheduled. That thread wakes a
//! waiter when it finishes (`try_push` and `try_pop` notify after the ring
//! operation returns), and the register-then-re-check of [`crate::waiters`]
//! makes that wake-up impossible to miss. A wait that gives up at its
//! deadline makes one last attempt with the ring's waiting `push` / `pop`,
//! because the unfinished operation may already be ordered before it (a push
//! accepted before a close, or followed by a push that returned), and then
//! "full" or "empty" would be a wrong answer (found by shuttle;
//! `timeout_skips_final_attempt` is the negative control).

use std::ptr;
use std::task::{Poll, Waker};

use crate::ring::Ring;
pub(crate) use crate::ring::{PopError, PushError};

use crate::block::Attempt;
use crate::chan_ref::ChanRef;
use crate::stripes::Striped;
use crate::sync::{AtomicPtr, AtomicUsize, Built, Ordering, fence};
use crate::waiters::{Registration, Side, Waiters};

/// The retirement mark of a generation removed by `delete`, and the content
/// of a slot whose id is deleted. Never dereferenced: address 1 is never a
/// valid, aligned `Chan`.
pub(crate) fn deleted<T, S>() -> *mut Chan<T, S> {
    ptr::without_provenance_mut(1)
}

/// The content of a slot whose deleted id's node is being taken out of the
/// point index: unlike [`deleted()`], final (the registry's module docs,
/// *Deleted ids' nodes*). Never dereferenced, and never a `successor`.
pub(crate) fn removed<T, S>() -> *mut Chan<T, S> {
    ptr::without_provenance_mut(2)
}

/// Whether a pointer loaded from a slot or a `successor` is one of the two
/// marks rather than a generation: the id has no channel.
pub(crate) fn is_mark<T, S>(chan: *mut Chan<T, S>) -> bool {
    chan == deleted() || chan == removed()
}

/// Channel generations allocated and not yet freed, process-wide.
///
/// A statistic, read by [`channels_alive`](crate::channels_alive), never
/// part of a protocol; striped (`crate::stripes`), because it changes on
/// every create and every free. Never touched on the send path.
static CHANNELS_ALIVE: Striped = Striped::new();

/// The number of channels (generations) allocated and not yet freed, in the
/// whole process: registered ones, plus deleted or replaced ones that a
/// receiver or handle still holds or that await epoch reclamation.
///
/// Subtract the number of registered ids and live receivers to see the
/// garbage that [`reclaim`](crate::reclaim) can free.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, channels_alive, reclaim};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let before = channels_alive();
/// let registry = Registry::<u64, ()>::new();
/// let inbox = registry.set(1, 5)?;
/// assert!(channels_alive() > before); // counts the whole process's channels
/// drop(inbox);
/// drop(registry);
/// reclaim(); // frees what no thread can reach any more
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channels_alive() -> usize {
    CHANNELS_ALIVE.sum()
}

pub(crate) struct Chan<T, S> {
    queue: Ring<T>,
    /// Receivers waiting for a message or the close, senders waiting for
    /// space or the close.
    waiters: Waiters,
    /// Null while this is the id's current generation (possibly closed by its
    /// receiver); otherwise [`deleted()`] or the next generation. Written once,
    /// by the claiming CAS. Not an owning pointer.
    successor: AtomicPtr<Chan<T, S>>,
    /// The user's state for this generation (`Registry::set_with`): written
    /// once, before the generation is published, and read-only after, so
    /// every reader that can reach the generation sees it built. Dropped
    /// with the generation, once. `()` by default, which takes no space.
    state: S,
    /// Under loom, checks that every thread that uses this generation sees
    /// it built (`sync::Built`).
    built: Built,
    /// Counts this generation in [`channels_alive`] while it exists. A
    /// field rather than a `Drop` for `Chan`, so that [`Chan::into_state`]
    /// can move the state out.
    _alive: Alive,
    /// The references to this generation ([`ChanRef`], which owns the
    /// protocol: `crate::chan_ref`, *The count*).
    refs: AtomicUsize,
}

/// One count in [`CHANNELS_ALIVE`], for as long as it lives.
struct Alive;

impl Alive {
    fn new() -> Self {
        CHANNELS_ALIVE.add(1);
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        CHANNELS_ALIVE.add(-1);
    }
}

impl<T, S> Chan<T, S> {
    /// A new, open generation over `queue` carrying `state`, with one
    /// reference: built by [`ChanRef::new`], in the allocation that also
    /// holds the queue's slots.
    pub(crate) fn new(queue: Ring<T>, state: S) -> Self {
        Chan {
            queue,
            waiters: Waiters::new(),
            successor: AtomicPtr::new(ptr::null_mut()),
            state,
            built: Built::new(),
            _alive: Alive::new(),
            refs: AtomicUsize::new(1),
        }
    }

    /// The reference count, for [`ChanRef`] alone.
    pub(crate) fn refs(&self) -> &AtomicUsize {
        &self.refs
    }

    /// The bytes this generation holds on the heap: its one allocation
    /// (the `Chan`, with its reference count, and its buffer). Counted in
    /// the garbage while it waits for its release (`reclaim::garbage_bytes`).
    pub(crate) fn bytes(&self) -> usize {
        ChanRef::<T, S>::bytes(self.queue.capacity())
    }

    /// The generation's state, dropping the rest (with its buffer, whose
    /// memory the caller frees after this returns).
    pub(crate) fn into_state(self) -> S {
        let Chan { state, .. } = self;
        state
    }

    /// The generation's state.
    pub(crate) fn state(&self) -> &S {
        self.built.check();
        &self.state
    }

    pub(crate) fn capacity(&self) -> usize {
        self.built.check();
        self.queue.capacity()
    }

    pub(crate) fn len(&self) -> usize {
        self.built.check();
        self.queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.built.check();
        self.queue.is_closed()
    }

    /// Pushes without waiting. The only shared write on success is the push;
    /// the wake-up check is a fence and a load (see [`crate::waiters::WaitList::notify_one`]).
    #[inline]
    pub(crate) fn try_push(&self, msg: T) -> Result<(), PushError<T>> {
        self.built.check();
        self.queue.push(msg)?;
        self.waiters.recv().notify_one();
        Ok(())
    }

    /// Pops without waiting; `Closed` only once the queue is closed *and* empty.
    #[inline]
    pub(crate) fn try_pop(&self) -> Result<T, PopError> {
        self.built.check();
        let msg = self.queue.pop()?;
        self.waiters.send().notify_one();
        Ok(msg)
    }

    /// A push for a sender that sleeps on `Full`: a slot that a pop is
    /// still reading counts as full, and that pop's `notify_one` (in
    /// `try_pop` or here) wakes a sender when it is done. The sender
    /// registers and re-checks as for a full queue (module docs of
    /// [`crate::waiters`]): the Dekker pair is the popper's stamp store and
    /// fence against the sender's registration and fence.
    fn push_for_waiter(&self, msg: T) -> Result<(), PushError<T>> {
        self.queue.push_unless_busy(msg)?;
        self.waiters.recv().notify_one();
        Ok(())
    }

    /// A pop for a receiver that sleeps on `Empty`: a slot that a push has
    /// claimed but not written counts as empty; that push's `notify_one`
    /// wakes a receiver when it is done.
    fn pop_for_waiter(&self) -> Result<T, PopError> {
        let msg = self.queue.pop_unless_busy()?;
        // Negative control `waiter_pop_skips_notify`: a waiting receiver's
        // pop that does not wake a sender, which may be asleep on the slot
        // this pop frees (or on this very pop, seen in progress).
        if !cfg!(channel_registry_broken = "waiter_pop_skips_notify") {
            self.waiters.send().notify_one();
        }
        Ok(msg)
    }

    /// Closes the queue and wakes every waiter. Idempotent.
    pub(crate) fn close(&self) {
        self.built.check();
        self.queue.close();
        // Negative control `close_wakes_one`: a close that wakes one waiter
        // per side leaves the others asleep.
        if cfg!(channel_registry_broken = "close_wakes_one") {
            self.waiters.recv().notify_one();
            self.waiters.send().notify_one();
        } else {
            self.waiters.notify_all_sides();
        }
    }

    /// Claims this generation for retirement, naming its successor.
    ///
    /// `Release` on success: publishes a new successor's contents to
    /// whoever follows the pointer (the caller built it after pinning, so
    /// nothing else publishes it). Nothing to acquire: a successful claim
    /// read null, the initial value, which no store released. (It was
    /// `AcqRel`; `just orderings` passed `Release` and this is why.)
    /// `Acquire` on failure: the loser reads the winner's successor and
    /// follows it. `just orderings` also passes `Relaxed` there, because
    /// every such path runs `finish_retire`'s close first, whose `SeqCst`
    /// fence (`notify_all_sides`) acquires the claim as well; the claim keeps its
    /// own `Acquire` rather than lean on a fence in the wake-up code.
    pub(crate) fn claim(&self, successor: *mut Chan<T, S>) -> Result<(), *mut Chan<T, S>> {
        self.built.check();
        // Negative control `claim_without_release`: a successor published
        // `Relaxed` is used by threads that never saw it built.
        let publish = if cfg!(channel_registry_broken = "claim_without_release") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.successor
            .compare_exchange(ptr::null_mut(), successor, publish, Ordering::Acquire)
            .map(|_| ())
    }

    /// This generation's successor, or null if it is still current.
    ///
    /// `Acquire`, pairing with the claim's release, so the successor's
    /// contents are visible to the thread that follows it. `Relaxed` passes
    /// `just orderings` for the reason given at `claim`'s failure ordering:
    /// every caller that follows the pointer first runs `finish_retire`,
    /// whose close runs a `SeqCst` fence; kept rather than lean on it.
    pub(crate) fn successor(&self) -> *mut Chan<T, S> {
        self.built.check();
        self.successor.load(Ordering::Acquire)
    }

    /// The successor, read after a push into this generation failed as
    /// closed.
    ///
    /// The retiring thread claims (writes `successor`) *before* it closes
    /// the queue, and the close is a `SeqCst` read-modify-write on the word
    /// that the failed push read (the ring's `tail`). The acquire fence turns that read
    /// into a synchronization with the close, so a close made by a retirement
    /// always shows its successor here. Null therefore means the receiver
    /// closed the queue and the generation is still current.
    pub(crate) fn successor_after_failed_push(&self) -> *mut Chan<T, S> {
        self.built.check();
        fence(Ordering::Acquire);
        self.successor.load(Ordering::Acquire)
    }

    /// One attempt of a send that may wait: push, or register `reg` in the
    /// send wait list and try once more.
    ///
    /// `Waiting` hands the message back with `reg` registered; `Done` has
    /// consumed it or returns it in the error, with `reg` not registered.
    pub(crate) fn poll_push(
        &self,
        msg: T,
        reg: &mut Registration,
        waker: &Waker,
    ) -> Attempt<Result<(), Closed<T>>, T> {
        let msg = match self.push_for_waiter(msg) {
            Err(PushError::Full(m)) => m,
            Ok(()) => return self.end_push_wait(reg, Ok(())),
            Err(PushError::Closed(m)) => return self.end_push_wait(reg, Err(Closed(m))),
        };
        self.waiters.send().register(reg, waker);
        match self.push_for_waiter(msg) {
            Err(PushError::Full(m)) => Attempt::Waiting(m),
            Ok(()) => self.end_push_wait(reg, Ok(())),
            Err(PushError::Closed(m)) => self.end_push_wait(reg, Err(Closed(m))),
        }
    }

    /// Ends a waiting push with `result` (see `finish_wait`).
    fn end_push_wait(
        &self,
        reg: &mut Registration,
        result: Result<(), Closed<T>>,
    ) -> Attempt<Result<(), Closed<T>>, T> {
        self.finish_wait(Side::Send, reg);
        Attempt::Done(result)
    }

    /// One attempt of a receive that may wait. `Err(())` means closed and
    /// drained. On `Pending` `reg` is registered; on `Ready` it is not.
    pub(crate) fn poll_pop(&self, reg: &mut Registration, waker: &Waker) -> Poll<Result<T, ()>> {
        match self.pop_for_waiter() {
            Err(PopError::Empty) => {}
            done => {
                self.finish_wait(Side::Recv, reg);
                return Poll::Ready(done.map_err(|_| ()));
            }
        }
        self.waiters.recv().register(reg, waker);
        match self.pop_for_waiter() {
            Err(PopError::Empty) => Poll::Pending,
            done => {
                self.finish_wait(Side::Recv, reg);
                Poll::Ready(done.map_err(|_| ()))
            }
        }
    }

    /// Withdraws the registration of a wait that is complete. If a notifier
    /// had taken it, the wake-up is passed on: it may have been meant for a
    /// state change that this wait did not consume. (A receiver registers,
    /// then its re-check takes a message pushed before it registered; a
    /// second push's notification takes the stale entry; a second receiver
    /// waiting behind it would sleep with a message in the channel. Found by
    /// loom in `waiters: recv_timeout || recv || try_send,handle_send_blocking`.)
    /// This costs at most one spurious wake-up of another waiter per wake-up
    /// taken, and a fence and a load when nobody else waits.
    fn finish_wait(&self, side: Side, reg: &mut Registration) {
        let list = self.waiters.side(side);
        // Negative control `finish_keeps_wakeup`: the behaviour before the
        // fix, a completed wait keeps the wake-up it took.
        if list.unregister(reg) && !cfg!(channel_registry_broken = "finish_keeps_wakeup") {
            list.notify_one();
        }
    }

    /// Withdraws a receive that gave up (timed out or dropped). If a sender
    /// had already woken it, the wake-up is passed on, so it is not lost.
    pub(crate) fn cancel_pop(&self, reg: &mut Registration) {
        self.cancel_wait(Side::Recv, reg);
    }

    /// Withdraws a send that gave up; passes on a wake-up it had received.
    pub(crate) fn cancel_push(&self, reg: &mut Registration) {
        self.cancel_wait(Side::Send, reg);
    }

    fn cancel_wait(&self, side: Side, reg: &mut Registration) {
        let list = self.waiters.side(side);
        // Negative control `cancel_drops_wakeup`: a wake-up taken by a
        // waiter that gives up is lost.
        if list.unregister(reg) && !cfg!(channel_registry_broken = "cancel_drops_wakeup") {
            list.notify_one();
        }
    }

    /// Closes the queue and drops every buffered message, for a receiver
    /// that goes away.
    ///
    /// A message whose `Drop` panics does not stop the drain: every message
    /// is dropped, then the first panic is resumed. (Stopping would leave the
    /// rest to be dropped while unwinding, where a second panic aborts.)
    pub(crate) fn close_and_drain(&self) {
        // A channel that is closed already (by the delete or the replacing
        // `set` that retired it, in most drops) needs no second close: the
        // closer's own close wakes every waiter that registered before its
        // fence, and any later waiter's re-check sees the close bit. So a
        // load replaces the RMW and the fence. Negative control
        // `drop_skips_close`: the receiver never closes, so sends to an id
        // whose receiver is gone are accepted and senders waiting for space
        // are never woken.
        let skip_close =
            cfg!(channel_registry_broken = "drop_skips_close") || self.queue.is_closed();
        if !skip_close {
            self.close();
        }
        // Most receivers go away after the delete or replacement that closed
        // their generation, with nothing buffered: then the drain would only
        // read the buffer's first slot to learn that (a cache miss in churn).
        // Negative control `drain_skips_buffered`: the check says empty
        // when it is not, and buffered messages wait for the teardown.
        if self.queue.is_closed_and_empty()
            || cfg!(channel_registry_broken = "drain_skips_buffered")
        {
            return;
        }
        // Pushes that won against the close may still be writing their slot:
        // `pop` waits for them, so each accepted message is dropped here once.
        let mut first_panic = None;
        while let Ok(msg) = self.queue.pop() {
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(msg)));
            if let Err(panic) = dropped {
                first_panic.get_or_insert(panic);
            }
        }
        if let Some(panic) = first_panic {
            std::panic::resume_unwind(panic);
        }
    }
}

impl<T, S> std::fmt::Debug for Chan<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chan")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .field("retired", &!self.successor().is_null())
            .field("waiting", &self.waiters)
            .finish()
    }
}

/// A waiting push that ended because the channel is closed: the message
/// comes back. (A waiting push never reports `Full`: it waits instead.)
pub(crate) struct Closed<T>(pub(crate) T);

/// A send that may wait, from the outside: the generation it waits on (kept
/// alive by a [`ChanRef`] while it is registered) and its registration.
pub(crate) struct SendWait<T, S> {
    chan: Option<ChanRef<T, S>>,
    reg: Registration,
}

impl<T, S> SendWait<T, S> {
    pub(crate) fn new() -> Self {
        SendWait {
            chan: None,
            reg: Registration::default(),
        }
    }

    /// One attempt into `chan`, a generation the caller holds a count of.
    pub(crate) fn attempt(
        &mut self,
        chan: &ChanRef<T, S>,
        msg: T,
        waker: &Waker,
    ) -> Attempt<Result<(), Closed<T>>, T> {
        // SAFETY: `chan` is a generation's pointer, and the borrowed
        // reference keeps it alive for this call.
        unsafe { self.attempt_raw(ChanRef::as_ptr(chan), msg, waker) }
    }

    /// One attempt into the generation at `chan`, for a caller that reached
    /// it without a count of its own (a routed send, under an epoch guard).
    ///
    /// # Safety
    ///
    /// `chan` must point to a generation ([`ChanRef::new`]) that stays alive
    /// for the duration of this call (the caller holds a reference or an
    /// epoch guard under which the generation cannot be reclaimed).
    pub(crate) unsafe fn attempt_raw(
        &mut self,
        chan: *const Chan<T, S>,
        msg: T,
        waker: &Waker,
    ) -> Attempt<Result<(), Closed<T>>, T> {
        if self
            .chan
            .as_ref()
            .is_some_and(|held| !ptr::eq(ChanRef::as_ptr(held), chan))
        {
            // Re-routed to another generation: leave the old wait list.
            self.cancel();
        }
        // SAFETY: the caller guarantees `chan` is alive for this call.
        let gen_ref = unsafe { &*chan };
        let attempt = gen_ref.poll_push(msg, &mut self.reg, waker);
        match attempt {
            Attempt::Waiting(_) => {
                if self.chan.is_none() {
                    // Registered: keep the generation (and so its wait list)
                    // alive until the registration is withdrawn. The count is
                    // touched only on this waiting path.
                    // SAFETY: `chan` is a live generation (caller).
                    self.chan = Some(unsafe { ChanRef::clone_raw(chan) });
                }
            }
            Attempt::Done(_) => self.chan = None,
        }
        attempt
    }

    /// Withdraws a registration, passing on a wake-up it had received.
    pub(crate) fn cancel(&mut self) {
        if let Some(chan) = self.chan.take() {
            chan.cancel_push(&mut self.reg);
        }
    }
}

impl<T, S> Drop for SendWait<T, S> {
    fn drop(&mut self) {
        self.cancel();
    }
}
