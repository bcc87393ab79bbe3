#![cfg(not(any(loom, shuttle)))]
//! History checking: concurrent histories recorded on the real registry, with
//! real threads, checked per id for linearizability against the sequential
//! model of the contract (`spec::model`), by the same search as the loom
//! and shuttle suites (`spec::linearize`), in real time. The registry is a
//! map of independent ids, and linearizability is local (Herlihy & Wing),
//! so each id's sub-history is checked on its own.
//!
//! `cargo test` checks a few dozen histories; `just lincheck` checks
//! `LINCHECK_HISTORIES` of them (1,000 there) in release mode and prints
//! the totals. Each history is 4 threads × 64 operations on 2 ids (256
//! operations, plus the drain of every receiver at the end), with capacities 1
//! to 3 so that `Full` and replacements of non-empty channels are common.
//!
//! Not recorded (covered by loom and the model tests instead): waiting sends
//! and receives, whose linearization points are not single calls, and
//! receiver drops, which discard buffered messages so that the generation a
//! send went into could not be recovered.

mod history;
mod record;

use history::{Event, LOST};
use record::Shape;
use spec::linearize::{self, Order, Stats};
use spec::model::{Label, Model, Op, Out, Wait};

const SHAPE: Shape = Shape {
    threads: 4,
    ops_per_thread: 64,
    ids: 2,
    max_cap: 3,
};

fn histories_to_check() -> u64 {
    std::env::var("LINCHECK_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Checks one id's events in real time from the empty registry.
fn check(events: &[Event]) -> Result<Stats, (Vec<Event>, Vec<Event>)> {
    let spec: Vec<_> = events.iter().map(Event::spec).collect();
    match linearize::linearizable(&Model::new(), &spec, Order::RealTime, &[]) {
        Ok((order, stats)) => {
            assert_eq!(order.len(), events.len());
            Ok(stats)
        }
        Err(e) => {
            let pick = |ix: &[usize]| ix.iter().map(|&i| events[i].clone()).collect();
            Err((pick(&e.longest_prefix), pick(&e.stuck)))
        }
    }
}

/// Checks every id's sub-history; panics with the history on failure.
fn check_history(events: &[Event], what: &str) -> Stats {
    let mut ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut total = Stats::default();
    for id in ids {
        let mut sub: Vec<Event> = events.iter().filter(|e| e.id == id).cloned().collect();
        sub.sort_by_key(|e| e.inv);
        match check(&sub) {
            Ok(stats) => {
                total.events += stats.events;
                total.states += stats.states;
            }
            Err((prefix, stuck)) => panic!(
                "{what}, id {id}: not linearizable\nlongest linearizable prefix:\n{}\ncould not place:\n{}",
                lines(&prefix),
                lines(&stuck)
            ),
        }
    }
    total
}

fn lines(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| format!("  {e:?}\n"))
        .collect::<String>()
}

#[test]
fn recorded_histories_are_linearizable() {
    let n = histories_to_check();
    let started = std::time::Instant::now();
    let (mut ops, mut events, mut states, mut overlapping) = (0usize, 0usize, 0usize, 0usize);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for seed in 0..n {
        let (history, recorded) = record::record(SHAPE, seed);
        assert!(
            recorded >= 200,
            "history {seed} has only {recorded} operations"
        );
        ops += recorded;
        // Concurrency actually happened: count events whose interval
        // overlaps another thread's.
        overlapping += history
            .iter()
            .filter(|a| {
                history
                    .iter()
                    .any(|b| b.thread != a.thread && b.inv < a.res && a.inv < b.res)
            })
            .count();
        for e in &history {
            *outcomes.entry(outcome_name(e.out)).or_default() += 1;
        }
        let stats = check_history(&history, &format!("history {seed}"));
        events += stats.events;
        states += stats.states;
    }
    println!(
        "lincheck: {n} histories, {ops} operations ({overlapping} overlapping another thread's), \
         {events} events with drains, {states} search states, {:.1}s",
        started.elapsed().as_secs_f64()
    );
    println!("lincheck outcomes: {outcomes:?}");
    // The recorded histories must exercise the interesting outcomes, or the
    // check above proves little.
    for needed in [
        "accepted",
        "full",
        "no such id",
        "handle refused closed",
        "received",
        "set replaced",
        "state read",
    ] {
        assert!(
            outcomes.get(needed).copied().unwrap_or(0) > 0,
            "no {needed:?} outcome in {n} histories: {outcomes:?}"
        );
    }
    assert!(overlapping > 0, "no two operations overlapped in time");
}

fn outcome_name(out: Out) -> &'static str {
    match out {
        Out::Installed => "installed",
        Out::Replaced(None) => "set created",
        Out::Replaced(Some(_)) => "set replaced",
        Out::State(None) => "state: no such id",
        Out::State(Some(_)) => "state read",
        Out::Occupied => "occupied",
        Out::Bool(_) => "bool",
        Out::SentInto(LOST) => "lost",
        Out::Sent | Out::SentInto(_) => "accepted",
        Out::Full => "full",
        Out::NoSuchId => "no such id",
        Out::Closed => "handle refused closed",
        Out::Handle(_) => "handle",
        Out::Msg(_) => "received",
        Out::Empty => "empty",
        Out::RxClosed => "receive closed",
        other => panic!("not recorded by the history checker: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The checker itself: hand-written histories it must accept or reject, all
// on id 0. Receivers are labelled by generation, as the recorder does.

fn ev(t: usize, inv: u64, res: u64, op: Op, out: Out) -> Event {
    Event {
        id: 0,
        thread: t,
        op,
        out,
        inv,
        res,
    }
}

fn set(cap: usize, rx: u64) -> Op {
    Op::Set { id: 0, cap, rx }
}

fn send(msg: u64) -> Op {
    Op::Send {
        id: 0,
        msg,
        wait: Wait::No,
    }
}

fn recv(rx: u64) -> Op {
    Op::Recv { rx, wait: Wait::No }
}

/// The end-of-run drain of generation `rx` on thread 0 from time `at`:
/// each message left, then `last` (`Empty` or `RxClosed`).
fn drain(at: u64, rx: u64, left: &[u64], last: Out) -> Vec<Event> {
    let outs = left.iter().map(|&m| Out::Msg(m)).chain([last]);
    outs.enumerate()
        .map(|(k, out)| ev(0, at + 2 * k as u64, at + 2 * k as u64 + 1, recv(rx), out))
        .collect()
}

fn verdict(mut events: Vec<Event>) -> bool {
    if record::resolve_sends(&mut events).is_err() {
        return false;
    }
    events.sort_by_key(|e| e.inv);
    check(&events).is_ok()
}

/// set → g0, then set → g1 returned, then a routed send into g0: stale.
fn stale_route(send_inv: u64) -> Vec<Event> {
    let mut h = vec![
        ev(0, 0, 1, set(2, 0), Out::Installed),
        ev(0, 2, 5, set(2, 1), Out::Installed),
        ev(1, send_inv, send_inv + 1, send(7), Out::Sent),
    ];
    h.extend(drain(20, 0, &[7], Out::RxClosed));
    h.extend(drain(30, 1, &[], Out::Empty));
    h
}

#[test]
fn checker_rejects_a_send_into_a_replaced_generation() {
    assert!(
        !verdict(stale_route(6)),
        "send after the replacing set returned"
    );
    // The same send overlapping the replacing set may linearize before it.
    assert!(verdict(stale_route(3)), "overlapping send must be accepted");
}

#[test]
fn checker_rejects_a_lost_message() {
    let mut h = vec![
        ev(0, 0, 1, set(2, 0), Out::Installed),
        ev(1, 2, 3, send(7), Out::Sent),
    ];
    h.extend(drain(4, 0, &[], Out::Empty));
    assert!(!verdict(h));
}

#[test]
fn checker_rejects_reordered_and_duplicated_receives() {
    let sends = |r1: u64, r2: u64| {
        let mut h = vec![
            ev(0, 0, 1, set(3, 0), Out::Installed),
            ev(1, 2, 3, send(1), Out::Sent),
            ev(1, 4, 5, send(2), Out::Sent),
            ev(0, 6, 7, recv(0), Out::Msg(r1)),
            ev(0, 8, 9, recv(0), Out::Msg(r2)),
        ];
        h.extend(drain(10, 0, &[], Out::Empty));
        h
    };
    assert!(verdict(sends(1, 2)), "FIFO order must be accepted");
    assert!(!verdict(sends(2, 1)), "out of order");
    assert!(!verdict(sends(1, 1)), "a message received twice");
}

#[test]
fn checker_rejects_stale_states_and_wrong_replacements() {
    let history = |read: Option<Label>, replaced: Option<Label>| {
        let mut h = vec![
            ev(0, 0, 1, set(2, 0), Out::Replaced(None)),
            ev(0, 2, 3, set(2, 1), Out::Replaced(replaced)),
            ev(1, 4, 5, Op::State(0), Out::State(read)),
        ];
        h.extend(drain(6, 0, &[], Out::RxClosed));
        h.extend(drain(20, 1, &[], Out::Empty));
        h
    };
    assert!(verdict(history(Some(1), Some(0))), "the current state");
    assert!(
        !verdict(history(Some(0), Some(0))),
        "a replaced generation's state read after the replacing set returned"
    );
    assert!(!verdict(history(None, Some(0))), "no state for a live id");
    assert!(
        !verdict(history(Some(1), None)),
        "a replacing set that reports a creation"
    );
}

#[test]
fn checker_rejects_impossible_map_results() {
    // Two deletes that both return true with no set between them.
    let mut h = vec![
        ev(0, 0, 1, set(1, 0), Out::Installed),
        ev(0, 2, 3, Op::Delete(0), Out::Bool(true)),
        ev(1, 4, 5, Op::Delete(0), Out::Bool(true)),
    ];
    h.extend(drain(6, 0, &[], Out::RxClosed));
    assert!(!verdict(h));
    // A send that found no id while a set had already returned.
    let mut h = vec![
        ev(0, 0, 1, set(1, 0), Out::Installed),
        ev(1, 2, 3, send(7), Out::NoSuchId),
    ];
    h.extend(drain(6, 0, &[], Out::Empty));
    assert!(!verdict(h));
    // A full buffer reported while it held fewer than its capacity.
    let mut h = vec![
        ev(0, 0, 1, set(2, 0), Out::Installed),
        ev(1, 2, 3, send(1), Out::Sent),
        ev(1, 4, 5, send(2), Out::Full),
    ];
    h.extend(drain(6, 0, &[1], Out::Empty));
    assert!(!verdict(h));
    // The drain's last answer must match: an open generation is not closed.
    let mut h = vec![ev(0, 0, 1, set(2, 0), Out::Installed)];
    h.extend(drain(2, 0, &[], Out::RxClosed));
    assert!(!verdict(h));
}

#[test]
fn checker_rejects_a_handle_send_into_a_retired_generation() {
    let h = |out: Out, left: &[u64]| {
        let mut h = vec![
            ev(0, 0, 1, set(2, 0), Out::Installed),
            ev(1, 2, 3, Op::Sender { id: 0, handle: 9 }, Out::Handle(true)),
            ev(0, 4, 5, set(2, 1), Out::Installed),
            ev(
                1,
                6,
                7,
                Op::HandleSend {
                    handle: 9,
                    msg: 7,
                    wait: Wait::No,
                },
                out,
            ),
        ];
        h.extend(drain(8, 0, left, Out::RxClosed));
        h.extend(drain(20, 1, &[], Out::Empty));
        h
    };
    assert!(verdict(h(Out::Closed, &[])), "Closed is the right answer");
    assert!(!verdict(h(Out::Sent, &[7])), "accepted after retirement");
}
