//! The shipped build: `std`'s primitives and a crossbeam-epoch collector of
//! the crate's own.

pub(crate) use super::cell::UnsafeCell;
pub(crate) use std::alloc::{alloc, dealloc};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
pub(crate) use std::sync::{Mutex, MutexGuard};
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

/// The crate's own epoch collector: the registry's garbage, and how long
/// its collections take, do not depend on what other crates of the process
/// defer, and no code outside the crate can hold one of its pins (so a
/// retiring call that waits for the epoch, `reclaim::hold_back`, never
/// waits for a pin that a caller holds around it).
pub(crate) fn collector() -> &'static crossbeam_epoch::Collector {
    static COLLECTOR: std::sync::LazyLock<crossbeam_epoch::Collector> =
        std::sync::LazyLock::new(crossbeam_epoch::Collector::new);
    &COLLECTOR
}

std::thread_local! {
    static HANDLE: crossbeam_epoch::LocalHandle = collector().register();
}

/// Pins the crate's collector for the calling thread. A thread whose
/// thread-locals are being destroyed (a message's `Drop` that uses the
/// registry at thread exit) pins through a handle of its own, as
/// crossbeam-epoch's default collector does.
#[inline]
pub(crate) fn pin() -> crossbeam_epoch::Guard {
    HANDLE
        .try_with(|handle| handle.pin())
        .unwrap_or_else(|_| collector().register().pin())
}

/// Whether the calling thread is inside a pin of the crate's collector.
pub(crate) fn is_pinned() -> bool {
    HANDLE
        .try_with(|handle| handle.is_pinned())
        .unwrap_or(false)
}

/// Nothing: crossbeam-epoch's own fences order a retirement before the
/// free (see the loom version).
#[inline(always)]
pub(crate) fn retire_fence() {}

/// Nothing: as for `retire_fence`.
#[inline(always)]
pub(crate) fn releasing() {}
