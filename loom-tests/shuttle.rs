//! Random scenarios under shuttle: 3 or 4 threads of 4 to 8 operations each
//! on 1 to 3 ids, mixing every operation of the harness's vocabulary (`ids()`
//! too, with deleted ids' keys kept in half the scenarios), each
//! execution checked for linearizability in real time and for nothing-lost
//! accounting (`harness/src/lib.rs`).
//!
//! Every execution draws its own scenario from shuttle's random source, so
//! a failing schedule that shuttle prints replays the scenario too.
//! `just shuttle` runs many iterations; CI runs a bounded number
//! (`SHUTTLE_ITERATIONS`, `SHUTTLE_SEEDS`: see `harness/src/check_shuttle.rs`).
//!
//! Termination: a wait without deadline returns only when woken, so a
//! scenario must not be able to wait forever unless a wake-up is lost. The
//! generator puts a thread's untimed waits after its last `set`/`register`,
//! and a closing thread deletes every id once every thread has passed its
//! last `set`/`register`: every generation is then eventually closed, which
//! ends every wait. Timed waits (`send_timeout`, `recv_timeout`) may time
//! out after any attempt under shuttle.
#![cfg(shuttle)]

use scenario_harness::check_shuttle::explore;
use scenario_harness::{Op, Rx, Scenario};
use shuttle::rand::{RngCore, thread_rng};

/// Draws from shuttle's random source (replayed with the schedule).
struct Draw(shuttle::rand::rngs::ThreadRng);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())])
    }
}

/// One random scenario (module docs give the rules).
fn generate(d: &mut Draw) -> Scenario {
    let cap = d.range(1, 2);
    // One id in 40% of scenarios: the threads then meet on one channel,
    // where two waiters and a wake-up passed on are likeliest.
    let registered = if d.chance(40) { 1 } else { d.range(2, 3) };
    let mut ids: Vec<u64> = (1..=registered as u64).collect();
    if d.chance(40) {
        // An id that starts absent: inserts race inside the index.
        ids.push(registered as u64 + 1);
    }
    let mut next_msg = 100u32;
    let initial: Vec<(u64, Vec<u32>)> = (1..=registered as u64)
        .map(|id| {
            let buffered = (0..d.range(0, cap))
                .map(|_| {
                    next_msg += 1;
                    next_msg
                })
                .collect();
            (id, buffered)
        })
        .collect();
    let handles: Vec<u64> = (1..=registered as u64).collect();
    let workers = d.range(3, 4);
    // At most one initial receiver belongs to one thread, which may receive
    // on it and drops it; the others are shared by every thread.
    let owned: Option<(usize, usize)> = d
        .chance(35)
        .then(|| (d.below(registered), d.below(workers)));
    let shared_rx: Vec<Rx> = (0..registered)
        .filter(|n| owned.is_none_or(|(o, _)| o != *n))
        .map(Rx::Initial)
        .collect();

    let mut threads = Vec::new();
    let mut any_untimed = false;
    for t in 0..workers {
        let len = d.range(4, 8);
        // Operations up to `last_install` may set or register; untimed
        // waits come after it.
        let last_install = d.chance(60).then(|| d.below(len));
        let mut own: Vec<Rx> = Vec::new();
        let mut owned_initial = owned.filter(|(_, w)| *w == t).map(|(n, _)| Rx::Initial(n));
        let mut ops = Vec::new();
        for i in 0..len {
            let id = d.pick(&ids).expect("at least one id");
            let h = d.below(handles.len());
            next_msg += 1;
            let m = next_msg;
            let mut receivers = shared_rx.clone();
            receivers.extend(&own);
            receivers.extend(owned_initial);
            let rx = d.pick(&receivers);
            let installs_allowed = last_install.is_some_and(|last| i <= last);
            let untimed_allowed = last_install.is_none_or(|last| i > last);
            let op = if Some(i) == last_install {
                if d.chance(70) {
                    Op::Set(id)
                } else {
                    Op::Register(id)
                }
            } else {
                loop {
                    let op = match d.below(20) {
                        0 if installs_allowed => Op::Set(id),
                        1 if installs_allowed => Op::Register(id),
                        2 | 3 => Op::Delete(id),
                        4 if d.chance(50) => Op::Contains(id),
                        4 => Op::State(id),
                        5 | 6 => Op::TrySend(id, m),
                        7 => Op::SendTimeout(id, m),
                        8 => Op::HandleSend(h, m),
                        9 | 10 if rx.is_some() => Op::TryRecv(rx.expect("checked")),
                        11 if rx.is_some() => Op::RecvTimeout(rx.expect("checked")),
                        12 => match d.pick(&own).or(owned_initial) {
                            Some(victim) => Op::DropRx(victim),
                            None => continue,
                        },
                        13 if untimed_allowed => match (d.below(3), rx) {
                            (0, Some(rx)) => Op::Recv(rx),
                            (1, Some(rx)) => Op::RecvAsync(rx),
                            _ => Op::SendAsync(id, m),
                        },
                        14 if untimed_allowed => Op::SendBlocking(id, m),
                        15 if untimed_allowed => Op::HandleSendAsync(h, m),
                        16 if untimed_allowed => Op::HandleSendBlocking(h, m),
                        17 if rx.is_some() => Op::RecvAsyncOnce(rx.expect("checked")),
                        18 => Op::SendAsyncOnce(id, m),
                        19 => Op::Ids,
                        _ => continue,
                    };
                    break op;
                }
            };
            match op {
                Op::Set(_) => own.push(Rx::New { thread: t, op: i }),
                Op::DropRx(victim) => {
                    own.retain(|r| *r != victim);
                    if owned_initial == Some(victim) {
                        owned_initial = None;
                    }
                }
                _ => {}
            }
            any_untimed |= op.waits_forever();
            ops.push(op);
        }
        threads.push(ops);
    }
    // The owning thread drops the owned initial receiver, or the harness
    // would have nobody to move it to.
    if let Some((n, w)) = owned {
        if !threads[w].contains(&Op::DropRx(Rx::Initial(n))) {
            threads[w].push(Op::DropRx(Rx::Initial(n)));
        }
    }
    // Half the scenarios keep deleted ids' keys in the ordered set, so the
    // keeping path (a re-creation that finds its key, `ids()` taking a
    // deleted id's key out) races as often as the removal path.
    let keep_deleted_keys = d.chance(50);
    // Half of those start with an id deleted and its node kept, so its
    // first `set` or `register` re-creates it in place (`src/registry.rs`,
    // *Deleted ids' nodes*) against whatever else the threads do to it.
    let deleted = match initial.first() {
        Some((id, _)) if keep_deleted_keys && d.chance(50) => vec![*id],
        _ => Vec::new(),
    };
    Scenario {
        name: "random",
        cap,
        initial,
        handles,
        threads,
        closer: if any_untimed { ids } else { Vec::new() },
        keep_deleted_keys,
        deleted,
        // A quarter of them with the garbage limit at zero: every retiring
        // call takes the hold-back path (waits for the epoch, releases
        // ready objects) before it returns.
        garbage_limit: d.chance(25).then_some(0),
    }
}

/// Iterations per scheduler and seed in a plain `cargo test` under shuttle.
const ITERATIONS: usize = 2_000;

#[test]
fn random_scenarios() {
    explore("random", ITERATIONS, || {
        let scenario = generate(&mut Draw(thread_rng()));
        let order: Vec<usize> = (0..scenario.threads.len()).collect();
        scenario.run_once(&order);
    });
}
