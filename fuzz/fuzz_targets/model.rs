//! Fuzz target: arbitrary single-threaded histories against the sequential
//! model. Any mismatch, lost or duplicated message, double drop or panic in
//! the library is a crash. Run it with `just fuzz` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

include!("../../tests/support/model_harness.rs");

/// At most this many operations per input: longer inputs add little and slow
/// the fuzzer down.
const MAX_OPS: usize = 256;

fn id(u: &mut Unstructured<'_>) -> Result<u64> {
    // One id beyond the model's space, so absent ids are exercised too.
    u.int_in_range(0..=IDS)
}

fn cap(u: &mut Unstructured<'_>) -> Result<usize> {
    // Small valid capacities (both queue flavors) and the invalid ones.
    // MAX_CAPACITY itself allocates tens of MB per set and is covered by
    // `tests/model.rs::capacity_limits`.
    Ok(match u.int_in_range(0..=9u8)? {
        0 => 0,
        1 => MAX_CAPACITY + 1,
        2 => usize::MAX,
        n => usize::from(n - 2), // 1..=7
    })
}

fn index(u: &mut Unstructured<'_>) -> Result<Index> {
    Ok(Index(usize::from(u.arbitrary::<u8>()?)))
}

fn range(u: &mut Unstructured<'_>) -> Result<Range> {
    let mut e = || u.int_in_range(0..=IDS + 1);
    Ok(match e()? % 7 {
        0 => Range::HalfOpen(e()?, e()?),
        1 => Range::Inclusive(e()?, e()?),
        2 => Range::From(e()?),
        3 => Range::To(e()?),
        4 => Range::ToInclusive(e()?),
        5 => Range::ExclIncl(e()?, e()?),
        _ => Range::Full,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0..=19u8)? {
        0 => Op::Set(id(u)?, cap(u)?),
        1 => Op::Register(id(u)?, cap(u)?),
        2 => Op::Delete(id(u)?),
        3 => Op::TrySend(id(u)?, u.int_in_range(1..=8)?),
        4 => Op::SendTimeout(id(u)?),
        5 => Op::GetSender(id(u)?),
        6 => Op::HandleTrySend(index(u)?, u.int_in_range(1..=8)?),
        7 => Op::HandleSendTimeout(index(u)?),
        8 => Op::HandleInspect(index(u)?, index(u)?),
        9 => Op::DropHandle(index(u)?),
        10 => Op::TryRecv(index(u)?),
        11 => Op::RecvTimeout(index(u)?),
        12 => Op::Recv(index(u)?),
        13 => Op::PollRecv(index(u)?, u.arbitrary()?),
        14 => Op::DropReceiver(index(u)?),
        15 => Op::InspectReceiver(index(u)?),
        16 => Op::Contains(id(u)?),
        17 => Op::Len,
        18 => Op::Ids,
        _ => Op::IdsIn(range(u)?),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match op(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run(&ops);
});
