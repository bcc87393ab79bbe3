//! The receiving end of one channel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use crate::block::{Attempt, block_on, block_on_until, deadline_after};
use crate::chan::PopError;
use crate::chan_ref::ChanRef;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::waiters::Registration;

/// The receiving end of one channel, returned by [`Registry::set`](crate::Registry::set)
/// and [`Registry::register`](crate::Registry::register).
///
/// It receives every message accepted into its channel, in order, then
/// reports the channel closed once the id is deleted or replaced (or the
/// registry dropped) and the buffer is drained.
///
/// Dropping the receiver closes the channel and drops what was buffered.
/// **The id stays registered**: routed sends to it fail with
/// [`TrySendError::Closed`](crate::TrySendError::Closed) until the id is
/// `set` again or deleted.
///
/// `Receiver` works with any executor: [`recv_async`](Self::recv_async)
/// and its [`Stream`] implementation need no runtime.
///
/// # Examples
///
/// ```
/// use std::thread;
/// use std::time::Duration;
///
/// use channel_registry::Registry;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, u32>::new();
/// let inbox = registry.set(1, 5)?;
/// let consumer = thread::spawn(move || {
///     let mut total = 0;
///     while let Ok(n) = inbox.recv() {
///         total += n; // every accepted message, then `Err` once closed
///     }
///     total
/// });
/// for n in 1..=3 {
///     registry.send_timeout(&1, n, Duration::from_secs(1))?;
/// }
/// registry.delete(&1);
/// assert_eq!(consumer.join().unwrap(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver<T, S = ()> {
    chan: ChanRef<T, S>,
    /// The `Stream` implementation's place in the wait list.
    stream_reg: Registration,
}

impl<T, S> Receiver<T, S> {
    pub(crate) fn new(chan: ChanRef<T, S>) -> Self {
        Receiver {
            chan,
            stream_reg: Registration::default(),
        }
    }

    /// Receives without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is buffered and the channel is
    /// open, [`TryRecvError::Closed`] if it is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, TryRecvError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// assert_eq!(inbox.try_recv(), Err(TryRecvError::Empty));
    /// registry.try_send(&1, "hi").unwrap();
    /// registry.delete(&1);
    /// assert_eq!(inbox.try_recv(), Ok("hi"));
    /// assert_eq!(inbox.try_recv(), Err(TryRecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_pop().map_err(|e| match e {
            PopError::Empty => TryRecvError::Empty,
            PopError::Closed => TryRecvError::Closed,
        })
    }

    /// Receives, blocking the thread until a message arrives or the channel
    /// is closed and drained.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    ///
    /// use channel_registry::{Registry, RecvError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// thread::scope(|s| {
    ///     s.spawn(|| registry.try_send(&1, "wake up").unwrap());
    ///     assert_eq!(inbox.recv(), Ok("wake up")); // blocks until it arrives
    /// });
    /// registry.delete(&1);
    /// assert_eq!(inbox.recv(), Err(RecvError)); // closed and drained
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut reg = Registration::default();
        block_on(|waker| self.chan.poll_pop(&mut reg, waker)).map_err(|()| RecvError)
    }

    /// Receives, blocking up to `timeout`. A timeout too large for
    /// `Instant` waits without limit.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use channel_registry::{Registry, RecvTimeoutError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// let wait = Duration::from_millis(10);
    /// assert_eq!(inbox.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
    /// registry.try_send(&1, "in time").unwrap();
    /// assert_eq!(inbox.recv_timeout(wait), Ok("in time"));
    /// registry.delete(&1);
    /// assert_eq!(inbox.recv_timeout(wait), Err(RecvTimeoutError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let mut reg = Registration::default();
        match block_on_until(deadline_after(timeout), (), |(), waker| {
            match self.chan.poll_pop(&mut reg, waker) {
                Poll::Ready(done) => Attempt::Done(done),
                Poll::Pending => Attempt::Waiting(()),
            }
        }) {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(())) => Err(RecvTimeoutError::Closed),
            Err(()) => {
                self.chan.cancel_pop(&mut reg);
                // The deadline passed. The waiting attempts count a slot that
                // a push has claimed but not written as empty
                // (`Chan::pop_for_waiter`); that push may already be ordered
                // before this receive (it was accepted before a close, or a
                // later push has returned), so the verdict comes from one
                // attempt that waits for it.
                if cfg!(channel_registry_broken = "timeout_skips_final_attempt") {
                    return Err(RecvTimeoutError::Timeout);
                }
                match self.try_recv() {
                    Ok(msg) => Ok(msg),
                    Err(TryRecvError::Closed) => Err(RecvTimeoutError::Closed),
                    Err(TryRecvError::Empty) => Err(RecvTimeoutError::Timeout),
                }
            }
        }
    }

    /// Receives asynchronously.
    ///
    /// # Panics
    ///
    /// The future panics if polled again after it returned `Ready`.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// use futures_lite::StreamExt;
    /// use futures_lite::future::block_on;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// registry.try_send(&1, "async").unwrap();
    /// // Any executor: here futures-lite's `block_on`.
    /// assert_eq!(block_on(inbox.recv_async()), Ok("async"));
    ///
    /// // The receiver is also a `Stream`, which ends once the channel is closed
    /// // and drained.
    /// registry.try_send(&1, "a").unwrap();
    /// registry.try_send(&1, "b").unwrap();
    /// registry.delete(&1);
    /// let rest: Vec<_> = block_on(inbox.collect());
    /// assert_eq!(rest, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_async(&self) -> RecvFut<'_, T, S> {
        RecvFut {
            chan: &self.chan,
            reg: Registration::default(),
            done: false,
        }
    }

    /// Whether the channel is closed. Buffered messages may remain: keep
    /// receiving until `Closed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// registry.try_send(&1, "left over").unwrap();
    /// registry.delete(&1);
    /// assert!(inbox.is_closed());
    /// assert_eq!(inbox.try_recv(), Ok("left over")); // closed, not yet drained
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Messages buffered now.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// registry.try_send(&1, "a").unwrap();
    /// registry.try_send(&1, "b").unwrap();
    /// assert_eq!(inbox.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is buffered now.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// assert!(inbox.is_empty());
    /// registry.try_send(&1, "a").unwrap();
    /// assert!(!inbox.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel's capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// assert_eq!(inbox.capacity(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// The state this channel's generation was created with
    /// ([`Registry::set_with`](crate::Registry::set_with); `S::default()`
    /// for `set` and `register`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str, AtomicUsize>::new();
    /// let inbox = registry.set_with(1, 5, AtomicUsize::new(0))?.receiver;
    /// registry.try_send(&1, "job").unwrap();
    /// while let Ok(_job) = inbox.try_recv() {
    ///     inbox.state().fetch_add(1, Ordering::Relaxed); // visible by id too
    /// }
    /// assert_eq!(registry.with_state(&1, |done| done.load(Ordering::Relaxed)), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> &S {
        self.chan.state()
    }

    fn poll_stream(&mut self, waker: &Waker) -> Poll<Option<T>> {
        self.chan
            .poll_pop(&mut self.stream_reg, waker)
            .map(Result::ok)
    }
}

impl<T, S> Drop for Receiver<T, S> {
    fn drop(&mut self) {
        self.chan.cancel_pop(&mut self.stream_reg);
        self.chan.close_and_drain();
    }
}

impl<T, S> Stream for Receiver<T, S> {
    type Item = T;

    /// Yields every message, then `None` once the channel is closed and
    /// drained (and `None` again on every later poll).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_stream(cx.waker())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.chan.len(), None)
    }
}

impl<T, S> std::fmt::Debug for Receiver<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &*self.chan)
            .finish()
    }
}

/// Future of [`Receiver::recv_async`].
///
/// # Examples
///
/// ```
/// use channel_registry::Registry;
/// use futures_lite::future::block_on;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str>::new();
/// let inbox = registry.set(1, 5)?;
/// registry.try_send(&1, "ready").unwrap();
/// let recv = inbox.recv_async(); // a `RecvFut`
/// assert_eq!(block_on(recv), Ok("ready"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RecvFut<'a, T, S = ()> {
    chan: &'a ChanRef<T, S>,
    reg: Registration,
    done: bool,
}

impl<T, S> Future for RecvFut<'_, T, S> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "channel-registry: recv future polled after completion"
        );
        let poll = this.chan.poll_pop(&mut this.reg, cx.waker());
        if poll.is_ready() {
            this.done = true;
        }
        poll.map(|r| r.map_err(|()| RecvError))
    }
}

impl<T, S> Drop for RecvFut<'_, T, S> {
    fn drop(&mut self) {
        self.chan.cancel_pop(&mut self.reg);
    }
}

impl<T, S> std::fmt::Debug for RecvFut<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFut")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
