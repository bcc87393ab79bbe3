#![cfg(not(any(loom, shuttle)))]
//! Sequential model test: random single-threaded histories of registry,
//! receiver and sender-handle operations, every return value checked against
//! the sequential model of the contract (`spec::harness`, shared with the
//! fuzz target).

use channel_registry::{MAX_BUFFER_BYTES, MAX_CAPACITY, RegisterError, Registry};
use proptest::prelude::*;
use proptest::test_runner::Config;
use spec::harness::{IDS, Index, Range, Step, run};

// ---------------------------------------------------------------------------
// proptest's strategies for the operations.

fn id() -> impl Strategy<Value = u64> {
    0..IDS
}

fn cap() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => Just(1usize),          // one slot: every push after the first is Full
        3 => Just(2usize),
        2 => Just(3usize),
        1 => Just(0usize),
        1 => Just(MAX_CAPACITY + 1),
        1 => Just(usize::MAX),
    ]
}

fn burst() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(1u8), 1 => 2..=4u8]
}

fn range() -> impl Strategy<Value = Range> {
    // Endpoints beyond the id space too.
    let e = || 0..IDS + 2;
    prop_oneof![
        (e(), e()).prop_map(|(a, b)| Range::HalfOpen(a, b)),
        (e(), e()).prop_map(|(a, b)| Range::Inclusive(a, b)),
        e().prop_map(Range::From),
        e().prop_map(Range::To),
        e().prop_map(Range::ToInclusive),
        (e(), e()).prop_map(|(a, b)| Range::ExclIncl(a, b)),
        Just(Range::Full),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let ix = || (0..64usize).prop_map(Index);
    prop_oneof![
        8 => (id(), cap()).prop_map(|(i, c)| Step::Set(i, c)),
        3 => (id(), cap()).prop_map(|(i, c)| Step::Register(i, c)),
        3 => id().prop_map(Step::Delete),
        10 => (id(), burst()).prop_map(|(i, n)| Step::TrySend(i, n)),
        4 => id().prop_map(Step::SendTimeout),
        3 => id().prop_map(Step::GetSender),
        5 => (ix(), burst()).prop_map(|(i, n)| Step::HandleTrySend(i, n)),
        2 => ix().prop_map(Step::HandleSendTimeout),
        1 => (ix(), ix()).prop_map(|(a, b)| Step::HandleInspect(a, b)),
        1 => ix().prop_map(Step::DropHandle),
        8 => ix().prop_map(Step::TryRecv),
        2 => ix().prop_map(Step::RecvTimeout),
        2 => ix().prop_map(Step::Recv),
        2 => (ix(), any::<bool>()).prop_map(|(i, s)| Step::PollRecv(i, s)),
        2 => ix().prop_map(Step::DropReceiver),
        1 => ix().prop_map(Step::InspectReceiver),
        2 => id().prop_map(Step::Contains),
        2 => id().prop_map(Step::State),
        1 => range().prop_map(Step::DeleteIn),
        1 => Just(Step::Len),
        1 => Just(Step::Ids),
        2 => range().prop_map(Step::IdsIn),
    ]
}

proptest! {
    #![proptest_config(Config {
        // Miri (scripts/miri.sh) runs a few cases: each is tens of
        // operations and Miri is ~1000x slower; the native run does 256.
        cases: if cfg!(miri) { 6 } else { 256 },
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn registry_matches_sequential_model(ops in proptest::collection::vec(step(), 0..64)) {
        run(&ops);
    }
}

// ---------------------------------------------------------------------------
// Fixed histories: the flavors, capacity limits and a few edge cases that the
// random runs reach only by chance.

#[test]
fn both_queue_flavors_fill_and_drain_in_order() {
    for cap in [1usize, 2, 3, 5] {
        let mut ops = vec![Step::Set(0, cap)];
        ops.extend((0..cap + 2).map(|_| Step::TrySend(0, 1)));
        ops.push(Step::GetSender(0));
        ops.push(Step::HandleTrySend(Index(0), 1));
        ops.push(Step::SendTimeout(0));
        ops.push(Step::Set(0, cap)); // retire with a full buffer
        ops.push(Step::HandleTrySend(Index(0), 1));
        ops.push(Step::TrySend(0, 1));
        ops.extend((0..cap + 2).map(|_| Step::TryRecv(Index(0))));
        run(&ops);
    }
}

#[test]
fn receiver_drop_keeps_id_registered() {
    let ix = || Index(0);
    run(&[
        Step::Register(1, 2),
        Step::TrySend(1, 1),
        Step::GetSender(1),
        Step::DropReceiver(ix()),
        Step::TrySend(1, 1),
        Step::SendTimeout(1),
        Step::HandleTrySend(ix(), 1),
        Step::Contains(1),
        Step::Register(1, 1), // Occupied
        Step::Ids,
        Step::Set(1, 1),
        Step::TrySend(1, 1),
        Step::TryRecv(ix()),
        Step::Delete(1),
        Step::Delete(1),
        Step::TrySend(1, 1),
        Step::TryRecv(ix()),
        Step::Ids,
    ]);
}

#[test]
fn capacity_limits() {
    let registry = Registry::<u64, u32>::new();
    for cap in [0, MAX_CAPACITY + 1, usize::MAX] {
        assert_eq!(registry.set(0, cap).unwrap_err().requested(), cap);
        match registry.register(0, cap) {
            Err(RegisterError::Capacity(e)) => assert_eq!(e.requested(), cap),
            other => panic!("register(0, {cap}): {other:?}"),
        }
    }
    assert!(registry.is_empty());
    let rx = registry.set(0, MAX_CAPACITY).unwrap();
    assert_eq!(rx.capacity(), MAX_CAPACITY);
    // A buffer above MAX_BUFFER_BYTES is refused even below MAX_CAPACITY.
    let big = Registry::<u64, [u8; 4096]>::new();
    let cap = MAX_BUFFER_BYTES / 4096 + 1;
    assert!(cap <= MAX_CAPACITY);
    assert_eq!(big.set(0, cap).unwrap_err().requested(), cap);
    assert!(big.is_empty());
}
