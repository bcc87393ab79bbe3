//! The linearizability search: Wing & Gong (1993) with Lowe's memoization
//! (2017), over a partial order of the operations.
//!
//! An operation may be placed once every operation that must precede it is
//! placed, and only where the sequential model returns exactly its recorded
//! result. Which operations must precede which is the caller's choice:
//!
//! * **program order** (loom): each thread's operations in the order it ran
//!   them. Loom models C11, where a load may return a stale value long after
//!   another thread's store "happened" in loom's schedule, so the schedule's
//!   order is not a real-time order that a correct implementation must
//!   respect; only happens-before is, and within a thread that is program
//!   order.
//! * **real time** (shuttle): `a` precedes `b` if `a` returned before `b`
//!   was invoked, by a clock read at both ends. Shuttle runs every atomic as
//!   `SeqCst` on one OS thread, so its schedule is a sequentially consistent
//!   execution and its order is real time. This includes program order.
//!
//! The search memoizes on (set of placed operations, model state): two ways
//! of reaching the same state with the same operations placed have the same
//! future.

use std::collections::HashSet;

use super::model::Model;
use super::{Op, Out, Rx};

/// One recorded operation.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub thread: usize,
    pub index: usize,
    pub op: Op,
    pub out: Out,
    /// Clock readings at invocation and response (`Clock`).
    pub inv: u64,
    pub res: u64,
}

/// Which operations must precede which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Program,
    RealTime,
}

/// Searches for a sequential order of `events` (respecting `order`) that
/// the model explains, followed by the final observations `finals`.
pub fn linearizable(
    start: &Model,
    events: &[Event],
    order: Order,
    finals: &[(Op, Out)],
) -> Result<(), String> {
    assert!(
        events.len() <= 128,
        "the search tracks at most 128 operations"
    );
    let preds: Vec<u128> = events
        .iter()
        .map(|b| {
            events
                .iter()
                .enumerate()
                .filter(|(_, a)| match order {
                    Order::Program => a.thread == b.thread && a.index < b.index,
                    Order::RealTime => a.res < b.inv,
                })
                .fold(0u128, |mask, (i, _)| mask | 1 << i)
        })
        .collect();
    let all = if events.len() == 128 {
        u128::MAX
    } else {
        (1u128 << events.len()) - 1
    };
    let mut search = Search {
        events,
        preds: &preds,
        finals,
        all,
        seen: HashSet::new(),
        deepest: 0,
    };
    if search.run(start.clone(), 0) {
        Ok(())
    } else {
        Err(format!(
            "no sequential order of the operations gives these results (at most {} of {} placed)",
            search.deepest,
            events.len()
        ))
    }
}

struct Search<'a> {
    events: &'a [Event],
    preds: &'a [u128],
    finals: &'a [(Op, Out)],
    all: u128,
    seen: HashSet<(u128, Model)>,
    deepest: u32,
}

impl Search<'_> {
    fn run(&mut self, model: Model, placed: u128) -> bool {
        self.deepest = self.deepest.max(placed.count_ones());
        if placed == self.all {
            let mut m = model;
            return self
                .finals
                .iter()
                .all(|(op, out)| m.step(Rx::Initial(usize::MAX), *op) == Some(*out));
        }
        if !self.seen.insert((placed, model.clone())) {
            return false;
        }
        for (i, e) in self.events.iter().enumerate() {
            let bit = 1u128 << i;
            if placed & bit != 0 || self.preds[i] & !placed != 0 {
                continue;
            }
            let mut m = model.clone();
            let name = Rx::New {
                thread: e.thread,
                op: e.index,
            };
            if m.explains(name, e.op, e.out) && self.run(m, placed | bit) {
                return true;
            }
        }
        false
    }
}
