//! `Scenario::check` under loom: every interleaving up to the bound, once
//! per spawn order.

use crate::{Bound, Op, Scenario};

impl Scenario {
    /// Runs the scenario under loom and checks it (module docs).
    pub fn check(self, bound: Bound) {
        let mut builder = loom::model::Builder::new();
        match bound {
            // `just loom-deep` bounds the pairs too (epoch modelled: the
            // unbounded pairs do not finish); the default run leaves them
            // unbounded.
            Bound::Exhaustive => {
                builder.preemption_bound = std::env::var("LOOM_PAIRS_BOUND")
                    .ok()
                    .and_then(|b| b.parse().ok())
            }
            Bound::Preemptions(n) => {
                if builder.preemption_bound.is_none() {
                    builder.preemption_bound = Some(n);
                }
            }
        }
        // loom 0.7's DPOR remembers only the last access to each atomic, so
        // a thread's own load of a location hides an earlier load of it by
        // another thread: when that thread later stores, the race with the
        // earlier load is not seen and the reversed order is never explored
        // (tokio-rs/loom#392, #166; `loom-tests/limits.rs` is a three-line
        // reproducer). Loom's first schedule runs the spawned threads one
        // after the other in spawn order, so every scenario is also run with
        // each other thread spawned first: the order that the first run
        // can miss is then the first schedule of another run. Threads whose
        // operations are identical need only one order.
        let n = self.threads.len();
        let symmetric = n > 1 && self.threads.iter().all(|t| same_ops(t, &self.threads[0]));
        // `LOOM_SPAWN_ORDERS=first` keeps only the written order (the
        // negative controls use it: a bug caught there is caught here).
        let first_only = std::env::var("LOOM_SPAWN_ORDERS").is_ok_and(|v| v == "first");
        let rotations = if symmetric || first_only { 1 } else { n.max(1) };
        for first in 0..rotations {
            let order: Vec<usize> = (first..n).chain(0..first).collect();
            let started = std::time::Instant::now();
            let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = runs.clone();
            let scenario = self.clone();
            let spawn_order = order.clone();
            builder.check(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                scenario.run_once(&spawn_order);
            });
            // One line per scenario and order, for the closing report
            // (`--nocapture`).
            println!(
                "loom scenario={} spawn_order={:?} bound={} interleavings={} secs={:.2}",
                self.name,
                order,
                builder
                    .preemption_bound
                    .map_or_else(|| "none".to_string(), |b| b.to_string()),
                runs.load(std::sync::atomic::Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Whether two threads run the same operations, up to message values.
fn same_ops(a: &[Op], b: &[Op]) -> bool {
    fn shape(op: &Op) -> Op {
        match *op {
            Op::TrySend(id, _) => Op::TrySend(id, 0),
            Op::SendTimeout(id, _) => Op::SendTimeout(id, 0),
            Op::SendAsync(id, _) => Op::SendAsync(id, 0),
            Op::SendAsyncOnce(id, _) => Op::SendAsyncOnce(id, 0),
            Op::SendBlocking(id, _) => Op::SendBlocking(id, 0),
            Op::HandleSend(h, _) => Op::HandleSend(h, 0),
            Op::HandleSendAsync(h, _) => Op::HandleSendAsync(h, 0),
            Op::HandleSendBlocking(h, _) => Op::HandleSendBlocking(h, 0),
            other => other,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| shape(x) == shape(y))
}
