//! `--cfg loom`: loom's primitives, a collector per execution, and the
//! fences and marks that show loom what crossbeam-epoch guarantees (the
//! module docs of `sync`).

/// Loom tracks these allocations: one not freed by the end of an execution
/// fails it (the generations' leak check, `crate::chan_ref`).
pub(crate) use loom::alloc::{alloc, dealloc};
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, fence};
pub(crate) use loom::sync::{Mutex, MutexGuard};
pub(crate) use loom::thread_local;

/// A process-wide value built on first use: one per loom execution, like
/// every static the model resets.
macro_rules! global {
    ($(#[$meta:meta])* static $name:ident: $t:ty = $init:expr;) => {
        loom::lazy_static! {
            $(#[$meta])*
            static ref $name: $t = $init;
        }
    };
}
pub(crate) use global;
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
    let guard = HANDLE.with(|handle| handle.pin());
    fence(std::sync::atomic::Ordering::SeqCst);
    Pinned(guard)
}

#[cfg(not(crossbeam_loom))]
loom::lazy_static! {
    static ref COLLECTOR: crossbeam_epoch::Collector = crossbeam_epoch::Collector::new();
}

#[cfg(not(crossbeam_loom))]
loom::thread_local! {
    static HANDLE: crossbeam_epoch::LocalHandle = COLLECTOR.register();
}

/// Whether the calling (simulated) thread is inside a pin.
#[cfg(not(crossbeam_loom))]
pub(crate) fn is_pinned() -> bool {
    HANDLE.with(|handle| handle.is_pinned())
}

#[cfg(crossbeam_loom)]
pub(crate) fn is_pinned() -> bool {
    crossbeam_epoch::is_pinned()
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
pub(crate) struct Built(loom::cell::UnsafeCell<bool>);

// SAFETY: the cell is written once, by the thread that builds the object,
// before any other thread can reach it; every later access is a read, and
// loom checks that the write happens before each of them.
unsafe impl Send for Built {}
// SAFETY: as for `Send`.
unsafe impl Sync for Built {}

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
impl Drop for Built {
    fn drop(&mut self) {
        // SAFETY: `&mut self`; loom checks that every read happens before.
        self.0.with_mut(|p| unsafe { *p = false });
    }
}
