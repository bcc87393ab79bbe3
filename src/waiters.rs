//! Wait lists: whom to wake when a channel gains a message, gains space, or
//! closes.
//!
//! This is owned code rather than `event-listener`: event-listener 5 takes a
//! `std::sync::Mutex` on every `notify` once a listener has ever existed, and
//! the send path here may do no shared write but the push itself. A
//! [`WaitList`] keeps a count of registered waiters beside the list, so a
//! notifier with nobody to wake pays one `SeqCst` fence and one load. Owning it
//! also puts the wake-up protocol under loom, through [`crate::sync`].
//!
//! # The protocol (no lost wake-ups)
//!
//! A waiter registers, then re-checks its condition, then sleeps. A notifier
//! changes the state, then looks for waiters. Both sides put a `SeqCst` fence
//! between their write and their read (a Dekker pair):
//!
//! ```text
//! waiter:   waiting := n (under the lock) ; fence(SeqCst) ; re-check the queue
//! notifier: change the queue              ; fence(SeqCst) ; load waiting
//! ```
//!
//! The two fences are ordered one way or the other in the single total order
//! of `SeqCst` fences. If the waiter's fence is first, the notifier's load
//! sees `waiting >= 1` and takes the lock to wake it; if the notifier's is
//! first, the waiter's re-check sees the change and it does not sleep.

use std::task::Waker;

use crate::sync::{AtomicUsize, Mutex, Ordering, fence, lock};

/// Wakers waiting for one kind of event on one channel.
pub(crate) struct WaitList {
    /// Number of entries in `entries`, for the lock-free fast path.
    ///
    /// Written only with the lock held; read without it after a `SeqCst`
    /// fence (see the module docs), so `Relaxed` suffices on both sides.
    waiting: AtomicUsize,
    entries: Mutex<Entries>,
}

struct Entries {
    next_key: u64,
    list: Vec<(u64, Waker)>,
}

/// A waiter's place in a [`WaitList`]: empty, or the key of its entry.
///
/// An entry is removed either by the waiter ([`WaitList::unregister`]) or by a
/// notifier that woke it; the waiter learns which from `unregister`'s result.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    key: Option<u64>,
}

impl WaitList {
    pub(crate) fn new() -> Self {
        WaitList {
            waiting: AtomicUsize::new(0),
            entries: Mutex::new(Entries {
                next_key: 0,
                list: Vec::new(),
            }),
        }
    }

    /// Registers `waker`, or refreshes it if `reg` is still in the list.
    ///
    /// Ends with the `SeqCst` fence of the waiter side: the caller must
    /// re-check its condition after this returns, before it sleeps.
    pub(crate) fn register(&self, reg: &mut Registration, waker: &Waker) {
        {
            let mut entries = lock(&self.entries);
            let existing = reg
                .key
                .and_then(|key| entries.list.iter_mut().find(|(k, _)| *k == key));
            match existing {
                Some((_, old)) => {
                    if !old.will_wake(waker) {
                        old.clone_from(waker);
                    }
                }
                None => {
                    let key = entries.next_key;
                    entries.next_key = key.wrapping_add(1);
                    entries.list.push((key, waker.clone()));
                    reg.key = Some(key);
                    self.waiting.store(entries.list.len(), Ordering::Relaxed);
                }
            }
        }
        // Waiter side of the Dekker pair (module docs).
        fence(Ordering::SeqCst);
    }

    /// Removes `reg`'s entry. Returns `true` if a notifier had already taken
    /// it (the waiter was woken), `false` if it was still waiting or was never
    /// registered.
    pub(crate) fn unregister(&self, reg: &mut Registration) -> bool {
        let Some(key) = reg.key.take() else {
            return false;
        };
        let mut entries = lock(&self.entries);
        match entries.list.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                entries.list.remove(i);
                self.waiting.store(entries.list.len(), Ordering::Relaxed);
                false
            }
            None => true,
        }
    }

    /// Wakes the longest-waiting entry, if any. Call after the state change
    /// that the waiter waits for.
    #[inline]
    pub(crate) fn notify_one(&self) {
        // Notifier side of the Dekker pair (module docs). (The negative
        // control `no_notify_fence` removes it: loom must find the lost
        // wake-up.)
        #[cfg(not(channel_registry_broken = "no_notify_fence"))]
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 {
            self.wake(false);
        }
    }

    /// Wakes every entry. Call after closing the channel.
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 {
            self.wake(true);
        }
    }

    #[cold]
    fn wake(&self, all: bool) {
        let woken: Vec<Waker> = {
            let mut entries = lock(&self.entries);
            let n = if all {
                entries.list.len()
            } else {
                entries.list.len().min(1)
            };
            let woken = entries.list.drain(..n).map(|(_, w)| w).collect();
            self.waiting.store(entries.list.len(), Ordering::Relaxed);
            woken
        };
        // Wake outside the lock: a waker may run arbitrary code.
        for waker in woken {
            waker.wake();
        }
    }
}

impl std::fmt::Debug for WaitList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}
