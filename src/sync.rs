//! The one place that chooses between `std` and `loom`.
//!
//! Every module of the crate takes its atomics, `Arc`, `Mutex`, thread
//! parking and epoch pinning from here, so the protocol code that ships is the
//! code that `RUSTFLAGS="--cfg loom" cargo test` model-checks (the pattern of
//! tokio's `src/loom/` and `concurrent-queue`'s `sync.rs`).
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
