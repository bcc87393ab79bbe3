//! Global budgets: what every client together may make the daemon hold.
//!
//! A [`Budget`] counts units (bytes of buffered event bodies, or mailbox
//! slots) against a limit. [`Budget::charge`] takes units or refuses, and
//! the [`Charge`] it returns gives them back when dropped, so whatever path
//! an event or a mailbox leaves by (processed, refused by a full mailbox,
//! dropped with a deleted instance, abandoned at shutdown), its units come
//! back exactly once. A refused charge becomes a 503 with `Retry-After`,
//! never an abort (in cluster mode, an owner moving stored events into
//! mailboxes waits for room instead: the events are already accepted).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Units in use against a limit.
pub(crate) struct Budget {
    /// What the units are, for messages and metrics ("bytes", "slots").
    pub(crate) name: &'static str,
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(name: &'static str, limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            name,
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `units`, or returns `None` if that would pass the limit.
    ///
    /// `Relaxed` is enough: the counter orders nothing else, and the
    /// read-modify-write chain on `used` alone keeps the sum exact, so two
    /// racing charges can never both fit into the last free units.
    pub(crate) fn charge(self: &Arc<Self>, units: usize) -> Option<Charge> {
        self.used
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(units).filter(|&after| after <= self.limit)
            })
            .ok()?;
        Some(Charge {
            budget: Arc::clone(self),
            units,
        })
    }

    /// Units in use now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Relaxed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("name", &self.name)
            .field("used", &self.used())
            .field("limit", &self.limit)
            .finish()
    }
}

/// Units taken from a [`Budget`]; dropping it gives them back.
pub(crate) struct Charge {
    budget: Arc<Budget>,
    units: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.units, Relaxed);
    }
}

impl fmt::Debug for Charge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Charge")
            .field("budget", &self.budget.name)
            .field("units", &self.units)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_give_back_on_drop() {
        let budget = Budget::new("bytes", 10);
        let a = budget.charge(6).expect("6 of 10");
        assert!(budget.charge(5).is_none(), "11 of 10");
        let b = budget.charge(4).expect("exactly 10 of 10");
        assert_eq!(budget.used(), 10);
        assert!(budget.charge(1).is_none());
        drop(a);
        assert_eq!(budget.used(), 4);
        assert!(budget.charge(usize::MAX).is_none(), "no overflow");
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn racing_charges_never_pass_the_limit() {
        let budget = Budget::new("slots", 1000);
        let held: Vec<Vec<Charge>> = std::thread::scope(|s| {
            let takers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map_while(|_| budget.charge(1)).collect()))
                .collect();
            takers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(held.iter().map(Vec::len).sum::<usize>(), 1000);
        assert_eq!(budget.used(), 1000);
        drop(held);
        assert_eq!(budget.used(), 0);
    }
}
