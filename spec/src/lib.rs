//! What every checker, benchmark and demo of `channel-registry` shares,
//! written once:
//!
//! - [`model`]: the one vocabulary of operations and results, and the one
//!   sequential model of the contract, which the loom and shuttle suites,
//!   the history checker, the proptest and the fuzz target all check
//!   against;
//! - [`linearize`]: the one linearizability search (Wing & Gong with
//!   Lowe's memoization), in program order or in real time;
//! - `harness` (feature `harness`): the single-threaded harness that runs
//!   a history on the real registry and on the model side by side, for the
//!   proptest and the fuzz target;
//! - [`XorShift64Star`]: the seeded generator that picks operations, with
//!   the constructor the benchmark's workload spec uses
//!   ([`XorShift64Star::new`]) and one that mixes a run's seed with a
//!   worker's number ([`XorShift64Star::for_stream`]);
//! - [`CountingAlloc`]: a global allocator that counts live bytes and their
//!   peak while enabled;
//! - [`block_on`] and [`block_on_until`]: poll a future on this thread,
//!   parking between polls, with or without a deadline;
//! - [`Ledger`] and [`Counted`]: messages that count their creation and
//!   their drops, to check that every message is dropped exactly once.
//!
//! Not published. Without features it has no dependencies, and it builds
//! unchanged under
//! `--cfg loom` and `--cfg shuttle` (it uses `std` only, and none of its
//! code runs inside a model checker's execution).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod alloc;
mod block;
#[cfg(feature = "harness")]
pub mod harness;
mod ledger;
pub mod linearize;
pub mod model;
mod rng;

pub use alloc::CountingAlloc;
pub use block::{block_on, block_on_until};
pub use ledger::{Counted, Ledger};
pub use rng::XorShift64Star;
