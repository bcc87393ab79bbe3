//! A small per-thread cache of freed generation allocations, reused by the
//! next `set` on the same thread.
//!
//! Churn creates and frees a generation for every `set` and `delete`, and
//! the thread that frees one (the one whose calls run its deferred release,
//! `crate::reclaim`) is often not the one that allocated it. With glibc's
//! allocator such a free of a block larger than its lock-free "fast" sizes
//! (128 bytes on 64-bit) takes the allocating thread's arena lock: in the
//! churn benchmark at 1,024 ids and 2 threads, a 192-byte generation spent
//! about 10% of the time in `futex` calls on that lock. Here a freed block
//! goes to the freeing thread's cache, and that thread's next allocation of
//! the same layout takes it back: no lock, no sharing.
//!
//! Bounds: a thread keeps at most [`MAX_BLOCKS`] blocks and
//! [`MAX_BYTES`] bytes, of one layout at a time (the layout of the first
//! block it keeps after its cache was last empty); blocks of other
//! layouts, or over the bounds, go back to the allocator at once. The cache
//! is freed when its thread exits, and emptied by [`crate::reclaim()`].
//!
//! The cache is plain thread-private memory reuse, with no atomics, so it
//! is not a model-checker object: under loom and shuttle every allocation
//! goes straight to `crate::sync`'s allocator (loom's leak check must see
//! every free, and the checkers' threads are coroutines on one OS thread).
//! Miri runs it natively, use after free included.

use std::alloc::Layout;

use crate::sync;

/// Blocks one thread keeps at most. (Under the model checkers there is no
/// cache, and the bounds go unused.)
#[cfg_attr(any(loom, shuttle), allow(dead_code))]
pub(crate) const MAX_BLOCKS: usize = 256;

/// Bytes one thread keeps at most (blocks larger than this are never kept).
#[cfg_attr(any(loom, shuttle), allow(dead_code))]
pub(crate) const MAX_BYTES: usize = 64 << 10;

/// Allocates `layout`, from the calling thread's cache when it holds a
/// block of that layout.
///
/// # Safety
///
/// As `std::alloc::alloc`: `layout` has a non-zero size.
pub(crate) unsafe fn alloc(layout: Layout) -> *mut u8 {
    #[cfg(not(any(loom, shuttle)))]
    if let Some(block) = cache::take(layout) {
        return block;
    }
    // SAFETY: the caller's contract.
    unsafe { sync::alloc(layout) }
}

/// Frees a block of `layout`, into the calling thread's cache while it has
/// room.
///
/// # Safety
///
/// As `std::alloc::dealloc`: `ptr` came from [`alloc`] with this `layout`
/// and is not used again.
pub(crate) unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
    #[cfg(not(any(loom, shuttle)))]
    // SAFETY: the caller's contract, passed on.
    if unsafe { cache::keep(ptr, layout) } {
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { sync::dealloc(ptr, layout) }
}

/// Gives every block of the calling thread's cache back to the allocator.
pub(crate) fn empty() {
    #[cfg(not(any(loom, shuttle)))]
    cache::empty();
}

#[cfg(not(any(loom, shuttle)))]
mod cache {
    use std::alloc::Layout;
    use std::cell::Cell;
    use std::ptr;

    use super::{MAX_BLOCKS, MAX_BYTES};

    /// A thread's cache: a list threaded through the free blocks (each
    /// block's first word points to the next), all of `layout`.
    struct Cache {
        head: Cell<*mut u8>,
        len: Cell<usize>,
        layout: Cell<Layout>,
    }

    impl Cache {
        fn pop(&self) -> Option<*mut u8> {
            let block = self.head.get();
            if block.is_null() {
                return None;
            }
            // SAFETY: a block on the list is free, at least a word in size
            // and word-aligned (`keep`), and its first word holds the next.
            self.head.set(unsafe { block.cast::<*mut u8>().read() });
            self.len.set(self.len.get() - 1);
            Some(block)
        }

        fn empty(&self) {
            let layout = self.layout.get();
            while let Some(block) = self.pop() {
                // SAFETY: every block on the list was allocated with
                // `layout` and is no longer used.
                unsafe { std::alloc::dealloc(block, layout) };
            }
        }
    }

    impl Drop for Cache {
        fn drop(&mut self) {
            self.empty();
        }
    }

    std::thread_local! {
        static CACHE: Cache = const {
            Cache {
                head: Cell::new(ptr::null_mut()),
                len: Cell::new(0),
                layout: Cell::new(Layout::new::<()>()),
            }
        };
    }

    pub(super) fn take(layout: Layout) -> Option<*mut u8> {
        // A thread whose thread-locals are gone allocates normally.
        CACHE
            .try_with(|cache| {
                if cache.layout.get() == layout {
                    cache.pop()
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }

    /// Keeps the block if the cache has room for it; `false` if the caller
    /// must free it.
    ///
    /// # Safety
    ///
    /// `ptr` was allocated with `layout` by the global allocator and is not
    /// used again.
    pub(super) unsafe fn keep(ptr: *mut u8, layout: Layout) -> bool {
        if layout.size() < size_of::<*mut u8>()
            || layout.align() < align_of::<*mut u8>()
            || layout.size() > MAX_BYTES
        {
            return false;
        }
        CACHE
            .try_with(|cache| {
                let len = cache.len.get();
                if len == 0 {
                    cache.layout.set(layout);
                } else if cache.layout.get() != layout
                    || len >= MAX_BLOCKS
                    || (len + 1) * layout.size() > MAX_BYTES
                {
                    return false;
                }
                // SAFETY: the block is free (the caller's contract), and at
                // least a word in size and word-aligned (checked above).
                unsafe { ptr.cast::<*mut u8>().write(cache.head.get()) };
                cache.head.set(ptr);
                cache.len.set(len + 1);
                true
            })
            .unwrap_or(false)
    }

    pub(super) fn empty() {
        let _ = CACHE.try_with(Cache::empty);
    }

    #[cfg(test)]
    pub(super) fn len() -> usize {
        CACHE.with(|cache| cache.len.get())
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_reused_by_the_next_allocation_of_its_layout() {
        empty();
        let layout = Layout::from_size_align(192, 8).unwrap();
        // SAFETY: non-zero size; each block is freed once, with its layout.
        unsafe {
            let a = alloc(layout);
            dealloc(a, layout);
            let b = alloc(layout);
            assert_eq!(a, b, "the cached block comes back");
            // Another layout is not served from the cache.
            let other = Layout::from_size_align(200, 8).unwrap();
            dealloc(b, layout);
            let c = alloc(other);
            assert_ne!(c, b);
            dealloc(c, other); // refused: the cache holds `layout` blocks
            assert_eq!(alloc(layout), b);
            dealloc(b, layout);
        }
        empty();
    }

    #[test]
    fn the_cache_keeps_at_most_its_bounds() {
        empty();
        let layout = Layout::from_size_align(64, 8).unwrap();
        let blocks: Vec<*mut u8> = (0..2 * MAX_BLOCKS)
            // SAFETY: non-zero size.
            .map(|_| unsafe { alloc(layout) })
            .collect();
        for &b in &blocks {
            // SAFETY: each block freed once, with its layout.
            unsafe { dealloc(b, layout) };
        }
        // Only `MAX_BLOCKS` were kept: allocating that many again takes
        // them all from the cache, and the next one is new memory.
        let again: Vec<*mut u8> = (0..MAX_BLOCKS)
            // SAFETY: non-zero size.
            .map(|_| unsafe { alloc(layout) })
            .collect();
        for b in &again {
            assert!(blocks.contains(b));
        }
        for b in again {
            // SAFETY: freed once, with its layout.
            unsafe { dealloc(b, layout) };
        }
        // A block over the byte bound is never kept.
        let big = Layout::from_size_align(MAX_BYTES + 8, 8).unwrap();
        empty();
        // SAFETY: non-zero size; freed once.
        unsafe {
            let b = alloc(big);
            dealloc(b, big);
        }
        assert_eq!(cache::len(), 0);
        empty();
    }
}
