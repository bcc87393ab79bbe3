//! Fuzz target: arbitrary single-threaded histories against the sequential
//! model. Any mismatch, lost or duplicated message, double drop or panic in
//! the library is a crash. Run it with `just fuzz` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

use channel_registry::MAX_CAPACITY;
use spec::harness::{IDS, Index, Range, Step, run};

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

fn step(u: &mut Unstructured<'_>) -> Result<Step> {
    Ok(match u.int_in_range(0..=21u8)? {
        0 => Step::Set(id(u)?, cap(u)?),
        1 => Step::Register(id(u)?, cap(u)?),
        2 => Step::Delete(id(u)?),
        3 => Step::TrySend(id(u)?, u.int_in_range(1..=8)?),
        4 => Step::SendTimeout(id(u)?),
        5 => Step::GetSender(id(u)?),
        6 => Step::HandleTrySend(index(u)?, u.int_in_range(1..=8)?),
        7 => Step::HandleSendTimeout(index(u)?),
        8 => Step::HandleInspect(index(u)?, index(u)?),
        9 => Step::DropHandle(index(u)?),
        10 => Step::TryRecv(index(u)?),
        11 => Step::RecvTimeout(index(u)?),
        12 => Step::Recv(index(u)?),
        13 => Step::PollRecv(index(u)?, u.arbitrary()?),
        14 => Step::DropReceiver(index(u)?),
        15 => Step::InspectReceiver(index(u)?),
        16 => Step::Contains(id(u)?),
        17 => Step::Len,
        18 => Step::Ids,
        19 => Step::State(id(u)?),
        20 => Step::DeleteIn(range(u)?),
        _ => Step::IdsIn(range(u)?),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match step(&mut u) {
            Ok(step) => ops.push(step),
            Err(_) => break,
        }
    }
    run(&ops);
});
