//! A sender handle bound to one generation: skips the id lookup.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::block::{block_on_until, deadline_after};
use crate::chan::{Closed, PushError, SendWait};
use crate::chan_ref::ChanRef;
use crate::error::{SendError, SendTimeoutError, TrySendError};

/// A cloneable handle to one channel, from [`Registry::sender`](crate::Registry::sender).
///
/// It sends without looking the id up. It is bound to the channel that was
/// current when it was made: after that id is deleted or replaced (or its
/// receiver dropped) every send fails with `Closed` and hands the message
/// back. It never returns `NoSuchId`. A handle keeps its channel's memory
/// alive, not its registration.
///
/// # Examples
///
/// ```
/// use std::thread;
///
/// use channel_registry::Registry;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, u32>::new();
/// let inbox = registry.set(1, 5)?;
/// let handle = registry.sender(&1).unwrap();
/// thread::scope(|s| {
///     for n in 0..3 {
///         let handle = handle.clone();
///         s.spawn(move || handle.try_send(n).unwrap());
///     }
/// });
/// assert_eq!(inbox.len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender<T, S = ()> {
    chan: ChanRef<T, S>,
}

impl<T, S> Sender<T, S> {
    pub(crate) fn new(chan: ChanRef<T, S>) -> Self {
        Sender { chan }
    }

    /// Sends without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, TrySendError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 1)?;
    /// let handle = registry.sender(&1).unwrap();
    /// handle.try_send("fits")?;
    /// assert!(matches!(handle.try_send("full"), Err(TrySendError::Full("full"))));
    /// drop(inbox);
    /// assert!(matches!(handle.try_send("gone"), Err(TrySendError::Closed("gone"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.chan.try_push(msg).map_err(|e| match e {
            PushError::Full(m) => TrySendError::Full(m),
            PushError::Closed(m) => TrySendError::Closed(m),
        })
    }

    /// Sends, waiting up to `timeout` for space.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Closed`], with
    /// the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use channel_registry::{Registry, SendTimeoutError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, u32>::new();
    /// let inbox = registry.set(1, 1)?;
    /// let handle = registry.sender(&1).unwrap();
    /// handle.send_timeout(1, Duration::from_millis(10))?;
    /// match handle.send_timeout(2, Duration::from_millis(10)) {
    ///     Err(SendTimeoutError::Timeout(msg)) => assert_eq!(msg, 2),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(inbox.recv(), Ok(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let mut wait = SendWait::new();
        match block_on_until(deadline_after(timeout), msg, |msg, waker| {
            wait.attempt(&self.chan, msg, waker)
        }) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Closed(m))) => Err(SendTimeoutError::Closed(m)),
            Err(m) => {
                wait.cancel();
                // The verdict comes from an attempt that waits for a pop in
                // progress (see `Registry::send_timeout`).
                #[cfg(channel_registry_broken = "timeout_skips_final_attempt")]
                return Err(SendTimeoutError::Timeout(m));
                #[allow(unreachable_code)]
                match self.try_send(m) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(m)) => Err(SendTimeoutError::Timeout(m)),
                    Err(TrySendError::Closed(m) | TrySendError::NoSuchId(m)) => {
                        Err(SendTimeoutError::Closed(m))
                    }
                }
            }
        }
    }

    /// Sends, waiting asynchronously for space. Dropping the future before
    /// it completes drops the message unsent.
    ///
    /// # Panics
    ///
    /// The future panics if polled again after it returned `Ready`.
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
    /// let handle = registry.sender(&1).unwrap();
    /// block_on(handle.send_async("hello"))?;
    /// assert_eq!(inbox.try_recv(), Ok("hello"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_async(&self, msg: T) -> SendFut<'_, T, S> {
        SendFut {
            sender: self,
            msg: Some(msg),
            wait: SendWait::new(),
        }
    }

    /// Whether the channel is closed (its id deleted or replaced, its
    /// receiver dropped, or the registry dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let _inbox = registry.set(1, 5)?;
    /// let handle = registry.sender(&1).unwrap();
    /// assert!(!handle.is_closed());
    /// registry.delete(&1);
    /// assert!(handle.is_closed());
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
    /// let _inbox = registry.set(1, 5)?;
    /// let handle = registry.sender(&1).unwrap();
    /// handle.try_send("a").unwrap();
    /// assert_eq!(handle.len(), 1);
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
    /// let _inbox = registry.set(1, 5)?;
    /// let handle = registry.sender(&1).unwrap();
    /// assert!(handle.is_empty());
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
    /// let _inbox = registry.set(1, 8)?;
    /// assert_eq!(registry.sender(&1).unwrap().capacity(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// The state of the generation this handle sends into (which may have
    /// been replaced since: the handle's channel's, not the id's current
    /// one).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str, &str>::new();
    /// let _old = registry.set_with(1, 5, "old")?;
    /// let handle = registry.sender(&1).unwrap();
    /// let _new = registry.set_with(1, 5, "new")?;
    /// assert_eq!(*handle.state(), "old"); // bound to its generation
    /// assert_eq!(*registry.sender(&1).unwrap().state(), "new");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> &S {
        self.chan.state()
    }

    /// Whether both handles send into the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let _old = registry.set(1, 5)?;
    /// let a = registry.sender(&1).unwrap();
    /// assert!(a.same_channel(&registry.sender(&1).unwrap()));
    /// let _new = registry.set(1, 5)?; // a new channel under the same id
    /// assert!(!a.same_channel(&registry.sender(&1).unwrap()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn same_channel(&self, other: &Sender<T, S>) -> bool {
        ChanRef::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T, S> Clone for Sender<T, S> {
    fn clone(&self) -> Self {
        Sender {
            chan: ChanRef::clone(&self.chan),
        }
    }
}

impl<T, S> std::fmt::Debug for Sender<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("chan", &*self.chan).finish()
    }
}

/// Future of [`Sender::send_async`].
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
/// let handle = registry.sender(&1).unwrap();
/// let send = handle.send_async("handled"); // a `SendFut`
/// block_on(send)?;
/// assert_eq!(inbox.try_recv(), Ok("handled"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SendFut<'a, T, S = ()> {
    sender: &'a Sender<T, S>,
    msg: Option<T>,
    wait: SendWait<T, S>,
}

impl<T, S> Unpin for SendFut<'_, T, S> {}

impl<T, S> Future for SendFut<'_, T, S> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(msg) = this.msg.take() else {
            panic!("channel-registry: send future polled after completion");
        };
        this.wait
            .attempt(&this.sender.chan, msg, cx.waker())
            .into_poll(&mut this.msg)
            .map(|done| done.map_err(|Closed(m)| SendError::Closed(m)))
    }
}

impl<T, S> std::fmt::Debug for SendFut<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFut")
            .field("pending", &self.msg.is_some())
            .finish_non_exhaustive()
    }
}
