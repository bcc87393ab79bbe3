//! The one place that chooses between `std`, `loom` and `shuttle`.
//!
//! Every module of the crate takes its atomics, `Arc`, `Mutex`, thread
//! parking and epoch pinning from here, so the protocol code that ships is the
//! code that the model checkers run (the pattern of tokio's `src/loom/` and
//! `concurrent-queue`'s `sync.rs`). It also gives the ring buffer an
//! `UnsafeCell` with loom's closure API and the two ways its retry loops back
//! off (`spin`, `wait`), which yield to the model's scheduler.
//!
//! Three builds:
//!
//! * normal builds: `std`, and crossbeam-epoch's default collector
//!   (`epoch::pin()`);
//! * `--cfg loom` (`RUSTFLAGS="--cfg loom" cargo test`): loom's primitives,
//!   which explore every interleaving up to a bound and model the C11 memory
//!   model (weak loads included);
//! * `--cfg shuttle` (`just shuttle`): awslabs' shuttle, which runs long
//!   random and PCT schedules of larger scenarios. Every shuttle atomic is
//!   `SeqCst`, so this mode finds schedule bugs, never weak-memory bugs.
//!
//! Under both checkers the simulated threads are coroutines on one OS thread,
//! so crossbeam-epoch's std `thread_local!` would be shared by all of them.
//! Each simulated thread therefore registers its own `LocalHandle` with a
//! collector that lives and dies with the execution (the checker's own
//! `lazy_static!` and `thread_local!`). `--cfg loom --cfg crossbeam_loom`
//! (`just loom-deep`) builds crossbeam-epoch against loom as well, whose
//! default collector already does that, so `epoch::pin()` is used and
//! epoch's own atomics are modelled too.

pub(crate) use crossbeam_epoch::Guard;

#[cfg(all(loom, shuttle))]
compile_error!("`--cfg loom` and `--cfg shuttle` are two different model checkers: pick one");

#[cfg(not(any(loom, shuttle)))]
mod imp {
    pub(crate) use super::cell::UnsafeCell;
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod thread {
        pub(crate) use std::thread::{Thread, current, park, park_timeout};
    }

    /// A retry after losing a race to another thread's completed step.
    #[inline]
    pub(crate) fn spin() {
        std::hint::spin_loop();
    }

    /// Waiting for another thread to finish a step it has started (a push
    /// writing its slot, a pop reading one): it may be descheduled, so give
    /// up the CPU.
    #[inline]
    pub(crate) fn wait() {
        std::thread::yield_now();
    }

    #[inline]
    pub(crate) fn pin() -> crossbeam_epoch::Guard {
        crossbeam_epoch::pin()
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, fence};
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::Ordering;

    pub(crate) mod thread {
        pub(crate) use loom::thread::{Thread, current, park};
    }

    pub(crate) use loom::cell::UnsafeCell;

    /// Every retry loop yields to loom's scheduler, or loom would explore
    /// the spinning thread forever.
    pub(crate) fn spin() {
        loom::thread::yield_now();
    }

    pub(crate) fn wait() {
        loom::thread::yield_now();
    }

    #[cfg(crossbeam_loom)]
    pub(crate) fn pin() -> crossbeam_epoch::Guard {
        crossbeam_epoch::pin()
    }

    #[cfg(not(crossbeam_loom))]
    pub(crate) fn pin() -> crossbeam_epoch::Guard {
        use crossbeam_epoch::{Collector, LocalHandle};
        loom::lazy_static! {
            static ref COLLECTOR: Collector = Collector::new();
        }
        loom::thread_local! {
            static HANDLE: LocalHandle = COLLECTOR.register();
        }
        HANDLE.with(|handle| handle.pin())
    }
}

#[cfg(shuttle)]
mod imp {
    pub(crate) use super::cell::UnsafeCell;
    pub(crate) use shuttle::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
    pub(crate) use shuttle::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod thread {
        pub(crate) use shuttle::thread::{Thread, current, park};
    }

    /// Retry loops yield to shuttle's scheduler (its PCT scheduler also
    /// lowers a yielding thread's priority, so a spin cannot starve the
    /// thread it waits for).
    pub(crate) fn spin() {
        shuttle::thread::yield_now();
    }

    pub(crate) fn wait() {
        shuttle::thread::yield_now();
    }

    /// Whether a timed wait that found nothing to do gives up now. Shuttle
    /// has no clock: a deadline may pass at any point of the schedule, so
    /// each pending attempt of a timed wait times out with probability 1/2,
    /// drawn from shuttle's own random source (replayed with the schedule).
    pub(crate) fn deadline_passes() -> bool {
        use shuttle::rand::RngCore;
        shuttle::rand::thread_rng().next_u32() % 2 == 0
    }

    pub(crate) fn pin() -> crossbeam_epoch::Guard {
        use crossbeam_epoch::{Collector, LocalHandle};
        shuttle::lazy_static! {
            static ref COLLECTOR: Collector = Collector::new();
        }
        shuttle::thread_local! {
            static HANDLE: LocalHandle = COLLECTOR.register();
        }
        HANDLE.with(|handle| handle.pin())
    }
}

#[cfg(not(loom))]
mod cell {
    /// `std::cell::UnsafeCell` with loom's closure API, so the ring's slot
    /// accesses are written once for every build. (Shuttle does not track
    /// cell accesses; loom does.)
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) use imp::*;

/// Locks `mutex`, ignoring poisoning.
///
/// The crate's mutexes only guard waiter lists whose every update is a single
/// push or remove; a panic while one is held (from a user `Waker`'s `clone`
/// or `drop`) cannot leave the list half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
