//! The shipped build: `std`'s primitives and crossbeam-epoch's default
//! collector.

pub(crate) use super::cell::UnsafeCell;
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
pub(crate) use std::thread_local;

/// A process-wide value built on first use (`static NAME: T = init;`):
/// `std::sync::LazyLock` here, a value per execution under the checkers.
macro_rules! global {
    ($(#[$meta:meta])* static $name:ident: $t:ty = $init:expr;) => {
        $(#[$meta])*
        static $name: std::sync::LazyLock<$t> = std::sync::LazyLock::new(|| $init);
    };
}
pub(crate) use global;

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

/// Nothing: crossbeam-epoch's own fences order a retirement before the
/// free (see the loom version).
#[inline(always)]
pub(crate) fn retire_fence() {}

/// Nothing: as for `retire_fence`.
#[inline(always)]
pub(crate) fn releasing() {}
