//! A bounded multi-producer multi-consumer ring buffer that can be closed.
//!
//! The algorithm is Dmitry Vyukov's bounded queue with per-slot stamps, in the
//! form crossbeam's `ArrayQueue` and concurrent-queue's bounded flavor use,
//! with a *close* bit in the tail. It is owned here for two reasons:
//!
//! * **Size.** concurrent-queue pads its head and tail to 128-byte cache
//!   lines and inlines its unbounded flavor, so a `ConcurrentQueue<T>` is
//!   512 bytes before its buffer. A registry holds thousands of mostly idle
//!   channels, so this ring keeps head and tail unpadded: 32 bytes plus the
//!   slots. Producers and the consumer of one channel then share a cache
//!   line; that costs under contention on one id, which is not the common
//!   case of a registry.
//! * **Verification.** Every atomic and every slot access goes through
//!   [`crate::sync`], so under `--cfg loom` the ring is model-checked as part
//!   of the registry's protocol, slot data races included (loom's
//!   `UnsafeCell` tracks them).
//!
//! # Memory
//!
//! A ring owns its slots (it drops them, and the values between head and
//! tail) but not the memory they live in: [`Ring::new_in`] builds them in
//! memory its caller provides and frees after the ring is dropped. The
//! registry puts them right after the generation that holds the ring, in
//! one allocation (`crate::chan_ref`), so a generation costs one
//! allocation and one free, not two.
//!
//! # Stamps
//!
//! `head` and `tail` are stamps: the low bits are an index into `slots`, the
//! bit above them (`mark_bit`) is the close bit (tail only), and the bits above
//! that count laps. A slot's stamp says what the slot is waiting for: equal to
//! the tail stamp that may write it, or to that stamp plus one once written
//! (and then waiting for the head stamp that may read it, which is the same
//! value minus one); a read sets it to the head stamp plus one lap, which is
//! the tail stamp of the next lap's write.
//!
//! # An unfinished neighbour
//!
//! A push can find its slot still being read by a pop that has already
//! moved the head, and a pop can find its slot claimed by a push that has
//! not written it yet. `push` and `pop` wait for that other thread (it is
//! running, or descheduled mid-operation), because FIFO order and the
//! close may already have ordered it before them. `push_unless_busy` and
//! `pop_unless_busy` report full or empty instead, for a caller that will
//! register and sleep and be woken when the other thread finishes
//! (`crate::chan`, *Waiting without spinning*).
//!
//! # Orderings
//!
//! * A slot's stamp is the hand-off of its value: the writer stores the stamp
//!   with `Release` after writing the value, the reader loads it with
//!   `Acquire` before reading it (and the other way round when a read frees
//!   the slot for the next lap's writer).
//! * `head` and `tail` are advanced by `SeqCst` compare-and-swaps, and the
//!   full / empty checks read the other end after a `SeqCst` fence, so a
//!   producer that sees a full ring and a consumer that sees an empty one
//!   cannot both be wrong about the same moment.
//! * The close is a `SeqCst` `fetch_or` on `tail`. A push that reads the bit
//!   fails; a push whose CAS on `tail` succeeded before the close is
//!   delivered. `crate::chan` relies on the close being a release RMW on the
//!   word a failed push read (see `Chan::successor_after_failed_push`).

use std::alloc::Layout;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell, fence, spin, wait};

/// Why a push failed; the message comes back.
pub(crate) enum PushError<T> {
    Full(T),
    Closed(T),
}

/// Why a pop failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PopError {
    Empty,
    /// Closed and empty.
    Closed,
}

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

pub(crate) struct Ring<T> {
    head: AtomicUsize,
    tail: AtomicUsize,
    /// `capacity` slots, built by [`Ring::new_in`] and dropped by the
    /// ring's `Drop`, in memory that the ring's owner frees after it.
    slots: NonNull<Slot<T>>,
    capacity: usize,
    /// The ring owns (drops) its slots and, through them, its values.
    _owns: PhantomData<Slot<T>>,
}

// SAFETY: values of `T` move between threads through the ring (push on one,
// pop or drop on another), which needs `T: Send` and nothing more; the slots
// (behind a raw pointer, so not `Send` by default) are only accessed under
// the stamp protocol above.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above: `&Ring` only hands out owned `T`s, one per slot write.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// The bytes a ring allocates per slot of capacity: the value and its
    /// stamp (what `capacity::check` charges against `MAX_BUFFER_BYTES`).
    pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Slot<T>>();

    /// The memory [`new_in`](Self::new_in) needs for `capacity` slots.
    ///
    /// # Panics
    ///
    /// If the slots' size overflows `isize` (the registry caps capacities
    /// far below that, `crate::capacity`).
    pub(crate) fn slots_layout(capacity: usize) -> Layout {
        Layout::array::<Slot<T>>(capacity).expect("channel-registry: ring capacity overflows")
    }

    /// A ring of `capacity` slots, built in the memory at `slots`.
    /// `capacity` must be at least 1 and small enough that two more bits
    /// fit above the index (the registry caps it at 2^20).
    ///
    /// # Safety
    ///
    /// `slots` must be valid for writes of [`slots_layout(capacity)`]
    /// (size and alignment), used by nothing else, and stay allocated until
    /// the ring has been dropped. Moving the ring is fine: the slots stay
    /// where they are.
    ///
    /// [`slots_layout(capacity)`]: Self::slots_layout
    pub(crate) unsafe fn new_in(slots: NonNull<u8>, capacity: usize) -> Self {
        assert!(capacity >= 1, "ring capacity must be at least 1");
        let slots = slots.cast::<Slot<T>>();
        for i in 0..capacity {
            // SAFETY: slot `i` lies inside the caller's memory (contract
            // above), and nothing has been written there yet.
            unsafe {
                slots.add(i).write(Slot {
                    stamp: AtomicUsize::new(i),
                    value: UnsafeCell::new(MaybeUninit::uninit()),
                });
            }
        }
        Ring {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            slots,
            capacity,
            _owns: PhantomData,
        }
    }

    /// The slots, as a slice (indexing stays bounds-checked).
    #[inline]
    fn slots(&self) -> &[Slot<T>] {
        // SAFETY: `new_in` built `capacity` slots at `slots`, which stay
        // allocated while the ring lives (its contract); they are only
        // mutated through their atomics and cells.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity) }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The close bit: the first power of two above every index.
    #[inline]
    fn mark_bit(&self) -> usize {
        (self.capacity + 1).next_power_of_two()
    }

    /// One lap: the unit the lap counter counts in.
    #[inline]
    fn one_lap(&self) -> usize {
        self.mark_bit() * 2
    }

    /// The stamp after `stamp` (lap and close bits kept as they are, index
    /// wrapping into the next lap).
    #[inline]
    fn next(&self, stamp: usize) -> usize {
        let index = stamp & (self.mark_bit() - 1);
        if index + 1 < self.capacity {
            stamp + 1
        } else {
            (stamp & !(self.one_lap() - 1)).wrapping_add(self.one_lap())
        }
    }

    /// Pushes `value`. If the slot is still being read by a pop that has
    /// moved the head, waits for that pop (it is running, or descheduled
    /// with the slot claimed).
    pub(crate) fn push(&self, value: T) -> Result<(), PushError<T>> {
        self.push_with(value, true)
    }

    /// Like [`push`](Self::push), but a slot still being read by a pop
    /// counts as full instead of being waited for. For a sender that will
    /// register and sleep when it sees `Full`: the pop wakes a sender when
    /// it is done (`Chan::try_pop`), so the sender sleeps instead of
    /// spinning on a thread that may be descheduled.
    pub(crate) fn push_unless_busy(&self, value: T) -> Result<(), PushError<T>> {
        self.push_with(value, false)
    }

    fn push_with(&self, value: T, wait_for_pop: bool) -> Result<(), PushError<T>> {
        let mark_bit = self.mark_bit();
        let one_lap = self.one_lap();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & mark_bit != 0 {
                return Err(PushError::Closed(value));
            }
            let slot = &self.slots()[tail & (mark_bit - 1)];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot is free for this lap: claim it by moving the tail.
                // `SeqCst` (module docs, *Orderings*): the full / empty
                // argument rests on the `SeqCst` fences, which order these
                // CASes whatever their own ordering (the C++20 fence rule),
                // so `AcqRel` would do; it is kept because on x86-64 and
                // AArch64 both compile to the same instruction, and loom
                // could not check the difference (it runs `SeqCst`
                // accesses as `AcqRel`, tokio-rs/loom#180).
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS gave this thread the slot for this
                        // lap: no other push can win the same tail stamp, and
                        // no pop reads it before the stamp below says so. The
                        // Acquire load of the stamp above ordered the previous
                        // lap's read of this slot before this write.
                        slot.value.with_mut(|v| unsafe { (*v).write(value) });
                        // Negative control (`just loom-negative`): without
                        // the Release, a pop may read the slot before the
                        // write is visible, which loom reports as a race.
                        let publish = if cfg!(channel_registry_broken = "ring_relaxed_stamp") {
                            Ordering::Relaxed
                        } else {
                            Ordering::Release
                        };
                        slot.stamp.store(tail + 1, publish);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else if stamp.wrapping_add(one_lap) == tail + 1 {
                // The slot still holds last lap's value: full, unless a pop
                // is under way. Read the head after a fence (module docs).
                // Weakened or removed, this fence passes `just orderings`:
                // without it the head read can only be stale when nothing
                // orders the pop before this push, and then "full" is
                // linearizable with the push first, which is all that loom
                // checks (against program order). The fence is what keeps
                // "full" true in real time, against a pop that finished
                // before this push began on a thread it never synchronized
                // with; it runs on the full path only.
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(one_lap) == tail {
                    return Err(PushError::Full(value));
                }
                // A pop has moved the head and is still reading the slot.
                if !wait_for_pop {
                    return Err(PushError::Full(value));
                }
                wait();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another push moved the tail past this stamp: retry.
                spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the oldest value. If a push has claimed the head's slot and
    /// not yet written it, waits for that push.
    pub(crate) fn pop(&self) -> Result<T, PopError> {
        self.pop_with(true)
    }

    /// Like [`pop`](Self::pop), but a slot claimed by a push that has not
    /// written it yet counts as empty. For a receiver that will register and
    /// sleep when it sees `Empty`: the push wakes a receiver when it is done
    /// (`Chan::try_push`).
    pub(crate) fn pop_unless_busy(&self) -> Result<T, PopError> {
        self.pop_with(false)
    }

    fn pop_with(&self, wait_for_push: bool) -> Result<T, PopError> {
        let mark_bit = self.mark_bit();
        let one_lap = self.one_lap();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots()[head & (mark_bit - 1)];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                // Written for this lap: claim it by moving the head
                // (`SeqCst`: as for the tail's CAS in `push_with`).
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp (loaded with Acquire, after the
                        // writer's Release store) says the value is written;
                        // the CAS gave this thread the only read of it this
                        // lap. The stamp store below hands the slot to the
                        // next lap's writer after the read.
                        let value = slot.value.with(|v| unsafe { (*v).assume_init_read() });
                        slot.stamp
                            .store(head.wrapping_add(one_lap), Ordering::Release);
                        return Ok(value);
                    }
                    Err(current) => head = current,
                }
            } else if stamp == head {
                // Not written for this lap: empty, unless a push claimed the
                // slot and is still writing it. (The fence keeps "empty"
                // true in real time; see the full check in `push_with` for
                // why `just orderings` cannot catch its removal.)
                fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !mark_bit == head {
                    return Err(if tail & mark_bit != 0 {
                        PopError::Closed
                    } else {
                        PopError::Empty
                    });
                }
                // A push owns the slot and will write it: wait for it.
                if !wait_for_push {
                    return Err(PopError::Empty);
                }
                wait();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another pop moved the head: retry.
                spin();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Sets the close bit; true if this call set it. Pushes fail from now
    /// on; pops drain what was pushed before, then report `Closed`.
    ///
    /// `SeqCst`: the close is a release on `tail` that a failed push
    /// acquires (`Chan::successor_after_failed_push`); `AcqRel` would give
    /// that, and `SeqCst` also places the close in the single total order
    /// with the fences of the full / empty checks and the wake-up protocol.
    /// loom cannot tell the two apart (tokio-rs/loom#180), and an RMW
    /// compiles to the same instruction either way on x86-64 and AArch64.
    pub(crate) fn close(&self) -> bool {
        self.tail.fetch_or(self.mark_bit(), Ordering::SeqCst) & self.mark_bit() == 0
    }

    /// Whether the ring is closed with no value in it, for its only
    /// consumer: after a close, no push can claim a slot any more, so an
    /// empty ring stays empty and a drain has nothing to do. Reads the head
    /// and tail only, not the slots (a drain's `pop` reads the head's slot
    /// first, another cache line). `Relaxed`: no value is read on a `true`,
    /// and the caller's own close or its load that saw the close bit
    /// (earlier in program order, on the same word) keeps the tail load from
    /// seeing an older tail, so every push that won against the close is
    /// counted; the head is the caller's own.
    pub(crate) fn is_closed_and_empty(&self) -> bool {
        let mark_bit = self.mark_bit();
        let tail = self.tail.load(Ordering::Relaxed);
        tail & mark_bit != 0 && tail & !mark_bit == self.head.load(Ordering::Relaxed)
    }

    /// `SeqCst`, not `Acquire`: a read of the close bit takes its place in
    /// the single total order with the close, so a thread that learned by
    /// other `SeqCst` means that a `delete` finished sees the bit. A plain
    /// load on x86-64 either way, and loom cannot tell (tokio-rs/loom#180).
    /// A dropped receiver that reads the bit set skips its own close
    /// (`Chan::close_and_drain`): what it relies on is only that the bit,
    /// once set, stays set, and that the tail it read is the closed one,
    /// later in the tail's modification order than every push that won.
    pub(crate) fn is_closed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.mark_bit() != 0
    }

    /// The number of values in the ring (a snapshot under concurrency).
    pub(crate) fn len(&self) -> usize {
        let mark_bit = self.mark_bit();
        loop {
            // Retry until the tail did not move while the head was read, so
            // the two stamps belong to one moment. `SeqCst` loads, as in
            // crossbeam's `ArrayQueue::len`: a snapshot for `len` and
            // `Debug`, never a protocol decision; plain loads on x86-64
            // either way, and loom cannot tell them from `Acquire`
            // (tokio-rs/loom#180).
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                return self.distance(head, tail & !mark_bit);
            }
        }
    }

    /// Values between a head and a tail stamp (close bit cleared).
    fn distance(&self, head: usize, tail: usize) -> usize {
        let mask = self.mark_bit() - 1;
        let (hix, tix) = (head & mask, tail & mask);
        let cap = self.capacity;
        if hix < tix {
            tix - hix
        } else if hix > tix {
            cap - hix + tix
        } else if tail == head {
            0
        } else {
            cap
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no push or pop is in flight, so every slot between the
        // head and the tail holds a written value.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed) & !self.mark_bit();
        let mask = self.mark_bit() - 1;
        let cap = self.capacity;
        for i in 0..self.distance(head, tail) {
            let index = ((head & mask) + i) % cap;
            // SAFETY: slot `index` lies between head and tail, so a push
            // wrote it and no pop read it; each is dropped once, here.
            self.slots()[index]
                .value
                .with_mut(|v| unsafe { (*v).assume_init_drop() });
        }
        // SAFETY: the slots were built by `new_in` and are dropped once,
        // here (their values are `MaybeUninit`: the live ones were dropped
        // above). Their memory is the owner's to free, after this.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.slots.as_ptr(),
                self.capacity,
            ));
        }
    }
}

/// A ring in memory of its own, for the ring's tests: the registry's rings
/// live in their generation's allocation instead (`crate::chan_ref`).
#[cfg(all(test, not(shuttle)))]
pub(crate) struct OwnedRing<T> {
    ring: std::mem::ManuallyDrop<Ring<T>>,
    memory: NonNull<[MaybeUninit<Slot<T>>]>,
}

#[cfg(all(test, not(shuttle)))]
impl<T> OwnedRing<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let memory = NonNull::from(Box::leak(Box::<[Slot<T>]>::new_uninit_slice(capacity)));
        // SAFETY: `memory` holds `capacity` slots, is used by nothing else,
        // and is freed in `drop` after the ring.
        let ring = unsafe { Ring::new_in(memory.cast(), capacity) };
        OwnedRing {
            ring: std::mem::ManuallyDrop::new(ring),
            memory,
        }
    }
}

// SAFETY: as for `Ring`: the memory is only the ring's, and freed once.
#[cfg(all(test, not(shuttle)))]
unsafe impl<T: Send> Send for OwnedRing<T> {}
// SAFETY: as for `Ring`: `&OwnedRing` gives only `&Ring`.
#[cfg(all(test, not(shuttle)))]
unsafe impl<T: Send> Sync for OwnedRing<T> {}

#[cfg(all(test, not(shuttle)))]
impl<T> std::ops::Deref for OwnedRing<T> {
    type Target = Ring<T>;
    fn deref(&self) -> &Ring<T> {
        &self.ring
    }
}

#[cfg(all(test, not(shuttle)))]
impl<T> Drop for OwnedRing<T> {
    fn drop(&mut self) {
        // SAFETY: the ring is dropped once, here, before its memory.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.ring) };
        // SAFETY: `memory` came from `Box::leak` in `new`; the slots in it
        // were dropped with the ring, and `MaybeUninit` drops nothing.
        drop(unsafe { Box::from_raw(self.memory.as_ptr()) });
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use std::sync::Arc as StdArc;

    #[test]
    fn fifo_full_and_laps_sequentially() {
        for cap in [1usize, 2, 3, 5, 8] {
            let ring = OwnedRing::new(cap);
            let mut next_in = 0u32;
            let mut next_out = 0u32;
            // Many laps, with the ring at every fill level.
            for round in 0..50 {
                let fill = round % (cap + 1);
                for _ in 0..fill {
                    assert!(ring.push(next_in).is_ok());
                    next_in += 1;
                }
                assert_eq!(ring.len(), fill);
                if fill == cap {
                    assert!(matches!(ring.push(99), Err(PushError::Full(99))));
                }
                for _ in 0..fill {
                    assert_eq!(ring.pop().ok(), Some(next_out));
                    next_out += 1;
                }
                assert_eq!(ring.pop().err(), Some(PopError::Empty));
                assert_eq!(ring.len(), 0);
            }
        }
    }

    #[test]
    fn close_keeps_buffered_values_and_refuses_pushes() {
        let ring = OwnedRing::new(3);
        ring.push(1).ok().unwrap();
        ring.push(2).ok().unwrap();
        assert!(ring.close());
        assert!(!ring.close(), "second close reports it was already closed");
        assert!(ring.is_closed());
        assert!(matches!(ring.push(3), Err(PushError::Closed(3))));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.pop().ok(), Some(1));
        assert_eq!(ring.pop().ok(), Some(2));
        assert_eq!(ring.pop().err(), Some(PopError::Closed));
    }

    #[test]
    fn full_and_closed_reports_closed() {
        let ring = OwnedRing::new(1);
        ring.push(1).ok().unwrap();
        ring.close();
        assert!(matches!(ring.push(2), Err(PushError::Closed(2))));
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn drop_drops_what_is_left_once() {
        for cap in [1usize, 2, 4] {
            for popped in 0..=cap {
                let witness = StdArc::new(());
                let ring = OwnedRing::new(cap);
                // Advance the head past the lap boundary first.
                for _ in 0..cap + 1 {
                    ring.push(StdArc::clone(&witness)).ok().unwrap();
                    drop(ring.pop().ok().unwrap());
                }
                // One witness per value: a slot dropped twice and another
                // never shows as two wrong counts, not as a right total.
                let values: Vec<StdArc<()>> = (0..cap).map(|_| StdArc::new(())).collect();
                for value in &values {
                    ring.push(StdArc::clone(value)).ok().unwrap();
                }
                for _ in 0..popped {
                    drop(ring.pop().ok().unwrap());
                }
                drop(ring);
                assert_eq!(StdArc::strong_count(&witness), 1);
                for (k, value) in values.iter().enumerate() {
                    assert_eq!(
                        StdArc::strong_count(value),
                        1,
                        "cap {cap}, popped {popped}, value {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn threads_lose_and_duplicate_nothing() {
        const PER_PRODUCER: u32 = 20_000;
        let ring = StdArc::new(OwnedRing::new(4));
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let ring = StdArc::clone(&ring);
                std::thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let mut v = p * PER_PRODUCER + i;
                        loop {
                            match ring.push(v) {
                                Ok(()) => break,
                                Err(PushError::Full(back)) => {
                                    v = back;
                                    std::thread::yield_now();
                                }
                                Err(PushError::Closed(_)) => unreachable!("never closed"),
                            }
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let ring = StdArc::clone(&ring);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while got.len() < PER_PRODUCER as usize {
                        match ring.pop() {
                            Ok(v) => got.push(v),
                            Err(_) => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let mut all: Vec<u32> = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            // Each producer's values come out of one consumer in order.
            for p in 0..2 {
                let mine: Vec<u32> = got
                    .iter()
                    .copied()
                    .filter(|v| v / PER_PRODUCER == p)
                    .collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per producer");
            }
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, (0..2 * PER_PRODUCER).collect::<Vec<_>>());
    }
}

/// The ring alone under loom, at the lap boundary, where the registry-level
/// models rarely put it.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A ring of `cap` whose head and tail sit on the last index of lap 0.
    fn at_lap_boundary(cap: usize) -> OwnedRing<u32> {
        let ring = OwnedRing::new(cap);
        for i in 0..cap - 1 {
            ring.push(100 + i as u32).ok().unwrap();
            ring.pop().ok().unwrap();
        }
        ring
    }

    #[test]
    fn two_producers_one_consumer_across_the_lap() {
        loom::model(|| {
            let ring = Arc::new(at_lap_boundary(2));
            let spawn = |v: u32| {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || ring.push(v).is_ok())
            };
            let (a, b) = (spawn(1), spawn(2));
            let first = ring.pop().ok();
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            let mut out: Vec<u32> = first.into_iter().collect();
            while let Ok(v) = ring.pop() {
                out.push(v);
            }
            out.sort_unstable();
            let mut accepted: Vec<u32> = [(a, 1), (b, 2)]
                .into_iter()
                .filter(|&(ok, _)| ok)
                .map(|(_, v)| v)
                .collect();
            accepted.sort_unstable();
            // Capacity 2: both pushes fit.
            assert_eq!(accepted, vec![1, 2]);
            assert_eq!(out, accepted, "accepted values come out exactly once");
        });
    }

    /// One push racing one pop on an empty ring, with each operation on
    /// either side of the spawn. Both placements are needed: loom 0.7
    /// explores the spawned thread's operation after the main thread's
    /// first, and its DPOR misses the reversed order when the spawned
    /// operation loads a location before storing to it (tokio-rs/loom#392,
    /// `loom-tests/README.md`). With the push spawned, loom runs one
    /// execution only.
    fn push_races_pop(push_spawned: bool) {
        loom::model(move || {
            let ring = Arc::new(OwnedRing::new(1));
            let other = Arc::clone(&ring);
            let (pushed, got) = if push_spawned {
                let t = loom::thread::spawn(move || other.push(5).is_ok());
                let got = ring.pop().ok();
                (t.join().unwrap(), got)
            } else {
                let t = loom::thread::spawn(move || other.pop().ok());
                let pushed = ring.push(5).is_ok();
                (pushed, t.join().unwrap())
            };
            assert!(pushed, "capacity 1, empty: the push fits");
            let rest = ring.pop().ok();
            assert_eq!(
                got.into_iter().chain(rest).collect::<Vec<_>>(),
                vec![5],
                "the value comes out exactly once"
            );
        });
    }

    #[test]
    fn push_races_pop_push_spawned() {
        push_races_pop(true);
    }

    #[test]
    fn push_races_pop_pop_spawned() {
        push_races_pop(false);
    }

    #[test]
    fn push_pop_close_race() {
        loom::model(|| {
            let ring = Arc::new(at_lap_boundary(1));
            ring.push(7).ok().unwrap(); // full
            let producer = {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || match ring.push(8) {
                    Ok(()) => Some(true),
                    Err(PushError::Full(_)) => Some(false),
                    Err(PushError::Closed(_)) => None,
                })
            };
            let closer = {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || ring.close())
            };
            let first = ring.pop();
            let pushed = producer.join().unwrap();
            assert!(closer.join().unwrap());
            assert_eq!(first.ok(), Some(7), "the buffered value is not lost");
            let mut rest = Vec::new();
            loop {
                match ring.pop() {
                    Ok(v) => rest.push(v),
                    Err(e) => {
                        assert_eq!(e, PopError::Closed, "closed and drained");
                        break;
                    }
                }
            }
            let expected: Vec<u32> = if pushed == Some(true) {
                vec![8]
            } else {
                vec![]
            };
            assert_eq!(rest, expected);
        });
    }
}
