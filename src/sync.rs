//! The one place that chooses between `std` and `loom`.
//!
//! Every module of the crate takes its atomics, `Arc`, `Mutex`, thread
//! parking and epoch pinning from here, so the protocol code that ships is the
//! code that `RUSTFLAGS="--cfg loom" cargo test` model-checks (the pattern of
//! tokio's `src/loom/` and `concurrent-queue`'s `sync.rs`). It also gives
//! the ring buffer an `UnsafeCell` with loom's closure API and the two ways
//! its retry loops back off (`spin`, `wait`), which yield to loom's scheduler.
//!
//! Epoch pinning has three modes:
//!
//! * normal builds use crossbeam-epoch's default collector (`epoch::pin()`);
//! * `--cfg loom` alone leaves crossbeam-epoch on std atomics, and its std
//!   `thread_local!` would then be shared by every loom thread (they are
//!   coroutines on one OS thread). So each simulated thread registers its own
//!   `LocalHandle` with a collector that lives and dies with the model run
//!   (`loom::lazy_static!` + `loom::thread_local!`);
//! * `--cfg loom --cfg crossbeam_loom` (`just loom-deep`) builds crossbeam-epoch
//!   against loom as well, whose default collector already does the above, so
//!   `epoch::pin()` is used and epoch's own atomics are modelled too.

pub(crate) use crossbeam_epoch::Guard;

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod thread {
        pub(crate) use std::thread::{Thread, current, park, park_timeout};
    }

    /// `std::cell::UnsafeCell` with loom's closure API, so the ring's slot
    /// accesses are written once for both builds.
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
