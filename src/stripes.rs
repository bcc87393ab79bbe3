//! A count split over cache lines, for statistics that many threads change
//! at once.
//!
//! A single shared word written on every create and every free was one of
//! the churn benchmark's hot spots: each write pulls the line away from the
//! other cores. In a build with both the process-wide count of live
//! channels and the registry's count of live ids removed outright, churn
//! at 1,024 ids ran 29% faster at 2 threads and 15% at 8 on 2 cores. As
//! landed (this count striped, the registry's count replaced by the point
//! index's own), it ran 15% and 9% faster. Here each thread adds to its
//! own stripe (threads are dealt stripes in turn), and a read sums them all:
//! reads are rare (`channels_alive`). Plain `std` atomics in every build: a
//! statistic that no protocol decision reads, so not a model-checker object.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

const STRIPES: usize = 16;

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
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    // A thread whose thread-locals are gone (a destructor freeing a channel
    // at thread exit) uses stripe 0.
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// A count in one word on its own cache line pair, for a statistic that is
/// read as often as it is written (a striped one would make every read sum
/// all the stripes). Plain `std` atomics for the same reason as [`Striped`]:
/// no protocol decision depends on its exact value.
#[repr(align(128))]
pub(crate) struct Count(AtomicIsize);

impl Count {
    pub(crate) const fn new() -> Self {
        Count(AtomicIsize::new(0))
    }

    /// Adds `n` (negative to subtract).
    #[inline]
    pub(crate) fn add(&self, n: isize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count: exact when no thread is changing it; a reader racing an
    /// add and a subtract on two threads may see it below zero for a
    /// moment.
    #[inline]
    pub(crate) fn sum(&self) -> isize {
        self.0.load(Ordering::Relaxed)
    }
}
