#![cfg(not(any(loom, shuttle)))]
//! History checking: concurrent histories recorded on the real registry, with
//! real threads, checked per id for linearizability against the sequential
//! specification (`checker.rs`).
//!
//! `cargo test` checks a few dozen histories; `just lincheck` checks
//! `LINCHECK_HISTORIES` of them (1,000 there) in release mode and prints
//! the totals. Each history is 4 threads × 64 operations on 2 ids (256
//! operations, plus one drain per generation at the end), with capacities 1
//! to 3 so that `Full` and replacements of non-empty channels are common.
//!
//! Not recorded (covered by loom and the model tests instead): waiting sends
//! and receives, whose linearization points are not single calls, and
//! receiver drops, which discard buffered messages so that the generation a
//! send went into could not be recovered.

mod checker;
mod history;
mod record;

use history::{Call, Event, Ret};
use record::Shape;

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

/// Checks every id's sub-history; panics with the history on failure.
fn check_history(events: &[Event], what: &str) -> checker::Stats {
    let mut ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut total = checker::Stats::default();
    for id in ids {
        let mut sub: Vec<Event> = events.iter().filter(|e| e.id == id).cloned().collect();
        sub.sort_by_key(|e| e.inv);
        match checker::check(&sub) {
            Ok((order, stats)) => {
                assert_eq!(order.len(), sub.len());
                total.events += stats.events;
                total.states += stats.states;
            }
            Err(e) => panic!(
                "{what}, id {id}: not linearizable\nlongest linearizable prefix:\n{}\ncould not place:\n{}",
                lines(&e.longest_prefix),
                lines(&e.stuck)
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
        let history = record::record(SHAPE, seed);
        let recorded = history
            .iter()
            .filter(|e| !matches!(e.call, Call::Drain { .. }))
            .count();
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
            *outcomes.entry(outcome_name(&e.ret)).or_default() += 1;
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
    ] {
        assert!(
            outcomes.get(needed).copied().unwrap_or(0) > 0,
            "no {needed:?} outcome in {n} histories: {outcomes:?}"
        );
    }
    assert!(overlapping > 0, "no two operations overlapped in time");
}

fn outcome_name(r: &Ret) -> &'static str {
    match r {
        Ret::Installed(_) => "installed",
        Ret::Occupied => "occupied",
        Ret::Bool(_) => "bool",
        Ret::SentInto(_) => "accepted",
        Ret::Full => "full",
        Ret::NoSuchId => "no such id",
        Ret::Closed => "handle refused closed",
        Ret::Handle(_) => "handle",
        Ret::Received(_) => "received",
        Ret::Empty => "empty",
        Ret::RecvClosed => "receive closed",
        Ret::Drained(_) => "drained",
    }
}

// ---------------------------------------------------------------------------
// The checker itself: hand-written histories it must accept or reject.

fn ev(t: usize, inv: u64, res: u64, call: Call, ret: Ret) -> Event {
    Event {
        id: 0,
        thread: t,
        call,
        ret,
        inv,
        res,
    }
}

fn verdict(mut events: Vec<Event>) -> bool {
    if record::resolve_sends(&mut events).is_err() {
        return false;
    }
    events.sort_by_key(|e| e.inv);
    checker::check(&events).is_ok()
}

/// set → g0, then set → g1 returned, then a routed send into g0: stale.
fn stale_route(send_inv: u64) -> Vec<Event> {
    vec![
        ev(0, 0, 1, Call::Set { cap: 2 }, Ret::Installed(0)),
        ev(0, 2, 5, Call::Set { cap: 2 }, Ret::Installed(1)),
        ev(
            1,
            send_inv,
            send_inv + 1,
            Call::TrySend { msg: 7 },
            Ret::SentInto(None),
        ),
        ev(
            0,
            20,
            21,
            Call::Drain { generation: 0 },
            Ret::Drained(vec![7]),
        ),
        ev(
            0,
            22,
            23,
            Call::Drain { generation: 1 },
            Ret::Drained(vec![]),
        ),
    ]
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
    let h = vec![
        ev(0, 0, 1, Call::Set { cap: 2 }, Ret::Installed(0)),
        ev(1, 2, 3, Call::TrySend { msg: 7 }, Ret::SentInto(None)),
        ev(0, 4, 5, Call::Drain { generation: 0 }, Ret::Drained(vec![])),
    ];
    assert!(!verdict(h));
}

#[test]
fn checker_rejects_reordered_and_duplicated_receives() {
    let sends = |r1: u64, r2: u64| {
        vec![
            ev(0, 0, 1, Call::Set { cap: 3 }, Ret::Installed(0)),
            ev(1, 2, 3, Call::TrySend { msg: 1 }, Ret::SentInto(None)),
            ev(1, 4, 5, Call::TrySend { msg: 2 }, Ret::SentInto(None)),
            ev(0, 6, 7, Call::Recv { generation: 0 }, Ret::Received(r1)),
            ev(0, 8, 9, Call::Recv { generation: 0 }, Ret::Received(r2)),
            ev(
                0,
                10,
                11,
                Call::Drain { generation: 0 },
                Ret::Drained(vec![]),
            ),
        ]
    };
    assert!(verdict(sends(1, 2)), "FIFO order must be accepted");
    assert!(!verdict(sends(2, 1)), "out of order");
    assert!(!verdict(sends(1, 1)), "a message received twice");
}

#[test]
fn checker_rejects_impossible_map_results() {
    // Two deletes that both return true with no set between them.
    let h = vec![
        ev(0, 0, 1, Call::Set { cap: 1 }, Ret::Installed(0)),
        ev(0, 2, 3, Call::Delete, Ret::Bool(true)),
        ev(1, 4, 5, Call::Delete, Ret::Bool(true)),
        ev(0, 6, 7, Call::Drain { generation: 0 }, Ret::Drained(vec![])),
    ];
    assert!(!verdict(h));
    // A send that found no id while a set had already returned.
    let h = vec![
        ev(0, 0, 1, Call::Set { cap: 1 }, Ret::Installed(0)),
        ev(1, 2, 3, Call::TrySend { msg: 7 }, Ret::NoSuchId),
        ev(0, 6, 7, Call::Drain { generation: 0 }, Ret::Drained(vec![])),
    ];
    assert!(!verdict(h));
    // A full buffer reported while it held fewer than its capacity.
    let h = vec![
        ev(0, 0, 1, Call::Set { cap: 2 }, Ret::Installed(0)),
        ev(1, 2, 3, Call::TrySend { msg: 1 }, Ret::SentInto(None)),
        ev(1, 4, 5, Call::TrySend { msg: 2 }, Ret::Full),
        ev(
            0,
            6,
            7,
            Call::Drain { generation: 0 },
            Ret::Drained(vec![1]),
        ),
    ];
    assert!(!verdict(h));
}

#[test]
fn checker_rejects_a_handle_send_into_a_retired_generation() {
    let h = |ret: Ret, left: Vec<u64>| {
        vec![
            ev(0, 0, 1, Call::Set { cap: 2 }, Ret::Installed(0)),
            ev(1, 2, 3, Call::GetSender, Ret::Handle(Some(9))),
            ev(0, 4, 5, Call::Set { cap: 2 }, Ret::Installed(1)),
            ev(1, 6, 7, Call::HandleSend { handle: 9, msg: 7 }, ret),
            ev(0, 8, 9, Call::Drain { generation: 0 }, Ret::Drained(left)),
            ev(
                0,
                10,
                11,
                Call::Drain { generation: 1 },
                Ret::Drained(vec![]),
            ),
        ]
    };
    assert!(
        verdict(h(Ret::Closed, vec![])),
        "Closed is the right answer"
    );
    assert!(
        !verdict(h(Ret::SentInto(None), vec![7])),
        "accepted after retirement"
    );
}
