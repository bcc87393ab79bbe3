//! A lock-free registry of bounded channels keyed by id.
//!
//! Services that create, delete and message many instances from many threads
//! keep a map from instance id to channel. In Go that map crashes the process
//! (`fatal error: concurrent map writes`); behind a global mutex every lookup
//! queues behind every create and delete. A [`Registry`] is that map without
//! the lock, with an answer to what happens to a message sent while its
//! instance is being deleted or replaced.
//!
//! ```
//! use channel_registry::{Registry, TrySendError};
//! # if channel_registry::__loom_build() { return Ok(()); }
//!
//! let registry = Registry::<u64, String>::new();
//! let inbox = registry.set(42, 5)?;                     // create id 42: a channel of capacity 5
//! registry.try_send(&42, "event".to_string()).unwrap(); // send by id: no lock, no reference count
//! assert!(registry.delete(&42));                        // delete id 42: its channel closes
//! assert_eq!(inbox.recv().unwrap(), "event");           // what was accepted is still delivered,
//! assert!(inbox.recv().is_err());                       // then the receiver sees the close
//! let late = registry.try_send(&42, "late".to_string());
//! assert!(matches!(late, Err(TrySendError::NoSuchId(m)) if m == "late")); // a failed send hands the message back
//! # Ok::<(), channel_registry::CapacityError>(())
//! ```
//!
//! # The contract
//!
//! Ids are `K: Ord + Hash + Clone + Send + Sync + 'static` (`u64` is the
//! common case): `Hash` for the point index that every send, `set`,
//! `delete` and lookup uses, `Ord` for the ordered set of ids behind
//! [`ids`](Registry::ids) and [`ids_in`](Registry::ids_in), `Clone` because
//! both indexes hold the id. Messages are `T: Send + 'static`. Each channel
//! (each *generation* of an id: what one `set` or `register` created) may
//! carry user state `S: Send + Sync + 'static` (the third type parameter,
//! `()` by default, which costs nothing), given to
//! [`set_with`](Registry::set_with) or [`register_with`](Registry::register_with)
//! and reached by id ([`with_state`](Registry::with_state)), from the
//! [`Receiver`] and from [`Sender`] handles, and handed back when `set_with`
//! replaces the generation ([`Created::replaced`]).
//!
//! 1. **Linearizable per id.** Every history of [`set`](Registry::set),
//!    [`set_with`](Registry::set_with), [`register`](Registry::register),
//!    [`delete`](Registry::delete), sends ([`try_send`](Registry::try_send),
//!    [`send_timeout`](Registry::send_timeout),
//!    [`send_async`](Registry::send_async), [`Sender`] handles),
//!    [`contains`](Registry::contains) and [`with_state`](Registry::with_state)
//!    on one id is equivalent to some sequential order of them that respects
//!    real time. In particular a `set` over a live id never makes a
//!    concurrent send see the id as absent; a routed send that races with a
//!    replacing `set` goes either into the old channel (before it closes) or
//!    into the new one; once `set_with` returns, no `with_state` reads the
//!    replaced generation's state, and the generation it reports as replaced
//!    is the one that was current just before it.
//! 2. **Nothing lost.**
//!    * A send that returns `Ok` has put its message into a channel whose
//!      receiver will receive it, unless that receiver is dropped.
//!    * A send that fails hands the message back, in every error variant.
//!    * The receiver of a deleted or replaced channel receives every message
//!      accepted into it, in order, and only then sees the channel closed.
//! 3. **Prompt close.** When `delete`, or a `set` that replaces, returns, the
//!    old channel is already closed: later sends into it fail (routed sends
//!    move to the new channel or report `NoSuchId`; [`Sender`] handles
//!    report `Closed`), and a receiver or sender waiting on it has been woken.
//! 4. **Reclamation.**
//!    * Every channel, every message and every state is dropped exactly
//!      once; a state is dropped with its channel.
//!    * A deleted or replaced channel's memory is freed once no thread can
//!      reach it: the registry's reference is released through
//!      `crossbeam-epoch` after every thread pinned at the time unpins, and
//!      the channel itself when its receiver and handles are gone too.
//!    * Dropping the registry closes every registered channel and releases
//!      every reference it holds (deferred ones when the epoch advances).
//!
//! Not in the contract: [`len`](Registry::len) and [`ids`](Registry::ids)
//! are snapshots while ids are being changed concurrently.
//!
//! # Ranges of ids
//!
//! Ids are kept in order, so a service that composes them (a tenant in the
//! high bits) can act on a range: [`ids_in`](Registry::ids_in),
//! [`send_in`](Registry::send_in) (a clone of one message to every id in the
//! range, counted by outcome) and [`delete_in`](Registry::delete_in). A range
//! operation is not atomic across ids: it is one point operation per id
//! listed, each linearizable on its own. An id that exists for the whole
//! call is visited exactly once; ids created or deleted meanwhile may or may
//! not be.
//!
//! # Cost
//!
//! A routed send pins the epoch (which writes only the calling thread's own
//! epoch word), finds the id in a lock-free hash table with plain loads (a
//! keyed hash, seeded at random per registry, so ids chosen by an attacker
//! do not collide; no reference-count update, and a resize never blocks
//! it), and pushes: the push is its only write to memory that other threads
//! write too. A [`Sender`] handle skips the pin and the lookup. Waking the
//! receiver costs a `SeqCst` fence and a load unless someone waits. The ids
//! are also kept in order in a `crossbeam-skiplist`, which only `set` of a
//! new id, `delete`, and iteration touch. A delete may leave its id's key
//! there, and its entry in the hash table (the key and an empty slot; its
//! channel is retired as usual), so that creating the id again is one
//! compare-and-swap on that slot and writes to neither index: deleted ids
//! are kept so at most `2 × live ids + 64` (each thread checks that on one
//! delete in 16 and takes its last answer in between, so never more than
//! twice the most ids ever live, plus 65, plus 15 per deleting thread),
//! [`len`](Registry::len) does not count them, and
//! [`ids`](Registry::ids) takes out each one it passes.
//! Churn over a fixed set of ids then never resizes the hash table.
//!
//! # Memory held by retired channels
//!
//! A deleted or replaced channel stays allocated (one allocation, the
//! channel with its buffer: 192 bytes with a 5-slot buffer of 16-byte
//! messages on 64-bit targets) until the
//! epoch has advanced twice past its retirement, which needs every thread
//! that was pinned at the time to have unpinned. A pin lasts one registry call, but a thread
//! descheduled while pinned stretches it to its time slice, and every
//! thread meanwhile keeps retiring: with more threads than cores, garbage
//! grows with the scheduler's time slice. The registry epoch-collects with
//! a crossbeam-epoch `Collector` of its own, so pins and garbage of other
//! crates in the process (crossbeam's default collector) neither hold its
//! garbage back nor lengthen its collections, and no code outside the
//! crate can hold one of its pins.
//!
//! **The garbage limit.** [`garbage_bytes`] counts the retired memory still
//! waiting for its grace period, process-wide (each thread adds its part
//! every 16 KiB). A `set`, `register` or `delete` that finds it over the
//! limit ([`set_garbage_limit`], default [`DEFAULT_GARBAGE_LIMIT`] = 256 KiB)
//! does not return until it is back under: unpinned, it hands its own
//! retirements to the epoch, lets the epoch advance and collect, and yields
//! to the threads whose pins hold it back, for up to 100 ms, after which it
//! returns anyway. Sends never wait. So the memory waiting for the epoch
//! stays under the limit plus 16 KiB per thread, plus what the calls in
//! flight retire, as long as no registry call stays pinned for 100 ms: a
//! descheduled thread runs again long before that. Retiring calls pay for
//! it in latency while a pin is held (they wait for it), which is the
//! trade: set `usize::MAX` for no limit (garbage then follows the
//! scheduler), lower for less memory and more waiting. A call made from
//! inside a [`with_state`](Registry::with_state) closure never waits (it
//! would wait for its own pin); a closure that blocks holds everyone's
//! garbage back, and the waiting calls give up at the time limit.
//!
//! **Where the freeing happens.** crossbeam-epoch runs deferred functions
//! inside whichever thread's pin collects them, up to 512 at once. The
//! registry's deferred functions only move the retired channel (or index
//! entry) onto that thread's *ready list*, a thread-local queue; each
//! `set`, `register` and `delete` then frees two ready objects before it
//! returns (four while the shared overflow below holds any), and sends free
//! none. A ready list holds at most 256 objects: beyond that (a thread
//! whose pins collect much more than its own calls retire, such as one that
//! only sends) the surplus goes to one shared overflow list, which every
//! thread's `set`, `register` and `delete` drain within the same limit, so
//! no call ever frees more than four, waiting or not. [`reclaim`] frees
//! everything ready on the calling thread and in the overflow, and a
//! thread's exit frees its list. So the memory counted by the limit is
//! joined by the ready objects: at most 256 per thread that uses the
//! registry, plus the overflow, which each `set`, `register` and `delete`
//! shrinks by up to four while retiring at most two.
//!
//! **Freed memory kept for reuse.** A freed channel's memory goes to a
//! small cache of the freeing thread, and that thread's next channel of the
//! same size takes it from there: no allocator call, and no allocator lock
//! taken for a block that another thread allocated (in churn the thread
//! that frees a channel is often not the one that created it). A thread
//! keeps at most 256 blocks and 64 KiB, of one size at a time, until it
//! exits; [`reclaim`] empties the calling thread's.
//! This memory is free, not garbage: [`garbage_bytes`] does not count it.
//!
//! Measured by the benchmark's churn (1,024 ids, half sets and half
//! deletes, 2 cores, 8 threads; peak heap above the registered instances,
//! so ready lists and per-thread batches included; three runs each): 6.2
//! to 6.4 MB at a 4 MiB limit, 1.9 to 2.2 MB at 1 MiB, 1.1 to 1.3 MB at
//! 512 KiB, and 0.56 to 0.65 MB at the 256 KiB default, so about two and a
//! half times the limit (23 to 26 MB with no limit, in an earlier run); on
//! another machine, after the changes that made churn cheaper, 0.60 to
//! 0.72 MB at the default (six runs, both benchmark rows), and 0.66 to 0.78 MB
//! with the held pin below; since a channel is one allocation and freed
//! ones are kept per thread for reuse (churn about 25% faster, and each
//! thread's cache of freed channels counted in the peak heap), 1.02 to
//! 1.17 MB, and 1.09 to 1.29 MB with the held pin (six runs each); since
//! a ready list holds 256 objects rather than 1,024 (7 to 12% less
//! throughput at 8 threads, none measurable at 2), 0.71 to 0.82 MB (fifteen
//! runs of each row), and 0.79 to 0.89 MB with the held pin (three each);
//! in the full benchmark run at that revision (00e857e, medians of five
//! garbage runs) 700 and 719 KiB for the two rows, 768 and 791 KiB with
//! the held pin.
//! Plain churn does not slow down at a low limit: in timed runs at 8
//! threads (four each) it did 8.6 M ops/s with a p99.9 of 3.9 us at
//! 256 KiB, against 7.1 M ops/s and 21.5 us at 4 MiB (less garbage,
//! presumably more of it in cache). The price is paid where a pin is
//! held. With one more thread holding a pin for 10 ms out of every 11, the
//! garbage stays bounded (0.6 to 0.7 MB at 8 threads, 1,024 ids) because
//! retiring calls wait for that pin: churn ran at 0.7 M ops/s against 3.8
//! at 4 MiB, and its p99.99 went from 7 ms to 32 ms. A service whose
//! threads stay pinned for long (inside [`with_state`](Registry::with_state)
//! closures, say) and that can afford the memory should raise the limit.
//! Call [`reclaim`] at a quiet moment to collect what is collectable now,
//! and [`channels_alive`] or [`garbage_bytes`] to watch the figure.
//!
//! # Capacities
//!
//! A channel's buffer is allocated when it is created. Capacity 0
//! (rendezvous) is not supported, and capacities above [`MAX_CAPACITY`] or
//! whose buffer would exceed [`MAX_BUFFER_BYTES`] are refused: both return
//! [`CapacityError`] and change nothing. Nothing panics or aborts.
//!
//! # Receivers and handles outliving things
//!
//! Dropping a [`Receiver`] closes its channel and drops what was buffered,
//! but leaves the id registered: sends to it fail with `Closed` until the id
//! is set again or deleted. A [`Sender`] handle stays bound to the channel it
//! was made for. Both may outlive the registry.
//!
//! # Misuse
//!
//! * A message whose `Drop` panics: dropping a [`Receiver`] still drops every
//!   buffered message, then resumes the first panic.
//! * A key whose `Hash`, `Eq` or `Ord` panics: the panic reaches the caller;
//!   the registry stays consistent and nothing leaks. `Ord` is used only by
//!   the ordered set of ids, after the point operation took effect: a `set`
//!   of a new id whose `Ord` panics has created the id, which
//!   [`ids`](Registry::ids) lists only once it is deleted and created again. An
//!   inconsistent `Hash` or `Ord` can make lookups miss or register an id
//!   twice, but is memory-safe.
//! * Sending into the registry from a message's `Drop` works: the registry
//!   holds no lock while it drops a message.
//! * A send or receive future polled after it returned `Ready` panics, as
//!   std's futures do.
//!
//! # Verification
//!
//! The protocol (slots, channel states, wake-ups, reclamation calls) is
//! checked with `loom` on this very code (`RUSTFLAGS="--cfg loom" cargo
//! test`), and with `shuttle`'s random and PCT schedulers on larger random
//! scenarios (`--cfg shuttle`); `loom-tests/README.md` says what each model
//! assumes and which deliberately broken variants each catches. The
//! protocol is also held to a sequential model by property tests and a fuzz
//! target. On the real skip list and real threads: histories recorded under
//! contention are checked for linearizability (`tests/lincheck`), Miri (with
//! many scheduler seeds and weak-memory emulation) and ThreadSanitizer run
//! the threaded tests, and a soak accounts for every message, channel and
//! heap byte.

#![warn(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod block;
mod capacity;
mod chan;
mod chan_ref;
mod error;
mod index;
mod outcome;
mod pool;
mod range;
mod receiver;
mod reclaim;
mod registry;
mod ring;
mod sender;
mod stripes;
mod sync;
mod waiters;

pub use capacity::{CapacityError, MAX_BUFFER_BYTES, MAX_CAPACITY};
pub use chan::channels_alive;
pub use error::{
    RecvError, RecvTimeoutError, RegisterError, SendError, SendTimeoutError, TryRecvError,
    TrySendError, WithState,
};
pub use outcome::{Created, Retired};
pub use range::RangeSent;
pub use receiver::{Receiver, RecvFut};
pub use reclaim::{
    __held_back, __overflowed, __pin, __teardowns, DEFAULT_GARBAGE_LIMIT, garbage_bytes,
    garbage_limit, reclaim, set_garbage_limit,
};
pub use registry::{Ids, Registry, RoutedSendFut};
pub use sender::{SendFut, Sender};

/// Whether this build models threads with a model checker (`--cfg loom` or
/// `--cfg shuttle`).
///
/// Doctests are collected by rustdoc without those cfgs but linked against
/// the model build of the library, where they cannot run outside a model;
/// each example starts with a hidden `if __loom_build() { return }`.
#[doc(hidden)]
pub fn __loom_build() -> bool {
    cfg!(any(loom, shuttle))
}

#[cfg(test)]
mod tests {
    /// The doctests' early return must fire in exactly the model builds:
    /// there the library cannot run outside a model, and natively every
    /// example must run.
    #[test]
    fn model_builds_are_reported_as_such() {
        assert_eq!(crate::__loom_build(), cfg!(any(loom, shuttle)));
    }
}
