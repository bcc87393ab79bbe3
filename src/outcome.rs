//! What [`Registry::set_with`](crate::Registry::set_with) reports: the new
//! generation's receiver, and whether it replaced one.

use crate::chan_ref::ChanRef;
use crate::receiver::Receiver;

/// The result of [`Registry::set_with`](crate::Registry::set_with): the new
/// channel's receiver, and the generation it replaced, if the id had one.
///
/// # Examples
///
/// ```
/// use channel_registry::{Created, Registry};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str, &str>::new();
/// let Created { receiver: first, replaced } = registry.set_with(1, 5, "first")?;
/// assert!(replaced.is_none()); // created
///
/// registry.try_send(&1, "late mail").unwrap();
/// let Created { receiver: _second, replaced } = registry.set_with(1, 5, "second")?;
/// let old = replaced.expect("replaced");
/// assert_eq!(*old.state(), "first");
/// assert_eq!(old.len(), 1); // what the old receiver has yet to take
/// assert_eq!(first.try_recv(), Ok("late mail"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the receiver closes the new channel"]
pub struct Created<T, S = ()> {
    /// The new channel's receiver.
    pub receiver: Receiver<T, S>,
    /// The generation this call replaced (and closed), or `None` if it
    /// created the id.
    pub replaced: Option<Retired<T, S>>,
}

impl<T, S> std::fmt::Debug for Created<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("receiver", &self.receiver)
            .field("replaced", &self.replaced)
            .finish()
    }
}

/// A generation that a [`set_with`](crate::Registry::set_with) replaced:
/// closed, with its state, and what its receiver has yet to take.
///
/// It keeps the generation's memory (and state) alive, not its channel
/// open: the generation is closed before `set_with` returns, and its
/// receiver, if still held, drains it.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use channel_registry::Registry;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// // Per-generation counters, reached from the receiver, by id, and at replacement.
/// let registry = Registry::<u64, u32, AtomicU64>::new();
/// let inbox = registry.set_with(1, 5, AtomicU64::new(0))?.receiver;
/// registry.try_send(&1, 7).unwrap();
/// let msg = inbox.recv()?;
/// inbox.state().fetch_add(u64::from(msg), Ordering::Relaxed);
///
/// let replaced = registry.set_with(1, 5, AtomicU64::new(0))?.replaced.unwrap();
/// assert!(replaced.is_closed());
/// assert_eq!(replaced.state().load(Ordering::Relaxed), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Retired<T, S = ()> {
    chan: ChanRef<T, S>,
}

impl<T, S> Retired<T, S> {
    pub(crate) fn new(chan: ChanRef<T, S>) -> Self {
        Retired { chan }
    }

    /// The generation's state.
    pub fn state(&self) -> &S {
        self.chan.state()
    }

    /// How many messages are buffered in it: accepted, and not yet taken by
    /// its receiver (or dropped with it).
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is buffered in it.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its capacity.
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// Whether it is closed: always `true` once `set_with` has returned it.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T, S> std::fmt::Debug for Retired<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retired")
            .field("chan", &*self.chan)
            .finish_non_exhaustive()
    }
}
