//! Every pair of single operations on one id, with no preemption bound.
//!
//! Operations: set, register, delete, try_send, a send through a sender
//! handle, a blocking recv, an async recv, and a receiver drop. Set-up: id 1
//! has an empty channel of capacity 1, its receiver `R0` and one handle.
//! Excluded pairs: a receiver drop with a receive on the same receiver, and
//! two drops of one receiver: dropping takes ownership, so safe Rust cannot
//! run them concurrently.
#![cfg(any(loom, shuttle))]

use scenario_harness::{Bound, Op, Rx, Scenario};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Set,
    Register,
    Delete,
    TrySend,
    HandleSend,
    Recv,
    RecvAsync,
    DropRx,
}

const R0: Rx = Rx::Initial(0);

fn ops(kind: Kind, thread: u32) -> Vec<Op> {
    let msg = 10 + thread;
    vec![match kind {
        Kind::Set => Op::Set(1),
        Kind::Register => Op::Register(1),
        Kind::Delete => Op::Delete(1),
        Kind::TrySend => Op::TrySend(1, msg),
        Kind::HandleSend => Op::HandleSend(0, msg),
        Kind::Recv => Op::Recv(R0),
        Kind::RecvAsync => Op::RecvAsync(R0),
        Kind::DropRx => Op::DropRx(R0),
    }]
}

fn is_recv(kind: Kind) -> bool {
    matches!(kind, Kind::Recv | Kind::RecvAsync)
}

fn pair(a: Kind, b: Kind) {
    let (mut ta, mut tb) = (ops(a, 0), ops(b, 1));
    let mut initial = vec![];
    let mut cap = 1;
    if is_recv(a) && is_recv(b) {
        // Two receives on one receiver: give both something to take.
        initial = vec![100, 101];
        cap = 2;
    } else if is_recv(a) || is_recv(b) {
        // The receive waits until the other operation delivers or closes;
        // `register` does neither (the id is present), so close afterwards.
        let other = if is_recv(a) { &mut tb } else { &mut ta };
        if matches!(other[0], Op::Register(_)) {
            other.push(Op::Delete(1));
        }
    }
    let name = Box::leak(format!("pair {a:?} || {b:?}").into_boxed_str());
    Scenario {
        name,
        cap,
        initial: vec![(1, initial)],
        handles: vec![1],
        threads: vec![ta, tb],
        ..Default::default()
    }
    .check(Bound::Exhaustive);
}

/// Pairs on an id that has no channel yet: two inserts of one key race
/// inside the point index (one CAS wins the empty bucket; the loser gets its
/// node back). The registry starts empty, so no migration runs: `index.rs`
/// races inserts with migrations.
fn pair_absent(name: &'static str, a: Op, b: Op) {
    Scenario {
        name,
        cap: 1,
        initial: vec![],
        handles: vec![],
        threads: vec![vec![a], vec![b]],
        ..Default::default()
    }
    .check(Bound::Exhaustive);
}

/// Pairs on an id that was deleted with its node kept in the point index
/// (`src/registry.rs`, *Deleted ids' nodes*): its slot holds `deleted()`,
/// and a `set` or `register` re-creates the id in place with one CAS on the
/// slot, which races the other thread's re-creation, delete, send, or
/// `ids()`, which takes the kept node out (marks the slot `removed()`, then
/// unlinks it) unless a re-creation got there first. Every scenario ends
/// with `contains` and `ids()` (the harness), so an id unlinked after its
/// re-creation, or created twice, fails it.
fn pair_kept(name: &'static str, a: Vec<Op>, b: Vec<Op>) {
    Scenario {
        name,
        cap: 1,
        initial: vec![(1, vec![])],
        deleted: vec![1],
        keep_deleted_keys: true,
        threads: vec![a, b],
        ..Default::default()
    }
    .check(Bound::Exhaustive);
}

/// Two re-creations in place: one CAS wins, the other `set` replaces the
/// winner's generation. Catches `recreate_by_store`.
#[test]
fn kept_set_set() {
    pair_kept("kept: set || set", vec![Op::Set(1)], vec![Op::Set(1)]);
}

#[test]
fn kept_set_register() {
    pair_kept(
        "kept: set || register",
        vec![Op::Set(1)],
        vec![Op::Register(1)],
    );
}

#[test]
fn kept_set_delete() {
    pair_kept("kept: set || delete", vec![Op::Set(1)], vec![Op::Delete(1)]);
}

#[test]
fn kept_set_try_send() {
    pair_kept(
        "kept: set || try_send",
        vec![Op::Set(1)],
        vec![Op::TrySend(1, 10)],
    );
}

/// `ids()` finds the kept node's id deleted and takes the node out, while
/// the other thread re-creates the id in place: the mark and the
/// re-creation are two CASes on the slot from `deleted()`, so exactly one
/// wins. Catches `take_out_skips_mark`.
#[test]
fn kept_set_ids() {
    pair_kept("kept: set || ids", vec![Op::Set(1)], vec![Op::Ids]);
}

#[test]
fn kept_register_ids() {
    pair_kept(
        "kept: register || ids",
        vec![Op::Register(1)],
        vec![Op::Ids],
    );
}

/// A re-creation in place and a delete of it, against another
/// re-creation: the second `set` finds the slot deleted again (in place
/// once more), or a generation to replace.
#[test]
fn kept_set_delete_vs_set() {
    Scenario {
        name: "kept: set, delete || set",
        cap: 1,
        initial: vec![(1, vec![])],
        deleted: vec![1],
        keep_deleted_keys: true,
        threads: vec![vec![Op::Set(1), Op::Delete(1)], vec![Op::Set(1)]],
        ..Default::default()
    }
    .check(Bound::Preemptions(3));
}

#[test]
fn absent_set_set() {
    pair_absent("absent: set || set", Op::Set(2), Op::Set(2));
}

#[test]
fn absent_set_register() {
    pair_absent("absent: set || register", Op::Set(2), Op::Register(2));
}

#[test]
fn absent_register_register() {
    pair_absent(
        "absent: register || register",
        Op::Register(2),
        Op::Register(2),
    );
}

#[test]
fn absent_set_delete() {
    pair_absent("absent: set || delete", Op::Set(2), Op::Delete(2));
}

#[test]
fn absent_set_try_send() {
    pair_absent("absent: set || try_send", Op::Set(2), Op::TrySend(2, 10));
}

macro_rules! pairs {
    ($($name:ident: $a:ident, $b:ident;)*) => {$(
        #[test]
        fn $name() {
            pair(Kind::$a, Kind::$b);
        }
    )*};
}

pairs! {
    set_set: Set, Set;
    set_register: Set, Register;
    set_delete: Set, Delete;
    set_try_send: Set, TrySend;
    set_handle_send: Set, HandleSend;
    set_recv: Set, Recv;
    set_recv_async: Set, RecvAsync;
    set_drop_rx: Set, DropRx;
    register_register: Register, Register;
    register_delete: Register, Delete;
    register_try_send: Register, TrySend;
    register_handle_send: Register, HandleSend;
    register_recv: Register, Recv;
    register_recv_async: Register, RecvAsync;
    register_drop_rx: Register, DropRx;
    delete_delete: Delete, Delete;
    delete_try_send: Delete, TrySend;
    delete_handle_send: Delete, HandleSend;
    delete_recv: Delete, Recv;
    delete_recv_async: Delete, RecvAsync;
    delete_drop_rx: Delete, DropRx;
    try_send_try_send: TrySend, TrySend;
    try_send_handle_send: TrySend, HandleSend;
    try_send_recv: TrySend, Recv;
    try_send_recv_async: TrySend, RecvAsync;
    try_send_drop_rx: TrySend, DropRx;
    handle_send_handle_send: HandleSend, HandleSend;
    handle_send_recv: HandleSend, Recv;
    handle_send_recv_async: HandleSend, RecvAsync;
    handle_send_drop_rx: HandleSend, DropRx;
    recv_recv: Recv, Recv;
    recv_recv_async: Recv, RecvAsync;
    recv_async_recv_async: RecvAsync, RecvAsync;
}
