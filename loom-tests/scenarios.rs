//! Larger scenarios: three threads on one id, waiting sends re-routed by a
//! replacement, time-outs, and two ids at once. Each runs with a preemption
//! bound: `LOOM_MAX_PREEMPTIONS` if set, else 2 (`just loom-deep` sets 3).
#![cfg(any(loom, shuttle))]

use scenario_harness::{Bound, Op, Rx, Scenario};

const R0: Rx = Rx::Initial(0);
const BOUND: Bound = Bound::Preemptions(2);

fn one_id(name: &'static str, cap: usize, buffered: Vec<u32>, threads: Vec<Vec<Op>>) {
    Scenario {
        name,
        cap,
        initial: vec![(1, buffered)],
        handles: vec![1],
        threads,
        ..Default::default()
    }
    .check(BOUND);
}

/// The Go daemon's crash pattern (concurrent create, delete and send on one
/// id), three ways: replace, delete and a routed send.
#[test]
fn set_delete_try_send() {
    one_id(
        "set || delete || try_send",
        1,
        vec![],
        vec![
            vec![Op::Set(1)],
            vec![Op::Delete(1)],
            vec![Op::TrySend(1, 10)],
        ],
    );
}

/// A send waiting for space on a full channel while the id is replaced and
/// deleted: it must end up in the new channel, or fail with `NoSuchId`,
/// never hang or vanish.
#[test]
fn set_delete_send_async_on_full() {
    one_id(
        "set || delete || send_async(full)",
        1,
        vec![100],
        vec![
            vec![Op::Set(1)],
            vec![Op::Delete(1)],
            vec![Op::SendAsync(1, 10)],
        ],
    );
}

/// A handle send, a receive and a replacement: the receiver sees what the
/// handle delivered before the close, then `Closed`.
#[test]
fn set_handle_send_recv() {
    one_id(
        "set || handle_send || recv",
        1,
        vec![],
        vec![
            vec![Op::Set(1)],
            vec![Op::HandleSend(0, 10)],
            vec![Op::Recv(R0)],
        ],
    );
}

/// A receiver dropped while the id is replaced and sent to.
#[test]
fn drop_rx_set_try_send() {
    one_id(
        "drop_rx || set || try_send",
        1,
        vec![],
        vec![
            vec![Op::DropRx(R0)],
            vec![Op::Set(1)],
            vec![Op::TrySend(1, 10)],
        ],
    );
}

/// Two registers racing a delete on one id.
#[test]
fn register_register_delete() {
    one_id(
        "register || register || delete",
        1,
        vec![],
        vec![
            vec![Op::Register(1)],
            vec![Op::Register(1)],
            vec![Op::Delete(1)],
        ],
    );
}

/// A send that times out on a full channel while the receiver frees a slot;
/// then the sender tries again (a wake-up it got must not be lost either).
#[test]
fn send_timeout_recv() {
    one_id(
        "send_timeout,try_send || recv",
        1,
        vec![100],
        vec![
            vec![Op::SendTimeout(1, 10), Op::TrySend(1, 11)],
            vec![Op::Recv(R0)],
        ],
    );
}

/// A receive that times out while a message arrives, then receives again;
/// then the id is deleted so the second receive ends.
#[test]
fn recv_timeout_try_send() {
    one_id(
        "recv_timeout,try_recv || try_send,delete",
        2,
        vec![],
        vec![
            vec![Op::RecvTimeout(R0), Op::Recv(R0)],
            vec![Op::TrySend(1, 10), Op::Delete(1)],
        ],
    );
}

/// Two ids at once: operations on one never change the other's results.
#[test]
fn two_ids_independent() {
    Scenario {
        name: "two ids: set,try_send(1) || delete,try_send(2)",
        cap: 1,
        initial: vec![(1, vec![]), (2, vec![])],
        handles: vec![1, 2],
        threads: vec![
            vec![Op::Set(1), Op::TrySend(1, 10)],
            vec![Op::Delete(2), Op::TrySend(2, 20)],
        ],
        ..Default::default()
    }
    .check(BOUND);
}

/// Two ids, with sends through both ids' handles racing a replacement of
/// the other id.
#[test]
fn two_ids_handles_cross() {
    Scenario {
        name: "two ids: handle_send(1),set(2) || handle_send(2),set(1)",
        cap: 1,
        initial: vec![(1, vec![]), (2, vec![])],
        handles: vec![1, 2],
        threads: vec![
            vec![Op::HandleSend(0, 10), Op::Set(2)],
            vec![Op::HandleSend(1, 20), Op::Set(1)],
        ],
        ..Default::default()
    }
    .check(BOUND);
}
