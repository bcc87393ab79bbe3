//! The receiving end of one channel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::ring::PopError;
use futures_core::Stream;

use crate::block::{block_on, deadline_after};
use crate::chan::Chan;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::sync::Arc;
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
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The `Stream` implementation's place in the wait list.
    stream_reg: Registration,
}

impl<T> Receiver<T> {
    pub(crate) fn new(chan: Arc<Chan<T>>) -> Self {
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
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut reg = Registration::default();
        match block_on(None, |waker| self.chan.poll_pop(&mut reg, waker)) {
            Some(Ok(msg)) => Ok(msg),
            Some(Err(())) => Err(RecvError),
            None => unreachable!("a wait without deadline does not time out"),
        }
    }

    /// Receives, blocking up to `timeout`. A timeout too large for
    /// `Instant` waits without limit.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Closed`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let mut reg = Registration::default();
        match block_on(deadline_after(timeout), |waker| {
            self.chan.poll_pop(&mut reg, waker)
        }) {
            Some(Ok(msg)) => Ok(msg),
            Some(Err(())) => Err(RecvTimeoutError::Closed),
            None => {
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
    pub fn recv_async(&self) -> RecvFut<'_, T> {
        RecvFut {
            chan: &self.chan,
            reg: Registration::default(),
            done: false,
        }
    }

    /// Whether the channel is closed. Buffered messages may remain: keep
    /// receiving until `Closed`.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Messages buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel's capacity.
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    fn poll_stream(&mut self, waker: &Waker) -> Poll<Option<T>> {
        self.chan
            .poll_pop(&mut self.stream_reg, waker)
            .map(Result::ok)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.cancel_pop(&mut self.stream_reg);
        self.chan.close_and_drain();
    }
}

impl<T> Stream for Receiver<T> {
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

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &*self.chan)
            .finish()
    }
}

/// Future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFut<'a, T> {
    chan: &'a Arc<Chan<T>>,
    reg: Registration,
    done: bool,
}

impl<T> Future for RecvFut<'_, T> {
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

impl<T> Drop for RecvFut<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_pop(&mut self.reg);
    }
}

impl<T> std::fmt::Debug for RecvFut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFut")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
