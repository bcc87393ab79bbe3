//! Releasing what a retirement unlinked, off the epoch's collection path.
//!
//! A retirement unlinks the registry's count of a generation and, for a
//! delete, the id's point-index node. Either may be released once every
//! thread pinned at the time has unpinned, which crossbeam-epoch tracks. The
//! epoch runs deferred functions inline: every 128th pin of a thread runs up
//! to 8 bags of 64 of them, whichever threads deferred them. When each one
//! tore its object down (the buffered messages dropped, the buffer, the
//! channel and the node freed), one operation in 128 paid for hundreds of
//! teardowns: that was the churn benchmark's tail.
//!
//! So the deferred function here only moves the object onto the *ready
//! list* of the thread that runs it (a thread-local queue: no atomic, no
//! allocation once the queue has grown), and the teardown happens later, a
//! fixed amount at a time:
//!
//! * every `set`, `register` and `delete` tears down
//!   [`TEARDOWNS_PER_CALL`] ready objects from its thread's list before it
//!   returns, which keeps pace with what these calls retire (at most two
//!   objects each);
//! * a ready list holds at most [`READY_CAP`] objects. What a thread's pins
//!   collect beyond that (a thread that only sends while others churn), or
//!   while its list is busy or gone, goes to one shared *overflow* list,
//!   which the next `set`, `register` or `delete` of any thread takes from
//!   within the same per-call limit. So no call ever tears down more than
//!   the limit, and sends tear down nothing;
//! * [`reclaim`] tears down everything ready on the calling thread and in
//!   the overflow, and a thread's exit tears down what its list still
//!   holds.
//!
//! The overflow is a mutex-guarded list with a length read without the
//! lock: every `set`, `register` and `delete` reads that word, and only a
//! thread that finds it non-zero, or that overflows, takes the lock. That
//! happens only when some thread collects more than a ready list holds.
//!
//! The epoch decides *when* an object may be released; this module only
//! decides which thread does it and when. Under the model checkers the
//! ready list is the checker's thread-local, so a release that skipped the
//! epoch (the negative control `release_skips_epoch`) frees a generation
//! that a pinned sender still uses, which loom reports through the
//! generation's `sync::Built` mark.

// The thread-locals take no `const { }` initializer: loom's and shuttle's
// `thread_local!` do not accept one, and the code is the same in every build.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crate::sync::{self, AtomicUsize, Guard, Mutex, Ordering, thread_local};

/// The ready objects that one `set`, `register` or `delete` tears down from
/// its thread's list: two; with the overflow's, four at most.
pub(crate) const TEARDOWNS_PER_CALL: usize = 2;

/// The most objects one thread's ready list holds. Two under the model
/// checkers, so that their scenarios of a few operations reach the shared
/// overflow.
///
/// 256 natively: with 1,024, the benchmark's churn at 1,024 ids and 8
/// threads on 2 cores peaked at 1.0 to 1.2 MB of garbage. Three teardowns
/// per call did not lower that, so (an inference) much of it sat on ready
/// lists filled by one collection's burst; with 256 the surplus goes to the
/// overflow, which every retiring call drains, and the peak was 0.71 to
/// 0.82 MB, for 7 to 12% less throughput at 8 threads (the overflow's lock
/// is taken more often) and none measurable at 2.
#[cfg(not(any(loom, shuttle)))]
pub(crate) const READY_CAP: usize = 256;
#[cfg(any(loom, shuttle))]
pub(crate) const READY_CAP: usize = 2;

/// An unlinked object whose grace period has passed: its pointer, and how
/// to release it.
struct Ready {
    ptr: *mut (),
    release: unsafe fn(*mut ()),
    /// What the object holds, counted in [`garbage_bytes`] from its
    /// retirement until the epoch makes it ready.
    bytes: usize,
}

// SAFETY: `defer`'s contract: the release may run on any thread.
unsafe impl Send for Ready {}

impl Ready {
    /// Releases the object, counted in this thread's tally of releases
    /// from its ready list or, if `inline`, of releases made inline.
    fn release(self, inline: bool) {
        let count = if inline {
            &TORN_DOWN_INLINE
        } else {
            &TORN_DOWN
        };
        let _ = count.try_with(|n| n.set(n.get() + 1));
        // SAFETY: `defer`'s contract; each `Ready` is released once (it is
        // consumed here).
        unsafe { (self.release)(self.ptr) }
    }
}

/// A thread's ready list; its destructor releases what is left when the
/// thread exits.
struct ReadyList(RefCell<VecDeque<Ready>>);

impl Drop for ReadyList {
    fn drop(&mut self) {
        while let Some(ready) = self.0.get_mut().pop_front() {
            ready.release(false);
        }
    }
}

/// Ready objects that their collecting thread could not keep (module docs).
struct Overflow {
    /// How many objects `list` holds, written under the lock and read
    /// without it (`Relaxed` both ways: a hint, which only decides whether
    /// to take the lock; the objects themselves pass through the mutex).
    len: AtomicUsize,
    list: Mutex<Vec<Ready>>,
}

impl Drop for Overflow {
    /// Under the model checkers the overflow lives for one execution:
    /// release what is left, so that nothing leaks. (A process-wide
    /// overflow is never dropped.)
    fn drop(&mut self) {
        let list = std::mem::take(&mut *sync::lock(&self.list));
        for ready in list {
            ready.release(true);
        }
    }
}

sync::global! {
    static OVERFLOW: Overflow = Overflow {
        len: AtomicUsize::new(0),
        list: Mutex::new(Vec::new()),
    };
}

/// Objects ever put on the overflow, process-wide: a statistic for tests
/// ([`__overflowed`]), never part of a protocol.
static OVERFLOWED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Puts `ready` on the overflow.
fn overflow(ready: Ready) {
    let mut list = sync::lock(&OVERFLOW.list);
    list.push(ready);
    OVERFLOW.len.store(list.len(), Ordering::Relaxed);
    OVERFLOWED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many retired objects have gone to the shared overflow, in the whole
/// process (their collecting thread's ready list was full, busy or gone),
/// and how many it holds now. Lets a test check that the overflow path ran
/// and drains.
#[doc(hidden)]
pub fn __overflowed() -> (usize, usize) {
    (
        OVERFLOWED.load(std::sync::atomic::Ordering::Relaxed),
        sync::lock(&OVERFLOW.list).len(),
    )
}

/// Fills `into`'s empty slots from the overflow, as far as it goes.
fn take_overflow(into: &mut [Option<Ready>]) {
    if OVERFLOW.len.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut list = sync::lock(&OVERFLOW.list);
    for slot in into.iter_mut().filter(|slot| slot.is_none()) {
        *slot = list.pop();
    }
    OVERFLOW.len.store(list.len(), Ordering::Relaxed);
}

thread_local! {
    static READY: ReadyList = ReadyList(RefCell::new(VecDeque::new()));
    /// Objects this thread has released from its ready list.
    static TORN_DOWN: Cell<usize> = Cell::new(0);
    /// Objects this thread has released outside a ready list: the
    /// overflow's, when the model checkers drop it at the end of an
    /// execution. (Before the overflow, a full list's surplus.)
    static TORN_DOWN_INLINE: Cell<usize> = Cell::new(0);
}

/// Defers the release of `ptr` until every thread pinned now has unpinned;
/// it then goes to the ready list of the thread that runs the deferred
/// function.
///
/// # Safety
///
/// No thread that pins after this call can reach `ptr` (it is unlinked),
/// and `release(ptr)` may be called once, on any thread, once every thread
/// pinned now has unpinned.
pub(crate) unsafe fn defer(guard: &Guard, ptr: *mut (), bytes: usize, release: unsafe fn(*mut ())) {
    count_garbage(bytes as isize);
    let ready = Ready {
        ptr,
        release,
        bytes,
    };
    #[cfg(channel_registry_broken = "release_skips_epoch")]
    {
        // Negative control: ready at once, before the grace period.
        let _ = guard;
        make_ready(ready);
    }
    #[cfg(not(channel_registry_broken = "release_skips_epoch"))]
    // SAFETY: the caller's contract is the epoch's: nothing pinning later
    // reaches `ptr`, and `make_ready` may release it on any thread.
    unsafe {
        guard.defer_unchecked(move || {
            sync::releasing();
            make_ready(ready);
        });
    }
}

/// Puts `ready` on this thread's list, or on the overflow if the list is
/// full, busy (a release running on this thread deferred more) or gone (the
/// thread is exiting). Never releases anything itself.
fn make_ready(ready: Ready) {
    count_garbage(-(ready.bytes as isize));
    let mut ready = Some(ready);
    let _ = READY.try_with(|list| {
        if let Ok(mut list) = list.0.try_borrow_mut() {
            if list.len() < READY_CAP {
                list.extend(ready.take());
            }
        }
    });
    if let Some(ready) = ready {
        if cfg!(channel_registry_broken = "full_list_releases_inline") {
            // Negative control: the surplus torn down here, inside the pin
            // of whatever call collected it (a send included), as before
            // the overflow existed.
            ready.release(true);
        } else {
            overflow(ready);
        }
    }
}

/// What a `set`, `register` or `delete` does before it returns: releases
/// [`TEARDOWNS_PER_CALL`] objects from this thread's ready list and, while
/// the overflow holds any, fills the rest of twice that from the overflow.
/// These calls retire at most two objects each, so a list that only its
/// own thread's pins fill keeps pace, and the overflow (what lists could
/// not keep) shrinks with every call; no call releases more than four. One
/// access to each list; the releases run after them, since they may drop
/// messages whose `Drop` uses the registry.
pub(crate) fn tear_down_some() {
    let mut taken: [Option<Ready>; 2 * TEARDOWNS_PER_CALL] = Default::default();
    let overflowing = OVERFLOW.len.load(Ordering::Relaxed) != 0;
    let _ = READY.try_with(|list| {
        let Ok(mut list) = list.0.try_borrow_mut() else {
            return;
        };
        for slot in taken.iter_mut().take(TEARDOWNS_PER_CALL) {
            *slot = list.pop_front();
        }
    });
    if overflowing {
        // The rest of the four from the overflow. The thread that made
        // these ready observed their grace period (its deferred function
        // ran after every unpin it waited for); its unlock of the overflow
        // happens before this lock, so those unpins happen before these
        // releases too (loom sees it: the mutex is loom's there).
        take_overflow(&mut taken);
    }
    for ready in taken.into_iter().flatten() {
        ready.release(false);
    }
    hold_back();
}

/// Takes one ready object: this thread's oldest, else one from the overflow.
fn take_one() -> Option<Ready> {
    match READY.try_with(|list| list.0.try_borrow_mut().ok()?.pop_front()) {
        Ok(Some(ready)) => Some(ready),
        _ => {
            let mut one = [None];
            take_overflow(&mut one);
            one[0].take()
        }
    }
}

/// Releases everything on this thread's ready list and in the overflow,
/// one at a time (a release may make more ready), then gives back the
/// list's buffer and, if it is empty, the overflow's: a quiet moment leaves
/// no memory behind. (The overflow's buffer kept its capacity after a burst
/// had been drained: the soak's heap check saw 1,024 bytes left behind in
/// about one run in twelve.)
fn tear_down_all() {
    while let Some(ready) = take_one() {
        ready.release(false);
    }
    let _ = READY.try_with(|list| {
        if let Ok(mut list) = list.0.try_borrow_mut() {
            if list.is_empty() {
                list.shrink_to_fit();
            }
        }
    });
    let mut overflow = sync::lock(&OVERFLOW.list);
    if overflow.is_empty() {
        overflow.shrink_to_fit();
    }
}

/// Frees retired channels that no thread can reach any more, now.
///
/// `delete` and replacing `set` hand the registry's reference to a retired
/// channel to `crossbeam-epoch`, which frees it once every thread that was
/// pinned at the time has unpinned; the epoch normally advances as threads
/// pin and accumulate garbage, and each `set`, `register` and `delete` then
/// frees a few of what has become free to release. A service that wants the
/// memory back at a quiet moment (or a test that counts it) calls this: it
/// flushes the calling thread's deferred frees to the global queue, advances
/// the epoch a few times, and frees everything that became safe to free on
/// this thread and everything in the shared overflow (what full ready lists
/// could not keep), going on while there is more (up to 32,768 objects a
/// call), and gives back the memory of this thread's ready list and of its
/// cache of freed channel memory (up to 64 KiB that each thread keeps for
/// its next channels).
///
/// It cannot free what is still reachable from a pinned thread, nor garbage
/// that another live thread has deferred but not yet flushed (up to 64
/// entries per thread; a thread flushes them when it exits) or collected
/// and not yet freed (up to 256 per thread; freed a few at a time by its
/// next calls, and all when it exits). A retired channel whose
/// [`Receiver`](crate::Receiver) or [`Sender`](crate::Sender) handles are
/// still alive is not freed by this either: they keep it, by design.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, reclaim};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, Vec<u8>>::new();
/// for round in 0..100 {
///     let _inbox = registry.set(round % 10, 5)?; // each replace retires a channel
/// }
/// // Retired channels are freed through the epoch, a few per call; at a quiet
/// // moment, this frees what no thread can reach any more.
/// reclaim();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reclaim() {
    // Garbage sealed in epoch `e` is freed once the global epoch reaches
    // `e + 2`; each flush advances it at most once and collects at most 8
    // bags of 64. So flush at least three times, and go on while a flush
    // still brings this thread something to release (at most 64 rounds:
    // 32,768 objects).
    for round in 0..64 {
        let before = released();
        sync::pin().flush();
        tear_down_all();
        if round >= 2 && released() == before {
            break;
        }
    }
    crate::pool::empty();
}

/// This thread's releases so far, both kinds.
fn released() -> usize {
    let (ready, inline) = __teardowns();
    ready + inline
}

/// How many retired objects (generations and index nodes) the calling
/// thread has released so far: from its ready list, and inline (its list
/// full). Lets a test count the teardown work done inside one call.
#[doc(hidden)]
pub fn __teardowns() -> (usize, usize) {
    (
        TORN_DOWN.try_with(Cell::get).unwrap_or(0),
        TORN_DOWN_INLINE.try_with(Cell::get).unwrap_or(0),
    )
}

// ---------------------------------------------------------------------------
// The garbage limit.

/// The default of [`set_garbage_limit`]: 256 KiB (the crate docs, *Memory
/// held by retired channels*, give the measurements behind it).
pub const DEFAULT_GARBAGE_LIMIT: usize = 256 << 10;

/// How far one thread's part of the count may drift before it is added to
/// the shared word: the word is written once per this many bytes that a
/// thread retires or sees through their grace period, not on every call.
const GARBAGE_BATCH: isize = 16 << 10;

/// The longest a retiring call waits for the epoch while the garbage is
/// over the limit: in time, in the shipped build; in rounds, under the
/// model checkers, which have no clock and must see every loop end.
#[cfg(not(any(loom, shuttle)))]
const HOLD_BACK_FOR: std::time::Duration = std::time::Duration::from_millis(100);
#[cfg(any(loom, shuttle))]
const HOLD_BACK_ROUNDS: usize = 2;

/// Bytes retired and still waiting for their grace period, less what
/// threads hold in their own parts ([`LocalGarbage`]), so it may be briefly
/// negative. A plain `std` atomic, `Relaxed` everywhere: it decides only
/// whether a retiring call waits, never whether anything may be released
/// (the epoch alone decides that), so none of its orderings protects
/// memory.
///
/// Not kept under the model checkers: their statics live for one execution
/// and are gone when the execution's last deferred functions run, and a
/// count shared by every test of a process would make an execution's
/// decisions depend on other tests. There a limit of zero stands for "over
/// the limit" ([`over`]).
static GARBAGE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// Calls that found the garbage over the limit and waited, and those that
/// stopped waiting at the time limit: statistics ([`__held_back`]).
static HELD_BACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static GAVE_UP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

sync::global! {
    /// The limit ([`set_garbage_limit`]): one per execution under the
    /// checkers, so that a scenario that sets it affects no other.
    static LIMIT: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(DEFAULT_GARBAGE_LIMIT);
}

/// A thread's part of the count, added to [`GARBAGE`] when it passes
/// [`GARBAGE_BATCH`] either way, and when the thread exits.
struct LocalGarbage(Cell<isize>);

impl Drop for LocalGarbage {
    fn drop(&mut self) {
        GARBAGE.fetch_add(self.0.get(), std::sync::atomic::Ordering::Relaxed);
    }
}

thread_local! {
    static LOCAL_GARBAGE: LocalGarbage = LocalGarbage(Cell::new(0));
}

/// Counts `bytes` retired (positive) or past their grace period
/// (negative).
fn count_garbage(bytes: isize) {
    if cfg!(any(loom, shuttle)) {
        return;
    }
    let shared = LOCAL_GARBAGE
        .try_with(|local| {
            let sum = local.0.get() + bytes;
            if sum.abs() >= GARBAGE_BATCH {
                local.0.set(0);
                sum
            } else {
                local.0.set(sum);
                0
            }
        })
        // A thread whose thread-locals are gone counts straight into the
        // shared word.
        .unwrap_or(bytes);
    if shared != 0 {
        GARBAGE.fetch_add(shared, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Adds this thread's part to the shared count.
fn publish_local_garbage() {
    let local = LOCAL_GARBAGE
        .try_with(|local| local.0.replace(0))
        .unwrap_or(0);
    if local != 0 {
        GARBAGE.fetch_add(local, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Retired memory still waiting for its grace period, in bytes, in the
/// whole process: the channels and point-index entries that `delete` and
/// replacing `set` retired and that some thread's pin still holds back.
/// Each thread adds its part every 16 KiB, so the figure lags by up to that
/// much per thread. Objects past their grace period leave it; they are then
/// freed a few at a time by the next calls (crate docs, "Memory held by
/// retired channels").
///
/// A retired channel that a [`Receiver`](crate::Receiver) or
/// [`Sender`](crate::Sender) still holds leaves this count all the same:
/// the handle's memory is the handle's.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, garbage_bytes, reclaim};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, String>::new();
/// for round in 0..1_000 {
///     registry.set(round % 8, 5)?; // each replace retires the previous channel
/// }
/// reclaim();
/// // Nothing is pinned now, so this thread's retirements are past their
/// // grace period (other threads' parts may still be counted).
/// assert!(garbage_bytes() < 64 << 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn garbage_bytes() -> usize {
    GARBAGE.load(std::sync::atomic::Ordering::Relaxed).max(0) as usize
}

/// Sets the garbage limit for the whole process, in bytes
/// ([`DEFAULT_GARBAGE_LIMIT`] until set; `usize::MAX` for none).
///
/// A `set`, `register` or `delete` that finds [`garbage_bytes`] over the
/// limit does not return until it is back under it: it hands its own
/// retirements to the epoch and yields to the threads whose pins hold it
/// back (threads descheduled inside a registry call), for up to 100 ms,
/// then returns anyway. Sends never wait. See the crate docs, "Memory held
/// by retired channels".
///
/// # Examples
///
/// ```
/// use channel_registry::{DEFAULT_GARBAGE_LIMIT, garbage_limit, set_garbage_limit};
/// # if channel_registry::__loom_build() { return; }
///
/// set_garbage_limit(1 << 20); // hold the garbage under about 1 MiB
/// assert_eq!(garbage_limit(), 1 << 20);
/// set_garbage_limit(DEFAULT_GARBAGE_LIMIT);
/// ```
pub fn set_garbage_limit(bytes: usize) {
    LIMIT.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// The garbage limit ([`set_garbage_limit`]).
pub fn garbage_limit() -> usize {
    LIMIT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Holds a pin of the crate's epoch collector until dropped: what a thread
/// descheduled inside a registry call does to reclamation. For tests and
/// benchmarks; no registry call needs it.
#[doc(hidden)]
pub fn __pin() -> impl Sized {
    sync::pin()
}

/// How many `set`, `register` and `delete` calls found the garbage over
/// the limit and waited, and how many of them stopped at the time limit
/// while it was still over: statistics for tests and benchmarks.
#[doc(hidden)]
pub fn __held_back() -> (usize, usize) {
    (
        HELD_BACK.load(std::sync::atomic::Ordering::Relaxed),
        GAVE_UP.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Whether the garbage is over `limit` (module docs of the count: under
/// the checkers, a limit of zero is always over).
fn over(limit: usize) -> bool {
    if cfg!(any(loom, shuttle)) {
        limit == 0
    } else {
        garbage_bytes() > limit
    }
}

/// What a `set`, `register` or `delete` does last, unpinned: while the
/// garbage is over the limit, wait for it to come back under.
///
/// Under the limit this is one `Relaxed` load of a word that threads write
/// once per 16 KiB. Over it: add this thread's part to the count, hand the
/// thread's deferred retirements to the epoch and let it advance and
/// collect (a pin and `flush`), and yield to the threads whose pins hold
/// it back, until under the limit or out of time. It releases nothing
/// itself: what the epoch lets go is freed at the usual pace, a few objects
/// per call, so the per-call teardown bound holds here too.
///
/// It never waits inside a pin of the crate's collector, which a call made
/// from a [`Registry::with_state`](crate::Registry::with_state) closure is:
/// it would wait for its own pin. No code outside the crate can hold such a
/// pin (the collector is the crate's own), so every pin it waits for
/// belongs to a registry call that is running or runnable, or to a
/// `with_state` closure that blocks, which the time limit covers.
pub(crate) fn hold_back() {
    let limit = garbage_limit();
    if !over(limit)
        || cfg!(channel_registry_broken = "hold_back_never_waits")
        || (sync::is_pinned() && !cfg!(channel_registry_broken = "hold_back_inside_pin"))
    {
        return;
    }
    HELD_BACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(any(loom, shuttle)))]
    let start = std::time::Instant::now();
    #[cfg(any(loom, shuttle))]
    let mut rounds = 0;
    loop {
        publish_local_garbage();
        sync::pin().flush();
        if !over(limit) {
            return;
        }
        #[cfg(not(any(loom, shuttle)))]
        let out_of_time = start.elapsed() >= HOLD_BACK_FOR;
        #[cfg(any(loom, shuttle))]
        let out_of_time = {
            rounds += 1;
            rounds >= HOLD_BACK_ROUNDS
        };
        if out_of_time {
            GAVE_UP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        sync::wait();
    }
}
