//! `--cfg shuttle`: shuttle's primitives and a collector per execution.
//! Every shuttle atomic is `SeqCst`, so the fences of the loom build are not
//! needed here.

pub(crate) use super::cell::UnsafeCell;
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
pub(crate) use shuttle::sync::{Mutex, MutexGuard};
pub(crate) use shuttle::thread_local;
pub(crate) use std::alloc::{alloc, dealloc};

/// A process-wide value built on first use: one per shuttle execution.
macro_rules! global {
    ($(#[$meta:meta])* static $name:ident: $t:ty = $init:expr;) => {
        shuttle::lazy_static! {
            $(#[$meta])*
            static ref $name: $t = $init;
        }
    };
}
pub(crate) use global;

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

shuttle::lazy_static! {
    static ref COLLECTOR: crossbeam_epoch::Collector = crossbeam_epoch::Collector::new();
}

shuttle::thread_local! {
    static HANDLE: crossbeam_epoch::LocalHandle = COLLECTOR.register();
}

pub(crate) fn pin() -> crossbeam_epoch::Guard {
    HANDLE.with(|handle| handle.pin())
}

/// Whether the calling (simulated) thread is inside a pin.
pub(crate) fn is_pinned() -> bool {
    HANDLE.with(|handle| handle.is_pinned())
}

/// Nothing: shuttle runs every atomic as `SeqCst` on one thread at a
/// time, so a load never returns a value older than a store that came
/// before it in the schedule.
pub(crate) fn retire_fence() {}

/// Nothing, as for `retire_fence`.
pub(crate) fn releasing() {}
