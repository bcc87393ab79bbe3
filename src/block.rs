//! Blocking waits, built on the same poll functions as the futures: one wake-up
//! protocol serves both, and loom checks it once.

use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::thread;

/// A waker that unparks the thread that created it.
struct Unparker {
    thread: thread::Thread,
    /// Set before every unpark, under loom only. loom 0.7.3 drops the unpark
    /// token of a thread that is yielding when it is unparked (its
    /// `set_unparked` makes a yielded thread runnable instead of saving the
    /// token), so a wake-up that arrives while the waiter spins in the ring
    /// would be lost, and loom would report a deadlock that `std` cannot
    /// have. The flag carries that wake-up to the next `park`. A std atomic:
    /// loom runs one simulated thread at a time, so it adds no interleavings.
    /// (`loom-tests/limits.rs` pins the loom behaviour down.)
    #[cfg(loom)]
    woken: std::sync::atomic::AtomicBool,
}

impl Unparker {
    fn unpark(&self) {
        #[cfg(loom)]
        self.woken.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.unpark();
    }

    /// Parks until unparked (or spuriously, as `std::thread::park` may).
    fn park(&self) {
        #[cfg(loom)]
        if self.woken.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        thread::park();
        #[cfg(loom)]
        self.woken.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Wake for Unparker {
    // `wake_by_ref` keeps its default (a clone and `wake`): the wake-up
    // protocol wakes by value (`WaitList::notify_one`), never by reference.
    fn wake(self: std::sync::Arc<Self>) {
        self.unpark();
    }
}

/// The instant `timeout` from now, or `None` (wait forever) if that is past
/// what `Instant` can represent: a huge timeout is not an error.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// An unparker of this thread, and a waker that calls it.
fn this_thread() -> (std::sync::Arc<Unparker>, Waker) {
    let unparker = std::sync::Arc::new(Unparker {
        thread: thread::current(),
        #[cfg(loom)]
        woken: std::sync::atomic::AtomicBool::new(false),
    });
    let waker = Waker::from(std::sync::Arc::clone(&unparker));
    (unparker, waker)
}

/// Polls `poll` with a waker that unparks this thread, parking between polls,
/// until it is ready.
pub(crate) fn block_on<R>(mut poll: impl FnMut(&Waker) -> Poll<R>) -> R {
    let (unparker, waker) = this_thread();
    loop {
        if let Poll::Ready(r) = poll(&waker) {
            return r;
        }
        unparker.park();
    }
}

/// One attempt of a wait that carries something between attempts (a send
/// carries its message): either done with `R`, or registered to be woken,
/// handing back `W` for the next attempt.
///
/// With the carried value in the return type, a wait that gives up at its
/// deadline has it in hand, and no caller needs an `Option` that is `Some`
/// "by construction".
#[derive(Debug)]
pub(crate) enum Attempt<R, W> {
    /// Finished: nothing is registered any more.
    Done(R),
    /// Registered to be woken; the carried value comes back.
    Waiting(W),
}

impl<R, W> Attempt<R, W> {
    /// The attempt as a future's poll: `Ready` when done; when waiting, the
    /// carried value goes back into `slot` for the next poll.
    pub(crate) fn into_poll(self, slot: &mut Option<W>) -> Poll<R> {
        match self {
            Attempt::Done(r) => Poll::Ready(r),
            Attempt::Waiting(w) => {
                *slot = Some(w);
                Poll::Pending
            }
        }
    }
}

/// Like [`block_on`], until an attempt is done (`Ok`) or `deadline` passes
/// (`Err`, with what the last attempt handed back); no deadline waits as
/// long as `block_on`. `carried` goes into the first attempt, and each
/// `Waiting` value into the next.
///
/// The model checkers have no clock. Under loom a deadline is modelled as
/// one that has already expired when the first attempt is waiting, so the
/// model explores the time-out path. Under shuttle a deadline may pass after
/// any waiting attempt (a random choice that the schedule replays); until it
/// does, the wait yields and tries again instead of parking, because shuttle
/// would report a timed wait that nobody wakes as a deadlock. Waits without
/// a deadline park as usual in every build.
pub(crate) fn block_on_until<R, W>(
    deadline: Option<Instant>,
    mut carried: W,
    mut attempt: impl FnMut(W, &Waker) -> Attempt<R, W>,
) -> Result<R, W> {
    let (unparker, waker) = this_thread();
    loop {
        carried = match attempt(carried, &waker) {
            Attempt::Done(r) => return Ok(r),
            Attempt::Waiting(w) => w,
        };
        match deadline {
            None => unparker.park(),
            Some(deadline) => {
                #[cfg(loom)]
                {
                    let _ = deadline;
                    return Err(carried);
                }
                #[cfg(shuttle)]
                {
                    let _ = deadline;
                    if crate::sync::deadline_passes() {
                        return Err(carried);
                    }
                    crate::sync::wait();
                }
                #[cfg(not(any(loom, shuttle)))]
                {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(carried);
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }
}
