//! A minimal executor: poll on this thread, park between polls.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread, parking between polls.
///
/// ```
/// assert_eq!(spec::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Polls `fut` on this thread until it completes (`Some`) or `deadline`
/// passes (`None`; the future is dropped, which cancels it).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let never = std::future::pending::<()>();
/// assert_eq!(spec::block_on_until(never, Instant::now() + Duration::from_millis(5)), None);
/// assert_eq!(spec::block_on_until(async { 3 }, Instant::now()), Some(3));
/// ```
pub fn block_on_until<F: Future>(fut: F, deadline: Instant) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::park_timeout(deadline - now);
    }
}
