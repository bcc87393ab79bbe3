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

#[cfg(not(any(loom, shuttle)))]
mod imp {
    pub(crate) use super::cell::UnsafeCell;
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use std::thread_local;

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
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, fence};
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use loom::thread_local;
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

    /// Pins a collector of this execution, then runs a loom `SeqCst`
    /// fence: together with [`retire_fence`] it shows loom the
    /// happens-before that crossbeam-epoch's own fences provide and that
    /// loom cannot see while epoch is a black box (module docs).
    #[cfg(not(crossbeam_loom))]
    pub(crate) fn pin() -> Pinned {
        use crossbeam_epoch::{Collector, LocalHandle};
        loom::lazy_static! {
            static ref COLLECTOR: Collector = Collector::new();
        }
        loom::thread_local! {
            static HANDLE: LocalHandle = COLLECTOR.register();
        }
        let guard = HANDLE.with(|handle| handle.pin());
        fence(std::sync::atomic::Ordering::SeqCst);
        Pinned(guard)
    }

    /// The other half of what loom cannot see while epoch is a black box:
    /// a deferred function runs only after every guard pinned before the
    /// defer was dropped, and each drop happens before it. Every unpin is a
    /// release RMW on one word of this execution, and every deferred
    /// function of the crate starts with an acquire RMW on it
    /// ([`releasing`]), which reads the last unpin (the real epoch has run
    /// the function after it). Without it, a release of an object that the
    /// real epoch allows would be a race to loom, since under loom an
    /// object's teardown writes its `Built` mark.
    #[cfg(not(crossbeam_loom))]
    fn unpins() -> &'static AtomicUsize {
        loom::lazy_static! {
            static ref UNPINS: AtomicUsize = AtomicUsize::new(0);
        }
        &UNPINS
    }

    /// A pinned guard whose drop is visible to loom (see `unpins`).
    #[cfg(not(crossbeam_loom))]
    pub(crate) struct Pinned(crossbeam_epoch::Guard);

    #[cfg(not(crossbeam_loom))]
    impl std::ops::Deref for Pinned {
        type Target = crossbeam_epoch::Guard;
        fn deref(&self) -> &crossbeam_epoch::Guard {
            &self.0
        }
    }

    #[cfg(not(crossbeam_loom))]
    impl Drop for Pinned {
        fn drop(&mut self) {
            // Before the real unpin (the field drops after this).
            unpins().fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// Starts every deferred function of the crate (see `unpins`).
    #[cfg(not(crossbeam_loom))]
    pub(crate) fn releasing() {
        unpins().fetch_add(0, std::sync::atomic::Ordering::AcqRel);
    }

    /// Epoch is modelled by loom itself here: nothing to add.
    #[cfg(crossbeam_loom)]
    pub(crate) fn releasing() {}

    /// Runs by a thread that has unlinked something and is about to defer
    /// its free (module docs).
    #[cfg(not(crossbeam_loom))]
    pub(crate) fn retire_fence() {
        fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// Epoch is modelled by loom itself here (`just loom-deep`).
    #[cfg(crossbeam_loom)]
    pub(crate) fn retire_fence() {}
}

#[cfg(shuttle)]
mod imp {
    pub(crate) use super::cell::UnsafeCell;
    pub(crate) use shuttle::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
    pub(crate) use shuttle::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use shuttle::thread_local;

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

    /// Nothing: shuttle runs every atomic as `SeqCst` on one thread at a
    /// time, so a load never returns a value older than a store that came
    /// before it in the schedule.
    pub(crate) fn retire_fence() {}

    /// Nothing, as for `retire_fence`.
    pub(crate) fn releasing() {}
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

/// A mark of construction, for objects that one thread builds and others
/// reach through an atomic pointer (a generation, an index node, an index
/// table).
///
/// loom checks the orderings that publish writes to its atomics and cells,
/// but not the ones that publish a new object's plain fields or its atomics'
/// initial values: a CAS that publishes a pointer with `Acquire` instead of
/// `Release` passed the whole loom suite. So under loom the mark is a cell
/// written when the object is built, and [`Built::check`] reads it wherever
/// a thread uses an object it may have found through shared memory; loom
/// reports the read as a causality violation unless the build happens
/// before it. Zero-sized and free in every other build.
#[cfg(loom)]
pub(crate) struct Built(loom::cell::UnsafeCell<bool>);

// SAFETY: the cell is written once, by the thread that builds the object,
// before any other thread can reach it; every later access is a read, and
// loom checks that the write happens before each of them.
#[cfg(loom)]
unsafe impl Send for Built {}
// SAFETY: as for `Send`.
#[cfg(loom)]
unsafe impl Sync for Built {}

#[cfg(loom)]
impl Built {
    pub(crate) fn new() -> Self {
        let cell = loom::cell::UnsafeCell::new(false);
        // SAFETY: the cell is this thread's alone until the object is
        // published.
        cell.with_mut(|p| unsafe { *p = true });
        Built(cell)
    }

    pub(crate) fn check(&self) {
        // SAFETY: written once, at construction; loom checks that the write
        // happens before this read.
        self.0.with(|p| {
            assert!(
                unsafe { *p },
                "an object used before it was built or after it was released"
            )
        });
    }
}

/// Under loom the mark is also written when the object is torn down, so a
/// thread that uses an object concurrently with its release (a release
/// that came too early: the negative control `release_skips_epoch`) is a
/// causality violation, and one that uses it after the release finds the
/// mark cleared.
#[cfg(loom)]
impl Drop for Built {
    fn drop(&mut self) {
        // SAFETY: `&mut self`; loom checks that every read happens before.
        self.0.with_mut(|p| unsafe { *p = false });
    }
}

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
