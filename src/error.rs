//! Errors. Every error of a send carries the message back to the caller.

use std::error::Error;
use std::fmt;

use crate::chan::{MAX_BUFFER_BYTES, MAX_CAPACITY};

/// Why [`try_send`](crate::Registry::try_send) failed; holds the message.
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
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing is buffered, and the channel is open.
    Empty,
    /// The channel is closed and every buffered message has been received.
    Closed,
}

/// The channel is closed and every buffered message has been received.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why [`recv_timeout`](crate::Receiver::recv_timeout) returned no message.
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

/// A channel capacity that cannot be served: zero, above
/// [`MAX_CAPACITY`](crate::MAX_CAPACITY), or a buffer above
/// [`MAX_BUFFER_BYTES`](crate::MAX_BUFFER_BYTES).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct CapacityError {
    requested: usize,
}

impl CapacityError {
    pub(crate) fn new(requested: usize) -> Self {
        CapacityError { requested }
    }

    /// The capacity that was asked for.
    pub fn requested(&self) -> usize {
        self.requested
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requested == 0 {
            write!(
                f,
                "channel capacity must be at least 1 (rendezvous channels are not supported)"
            )
        } else {
            write!(
                f,
                "channel capacity {} is above the maximum of {} slots or {} buffer bytes",
                self.requested, MAX_CAPACITY, MAX_BUFFER_BYTES
            )
        }
    }
}

impl Error for CapacityError {}

/// Why [`register`](crate::Registry::register) did not create a channel.
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
