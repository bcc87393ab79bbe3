//! Heap accounting: a registry whose channels had waiters, replacements and
//! deletions gives back every byte once it, its receivers and the epoch's
//! garbage are gone. Its own test binary, because it installs a counting
//! global allocator.
#![cfg(not(any(loom, shuttle)))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Wake, Waker};

use channel_registry::{Registry, reclaim};

struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Nothing;
impl Wake for Nothing {
    fn wake(self: Arc<Self>) {}
}

/// One round: ids created, waited on from both sides, replaced, deleted,
/// and everything dropped.
fn round(waker: &Waker) {
    let registry = Registry::<u64, Vec<u8>>::new();
    let mut receivers = Vec::new();
    for id in 0..32 {
        let rx = registry.set(id, 1).unwrap();
        // A receive that waits (allocating the channel's wait lists) and is
        // dropped.
        {
            let mut fut = pin!(rx.recv_async());
            assert!(
                fut.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
        }
        registry.try_send(&id, vec![1; 100]).unwrap();
        // A send that waits for space and is dropped.
        let tx = registry.sender(&id).unwrap();
        {
            let mut fut = pin!(tx.send_async(vec![2; 100]));
            assert!(
                fut.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
        }
        receivers.push(rx);
    }
    for id in 0..32 {
        if id % 2 == 0 {
            receivers.push(registry.set(id, 2).unwrap());
        } else {
            assert!(registry.delete(&id));
        }
    }
    drop(receivers);
    drop(registry);
}

#[test]
fn every_byte_comes_back() {
    let waker = Waker::from(Arc::new(Nothing));
    // Warm up: the epoch's per-thread and global structures stay allocated.
    round(&waker);
    for _ in 0..8 {
        reclaim();
    }
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    for _ in 0..50 {
        round(&waker);
    }
    for _ in 0..8 {
        reclaim();
    }
    let grown = LIVE_BYTES.load(Ordering::SeqCst) - before;
    // 50 rounds of 32 ids with wait lists, messages and replaced channels
    // allocate megabytes; a leak of one small object per channel would
    // leave more than 50 * 32 * 48 bytes.
    assert!(
        grown < 16 * 1024,
        "{grown} bytes still allocated after 50 rounds"
    );
}
