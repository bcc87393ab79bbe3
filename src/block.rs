//! Blocking waits, built on the same poll functions as the futures: one wake-up
//! protocol serves both, and loom checks it once.

use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::thread;

/// A waker that unparks the thread that created it.
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// The instant `timeout` from now, or `None` (wait forever) if that is past
/// what `Instant` can represent: a huge timeout is not an error.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Polls `poll` with a waker that unparks this thread, parking between polls,
/// until it is ready (`Some`) or `deadline` passes (`None`).
///
/// Under loom there is no clock: a deadline is modelled as one that has
/// already expired when the first poll is pending, so the model explores the
/// time-out path; waits without a deadline park as usual.
pub(crate) fn block_on<R>(
    deadline: Option<Instant>,
    mut poll: impl FnMut(&Waker) -> Poll<R>,
) -> Option<R> {
    let waker = Waker::from(std::sync::Arc::new(Unparker(thread::current())));
    loop {
        if let Poll::Ready(r) = poll(&waker) {
            return Some(r);
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                #[cfg(loom)]
                {
                    let _ = deadline;
                    return None;
                }
                #[cfg(not(loom))]
                {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }
}
