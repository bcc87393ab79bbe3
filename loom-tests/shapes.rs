//! Scenarios of the three shapes that threads running one operation each
//! cannot show:
//!
//! * **sequences**: a thread acts after one of its own operations returned,
//!   so the linearization must put the two in that order while another
//!   thread races both (a read that reports an already-retired state, a
//!   retirement that returns before its old channel is closed);
//! * **two waiters** on one channel (blocking and async, senders and
//!   receivers) through a close, a replacement, a delete, and a waiter that
//!   gives up after it was woken;
//! * **helpers**: a retirement finished by a thread other than the one that
//!   claimed it, while the claimer is still running.
//!
//! Two-thread scenarios run with no preemption bound. Three-thread ones run
//! at bound 2 (`just loom-deep` runs them at 3; `LOOM_MAX_PREEMPTIONS`
//! overrides). Each shape has a negative control that only it catches
//! (`loom-tests/README.md`).
#![cfg(any(loom, shuttle))]

use scenario_harness::{Bound, Op, Rx, Scenario};

const R0: Rx = Rx::Initial(0);

fn one_id(name: &'static str, cap: usize, buffered: Vec<u32>, threads: Vec<Vec<Op>>) -> Scenario {
    Scenario {
        name,
        cap,
        initial: vec![(1, buffered)],
        handles: vec![1],
        threads,
        ..Default::default()
    }
}

// ---- sequences --------------------------------------------------------------

/// A routed send that fails because the id was deleted, then `contains`:
/// the delete is linearized before the send, so `contains` must say false
/// even if the delete has not finished. Catches `contains_skips_successor`.
#[test]
fn try_send_then_contains_vs_delete() {
    one_id(
        "seq: try_send,contains || delete",
        1,
        vec![],
        vec![
            vec![Op::TrySend(1, 10), Op::Contains(1)],
            vec![Op::Delete(1)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// A handle send that finds its channel closed, then `contains`, racing a
/// replacement: after the failed send, the id must be found (the new
/// channel).
#[test]
fn handle_send_then_contains_vs_set() {
    one_id(
        "seq: handle_send,contains || set",
        1,
        vec![],
        vec![
            vec![Op::HandleSend(0, 10), Op::Contains(1)],
            vec![Op::Set(1)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// A handle send that finds its channel closed, then a state read, racing
/// a replacement: the closed send puts the `set` before it, so the read must
/// see the new generation's state even if the `set` has not advanced the
/// slot yet. Catches `state_skips_successor`.
#[test]
fn handle_send_then_state_vs_set() {
    one_id(
        "seq: handle_send,state || set",
        1,
        vec![],
        vec![vec![Op::HandleSend(0, 10), Op::State(1)], vec![Op::Set(1)]],
    )
    .check(Bound::Exhaustive);
}

/// Replace twice while a routed send races both replacements: the send
/// lands in one of the three generations (or finds it full), never in a
/// retired one after its retirement.
#[test]
fn set_then_set_vs_try_send() {
    one_id(
        "seq: set,set || try_send",
        1,
        vec![],
        vec![vec![Op::Set(1), Op::Set(1)], vec![Op::TrySend(1, 10)]],
    )
    .check(Bound::Exhaustive);
}

/// Delete then re-create, while another thread sends and then asks.
#[test]
fn delete_then_set_vs_try_send_then_contains() {
    one_id(
        "seq: delete,set || try_send,contains",
        1,
        vec![],
        vec![
            vec![Op::Delete(1), Op::Set(1)],
            vec![Op::TrySend(1, 10), Op::Contains(1)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// A send into a handle after the thread's own delete returned must fail:
/// the delete closed the channel before returning. The other thread sends
/// by id and receives.
#[test]
fn delete_then_handle_send_vs_try_send() {
    one_id(
        "seq: delete,handle_send || try_send",
        1,
        vec![],
        vec![
            vec![Op::Delete(1), Op::HandleSend(0, 10)],
            vec![Op::TrySend(1, 11)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// A receive with a deadline after the thread's own delete: a push that
/// was accepted before the delete's close may still be writing its slot
/// when the receive looks, and its message must be received, not a
/// time-out. Catches `timeout_skips_final_attempt`. The push is written
/// first: loom's first schedule then runs it to its claim, and its DPOR
/// finds the delete and the receive between the claim and the write; in the
/// other order it misses that interleaving (tokio-rs/loom#392, below).
#[test]
fn delete_then_recv_timeout_vs_try_send() {
    one_id(
        "seq: try_send || delete,recv_timeout",
        1,
        vec![],
        vec![
            vec![Op::TrySend(1, 10)],
            vec![Op::Delete(1), Op::RecvTimeout(R0)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// The send side: a full channel of capacity 2; the other thread's pop of
/// the first message may still be reading its slot when this thread has
/// popped the second and tries to send with a deadline. Both pops come
/// before the send, so the channel has room: a time-out is wrong.
#[test]
fn try_recv_then_send_timeout_vs_try_recv() {
    one_id(
        "seq: try_recv || try_recv,send_timeout (full)",
        2,
        vec![100, 101],
        vec![
            vec![Op::TryRecv(R0)],
            vec![Op::TryRecv(R0), Op::SendTimeout(1, 10)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// The receiver is dropped, then the id is deleted, while another thread
/// sends to it: the registry's count is the generation's last, so the
/// delete's retirement frees it, and the send may still be pushing into it
/// under its pin. The release must wait for the epoch. Catches
/// `release_skips_epoch` (the generation's `Built` mark, cleared by its
/// teardown, races the send's use of it).
#[test]
fn drop_rx_then_delete_vs_try_send() {
    one_id(
        "seq: drop_rx,delete || try_send",
        1,
        vec![],
        vec![
            vec![Op::DropRx(R0), Op::Delete(1)],
            vec![Op::TrySend(1, 10)],
        ],
    )
    .check(Bound::Exhaustive);
}

// ---- helpers ----------------------------------------------------------------

/// `contains` meets the delete's claimed generation and finishes the
/// retirement itself; the deleting thread then sends through its handle.
/// The delete must not return before the old channel is closed, whoever
/// closes it. Catches `close_after_advance`.
#[test]
fn helper_contains_vs_delete_then_handle_send() {
    one_id(
        "helper: delete,handle_send || contains",
        1,
        vec![],
        vec![
            vec![Op::Delete(1), Op::HandleSend(0, 10)],
            vec![Op::Contains(1)],
        ],
    )
    .check(Bound::Exhaustive);
}

/// A delete that meets a replacement's claimed generation finishes it, then
/// deletes the new generation; the replacing thread then sends by id.
#[test]
fn helper_delete_vs_set_then_try_send() {
    one_id(
        "helper: set,try_send || delete",
        1,
        vec![],
        vec![vec![Op::Set(1), Op::TrySend(1, 10)], vec![Op::Delete(1)]],
    )
    .check(Bound::Exhaustive);
}

/// `register` finishes a delete's retirement and then installs; the
/// deleting thread then sends through its old handle and by id.
#[test]
fn helper_register_vs_delete_then_sends() {
    one_id(
        "helper: delete,handle_send,try_send || register",
        1,
        vec![],
        vec![
            vec![Op::Delete(1), Op::HandleSend(0, 10), Op::TrySend(1, 11)],
            vec![Op::Register(1)],
        ],
    )
    .check(Bound::Exhaustive);
}

// ---- two waiters --------------------------------------------------------------

/// Two senders wait on a full channel, one routed and async, one blocking
/// through a handle, and the id is deleted: both must wake and fail.
/// Catches `close_wakes_one`.
#[test]
fn two_senders_wait_delete() {
    one_id(
        "waiters: send_async || handle_send_blocking || delete (full)",
        1,
        vec![100],
        vec![
            vec![Op::SendAsync(1, 10)],
            vec![Op::HandleSendBlocking(0, 11)],
            vec![Op::Delete(1)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// Two routed senders wait on a full channel and the id is replaced: both
/// move to the new channel (capacity 2: both fit).
#[test]
fn two_senders_wait_set() {
    one_id(
        "waiters: send_async || send_blocking || set (full)",
        2,
        vec![100, 101],
        vec![
            vec![Op::SendAsync(1, 10)],
            vec![Op::SendBlocking(1, 11)],
            vec![Op::Set(1)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// Two handle senders wait on a full channel whose receiver is dropped:
/// both wake with `Closed`.
#[test]
fn two_senders_wait_drop_rx() {
    one_id(
        "waiters: handle_send_async || handle_send_blocking || drop_rx (full)",
        1,
        vec![100],
        vec![
            vec![Op::HandleSendAsync(0, 10)],
            vec![Op::HandleSendBlocking(0, 11)],
            vec![Op::DropRx(R0)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// Two receivers wait on one channel (blocking and async) and the id is
/// deleted: both wake and see it closed.
#[test]
fn two_receivers_wait_delete() {
    one_id(
        "waiters: recv || recv_async || delete",
        1,
        vec![],
        vec![
            vec![Op::Recv(R0)],
            vec![Op::RecvAsync(R0)],
            vec![Op::Delete(1)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// Two receivers wait; a sender delivers one message and then replaces the
/// id: one receiver gets the message, the other wakes to the close.
#[test]
fn two_receivers_wait_send_then_set() {
    one_id(
        "waiters: recv || recv_async || try_send,set",
        1,
        vec![],
        vec![
            vec![Op::Recv(R0)],
            vec![Op::RecvAsync(R0)],
            vec![Op::TrySend(1, 10), Op::Set(1)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// A receiver with a deadline may be woken by a message and then give up
/// (under loom its deadline passes as soon as it would sleep): the wake-up
/// must pass to the other waiting receiver. Otherwise that receiver sleeps
/// and the sender, whose second send waits for the room the receive would
/// make, sleeps too. Catches `cancel_drops_wakeup`.
#[test]
fn woken_receiver_gives_up() {
    one_id(
        "waiters: recv_timeout || recv || try_send,handle_send_blocking",
        1,
        vec![],
        vec![
            vec![Op::RecvTimeout(R0)],
            vec![Op::Recv(R0)],
            vec![Op::TrySend(1, 10), Op::HandleSendBlocking(0, 11)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// A receive future polled once and dropped while pending: if a push's
/// wake-up reached it in between, dropping it must pass the wake-up on to
/// the other waiting receiver. Catches `cancel_drops_wakeup`.
#[test]
fn cancelled_receiver_passes_its_wakeup_on() {
    one_id(
        "waiters: recv_async_once || recv || try_send,handle_send_blocking",
        1,
        vec![],
        vec![
            vec![Op::RecvAsyncOnce(R0)],
            vec![Op::Recv(R0)],
            vec![Op::TrySend(1, 10), Op::HandleSendBlocking(0, 11)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// The send side: a routed send future polled once on a full channel and
/// dropped, while an async sender waits and the receiver frees one slot,
/// then waits for the next message.
#[test]
fn cancelled_sender_passes_its_wakeup_on() {
    one_id(
        "waiters: send_async_once || send_async || recv,recv (full)",
        1,
        vec![100],
        vec![
            vec![Op::SendAsyncOnce(1, 10)],
            vec![Op::SendAsync(1, 11)],
            vec![Op::Recv(R0), Op::Recv(R0)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// The same on the send side: a full channel, a sender with a deadline and
/// an async sender wait; the receiver frees one slot, then waits for the
/// next message, which only the woken senders can send.
#[test]
fn woken_sender_gives_up() {
    one_id(
        "waiters: send_timeout || send_async || recv,recv (full)",
        1,
        vec![100],
        vec![
            vec![Op::SendTimeout(1, 10)],
            vec![Op::SendAsync(1, 11)],
            vec![Op::Recv(R0), Op::Recv(R0)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// The hold-back path (`src/reclaim.rs`, the garbage limit at zero): a
/// replacing `set` and a `delete` each find the garbage over the limit, so
/// before returning each flushes its retirements to the epoch and releases
/// what is ready, while another thread sends through the id and through a
/// handle of the first generation. Every message must still be delivered
/// or handed back, and no generation released while a sender can reach it.
#[test]
fn held_back_retirements_vs_sends() {
    Scenario {
        garbage_limit: Some(0),
        ..one_id(
            "hold back: set,delete || try_send,handle_send",
            1,
            vec![],
            vec![
                vec![Op::Set(1), Op::Delete(1)],
                vec![Op::TrySend(1, 10), Op::HandleSend(0, 11)],
            ],
        )
    }
    .check(Bound::Preemptions(2));
}
