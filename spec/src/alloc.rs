//! A counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// A global allocator that forwards to [`System`] and, once
/// [`enabled`](CountingAlloc::enable), counts the live bytes and their peak.
/// Disabled it costs one relaxed load per call, so throughput runs pay no
/// shared write per allocation.
///
/// Install it in a binary, then read it:
///
/// ```
/// use spec::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc;
///
/// CountingAlloc::enable();
/// let before = CountingAlloc::live();
/// let block = vec![0u8; 4096];
/// assert!(CountingAlloc::live() - before >= 4096);
/// drop(block);
/// assert!(CountingAlloc::peak() >= before + 4096);
/// ```
///
/// The figures are process-wide: other threads' allocations count too.
#[derive(Debug)]
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

impl CountingAlloc {
    /// Starts counting. Call it before anything whose frees you count: a
    /// block allocated before and freed after makes [`live`](Self::live)
    /// lower.
    pub fn enable() {
        COUNTING.store(true, Ordering::SeqCst);
    }

    /// Bytes allocated since counting started, less those freed.
    pub fn live() -> isize {
        LIVE.load(Ordering::SeqCst)
    }

    /// The highest [`live`](Self::live) since the last
    /// [`reset_peak`](Self::reset_peak).
    pub fn peak() -> isize {
        PEAK.load(Ordering::SeqCst)
    }

    /// Sets the peak to the current live figure.
    pub fn reset_peak() {
        PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

#[inline]
fn count(delta: isize) {
    // Relaxed throughout: the counters order nothing else; a reader wants
    // a figure, and reads it with `SeqCst` after the work it measures.
    if COUNTING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        if delta > 0 {
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees (and the caller's obligations) carry
// over; the counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation of the
        // program goes through this type) with this `layout`, as the caller
        // guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is valid per the caller.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}
