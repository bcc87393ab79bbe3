//! Errors. Every error of a send carries the message back to the caller.

use std::error::Error;
use std::fmt;

use crate::capacity::CapacityError;

/// Why [`try_send`](crate::Registry::try_send) failed; holds the message.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, TrySendError};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, String>::new();
/// let event = "payload".to_string();
/// match registry.try_send(&1, event) {
///     Ok(()) => {}
///     // Each variant holds the message, to retry, log or drop.
///     Err(TrySendError::NoSuchId(event)) => assert_eq!(event, "payload"),
///     Err(TrySendError::Full(_event)) => { /* back off and retry */ }
///     Err(TrySendError::Closed(_event)) => { /* the receiver is gone */ }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// No channel is registered under the id (never returned by a
    /// [`Sender`](crate::Sender) handle).
    NoSuchId(T),
    /// The channel's buffer is full.
    Full(T),
    /// The channel is closed: its receiver was dropped, or (for a
    /// [`Sender`](crate::Sender) handle) its id was deleted or replaced.
    Closed(T),
}

/// Why a waiting send ([`send_async`](crate::Registry::send_async)) failed;
/// holds the message.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, SendError};
/// use futures_lite::future::block_on;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str>::new();
/// let result = block_on(registry.send_async(&1, "nobody home"));
/// assert_eq!(result, Err(SendError::NoSuchId("nobody home")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendError<T> {
    /// No channel is registered under the id (never returned by a
    /// [`Sender`](crate::Sender) handle).
    NoSuchId(T),
    /// The channel is closed (see [`TrySendError::Closed`]).
    Closed(T),
}

/// Why [`send_timeout`](crate::Registry::send_timeout) failed; holds the
/// message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use channel_registry::{Registry, SendTimeoutError};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str>::new();
/// let _inbox = registry.set(1, 1)?;
/// registry.try_send(&1, "fills it").unwrap();
/// let result = registry.send_timeout(&1, "waits", Duration::from_millis(5));
/// assert_eq!(result, Err(SendTimeoutError::Timeout("waits")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// No channel is registered under the id (never returned by a
    /// [`Sender`](crate::Sender) handle).
    NoSuchId(T),
    /// The buffer stayed full until the timeout.
    Timeout(T),
    /// The channel is closed (see [`TrySendError::Closed`]).
    Closed(T),
}

macro_rules! message_error {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl<T> $name<T> {
            /// Takes the message back.
            ///
            /// # Examples
            ///
            /// ```
            /// use channel_registry::Registry;
            /// # if channel_registry::__loom_build() { return Ok(()); }
            ///
            /// let registry = Registry::<u64, String>::new();
            /// let error = registry.try_send(&1, "mine".to_string()).unwrap_err();
            /// assert_eq!(error.into_inner(), "mine");
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(msg) => msg,)*
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($text),)*
                }
            }
        }

        impl<T> Error for $name<T> {}
    };
}

message_error!(TrySendError {
    NoSuchId => "sending on an id with no channel",
    Full => "sending on a full channel",
    Closed => "sending on a closed channel",
});
message_error!(SendError {
    NoSuchId => "sending on an id with no channel",
    Closed => "sending on a closed channel",
});
message_error!(SendTimeoutError {
    NoSuchId => "sending on an id with no channel",
    Timeout => "timed out waiting for space in the channel",
    Closed => "sending on a closed channel",
});

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        match err {
            SendError::NoSuchId(m) => TrySendError::NoSuchId(m),
            SendError::Closed(m) => TrySendError::Closed(m),
        }
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        match err {
            SendError::NoSuchId(m) => SendTimeoutError::NoSuchId(m),
            SendError::Closed(m) => SendTimeoutError::Closed(m),
        }
    }
}

/// Why [`try_recv`](crate::Receiver::try_recv) returned no message.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, TryRecvError};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, ()>::new();
/// let inbox = registry.set(1, 5)?;
/// assert_eq!(inbox.try_recv(), Err(TryRecvError::Empty));
/// registry.delete(&1);
/// assert_eq!(inbox.try_recv(), Err(TryRecvError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing is buffered, and the channel is open.
    Empty,
    /// The channel is closed and every buffered message has been received.
    Closed,
}

/// The channel is closed and every buffered message has been received.
///
/// # Examples
///
/// ```
/// use channel_registry::{Registry, RecvError};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, ()>::new();
/// let inbox = registry.set(1, 5)?;
/// registry.delete(&1);
/// assert_eq!(inbox.recv(), Err(RecvError));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why [`recv_timeout`](crate::Receiver::recv_timeout) returned no message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use channel_registry::{Registry, RecvTimeoutError};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, ()>::new();
/// let inbox = registry.set(1, 5)?;
/// let wait = Duration::from_millis(5);
/// assert_eq!(inbox.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
/// registry.delete(&1);
/// assert_eq!(inbox.recv_timeout(wait), Err(RecvTimeoutError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout, and the channel is open.
    Timeout,
    /// The channel is closed and every buffered message has been received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Closed => f.write_str("receiving on a closed and drained channel"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and drained channel")
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Closed => f.write_str("receiving on a closed and drained channel"),
        }
    }
}

impl Error for TryRecvError {}
impl Error for RecvError {}
impl Error for RecvTimeoutError {}

/// Why [`register`](crate::Registry::register) did not create a channel.
///
/// # Examples
///
/// ```
/// use channel_registry::{RegisterError, Registry};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, ()>::new();
/// let _inbox = registry.register(1, 5)?;
/// assert_eq!(registry.register(1, 5).unwrap_err(), RegisterError::Occupied);
/// assert!(matches!(registry.register(2, 0), Err(RegisterError::Capacity(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RegisterError {
    /// The id already has a channel (possibly one whose receiver was
    /// dropped); nothing was changed.
    Occupied,
    /// The capacity cannot be served; nothing was changed.
    Capacity(CapacityError),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Occupied => f.write_str("the id already has a channel"),
            RegisterError::Capacity(e) => e.fmt(f),
        }
    }
}

impl Error for RegisterError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RegisterError::Occupied => None,
            RegisterError::Capacity(e) => Some(e),
        }
    }
}

impl From<CapacityError> for RegisterError {
    fn from(e: CapacityError) -> Self {
        RegisterError::Capacity(e)
    }
}

/// A call that took a state and failed: the error, and the state handed back
/// unused ([`Registry::set_with`](crate::Registry::set_with),
/// [`Registry::register_with`](crate::Registry::register_with)).
///
/// # Examples
///
/// ```
/// use channel_registry::{RegisterError, Registry};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str, String>::new();
/// let _inbox = registry.register_with(1, 5, "first".to_string())?;
/// let refused = registry.register_with(1, 5, "second".to_string()).unwrap_err();
/// assert_eq!(refused.error, RegisterError::Occupied);
/// assert_eq!(refused.state, "second"); // not lost
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WithState<E, S> {
    /// Why the call failed.
    pub error: E,
    /// The state the call was given, unused.
    pub state: S,
}

impl<E: fmt::Debug, S> fmt::Debug for WithState<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithState")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Display, S> fmt::Display for WithState<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<E: Error + 'static, S> Error for WithState<E, S> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}
