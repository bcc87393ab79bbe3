//! [`ChanRef`]: a counted reference to one channel generation, which lives
//! in a single allocation with its buffer.
//!
//! A generation used to be an `Arc<Chan>` whose ring buffer was a second
//! allocation. Churn (every `set` creates a generation, every `delete` or
//! replacement retires one) then paid two `malloc`s and two `free`s per
//! generation, and the buffer's free touched a line of its own. Here the
//! `Chan` sits at the start of one allocation and its ring's slots right
//! after it (`crate::ring`, *Memory*), with the reference count inside the
//! `Chan`: one allocation, one free. `std`'s `Arc` cannot hold a tail of
//! runtime length behind a thin pointer, and the registry stores thin
//! pointers in atomic slots, so the count is owned here; the rest of the
//! crate uses `ChanRef` as it used `Arc`.
//!
//! # The count
//!
//! The protocol is `Arc`'s:
//!
//! * a new reference (`clone`, [`ChanRef::clone_raw`]) adds one with
//!   `Relaxed`: the adder already holds a reference (or an epoch guard under
//!   which the registry's reference cannot be released), so the generation
//!   cannot be freed meanwhile, and the new reference orders nothing by
//!   itself;
//! * dropping a reference subtracts one with `Release`, so each owner's use
//!   of the generation (its pushes and pops, its reads of the buffer)
//!   happens before the subtraction;
//! * the owner whose subtraction takes the count to zero loads the count
//!   with `Acquire` before it tears the generation down (where `Arc` runs
//!   an `Acquire` fence; `Drop` says why): it synchronizes with every other
//!   owner's `Release`, so the teardown (which drops the buffered messages
//!   and reads the ring's head and tail) sees all their writes. Negative
//!   control `release_without_acquire` skips the load; loom reports the
//!   teardown racing with a sender's write.
//!
//! The memory comes from, and goes back to, [`crate::pool`]: the freeing
//! thread keeps a few blocks for its next generations. Under loom the
//! allocation goes straight through `loom::alloc` (`crate::sync`), whose
//! leak check fails an execution that ends with a generation not freed, as
//! loom's `Arc` did before.

use std::alloc::{Layout, handle_alloc_error};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;

use crate::capacity::Capacity;
use crate::chan::Chan;
use crate::pool;
use crate::ring::Ring;
use crate::sync::{self, Ordering};

/// One reference to a generation: like `Arc<Chan<T, S>>`, with the buffer
/// in the same allocation.
pub(crate) struct ChanRef<T, S> {
    chan: NonNull<Chan<T, S>>,
    /// Owns a `Chan` (for the drop check and the auto traits).
    _owns: PhantomData<Chan<T, S>>,
}

// SAFETY: as for `Arc<Chan<T, S>>`: a reference may be dropped on another
// thread (which may then drop the `Chan`), and references on several threads
// share the `Chan`, so both need `Chan: Send + Sync`.
unsafe impl<T, S> Send for ChanRef<T, S> where Chan<T, S>: Send + Sync {}
// SAFETY: as above: `&ChanRef` gives `&Chan` and can be cloned into an
// owned reference.
unsafe impl<T, S> Sync for ChanRef<T, S> where Chan<T, S>: Send + Sync {}

// A reference is a pointer: moving it never moves the generation (as for
// `Arc`, which is `Unpin` whatever it points to).
impl<T, S> Unpin for ChanRef<T, S> {}

/// The allocation of a generation of `capacity`: the `Chan` at offset 0,
/// then the ring's slots at the returned offset.
fn layout<T, S>(capacity: usize) -> (Layout, usize) {
    let (layout, slots_at) = Layout::new::<Chan<T, S>>()
        .extend(Ring::<T>::slots_layout(capacity))
        .expect("channel-registry: channel allocation overflows");
    (layout.pad_to_align(), slots_at)
}

impl<T, S> ChanRef<T, S> {
    /// A new, open generation of `capacity` carrying `state`, and the first
    /// reference to it.
    pub(crate) fn new(capacity: Capacity, state: S) -> Self {
        let (layout, slots_at) = layout::<T, S>(capacity.get());
        // SAFETY: the layout is not zero-sized (it holds a `Chan`, which
        // holds atomics).
        let memory = unsafe { pool::alloc(layout) };
        let Some(memory) = NonNull::new(memory) else {
            handle_alloc_error(layout)
        };
        // SAFETY: `slots_at..layout.size()` is sized and aligned for the
        // slots (`Layout::extend`), used by nothing else, and freed only in
        // `free`, after the `Chan` that holds the ring has been dropped.
        let queue = unsafe { Ring::new_in(memory.add(slots_at), capacity.get()) };
        let chan = memory.cast::<Chan<T, S>>();
        // SAFETY: offset 0 is sized and aligned for a `Chan`, and unwritten.
        unsafe { chan.write(Chan::new(queue, state)) };
        ChanRef {
            chan,
            _owns: PhantomData,
        }
    }

    /// The bytes a generation of `capacity` takes on the heap (counted in
    /// the garbage while it waits for its release, `reclaim::garbage_bytes`).
    pub(crate) fn bytes(capacity: usize) -> usize {
        layout::<T, S>(capacity).0.size()
    }

    /// The generation's address: what the registry's slots hold.
    pub(crate) fn as_ptr(this: &Self) -> *const Chan<T, S> {
        this.chan.as_ptr()
    }

    /// Gives up this reference as a pointer; [`from_raw`](Self::from_raw)
    /// takes it back.
    pub(crate) fn into_raw(this: Self) -> *const Chan<T, S> {
        ManuallyDrop::new(this).chan.as_ptr()
    }

    /// The reference that `into_raw` gave up.
    ///
    /// # Safety
    ///
    /// `chan` must come from [`into_raw`](Self::into_raw), and each such
    /// pointer is taken back once.
    pub(crate) unsafe fn from_raw(chan: *const Chan<T, S>) -> Self {
        ChanRef {
            // SAFETY: `into_raw` returned a non-null pointer.
            chan: unsafe { NonNull::new_unchecked(chan.cast_mut()) },
            _owns: PhantomData,
        }
    }

    /// A new reference to the generation at `chan`, leaving alone the
    /// reference that the pointer itself carries.
    ///
    /// # Safety
    ///
    /// `chan` must point to a generation made by [`new`](Self::new), and some
    /// reference must keep it alive for the duration of the call (an owned
    /// `ChanRef`, or the registry's reference under a pinned epoch guard).
    pub(crate) unsafe fn clone_raw(chan: *const Chan<T, S>) -> Self {
        // SAFETY: alive for this call (the contract above).
        let borrowed = ManuallyDrop::new(unsafe { Self::from_raw(chan) });
        ChanRef::clone(&borrowed)
    }

    /// Whether two references are to the same generation.
    pub(crate) fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.chan == other.chan
    }

    /// The state of a generation that was never published (a `register`
    /// that found its id occupied), dropping the rest.
    ///
    /// # Panics
    ///
    /// If this is not the generation's only reference. An unpublished
    /// generation has no other: only publication (an index insert or a
    /// claim) hands out references.
    pub(crate) fn into_unpublished_state(this: Self) -> S {
        assert!(
            this.refs().load(Ordering::Acquire) == 1,
            "channel-registry: an unpublished generation was shared (a bug in this crate)"
        );
        let this = ManuallyDrop::new(this);
        let capacity = this.capacity();
        // SAFETY: the only reference (asserted) and never used again
        // (`ManuallyDrop`): the `Chan` is moved out once.
        let chan = unsafe { this.chan.as_ptr().read() };
        // The rest of the `Chan` (its ring among it) is dropped inside
        // `into_state`, while its memory is still allocated.
        let state = chan.into_state();
        // SAFETY: the `Chan` was moved out and dropped; the memory is
        // freed once, with the layout it was allocated with.
        unsafe { pool::dealloc(this.chan.as_ptr().cast(), layout::<T, S>(capacity).0) };
        state
    }

    fn refs(&self) -> &sync::AtomicUsize {
        self.deref().refs()
    }

    /// Drops the generation and frees its memory.
    ///
    /// # Safety
    ///
    /// The caller held the last reference (its subtraction took the count to
    /// zero) and has synchronized with every other owner's release.
    unsafe fn free(&mut self) {
        let capacity = self.capacity();
        // SAFETY: the last reference (the contract above): nothing else can
        // reach the `Chan`, which is dropped once, here, ring and all,
        // before the memory that holds the ring's slots is freed.
        unsafe {
            std::ptr::drop_in_place(self.chan.as_ptr());
            pool::dealloc(self.chan.as_ptr().cast(), layout::<T, S>(capacity).0);
        }
    }
}

impl<T, S> Clone for ChanRef<T, S> {
    fn clone(&self) -> Self {
        // Relaxed: the caller's own reference keeps the generation alive,
        // and a new reference publishes nothing (module docs, *The count*).
        let old = self.refs().fetch_add(1, Ordering::Relaxed);
        // As `Arc` does: a count near overflow means references are being
        // leaked (`mem::forget`) without end; abort rather than wrap.
        if old > isize::MAX as usize {
            std::process::abort();
        }
        ChanRef {
            chan: self.chan,
            _owns: PhantomData,
        }
    }
}

impl<T, S> Deref for ChanRef<T, S> {
    type Target = Chan<T, S>;

    #[inline]
    fn deref(&self) -> &Chan<T, S> {
        // SAFETY: this reference keeps the generation alive, and a `Chan`
        // is only ever shared (`&`) after it is written in `new`.
        unsafe { self.chan.as_ref() }
    }
}

impl<T, S> Drop for ChanRef<T, S> {
    fn drop(&mut self) {
        // Release: this owner's uses of the generation happen before the
        // subtraction (module docs, *The count*).
        if self.refs().fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: the teardown sees every other owner's writes, each
        // released by that owner's subtraction. A load rather than `Arc`'s
        // fence: every subtraction is a read-modify-write, so each other
        // owner's `Release` heads a release sequence that this thread's
        // subtraction continues, and an `Acquire` load of the value it
        // wrote synchronizes with all of them. ThreadSanitizer does not
        // model standalone fences and reported the teardown's `free` as a
        // race with the other owner's subtraction (std's `Arc` takes a load
        // under ThreadSanitizer for the same reason); the load is one more
        // read of a line this thread has just written, on the last
        // reference's path only.
        if !cfg!(channel_registry_broken = "release_without_acquire") {
            self.refs().load(Ordering::Acquire);
        }
        // SAFETY: this subtraction took the count to zero, and the load
        // synchronizes with every other owner's release.
        unsafe { self.free() };
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use crate::capacity;
    use std::sync::Arc;

    /// Buffered messages are dropped once, by whichever reference goes
    /// last, on whichever thread; the state with them.
    #[test]
    fn the_last_reference_drops_the_generation_once() {
        let witness = Arc::new(());
        for last_on_other_thread in [false, true] {
            let cap = capacity::check::<Arc<()>>(3).unwrap();
            let first = ChanRef::<Arc<()>, Arc<()>>::new(cap, Arc::clone(&witness));
            let second = ChanRef::clone(&first);
            assert!(ChanRef::ptr_eq(&first, &second));
            first.try_push(Arc::clone(&witness)).ok().unwrap();
            second.try_push(Arc::clone(&witness)).ok().unwrap();
            assert_eq!(Arc::strong_count(&witness), 4);
            let other = std::thread::spawn(move || drop(second));
            if last_on_other_thread {
                drop(first);
                other.join().unwrap();
            } else {
                other.join().unwrap();
                assert_eq!(Arc::strong_count(&witness), 4, "freed too early");
                drop(first);
            }
            assert_eq!(Arc::strong_count(&witness), 1);
        }
    }

    /// A raw pointer round trip keeps the count; `clone_raw` adds one.
    #[test]
    fn raw_pointers_carry_their_reference() {
        let cap = capacity::check::<u8>(1).unwrap();
        let chan = ChanRef::<u8, ()>::new(cap, ());
        let raw = ChanRef::into_raw(chan);
        // SAFETY: `raw` carries a reference, which keeps it alive here and
        // is taken back once, below.
        let extra = unsafe { ChanRef::clone_raw(raw) };
        assert_eq!(extra.refs().load(Ordering::Relaxed), 2);
        drop(extra);
        // SAFETY: from `into_raw`, taken back once.
        let chan = unsafe { ChanRef::from_raw(raw) };
        assert_eq!(chan.refs().load(Ordering::Relaxed), 1);
        assert_eq!(ChanRef::into_unpublished_state(chan), ());
    }

    #[test]
    #[should_panic(expected = "unpublished generation was shared")]
    fn a_shared_generation_is_not_unpublished() {
        let cap = capacity::check::<u8>(1).unwrap();
        let chan = ChanRef::<u8, ()>::new(cap, ());
        let _other = ChanRef::clone(&chan);
        ChanRef::into_unpublished_state(chan);
    }
}

/// The count under loom: the last reference may go on either thread, and
/// its teardown must see what the other thread did to the generation.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::capacity;
    use loom::sync::Arc;

    /// Each thread pushes a message (loom's `Arc`, so a message never
    /// dropped fails the model) and drops its reference. Whichever drops
    /// last tears the generation down and drops both messages: it must
    /// have acquired the other thread's push. Negative control
    /// `release_without_acquire`: the teardown's reads of the other
    /// thread's slot race its write (a causality violation), or it reads a
    /// stale tail and never drops the message (a leak).
    #[test]
    fn the_last_reference_on_either_thread_sees_the_other_threads_push() {
        loom::model(|| {
            let cap = capacity::check::<Arc<()>>(2).unwrap();
            let here = ChanRef::<Arc<()>, ()>::new(cap, ());
            let there = ChanRef::clone(&here);
            let other = loom::thread::spawn(move || {
                there.try_push(Arc::new(())).ok().unwrap();
                drop(there);
            });
            here.try_push(Arc::new(())).ok().unwrap();
            drop(here);
            other.join().unwrap();
        });
    }
}
