//! Counts split over cache lines, for statistics that many threads change
//! at once, and a cached answer worked out from them now and then.
//!
//! A single shared word written on every create and every free was one of
//! the churn benchmark's hot spots: each write pulls the line away from the
//! other cores. In a build with both the process-wide count of live
//! channels and the registry's count of live ids removed outright, churn
//! at 1,024 ids ran 29% faster at 2 threads and 15% at 8 on 2 cores. As
//! landed (this count striped, the registry's count replaced by the point
//! index's own), it ran 15% and 9% faster. Here each thread adds to its
//! own stripe (threads are dealt stripes in turn), and a read sums them all:
//! reads are rare (`channels_alive`, `Registry::len`, and one delete in 16
//! of a thread for the registry's count of kept nodes, whose decision is
//! cached between reads in a [`Hint`]). Plain `std` atomics in every build:
//! statistics and hints that steer a choice between two correct paths and
//! never decide safety, so not model-checker objects.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// Sixteen in normal builds. One under the model checkers: their threads
/// are coroutines on small stacks, and a registry (which holds a `Striped`)
/// 2 KiB larger overflowed loom's stack in debug builds, where it is
/// moved by copy; a statistic needs no stripes there.
#[cfg(not(any(loom, shuttle)))]
const STRIPES: usize = 16;
#[cfg(any(loom, shuttle))]
const STRIPES: usize = 1;

/// One stripe on its own cache line pair (adjacent-line prefetch on x86-64).
#[repr(align(128))]
struct Stripe(AtomicIsize);

pub(crate) struct Striped {
    stripes: [Stripe; STRIPES],
}

impl Striped {
    pub(crate) const fn new() -> Self {
        Striped {
            stripes: [const { Stripe(AtomicIsize::new(0)) }; STRIPES],
        }
    }

    /// Adds `n` (negative to subtract) on the calling thread's stripe.
    #[inline]
    pub(crate) fn add(&self, n: isize) {
        self.stripes[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The total: exact when no thread is changing it.
    pub(crate) fn sum(&self) -> usize {
        let total: isize = self
            .stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, isize::wrapping_add);
        total.max(0) as usize
    }
}

/// The calling thread's stripe.
#[inline]
// Under the model checkers `STRIPES` is 1, and every thread's stripe is 0.
#[allow(clippy::modulo_one)]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    // A thread whose thread-locals are gone (a destructor freeing a channel
    // at thread exit) uses stripe 0.
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// Whether this call is the calling thread's `n`th since its last `true`
/// (the first call on a thread is): for a decision that may be taken from a
/// cached answer most of the time and worked out again now and then. The
/// tick is the thread's own, shared by every caller; a thread whose
/// thread-locals are gone always works it out.
#[inline]
pub(crate) fn one_in(n: u32) -> bool {
    std::thread_local! {
        static TICK: Cell<u32> = const { Cell::new(0) };
    }
    TICK.try_with(|tick| {
        let t = tick.get();
        tick.set(if t + 1 >= n { 0 } else { t + 1 });
        t == 0
    })
    .unwrap_or(true)
}

/// A yes-or-no answer worked out now and then and read in between, on its
/// own cache line pair: written only when the answer changes, so readers on
/// other cores keep their copy of the line. Plain `std` atomics for the same
/// reason as [`Striped`]: a hint that only steers a choice between two
/// correct paths.
#[repr(align(128))]
pub(crate) struct Hint(AtomicBool);

impl Hint {
    pub(crate) const fn new(answer: bool) -> Self {
        Hint(AtomicBool::new(answer))
    }

    /// The last answer stored.
    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Stores `answer`, writing the line only if it changed.
    #[inline]
    pub(crate) fn set(&self, answer: bool) {
        if self.get() != answer {
            self.0.store(answer, Ordering::Relaxed);
        }
    }
}
