//! The linearizability search: Wing & Gong (1993) with Lowe's memoization
//! (2017), over a partial order of the operations.
//!
//! An operation may be placed once every operation that must precede it is
//! placed, and only where the sequential [`Model`] explains its recorded
//! result. Which operations must precede which is the caller's choice:
//!
//! - **program order** ([`Order::Program`]): each thread's operations in
//!   the order it ran them. For a checker of the C11 memory model (loom),
//!   where a load may return a stale value long after another thread's
//!   store came first in the schedule: the schedule's order is not a
//!   real-time order that a correct implementation must respect; only
//!   happens-before is, and within a thread that is program order.
//! - **real time** ([`Order::RealTime`]): `a` precedes `b` if `a` returned
//!   before `b` was invoked, by a clock read at both ends. For sequentially
//!   consistent schedules (shuttle) and for histories recorded on real
//!   threads with a shared clock (the history checker). It includes program
//!   order.
//!
//! The search memoizes on (operations placed, model state): two ways of
//! reaching the same state with the same operations placed have the same
//! future.

use std::collections::HashSet;
use std::fmt;

use crate::model::{Model, Op, Out};

/// One recorded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The thread that ran it.
    pub thread: usize,
    /// Its position among its thread's operations.
    pub index: usize,
    /// What was called.
    pub op: Op,
    /// What it returned.
    pub out: Out,
    /// The clock read just before the call.
    pub inv: u64,
    /// The clock read just after it returned.
    pub res: u64,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}..{:>4}] t{}#{} {:?} -> {:?}",
            self.inv, self.res, self.thread, self.index, self.op, self.out
        )
    }
}

/// Which operations must precede which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Each thread's operations in the order it ran them.
    Program,
    /// `a` before `b` if `a` returned before `b` was invoked.
    RealTime,
}

/// How a search went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations in the history.
    pub events: usize,
    /// Search states visited (after memoization).
    pub states: usize,
}

/// No order of the operations explains the history.
#[derive(Clone, Debug)]
pub struct NotLinearizable {
    /// The longest prefix of a linearization the search found (indices
    /// into the events).
    pub longest_prefix: Vec<usize>,
    /// The operations left out of it.
    pub stuck: Vec<usize>,
    /// How the search went.
    pub stats: Stats,
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no sequential order of the operations gives these results (at most {} of {} placed)",
            self.longest_prefix.len(),
            self.stats.events
        )
    }
}

impl std::error::Error for NotLinearizable {}

/// Searches for an order of `events`, respecting `order`, that `start`
/// explains, and after which the final observations `finals` (operations
/// run once every thread finished, such as drains) return what they did.
/// On success returns that order (indices into `events`).
///
/// ```
/// use spec::linearize::{Event, Order, linearizable};
/// use spec::model::{Model, Op, Out, Wait};
///
/// let send = Op::Send { id: 1, msg: 7, wait: Wait::No };
/// let delete = Op::Delete(1);
/// let mut start = Model::new();
/// start.step(Op::Set { id: 1, cap: 1, rx: 0 });
/// // The send saw no id, so the delete came first, though it was invoked later.
/// let events = [
///     Event { thread: 0, index: 0, op: send, out: Out::NoSuchId, inv: 0, res: 3 },
///     Event { thread: 1, index: 0, op: delete, out: Out::Bool(true), inv: 1, res: 2 },
/// ];
/// let (witness, _) = linearizable(&start, &events, Order::RealTime, &[]).unwrap();
/// assert_eq!(witness, [1, 0]);
/// // Had the send returned before the delete was invoked, nothing explains it.
/// let mut late = events;
/// late[1].inv = 4;
/// late[1].res = 5;
/// assert!(linearizable(&start, &late, Order::RealTime, &[]).is_err());
/// ```
pub fn linearizable(
    start: &Model,
    events: &[Event],
    order: Order,
    finals: &[(Op, Out)],
) -> Result<(Vec<usize>, Stats), NotLinearizable> {
    let words = events.len().div_ceil(64).max(1);
    let preds: Vec<Bits> = events
        .iter()
        .map(|b| {
            let mut mask = Bits::new(words);
            for (i, a) in events.iter().enumerate() {
                let before = match order {
                    Order::Program => a.thread == b.thread && a.index < b.index,
                    Order::RealTime => a.res < b.inv,
                };
                if before {
                    mask.set(i);
                }
            }
            mask
        })
        .collect();
    let mut search = Search {
        events,
        preds: &preds,
        finals,
        placed: Bits::new(words),
        order: Vec::with_capacity(events.len()),
        best: Vec::new(),
        seen: HashSet::new(),
        states: 0,
    };
    let found = search.run(start.clone());
    let stats = Stats {
        events: events.len(),
        states: search.states,
    };
    if found {
        Ok((search.order, stats))
    } else {
        let stuck = (0..events.len())
            .filter(|i| !search.best.contains(i))
            .collect();
        Err(NotLinearizable {
            longest_prefix: search.best,
            stuck,
            stats,
        })
    }
}

/// A set of operation indices.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(words: usize) -> Self {
        Bits(vec![0; words])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    /// Whether every member of `self` is in `other`.
    fn within(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

struct Search<'a> {
    events: &'a [Event],
    preds: &'a [Bits],
    finals: &'a [(Op, Out)],
    placed: Bits,
    order: Vec<usize>,
    best: Vec<usize>,
    /// Lowe's memo: (placed, state) pairs already explored.
    seen: HashSet<(Bits, Model)>,
    states: usize,
}

impl Search<'_> {
    fn run(&mut self, model: Model) -> bool {
        self.states += 1;
        if self.order.len() > self.best.len() {
            self.best = self.order.clone();
        }
        if self.order.len() == self.events.len() {
            let mut m = model;
            return self.finals.iter().all(|&(op, out)| m.explains(op, out));
        }
        if !self.seen.insert((self.placed.clone(), model.clone())) {
            return false;
        }
        for (i, e) in self.events.iter().enumerate() {
            if self.placed.get(i) || !self.preds[i].within(&self.placed) {
                continue;
            }
            let mut m = model.clone();
            if !m.explains(e.op, e.out) {
                continue;
            }
            self.placed.set(i);
            self.order.push(i);
            if self.run(m) {
                return true;
            }
            self.order.pop();
            self.placed.clear(i);
        }
        false
    }
}
