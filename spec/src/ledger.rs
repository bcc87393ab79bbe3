//! Messages that count their own creation and drops.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// How many times each message value was created and dropped: one pair of
/// counters per value in `0..len`, lock-free, so that counting adds no
/// synchronization between the threads that drop messages beyond what one
/// message's own counter gives (a lock here would order every drop after
/// the previous one, and hide data races from TSan and Miri).
///
/// ```
/// use spec::Ledger;
///
/// let ledger = Ledger::new(4);
/// let a = ledger.message(0);
/// let b = ledger.message(3);
/// assert_eq!(ledger.alive(), [0, 3]);
/// drop(a);
/// assert_eq!(ledger.drops(0), 1);
/// drop(b);
/// ledger.assert_all_dropped_once("example");
/// ```
pub struct Ledger {
    created: Box<[AtomicU32]>,
    drops: Box<[AtomicU32]>,
}

/// A message: its value, counted by its [`Ledger`] when created and when
/// dropped.
pub struct Counted {
    value: u64,
    ledger: Arc<Ledger>,
}

impl Ledger {
    /// A ledger for message values `0..len`.
    pub fn new(len: usize) -> Arc<Ledger> {
        let counters = || (0..len).map(|_| AtomicU32::new(0)).collect();
        Arc::new(Ledger {
            created: counters(),
            drops: counters(),
        })
    }

    /// A new message with value `value`, counted as created.
    ///
    /// # Panics
    ///
    /// If `value` is not below the ledger's length.
    pub fn message(self: &Arc<Self>, value: u64) -> Counted {
        self.created[Self::slot(value)].fetch_add(1, Ordering::SeqCst);
        Counted {
            value,
            ledger: Arc::clone(self),
        }
    }

    /// How many times messages with value `value` were dropped.
    pub fn drops(&self, value: u64) -> u32 {
        self.drops[Self::slot(value)].load(Ordering::SeqCst)
    }

    /// The values created more often than dropped, in order.
    pub fn alive(&self) -> Vec<u64> {
        self.values(|created, dropped| created > dropped)
    }

    /// The values dropped more often than created, in order.
    pub fn dropped_twice(&self) -> Vec<u64> {
        self.values(|created, dropped| dropped > created)
    }

    /// Panics unless every message created was dropped exactly once.
    pub fn assert_all_dropped_once(&self, what: &str) {
        let twice = self.dropped_twice();
        assert!(
            twice.is_empty(),
            "{what}: messages dropped twice: {twice:?}"
        );
        let alive = self.alive();
        assert!(
            alive.is_empty(),
            "{what}: messages never dropped: {alive:?}"
        );
    }

    fn values(&self, pick: impl Fn(u32, u32) -> bool) -> Vec<u64> {
        (0..self.created.len())
            .filter(|&v| {
                let created = self.created[v].load(Ordering::SeqCst);
                pick(created, self.drops[v].load(Ordering::SeqCst))
            })
            .map(|v| v as u64)
            .collect()
    }

    fn slot(value: u64) -> usize {
        usize::try_from(value).expect("a message value fits usize")
    }
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("len", &self.created.len())
            .field("alive", &self.alive().len())
            .finish()
    }
}

impl Counted {
    /// The message's value.
    pub fn value(&self) -> u64 {
        self.value
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // SeqCst, as a test reads the counters after joining or after a
        // receive that made this drop happen before it; no panic here, a
        // drop may run inside the library.
        self.ledger.drops[Ledger::slot(self.value)].fetch_add(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counted({})", self.value)
    }
}
