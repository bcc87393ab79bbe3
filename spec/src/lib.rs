//! What every checker, benchmark and demo of `channel-registry` shares,
//! written once:
//!
//! - [`XorShift64Star`]: the seeded generator that picks operations, with
//!   the constructor the benchmark's workload spec uses
//!   ([`XorShift64Star::new`]) and one that mixes a run's seed with a
//!   worker's number ([`XorShift64Star::for_stream`]);
//! - [`CountingAlloc`]: a global allocator that counts live bytes and their
//!   peak while enabled;
//! - [`block_on`] and [`block_on_until`]: poll a future on this thread,
//!   parking between polls, with or without a deadline.
//!
//! Not published; it has no dependencies and builds unchanged under
//! `--cfg loom` and `--cfg shuttle` (it uses `std` only, and none of its
//! code runs inside a model checker's execution).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod alloc;
mod block;
mod rng;

pub use alloc::CountingAlloc;
pub use block::{block_on, block_on_until};
pub use rng::XorShift64Star;
