//! Operations on every id in a range of the ordered ids: one point
//! operation per id, in ascending order.
//!
//! A range operation is **not atomic across ids**: it lists the ids with
//! [`Registry::ids_in`] and runs one `try_send` or `delete` per id listed,
//! each linearizable on its own. So per id it guarantees exactly what
//! `ids_in` and that operation do: an id that exists for the whole call is
//! sent to (or deleted) exactly once; an id created or deleted meanwhile may
//! or may not be; no id is visited twice.

use std::hash::Hash;
use std::ops::RangeBounds;

use crate::error::TrySendError;
use crate::registry::Registry;

/// What [`Registry::send_in`] did, counted by outcome.
///
/// # Examples
///
/// ```
/// use channel_registry::{RangeSent, Registry};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str>::new();
/// let _a = registry.set(1, 1)?;
/// let _b = registry.set(2, 1)?;
/// registry.try_send(&2, "fills id 2").unwrap();
/// let sent = registry.send_in(1..=2, "hello");
/// assert_eq!(sent, RangeSent { sent: 1, full: 1, ..RangeSent::default() });
/// assert_eq!(sent.failed(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeSent {
    /// Ids whose channel accepted the message.
    pub sent: usize,
    /// Ids whose channel was full.
    pub full: usize,
    /// Ids whose channel's receiver was dropped.
    pub closed: usize,
    /// Ids listed and then deleted before their send.
    pub no_such_id: usize,
}

impl RangeSent {
    /// How many ids the message was not delivered to.
    pub fn failed(&self) -> usize {
        self.full + self.closed + self.no_such_id
    }

    fn count<T>(&mut self, result: &Result<(), TrySendError<T>>) {
        match result {
            Ok(()) => self.sent += 1,
            Err(TrySendError::Full(_)) => self.full += 1,
            Err(TrySendError::Closed(_)) => self.closed += 1,
            Err(TrySendError::NoSuchId(_)) => self.no_such_id += 1,
        }
    }
}

impl<K, T, S> Registry<K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    /// Sends a clone of `msg` to every id in `range`, in ascending order,
    /// without waiting (one [`try_send`](Self::try_send) per id), and counts
    /// the outcomes.
    ///
    /// Not atomic across ids, each send linearizable on its own: an id that
    /// exists for the whole call gets exactly one attempt; ids created or
    /// deleted meanwhile may or may not. The last id gets `msg` itself, so
    /// `n` ids cost `n - 1` clones. [`send_in_each`](Self::send_in_each)
    /// also hands back each failed id with its message.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// // Tenant in the high 32 bits, instance in the low ones.
    /// let id = |tenant: u64, instance: u64| tenant << 32 | instance;
    /// let registry = Registry::<u64, String>::new();
    /// let inboxes: Vec<_> = [id(7, 1), id(7, 2), id(8, 1)]
    ///     .into_iter()
    ///     .map(|i| registry.set(i, 4))
    ///     .collect::<Result<_, _>>()?;
    /// let sent = registry.send_in(id(7, 0)..id(8, 0), "tenant 7: pause".to_string());
    /// assert_eq!(sent.sent, 2);
    /// assert_eq!(inboxes[2].len(), 0); // tenant 8 untouched
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_in<R>(&self, range: R, msg: T) -> RangeSent
    where
        R: RangeBounds<K>,
        T: Clone,
    {
        self.send_in_each(range, msg, |_, _| {})
    }

    /// [`send_in`](Self::send_in), calling `failed` with each id whose send
    /// failed and the error, which holds that id's copy of the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, TrySendError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, u32>::new();
    /// let _a = registry.set(1, 1)?;
    /// let closed = registry.set(2, 1)?;
    /// drop(closed); // id 2 stays registered, its channel closed
    /// let mut failed = Vec::new();
    /// let sent = registry.send_in_each(.., 5, |id, err| failed.push((*id, err)));
    /// assert_eq!((sent.sent, sent.closed), (1, 1));
    /// assert!(matches!(failed[..], [(2, TrySendError::Closed(5))]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_in_each<R, F>(&self, range: R, msg: T, mut failed: F) -> RangeSent
    where
        R: RangeBounds<K>,
        T: Clone,
        F: FnMut(&K, TrySendError<T>),
    {
        let mut counts = RangeSent::default();
        let mut record = |id: &K, result: Result<(), TrySendError<T>>| {
            counts.count(&result);
            if let Err(e) = result {
                failed(id, e);
            }
        };
        let mut ids = self.ids_in(range).peekable();
        while let Some(id) = ids.next() {
            if ids.peek().is_none() {
                // The last id: `msg` itself.
                record(&id, self.try_send(&id, msg));
                break;
            }
            record(&id, self.try_send(&id, msg.clone()));
        }
        counts
    }

    /// Deletes every id in `range`, in ascending order (one
    /// [`delete`](Self::delete) per id), and returns how many this call
    /// deleted.
    ///
    /// Not atomic across ids: an id that exists for the whole call is
    /// deleted; an id created meanwhile may survive it, and an id that a
    /// concurrent `delete` removed first is not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// let _inboxes: Vec<_> = (0..10).map(|id| registry.set(id, 1)).collect();
    /// assert_eq!(registry.delete_in(3..7), 4);
    /// assert_eq!(registry.ids().collect::<Vec<_>>(), [0, 1, 2, 7, 8, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_in<R: RangeBounds<K>>(&self, range: R) -> usize {
        self.ids_in(range).filter(|id| self.delete(id)).count()
    }
}
