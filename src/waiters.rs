//! Wait lists: whom to wake when a channel gains a message, gains space, or
//! closes.
//!
//! This is owned code rather than `event-listener`: event-listener 5 takes a
//! `std::sync::Mutex` on every `notify` once a listener has ever existed, and
//! the send path here may do no shared write but the push itself. A channel's
//! [`Waiters`] keep a count of registered waiters per side inline, so a
//! notifier with nobody to wake pays one `SeqCst` fence and one load. Owning it
//! also puts the wake-up protocol under loom, through [`crate::sync`].
//!
//! # Allocated by the first waiter
//!
//! Most channels in a registry never see a waiter (senders use `try_send`,
//! receivers find messages). So the lists themselves (a mutex and two
//! vectors, about 80 bytes) live in a box that the first waiter allocates and
//! installs with a compare-and-swap; the channel keeps only the two counts and
//! the pointer inline (24 bytes). The box lives until the channel is dropped.
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
//!
//! # Passing a wake-up on
//!
//! `notify_one` removes the first entry and wakes its waiter: the waiter
//! then owns that wake-up. A waiter that leaves the list for any other
//! reason than sleeping on, while owning a wake-up, passes it on with
//! `notify_one`: one that gives up (a time-out, a dropped future), and one
//! that completes (its re-check or its next attempt succeeded). The second
//! case matters with two waiters: a receiver registers, its re-check takes a
//! message pushed before it registered, and a second push's `notify_one`
//! takes the receiver's stale entry; without the pass-on, the other waiting
//! receiver sleeps while a message waits. Passing on costs at most one
//! spurious wake-up per wake-up taken, and a fence and a load when nobody
//! else waits (`Chan::finish_wait`, `Chan::cancel_wait`).

use std::task::Waker;

use crate::sync::{AtomicPtr, AtomicUsize, Built, Mutex, Ordering, fence, lock};

/// Which of a channel's wait lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Receivers waiting for a message or the close.
    Recv = 0,
    /// Senders waiting for space or the close.
    Send = 1,
}

/// The wait lists of one channel (module docs).
pub(crate) struct Waiters {
    /// Entries in each side's list, for the lock-free fast path.
    ///
    /// Written only with the lists' lock held, with `Release`; read by
    /// notifiers after their `SeqCst` fence (module docs) with `Acquire`, so
    /// a notifier that sees a waiter also sees the `lists` pointer that the
    /// waiter installed or read before writing the count.
    waiting: [AtomicUsize; 2],
    /// Null until the first waiter; then the lists, owned by this struct.
    lists: AtomicPtr<Lists>,
}

struct Lists {
    entries: Mutex<Entries>,
    /// Under loom, checks that every thread that uses the lists sees them
    /// built (`sync::Built`): their publication is the installing CAS.
    built: Built,
}

struct Entries {
    next_key: u64,
    lists: [Vec<(u64, Waker)>; 2],
}

/// A waiter's place in a wait list: empty, or the key of its entry.
///
/// An entry is removed either by the waiter ([`WaitList::unregister`]) or by a
/// notifier that woke it; the waiter learns which from `unregister`'s result.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    key: Option<u64>,
}

/// One side of a channel's [`Waiters`].
#[derive(Clone, Copy)]
pub(crate) struct WaitList<'a> {
    waiters: &'a Waiters,
    side: Side,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Waiters {
            waiting: [AtomicUsize::new(0), AtomicUsize::new(0)],
            lists: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub(crate) fn recv(&self) -> WaitList<'_> {
        self.side(Side::Recv)
    }

    pub(crate) fn send(&self) -> WaitList<'_> {
        self.side(Side::Send)
    }

    pub(crate) fn side(&self, side: Side) -> WaitList<'_> {
        WaitList {
            waiters: self,
            side,
        }
    }

    /// Wakes every waiter on both sides, with one fence for the two (each
    /// side used to run its own `notify_all`: fence, load, wake). Call after the state change that every
    /// waiter waits for (the close). Each side's load still comes after a
    /// `SeqCst` fence that comes after the change, which is all the Dekker
    /// pair asks of the notifier (module docs); a second fence between the
    /// two loads orders nothing more, and a close paid for it on every
    /// delete and every receiver drop. (Negative control
    /// `close_without_fence`: no fence at all, and loom finds the lost
    /// wake-up.)
    pub(crate) fn notify_all_sides(&self) {
        #[cfg(not(channel_registry_broken = "close_without_fence"))]
        fence(Ordering::SeqCst);
        for side in [Side::Recv, Side::Send] {
            let list = self.side(side);
            // `Acquire`, as in `notify_one`.
            if list.count().load(Ordering::Acquire) != 0 {
                list.wake(true);
            }
        }
    }

    /// The lists, if a waiter ever allocated them.
    fn lists(&self) -> Option<&Lists> {
        // Acquire: pairs with the installing CAS, so the lists' contents
        // (the mutex and empty vectors) are visible.
        let p = self.lists.load(Ordering::Acquire);
        // SAFETY: non-null means installed by `lists_or_alloc`; the box is
        // freed only in `drop`, which `&self` rules out.
        let lists = (!p.is_null()).then(|| unsafe { &*p })?;
        lists.built.check();
        Some(lists)
    }

    fn lists_or_alloc(&self) -> &Lists {
        if let Some(lists) = self.lists() {
            return lists;
        }
        let new = Box::into_raw(Box::new(Lists {
            entries: Mutex::new(Entries {
                next_key: 0,
                lists: [Vec::new(), Vec::new()],
            }),
            built: Built::new(),
        }));
        // `Release` on success: publishes the box to `lists()`. Nothing to
        // acquire: a successful CAS read null, the initial value, which no
        // store released. (It was `AcqRel`; `just orderings` passed
        // `Release`, and this is why.) `Acquire` on failure: this thread
        // uses the winner's box (weakened, it is caught).
        match self.lists.compare_exchange(
            std::ptr::null_mut(),
            new,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            // SAFETY: installed just now; freed only in `drop`.
            Ok(_) => unsafe { &*new },
            Err(winner) => {
                // SAFETY: `new` was never shared: the CAS failed.
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: installed by the winner; freed only in `drop`.
                let lists = unsafe { &*winner };
                lists.built.check();
                lists
            }
        }
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        // `Relaxed`: `&mut self`, so whatever installed the lists happens
        // before this (it was `Acquire`; `just orderings` passed `Relaxed`).
        let p = self.lists.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: installed by `lists_or_alloc` from `Box::into_raw`, and
            // `&mut self` means no reference to it is alive.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl WaitList<'_> {
    fn count(&self) -> &AtomicUsize {
        &self.waiters.waiting[self.side as usize]
    }

    /// Registers `waker`, or refreshes it if `reg` is still in the list.
    ///
    /// Ends with the `SeqCst` fence of the waiter side: the caller must
    /// re-check its condition after this returns, before it sleeps.
    pub(crate) fn register(&self, reg: &mut Registration, waker: &Waker) {
        let lists = self.waiters.lists_or_alloc();
        {
            let mut entries = lock(&lists.entries);
            let Entries { next_key, lists } = &mut *entries;
            let list = &mut lists[self.side as usize];
            let existing = reg
                .key
                .and_then(|key| list.iter_mut().find(|(k, _)| *k == key));
            match existing {
                Some((_, old)) => {
                    if !old.will_wake(waker) {
                        old.clone_from(waker);
                    }
                }
                None => {
                    let key = *next_key;
                    *next_key = key.wrapping_add(1);
                    list.push((key, waker.clone()));
                    reg.key = Some(key);
                    // `Release`, read by the notifiers' `Acquire` loads of
                    // the count: a notifier that sees this waiter then finds
                    // the lists it was registered in. `just orderings`
                    // passes `Relaxed` here and on the notifiers' loads: the
                    // fence pair alone makes a notifier either see the
                    // pointer or be seen by the waiter's re-check, when the
                    // waiter installed the lists itself; when it only read
                    // them, that rests on the fences' coherence for a
                    // location the waiter did not write, which we do not
                    // rely on. Kept: this is the slow path, and the loads
                    // are plain loads on x86-64.
                    self.count().store(list.len(), Ordering::Release);
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
        // A registration exists, so the lists were allocated.
        let Some(lists) = self.waiters.lists() else {
            return false;
        };
        let mut entries = lock(&lists.entries);
        let list = &mut entries.lists[self.side as usize];
        match list.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                list.remove(i);
                // `Release`: as in `register` (a lower count only makes a
                // notifier skip the lock; `Relaxed` passes `just
                // orderings` and is not taken, for the same reason).
                self.count().store(list.len(), Ordering::Release);
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
        // `Acquire`: pairs with the count stores (see `register` for why it
        // is kept though `just orderings` passes `Relaxed`).
        if self.count().load(Ordering::Acquire) != 0 {
            self.wake(false);
        }
    }

    #[cold]
    fn wake(&self, all: bool) {
        // A non-zero count was written after the lists were installed.
        let Some(lists) = self.waiters.lists() else {
            return;
        };
        let woken: Vec<Waker> = {
            let mut entries = lock(&lists.entries);
            let list = &mut entries.lists[self.side as usize];
            let n = if all { list.len() } else { list.len().min(1) };
            let woken = list.drain(..n).map(|(_, w)| w).collect();
            // `Release`, as in `register` (`Relaxed` passes `just
            // orderings`; not taken, for the same reason).
            self.count().store(list.len(), Ordering::Release);
            woken
        };
        // Wake outside the lock: a waker may run arbitrary code.
        for waker in woken {
            waker.wake();
        }
    }
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters")
            .field("receivers", &self.waiting[0].load(Ordering::Relaxed))
            .field("senders", &self.waiting[1].load(Ordering::Relaxed))
            .finish()
    }
}
