//! The one place that chooses between `std`, `loom` and `shuttle`: one file
//! per build (`native.rs`, `loom.rs`, `shuttle.rs`), each defining the same
//! names, and what the three share (this file).
//!
//! Every module of the crate takes its atomics, `Mutex`, heap
//! allocation, thread parking and epoch pinning from here, so the protocol code that ships is the
//! code that the model checkers run (the pattern of tokio's `src/loom/` and
//! `concurrent-queue`'s `sync.rs`). It also gives the ring buffer an
//! `UnsafeCell` with loom's closure API and the two ways its retry loops back
//! off (`spin`, `wait`), which yield to the model's scheduler.
//!
//! Three builds:
//!
//! * normal builds: `std`, and a crossbeam-epoch collector of the crate's
//!   own (`native.rs`, [`collector`]), so that no pin or garbage of another
//!   crate holds the registry's back, and no caller can hold one of its
//!   pins;
//! * `--cfg loom` (`RUSTFLAGS="--cfg loom" cargo test`): loom's primitives,
//!   which explore every interleaving up to a bound and model the C11 memory
//!   model (weak loads included);
//! * `--cfg shuttle` (`just shuttle`): awslabs' shuttle, which runs long
//!   random and PCT schedules of larger scenarios. Every shuttle atomic is
//!   `SeqCst`, so this mode finds schedule bugs, never weak-memory bugs.
//!
//! **Modelling the epoch's fences.** Unless `--cfg crossbeam_loom`, loom
//! treats crossbeam-epoch as a black box: it cannot see the `SeqCst` fences
//! that make a thread which pins after an unlink see that unlink. Loom would
//! then let a thread load a pointer to a node that the epoch has really
//! freed (a stale value, which C11 allows absent those fences). So under
//! loom [`pin`] ends with a loom `SeqCst` fence and every thread that has
//! unlinked something runs [`retire_fence`] (another) before it defers the
//! free. Either the unlinker's fence comes first in the `SeqCst` order, and
//! the pinning thread's loads see the unlink, or the pinning thread's fence
//! comes first, and it pinned before the free was deferred, so the real
//! epoch keeps the memory until it unpins: exactly the guarantee the epoch
//! gives, made visible. The point index (`src/index/hash.rs`) frees nodes
//! while a scenario runs, so it needs this; without it loom reported a
//! use-after-free that the real epoch rules out.
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

// One file per build; each defines the same names (`imp::*` below).
#[cfg(not(any(loom, shuttle)))]
#[path = "native.rs"]
mod imp;
#[cfg(loom)]
#[path = "loom.rs"]
mod imp;
#[cfg(shuttle)]
#[path = "shuttle.rs"]
mod imp;

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

/// A mark of construction, checked by loom (see `loom.rs`): zero-sized and
/// free in every other build.
#[cfg(not(loom))]
pub(crate) struct Built;

#[cfg(not(loom))]
impl Built {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Built
    }

    #[inline(always)]
    pub(crate) fn check(&self) {}
}

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
