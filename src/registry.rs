//! The registry: ids mapped to channel generations, and the protocol that
//! replaces and deletes them without locks.
//!
//! # Data
//!
//! Each id has a [`Slot`]: one atomic pointer to the id's current generation
//! ([`Chan`]), or one of two marks: [`deleted()`] once the id is deleted,
//! and [`removed()`] once its node is on its way out of the point index. A
//! slot may come back from `deleted()` (a `set` re-creates the id in the same
//! node: *Deleted ids' nodes*, below), never from `removed()`. A `set` on a
//! live id never touches an index: it swaps the generation inside the slot,
//! so a concurrent send can never see the id as absent.
//!
//! # Two indexes, one truth
//!
//! The slot lives in a node of the **point index** ([`crate::index::hash`]),
//! a lock-free hash table that every point operation (sends, `set`,
//! `register`, `delete`, `contains`, `sender`) uses, in O(1). The **ordered
//! set of ids** ([`crate::index`]'s `Keys`, crossbeam-skiplist) holds only
//! the ids, for `ids` and `ids_in`. So there is one slot per id, reachable
//! one way, and the linearization points of the contract stay in the slot
//! protocol below:
//!
//! * **Which index decides whether an id exists:** the point index. An id
//!   exists exactly when the point index holds a live entry for it whose
//!   slot holds a generation (neither mark). The ordered set is a hint that
//!   iteration checks against the point index.
//! * **Insert** (a `set` or `register` of an id with no node): the node goes
//!   into the point index first (that CAS is the linearization point of the
//!   creation), then the id into the ordered set, before the call returns.
//!   An id whose node was kept is re-created in place instead (below).
//! * **Removal** (the thread whose CAS advanced the slot past the deleted
//!   generation): unless the node may stay (*Deleted ids' nodes*), that CAS
//!   wrote `removed()` rather than `deleted()`; the point-index entry then
//!   becomes a tombstone (the node is freed through the epoch), then the id
//!   leaves the ordered set.
//! * **Keeping the ordered set right** when a removal and a creation of one
//!   id race: every key carries a version (`crate::index::version`). A
//!   creation, after its point-index write, bumps its key's version by a
//!   read-modify-write (inserting the key if absent, or a fresh entry if a removal has
//!   claimed the old one). A removal reads the version, then asks the point
//!   index whether a node of the id still needs the key, and if not, claims
//!   the entry by a CAS from the version it read before it unlinks that
//!   exact entry. A creation's bump and a removal's claim cannot both
//!   succeed from one version, and a removal that reads a creation's bump
//!   sees its node, so a key that a returned creation relies on is never
//!   taken out while the id exists. (The first protocol took the key out
//!   and then looked again and put it back: an `ids` that ran in between
//!   missed an id whose creating call had returned; `loom-tests/listing.rs`
//!   catches it.)
//!
//! * **Why the ordered set holds ids and not slots:** a pointer to the node
//!   in a second index would let a thread reach the node after the point
//!   index dropped it, so the node could be freed only once *both* indexes
//!   had let go, and a re-creation racing the removal can leave the second
//!   index pointing at a node that the first has already retired. That needs
//!   a reference count on the node or a second deferral protocol. Holding
//!   only the id, the ordered set can never lead to a freed slot: iteration
//!   asks the point index for each id it lists, at the cost of one hash
//!   lookup per id returned.
//!
//! Why every clause of the contract still holds: linearizability,
//! nothing-lost and prompt close are properties of the slot protocol, which
//! is unchanged, and every point operation reaches an id's one slot through
//! the point index, whose get returns the entry that was the id's at some
//! moment during the call (its module docs say why, resizes included). A
//! `set` that races a `delete` of the same id may find the deleted node still
//! in the point index: it re-creates the id in it, or, if the node is marked
//! `removed()`, removes the entry itself and inserts a new node.
//! `ids` sees every id that exists for its whole run and whose creating
//! call had returned when the run began: that call left the id's key in
//! the ordered set, no removal takes it out while the id exists (above), and
//! the point-index check confirms it. An id whose creation is still running
//! may be missed: its point-index write (the linearization point) comes
//! before its key. It never returns an id twice (it resumes after the last
//! id it returned) and may or may not see ids created or deleted meanwhile.
//!
//! # Deleted ids' nodes
//!
//! Churn (ids deleted and created again) used to leave a tombstone in the
//! point index for every delete and take a new bucket for every re-creation,
//! so the table filled with tombstones and migrated every few thousand
//! operations at 1,024 ids; a migration copies the whole table, and the
//! operations that ran into one were the churn benchmark's slowest (its
//! p99.9). So a delete may leave its id's node in the point index with the
//! slot at `deleted()`, under the same bound and decision as the key
//! (*Deleted ids' keys*, below: the node stays exactly when the key does),
//! and a later `set` or `register` of the id re-creates it with one CAS on
//! the slot from `deleted()` to the new generation: no allocation of a node,
//! no bucket, no tombstone. Churn over a fixed set of ids then never
//! migrates the table.
//!
//! * **Linearization:** the re-creating CAS is the creation's linearization
//!   point, as an insert's CAS is; a lookup that read the slot as `deleted()`
//!   before it ran saw the id absent at that moment.
//! * **Taking a node out.** A delete whose node may not stay advances the
//!   slot from the deleted generation straight to `removed()` (whichever
//!   thread advances decides, from the counts), so no re-creation can come
//!   between the delete and the mark. A kept node that `ids` passes is taken
//!   out by a CAS of its slot from `deleted()` to `removed()`, then the
//!   tombstone: the mark and a re-creation both CAS the slot from
//!   `deleted()`, so exactly one wins. Either way a node is never unlinked
//!   after its id was re-created in it, and a node marked `removed()` is
//!   never re-created (a `set` that finds the mark finishes the removal and
//!   inserts a new node, as an insert that meets a stale entry does).
//! * **The key of a re-created id.** A creation through a new node bumps
//!   the key's version (*Two indexes*) and then sets the slot's `keyed`
//!   flag (`Release`). A re-creation in place that reads the flag set
//!   (`Acquire`) skips the ordered set, and so the skip-list walk: that
//!   bump happened before, so any removal that reads the version from it on
//!   sees the node, and the node is not marked `removed()` (the re-creating
//!   CAS read `deleted()`), so no removal takes the key out while the node
//!   stays; one that read the version earlier either fails its claim or made
//!   that creation put a fresh entry in before it set the flag. A
//!   re-creation that finds the flag clear (the first creation is still
//!   between its point-index write and its bump, or panicked there) does
//!   the ordered set's side itself and sets the flag.
//! * **No ABA:** a slot's generations are fresh allocations, and a thread
//!   that CASes from a generation it loaded is pinned, so that generation's
//!   address cannot come back; `deleted()` may recur, but every CAS from it
//!   means "the id is absent now", whichever delete put it there.
//! * **Counts:** `len` is the point index's live entries less the kept
//!   nodes, counted in relaxed per-thread stripes (`kept_nodes`: up on a
//!   delete's advance to `deleted()`, down on a re-creation in place or on
//!   `ids`' mark), both estimates, exact when no create or delete is in
//!   flight.
//! * **Memory:** a kept node is the key and an empty slot, with no channel
//!   (the generation was retired by the delete), and there are at most as
//!   many as kept keys.
//!
//! # Deleted ids' keys
//!
//! A skip-list insert or removal is the dearest step of a create or delete
//! (a walk, an allocation or a deferred free, and writes to the list's shared
//! length and random seed), and services re-create the same ids. So a delete
//! may leave its id's key in the ordered set: the point index still decides
//! that the id is gone, and a later `set` of the id finds its key there and
//! writes nothing to the set. The set stays bounded: a delete leaves its key
//! only while the set holds at most `2 × live + 64` keys of deleted ids
//! (`live`: ids with a channel, as [`Registry::len`] counts them; both counts
//! are relaxed, so a race can overshoot by the deletes in flight). A key of a
//! deleted id is added only by a delete that found the set within the bound,
//! so the set never holds more than `3 × (the most ids ever live at once) +
//! 65` keys, plus the deletes in flight. `ids` removes every deleted id's key
//! it passes (unless the id was re-created meanwhile), so iteration pays for such a key
//! once. The model checkers run both policies (`Registry::__keep_deleted_keys`).
//!
//! The check reads the kept-node count, which every delete and re-creation
//! changes: kept in one shared word, it was a cache line that two threads
//! churning pulled back and forth on every call (10% of `set`'s and 40% of
//! the retirement's samples at 65,536 ids and 2 threads). So the count is
//! striped (`crate::stripes`: threads are dealt 16 lines of 128 bytes in
//! turn, 2 KiB once per registry; `len` sums them), and a thread works the check out on one delete in
//! `KEEP_DECISION_EVERY` (16), storing the answer in a word written only when
//! it changes, and takes that answer on the other deletes. After the bound
//! is crossed, each deleting thread keeps at most 15 more keys before it
//! checks again, so the bounds above grow by 15 per deleting thread. The
//! model checkers check on every delete (their scenarios are a few deletes
//! long). Which answer a delete takes never matters to correctness: both
//! paths are the protocol's own (*Deleted ids' nodes*).
//!
//! # Retiring a generation (`set` over a live id, `delete`)
//!
//! 1. **Claim**: CAS the current generation's `successor` from null to the new
//!    generation (or `deleted()`). Only the slot's current generation can be
//!    claimed, and only once, so at most one generation is ever waiting
//!    behind the slot.
//! 2. **Close** the old generation's queue: the linearization point. Pushes
//!    that beat it are delivered; later ones fail and follow `successor`.
//! 3. **Advance** the slot from the old generation to the successor (CAS).
//!    The thread whose CAS succeeds hands the old generation's registry
//!    reference to the epoch (`defer`), so it is freed once no pinned thread
//!    can reach it, and, if the successor is `deleted()`, removes the id from
//!    both indexes (above).
//!
//! Any thread that finds a claimed generation (a racing `set`, `delete`,
//! `register`, `contains`, a send that follows it) performs steps 2 and 3
//! itself before going on, so no operation waits for another.
//!
//! # Negative controls
//!
//! `--cfg channel_registry_broken="NAME"` compiles one deliberately broken
//! variant of the protocol, for `just loom-negative` and `just
//! shuttle-negative`, which require the checkers to fail on each. Here:
//! `skip_close` (retirement never closes the old generation), `no_follow` (a
//! routed send reports `Closed` instead of following the successor),
//! `close_before_claim` (`delete` closes before it claims),
//! `contains_skips_successor` (a read
//! that reports a claimed generation as current), `state_skips_successor`
//! (a state read that does the same), `close_after_advance`
//! (only the thread that advances the slot closes, so a claimer can return
//! before its old channel is closed), `timeout_skips_final_attempt`,
//! `ids_cleanup_skips_check` (`ids` takes a deleted id's key out of the
//! ordered set without asking the point index whether the id was
//! re-created) and `recreate_skips_keys` (a re-creation in place never
//! does the ordered set's side, even when the node's first creation has not
//! yet done it). The
//! others live where their bug would: [`crate::chan`], [`crate::waiters`],
//! [`crate::ring`], [`crate::index::hash`], `crate::index::version`. `loom-tests/README.md` lists them all with what catches
//! each. Normal builds contain none of them.
//!
//! # Reclamation
//!
//! The registry owns one reference ([`ChanRef`]) to each live generation,
//! stored as the raw pointer in the slot. Senders on the routed path dereference that
//! pointer under an epoch guard and never touch the count. A generation is
//! deferred only by the thread that moved the slot past it, so a thread that
//! pins afterwards cannot load it; a thread pinned before can, and it can also
//! reach the successor through `successor`, which is alive for the same
//! reason (the slot had not moved past it when that thread pinned). The
//! release itself goes through [`crate::reclaim`]: the epoch decides when,
//! and the thread whose pin collects it frees it later, a few per `set`,
//! `register` or `delete`, so no call pays for hundreds of teardowns.

use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::block::{Attempt, block_on_until, deadline_after};
use crate::capacity::{self, Capacity, CapacityError};
use crate::chan::{Chan, Closed, PushError, SendWait, deleted, is_mark, removed};
use crate::chan_ref::ChanRef;
use crate::error::{RegisterError, SendError, SendTimeoutError, TrySendError, WithState};
use crate::index::{HashIndex, Keys, Node};
use crate::outcome::{Created, Retired};
use crate::receiver::Receiver;
use crate::reclaim;
use crate::sender::Sender;
use crate::stripes::{self, Hint, Striped};
use crate::sync::{self, AtomicBool, AtomicPtr, Guard, Ordering};

/// One id's slot, in its point-index node.
pub(crate) struct Slot<T, S> {
    /// The current generation (a `ChanRef::into_raw` pointer owning the
    /// registry's reference), `deleted()`, or `removed()`.
    current: AtomicPtr<Chan<T, S>>,
    /// Set once a creation that used this node has made sure of the id's
    /// key in the ordered set (module docs, *Deleted ids' nodes*): a
    /// re-creation in place that reads it set skips the ordered set.
    keyed: AtomicBool,
    /// Makes `Slot<T, S>` `Send`/`Sync` exactly when `ChanRef<T, S>` is.
    _owns: PhantomData<ChanRef<T, S>>,
}

/// An id's node in the point index.
type IdNode<K, T, S> = Node<K, Slot<T, S>>;

impl<T, S> Slot<T, S> {
    /// A slot owning one count of `chan`: this takes a new count, so a slot
    /// whose node is never inserted releases only its own.
    fn new(chan: *mut Chan<T, S>) -> Self {
        // SAFETY: `chan` is a live generation; the caller holds a reference.
        let own = unsafe { ChanRef::clone_raw(chan) };
        Slot {
            current: AtomicPtr::new(ChanRef::into_raw(own).cast_mut()),
            keyed: AtomicBool::new(false),
            _owns: PhantomData,
        }
    }

    /// Whether this slot's node is on its way out of the point index (an
    /// insert of its id may take it out: `HashIndex::insert`'s `is_stale`).
    fn is_removed(&self) -> bool {
        self.load() == removed()
    }

    /// Whether a creation through this node has returned from its side of
    /// the ordered set (`Registry::keys_added`). `Acquire`: pairs with
    /// [`mark_keyed`](Self::mark_keyed), so that creation's bump of the
    /// key's version happens before the caller goes on.
    fn is_keyed(&self) -> bool {
        self.keyed.load(Ordering::Acquire)
    }

    /// Records that the caller's `keys_added` for this node's id returned.
    /// `Release`: publishes that bump to [`is_keyed`](Self::is_keyed).
    fn mark_keyed(&self) {
        self.keyed.store(true, Ordering::Release);
    }

    /// `Acquire`: pairs with the release of the insert that published the
    /// slot or of the advancing CAS, so the generation's fields are visible.
    fn load(&self) -> *mut Chan<T, S> {
        self.current.load(Ordering::Acquire)
    }
}

impl<T, S> Drop for Slot<T, S> {
    fn drop(&mut self) {
        // A read-modify-write, not a load: the node holding this slot may be
        // dropped by the epoch's deferred destructor on another thread, and
        // an RMW reads the last value in the slot's modification order (the
        // advancing CAS to `deleted()`) whatever that thread has synchronized
        // with. A plain load is correct only through the reclaimer's own
        // fences, which loom cannot see unless crossbeam-epoch is modelled
        // too; it found this as a double release. Acquire: the generation's
        // contents were published by a release (insert or CAS). (`Relaxed`
        // passes `just orderings`: a node reaches this destructor through
        // the epoch, after the thread that unlinked it, which had acquired
        // it, so the contents are ordered anyway, and the `ChanRef` orders its
        // own release. The `Acquire` is kept: in a destructor it costs
        // nothing, and it does not lean on the epoch.)
        let current = self.current.swap(removed(), Ordering::Acquire);
        if !is_mark(current) {
            // SAFETY: a slot that still holds a generation owns the
            // registry's reference to it (module docs); the slot is being
            // dropped, so nothing can read the pointer again.
            drop(unsafe { ChanRef::from_raw(current) });
        }
    }
}

/// A lock-free map from ids to bounded channels.
///
/// See the [crate documentation](crate) for the contract. All methods take
/// `&self`; share a registry between threads with `Arc` or a `static`.
///
/// Dropping the registry closes every channel still registered: receivers
/// drain what was buffered and then see the channel closed, and `Sender`
/// handles fail with `Closed`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
///
/// use channel_registry::Registry;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// // A `static` or an `Arc` shares one registry between threads.
/// let registry = Arc::new(Registry::<u64, String>::new());
/// let inbox = registry.set(1, 16)?;
/// let workers: Vec<_> = (0..4)
///     .map(|n| {
///         let registry = Arc::clone(&registry);
///         thread::spawn(move || registry.try_send(&1, format!("from {n}")).unwrap())
///     })
///     .collect();
/// for worker in workers {
///     worker.join().unwrap();
/// }
/// assert_eq!(inbox.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry<K, T, S = ()>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    /// The point index: decides whether an id exists (module docs).
    points: HashIndex<K, Slot<T, S>>,
    /// The ordered set of ids, for iteration.
    keys: Keys<K>,
    /// When a delete may leave its id's key in the ordered set (module docs,
    /// *Deleted ids' keys*); `None`: never.
    kept_keys: Option<KeptKeys>,
    /// Point-index nodes whose slot is `deleted()` (module docs, *Deleted
    /// ids' nodes*), striped: written by every delete and re-creation, read
    /// only by `len` and by the decision below, now and then.
    kept_nodes: Striped,
    /// The last worked-out answer of `keep_deleted_key` (module docs,
    /// *Deleted ids' keys*).
    keep_hint: Hint,
}

/// A thread works out `keep_deleted_key` from the counts on one call in
/// this many and takes the cached answer on the others (module docs,
/// *Deleted ids' keys*). Every call under the model checkers, whose
/// scenarios are a few deletes long.
#[cfg(not(any(loom, shuttle)))]
const KEEP_DECISION_EVERY: u32 = 16;
#[cfg(any(loom, shuttle))]
const KEEP_DECISION_EVERY: u32 = 1;

/// A delete leaves its id's key in the ordered set while the set holds at
/// most `per_live × live + extra` keys of deleted ids.
#[derive(Clone, Copy, Debug)]
struct KeptKeys {
    per_live: usize,
    extra: usize,
}

/// The production policy (module docs, *Deleted ids' keys*).
const KEPT_KEYS: KeptKeys = KeptKeys {
    per_live: 2,
    extra: 64,
};

/// What `install` does when the id already has a channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occupied {
    Replace,
    Refuse,
}

impl<K, T, S> Registry<K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    /// An empty registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, String>::new();
    /// assert!(registry.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        Self::with_points(HashIndex::new())
    }

    fn with_points(points: HashIndex<K, Slot<T, S>>) -> Self {
        Registry {
            points,
            keys: Keys::new(),
            kept_keys: Some(KEPT_KEYS),
            kept_nodes: Striped::new(),
            keep_hint: Hint::new(true),
        }
    }

    /// The same registry with another policy for deleted ids' keys:
    /// `None` takes every deleted id's key out of the ordered set at once,
    /// `Some((per_live, extra))` leaves it while the set holds at most
    /// `per_live × live + extra` deleted ids' keys (the default is
    /// `Some((2, 64))`). For the model checkers, which need both the
    /// removal and the keeping paths in scenarios of a few ids; the
    /// contract is the same under every policy.
    #[doc(hidden)]
    pub fn __keep_deleted_keys(mut self, policy: Option<(usize, usize)>) -> Self {
        self.kept_keys = policy.map(|(per_live, extra)| KeptKeys { per_live, extra });
        self
    }

    /// How many keys the ordered set holds (ids with a channel, plus deleted
    /// ids' keys that are kept): for tests of its bound.
    #[doc(hidden)]
    pub fn __ordered_keys(&self) -> usize {
        self.keys.len()
    }

    /// A registry whose point index starts with a fixed, public hash seed,
    /// so that a test can choose ids that collide under it. Not for
    /// production: `new` seeds every registry at random.
    #[doc(hidden)]
    pub fn __with_fixed_seed(seed: u64) -> Self {
        Self::with_points(HashIndex::with_fixed_seed(seed))
    }

    /// How many buckets the point index's table has now: a deterministic
    /// measure of its memory, for tests that it stays bounded under churn.
    #[doc(hidden)]
    pub fn __index_buckets(&self) -> usize {
        self.points.buckets(&sync::pin())
    }

    /// How many migrations the point index has completed: a deterministic
    /// measure of the work of growing it, for tests that filling it stays
    /// linear.
    #[doc(hidden)]
    pub fn __index_migrations(&self) -> u64 {
        self.points.migrations(&sync::pin())
    }

    /// Live entries in the point index, kept nodes of deleted ids included
    /// (module docs, *Deleted ids' nodes*): for tests of their bound.
    #[doc(hidden)]
    pub fn __index_entries(&self) -> usize {
        self.points.live(&sync::pin())
    }

    /// How many buckets past its home bucket `id`'s entry sits in the point
    /// index (`None` if it has none): a deterministic measure of lookup cost,
    /// for tests of collision resistance.
    #[doc(hidden)]
    pub fn __probe_distance(&self, id: &K) -> Option<usize> {
        self.points.probe_distance(id, &sync::pin())
    }

    /// Creates a channel of `capacity` under `id`, replacing (and closing)
    /// any channel already there, and returns its receiver (Go's
    /// `m[id] = make(chan T, capacity)`).
    ///
    /// The replaced channel's receiver still gets every message accepted
    /// into it, then sees it closed. A concurrent send never sees `id` as
    /// absent because of a `set`.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] if `capacity` is 0, above [`MAX_CAPACITY`](crate::MAX_CAPACITY),
    /// or needs a buffer above [`MAX_BUFFER_BYTES`](crate::MAX_BUFFER_BYTES); the
    /// registry is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let old = registry.set(7, 5)?;
    /// registry.try_send(&7, "to the old channel").unwrap();
    /// let new = registry.set(7, 5)?; // replaces and closes `old`
    /// registry.try_send(&7, "to the new channel").unwrap();
    ///
    /// assert_eq!(old.try_recv(), Ok("to the old channel"));
    /// assert!(old.try_recv().is_err()); // drained, then closed
    /// assert_eq!(new.try_recv(), Ok("to the new channel"));
    /// # Ok::<(), channel_registry::CapacityError>(())
    /// ```
    pub fn set(&self, id: K, capacity: usize) -> Result<Receiver<T, S>, CapacityError>
    where
        S: Default,
    {
        let capacity = capacity::check::<T>(capacity)?;
        Ok(self.set_checked(id, capacity, S::default(), false).receiver)
    }

    /// [`set`](Self::set) with `state` for the new generation, reporting
    /// whether the id was created or replaced.
    ///
    /// The state is installed atomically with the channel: every reader
    /// that reaches the new channel (a [`with_state`](Self::with_state), the
    /// receiver, a [`Sender`]) sees this state, and from the moment this
    /// returns no [`with_state`](Self::with_state) sees the replaced
    /// generation's. [`Created::replaced`] hands back the replaced
    /// generation (closed, with its state and what its receiver has yet to
    /// take), or is `None` if the id had no channel.
    ///
    /// # Errors
    ///
    /// For a capacity that `set` refuses, the error and the state come back
    /// in a [`WithState`]; the registry is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str, String>::new();
    /// let created = registry.set_with(1, 5, "tenant a".to_string())?;
    /// assert!(created.replaced.is_none());
    /// assert_eq!(created.receiver.state(), "tenant a");
    /// assert_eq!(registry.with_state(&1, |s| s.len()), Some(8));
    ///
    /// let refused = registry.set_with(2, 0, "bad capacity".to_string()).unwrap_err();
    /// assert_eq!(refused.state, "bad capacity");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_with(
        &self,
        id: K,
        capacity: usize,
        state: S,
    ) -> Result<Created<T, S>, WithState<CapacityError, S>> {
        match capacity::check::<T>(capacity) {
            Ok(capacity) => Ok(self.set_checked(id, capacity, state, true)),
            Err(error) => Err(WithState { error, state }),
        }
    }

    /// `set`'s work; `report` asks for the replaced generation.
    fn set_checked(&self, id: K, capacity: Capacity, state: S, report: bool) -> Created<T, S> {
        let guard = sync::pin();
        let chan = ChanRef::new(capacity, state);
        let receiver = Receiver::new(ChanRef::clone(&chan));
        let installed = self.install(id, chan, Occupied::Replace, &guard);
        // Only `Occupied::Refuse` refuses.
        debug_assert!(!matches!(installed, Installed::Refused(_)));
        let replaced = match installed {
            Installed::Replaced(old) if report => {
                // SAFETY: `old` was the slot's generation under `guard`,
                // which keeps the registry's count alive until it unpins.
                Some(Retired::new(unsafe { ChanRef::clone_raw(old) }))
            }
            _ => None,
        };
        drop(guard);
        reclaim::tear_down_some();
        Created { receiver, replaced }
    }

    /// Creates a channel of `capacity` under `id` only if `id` has none.
    ///
    /// # Errors
    ///
    /// [`RegisterError::Occupied`] if `id` has a channel (even one whose
    /// receiver was dropped), [`RegisterError::Capacity`] for a capacity that
    /// [`set`](Self::set) would refuse. Either way nothing is changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, RegisterError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let first = registry.register(3, 5)?;
    /// // A second register does not replace: the first channel stays.
    /// assert!(matches!(registry.register(3, 5), Err(RegisterError::Occupied)));
    /// registry.try_send(&3, "still the first").unwrap();
    /// assert_eq!(first.try_recv(), Ok("still the first"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&self, id: K, capacity: usize) -> Result<Receiver<T, S>, RegisterError>
    where
        S: Default,
    {
        self.register_with(id, capacity, S::default())
            .map_err(|refused| refused.error)
    }

    /// [`register`](Self::register) with `state` for the new generation.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register)'s, with the state handed back in a
    /// [`WithState`]; the registry is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{RegisterError, Registry};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str, u32>::new();
    /// let inbox = registry.register_with(3, 5, 30)?;
    /// let refused = registry.register_with(3, 5, 31).unwrap_err();
    /// assert_eq!((refused.error, refused.state), (RegisterError::Occupied, 31));
    /// assert_eq!(*inbox.state(), 30); // the first one stays
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_with(
        &self,
        id: K,
        capacity: usize,
        state: S,
    ) -> Result<Receiver<T, S>, WithState<RegisterError, S>> {
        let capacity = match capacity::check::<T>(capacity) {
            Ok(capacity) => capacity,
            Err(e) => {
                return Err(WithState {
                    error: RegisterError::Capacity(e),
                    state,
                });
            }
        };
        let guard = sync::pin();
        let chan = ChanRef::new(capacity, state);
        let receiver_count = ChanRef::clone(&chan);
        let installed = self.install(id, chan, Occupied::Refuse, &guard);
        drop(guard);
        reclaim::tear_down_some();
        match installed {
            Installed::Refused(unused) => {
                // Never published: `install` handed back its count, and
                // the receiver's is the only other one.
                drop(unused);
                Err(WithState {
                    error: RegisterError::Occupied,
                    state: ChanRef::into_unpublished_state(receiver_count),
                })
            }
            _ => Ok(Receiver::new(receiver_count)),
        }
    }

    /// Calls `f` with the state of `id`'s current generation, or returns
    /// `None` if `id` has no channel.
    ///
    /// Linearizable with `set`, `set_with` and `delete` of the same id: once
    /// a `set_with` has returned, no `with_state` sees the generation it
    /// replaced, and once a `delete` has returned, `with_state` returns
    /// `None` (until the id is set again). No reference count is touched:
    /// `f` runs under the epoch pin of this call, so keep it short (a long
    /// `f` delays the reclamation of every retired channel, process-wide).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str, String>::new();
    /// let _inbox = registry.set_with(1, 5, "one".to_string())?;
    /// assert_eq!(registry.with_state(&1, |s| s.clone()), Some("one".to_string()));
    /// assert_eq!(registry.with_state(&2, |s| s.clone()), None);
    /// registry.delete(&1);
    /// assert_eq!(registry.with_state(&1, |s| s.clone()), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_state<R>(&self, id: &K, f: impl FnOnce(&S) -> R) -> Option<R> {
        let guard = sync::pin();
        let node = self.points.get(id, &guard)?;
        // Negative control: reads the slot's generation without finishing a
        // claimed retirement, so a `set_with` that has claimed (and even
        // returned, if a helper is still advancing) may be read past.
        #[cfg(channel_registry_broken = "state_skips_successor")]
        let current = Some(node.value.load()).filter(|&c| !is_mark(c));
        #[cfg(not(channel_registry_broken = "state_skips_successor"))]
        let current = self.current(node, &guard);
        // SAFETY: the slot's generation (or its successor), under `guard`.
        current.map(|chan| f(unsafe { &*chan }.state()))
    }

    /// Removes `id` and closes its channel (Go's `delete(m, id)`). Returns
    /// `false` if `id` had no channel.
    ///
    /// When this returns, the channel is closed: sends into it fail, and a
    /// receiver waiting on it wakes, drains what was buffered, then sees
    /// `Closed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(9, 5)?;
    /// registry.try_send(&9, "sent before the delete").unwrap();
    /// assert!(registry.delete(&9));
    /// assert!(!registry.delete(&9)); // already gone
    ///
    /// assert_eq!(inbox.recv(), Ok("sent before the delete"));
    /// assert!(inbox.recv().is_err()); // then closed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, id: &K) -> bool {
        let deleted = self.delete_pinned(id, &sync::pin());
        reclaim::tear_down_some();
        deleted
    }

    /// `delete`'s work, under `guard`.
    fn delete_pinned(&self, id: &K, guard: &Guard) -> bool {
        loop {
            let Some(node) = self.points.get(id, guard) else {
                return false;
            };
            let current = node.value.load();
            if is_mark(current) {
                return false;
            }
            // SAFETY: loaded from the slot under `guard` (module docs).
            let chan = unsafe { &*current };
            #[cfg(channel_registry_broken = "close_before_claim")]
            chan.close();
            match chan.claim(deleted()) {
                Ok(()) => {
                    self.finish_retire(node, current, deleted(), guard);
                    return true;
                }
                Err(successor) => self.finish_retire(node, current, successor, guard),
            }
        }
    }

    /// Sends `msg` to `id`'s channel without waiting.
    ///
    /// Looking the id up costs an epoch pin and a hash-table probe; the only
    /// shared-memory write on success is the push into the channel.
    ///
    /// # Errors
    ///
    /// The message comes back in [`TrySendError::NoSuchId`], [`Full`](TrySendError::Full)
    /// or [`Closed`](TrySendError::Closed) (the receiver was dropped while
    /// `id` stayed registered).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, TrySendError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, String>::new();
    /// let inbox = registry.set(1, 1)?;
    /// registry.try_send(&1, "one".to_string())?;
    /// // Every failure hands the message back.
    /// match registry.try_send(&1, "two".to_string()) {
    ///     Err(TrySendError::Full(msg)) => assert_eq!(msg, "two"),
    ///     other => panic!("{other:?}"),
    /// }
    /// match registry.try_send(&2, "three".to_string()) {
    ///     Err(TrySendError::NoSuchId(msg)) => assert_eq!(msg, "three"),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(inbox.try_recv(), Ok("one".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, id: &K, msg: T) -> Result<(), TrySendError<T>> {
        let guard = sync::pin();
        let Some(node) = self.points.get(id, &guard) else {
            return Err(TrySendError::NoSuchId(msg));
        };
        let mut current = node.value.load();
        let mut msg = msg;
        loop {
            if is_mark(current) {
                return Err(TrySendError::NoSuchId(msg));
            }
            // SAFETY: `current` was loaded from the slot, or from the
            // `successor` of a generation loaded under the same guard; both
            // stay allocated while `guard` is pinned (module docs).
            let chan = unsafe { &*current };
            match chan.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Full(m)) => return Err(TrySendError::Full(m)),
                Err(PushError::Closed(m)) => {
                    let successor = chan.successor_after_failed_push();
                    if successor.is_null() || cfg!(channel_registry_broken = "no_follow") {
                        return Err(TrySendError::Closed(m));
                    }
                    // Retired after we loaded it: follow it.
                    msg = m;
                    current = successor;
                }
            }
        }
    }

    /// Sends `msg` to `id`'s channel, waiting up to `timeout` for space.
    ///
    /// If the id is replaced while this waits, the send moves to the new
    /// channel; if it is deleted, the send fails with `NoSuchId`. A timeout
    /// too large for `Instant` waits without limit.
    ///
    /// # Errors
    ///
    /// The message comes back in every error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use channel_registry::{Registry, SendTimeoutError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, u32>::new();
    /// let inbox = registry.set(1, 1)?;
    /// registry.send_timeout(&1, 10, Duration::from_millis(10))?;
    /// // Full: waits up to the timeout, then hands the message back.
    /// match registry.send_timeout(&1, 11, Duration::from_millis(10)) {
    ///     Err(SendTimeoutError::Timeout(msg)) => assert_eq!(msg, 11),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(inbox.recv(), Ok(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(
        &self,
        id: &K,
        msg: T,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut wait = SendWait::new();
        match block_on_until(deadline_after(timeout), msg, |msg, waker| {
            self.attempt_send(id, msg, &mut wait, waker)
        }) {
            Ok(done) => done.map_err(SendTimeoutError::from),
            Err(m) => {
                wait.cancel();
                // The deadline passed. The waiting attempts count a slot that
                // a pop is still reading as full (`Chan::push_for_waiter`);
                // that pop may already be ordered before this send, so the
                // verdict comes from one attempt that waits for it.
                #[cfg(channel_registry_broken = "timeout_skips_final_attempt")]
                return Err(SendTimeoutError::Timeout(m));
                #[allow(unreachable_code)]
                match self.try_send(id, m) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(m)) => Err(SendTimeoutError::Timeout(m)),
                    Err(TrySendError::NoSuchId(m)) => Err(SendTimeoutError::NoSuchId(m)),
                    Err(TrySendError::Closed(m)) => Err(SendTimeoutError::Closed(m)),
                }
            }
        }
    }

    /// Sends `msg` to `id`'s channel, waiting asynchronously for space.
    ///
    /// Like [`send_timeout`](Self::send_timeout) without the timeout. Any
    /// executor works. Dropping the future before it completes drops the
    /// message unsent.
    ///
    /// # Panics
    ///
    /// The future panics if polled again after it returned `Ready`.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// use futures_lite::future::block_on;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// // Any executor: here futures-lite's `block_on`.
    /// block_on(registry.send_async(&1, "hello"))?;
    /// assert_eq!(block_on(inbox.recv_async()), Ok("hello"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_async<'a>(&'a self, id: &'a K, msg: T) -> RoutedSendFut<'a, K, T, S> {
        RoutedSendFut {
            registry: self,
            id,
            msg: Some(msg),
            wait: SendWait::new(),
        }
    }

    /// One attempt of a waiting send, re-routed on every call.
    fn attempt_send(
        &self,
        id: &K,
        mut msg: T,
        wait: &mut SendWait<T, S>,
        waker: &std::task::Waker,
    ) -> Attempt<Result<(), SendError<T>>, T> {
        let guard = sync::pin();
        let mut current = match self.points.get(id, &guard) {
            Some(node) => node.value.load(),
            None => deleted(),
        };
        loop {
            if is_mark(current) {
                wait.cancel();
                return Attempt::Done(Err(SendError::NoSuchId(msg)));
            }
            // SAFETY: `current` is a generation kept alive by `guard`
            // (as in `try_send`), for the whole call.
            match unsafe { wait.attempt_raw(current, msg, waker) } {
                Attempt::Waiting(m) => return Attempt::Waiting(m),
                Attempt::Done(Ok(())) => return Attempt::Done(Ok(())),
                Attempt::Done(Err(Closed(m))) => {
                    // SAFETY: as above.
                    let successor = unsafe { &*current }.successor_after_failed_push();
                    if successor.is_null() {
                        return Attempt::Done(Err(SendError::Closed(m)));
                    }
                    msg = m;
                    current = successor;
                }
            }
        }
    }

    /// A handle to `id`'s current channel, or `None` if `id` has none.
    ///
    /// Sends through the handle skip the lookup. The handle stays bound to
    /// this channel: once `id` is deleted or replaced, its sends fail with
    /// `Closed` and hand the message back; fetch a new handle then.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::{Registry, TrySendError};
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, &str>::new();
    /// let inbox = registry.set(1, 5)?;
    /// let handle = registry.sender(&1).expect("id 1 has a channel");
    /// handle.try_send("no lookup")?;
    /// assert_eq!(inbox.try_recv(), Ok("no lookup"));
    ///
    /// // Replacing the id closes the handle's channel: fetch a new handle.
    /// let _new_inbox = registry.set(1, 5)?;
    /// assert!(matches!(handle.try_send("late"), Err(TrySendError::Closed("late"))));
    /// assert!(registry.sender(&2).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sender(&self, id: &K) -> Option<Sender<T, S>> {
        let guard = sync::pin();
        let node = self.points.get(id, &guard)?;
        let current = self.current(node, &guard)?;
        // SAFETY: `current` carries the registry's count and stays alive
        // under `guard`.
        Some(Sender::new(unsafe { ChanRef::clone_raw(current) }))
    }

    /// Whether `id` has a channel (possibly one whose receiver was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// let inbox = registry.set(1, 5)?;
    /// assert!(registry.contains(&1));
    /// drop(inbox); // the id stays registered
    /// assert!(registry.contains(&1));
    /// registry.delete(&1);
    /// assert!(!registry.contains(&1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains(&self, id: &K) -> bool {
        let guard = sync::pin();
        // Negative control: reads the slot alone, so a generation that is
        // claimed and closed but not yet advanced past still counts.
        #[cfg(channel_registry_broken = "contains_skips_successor")]
        return self
            .points
            .get(id, &guard)
            .is_some_and(|node| !is_mark(node.value.load()));
        #[allow(unreachable_code)]
        match self.points.get(id, &guard) {
            Some(node) => self.current(node, &guard).is_some(),
            None => false,
        }
    }

    /// The number of ids with a channel.
    ///
    /// Exact when no `set`, `register` or `delete` runs concurrently; while
    /// they do, a snapshot that may be off by the operations in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// let _a = registry.set(1, 5)?;
    /// let _b = registry.set(2, 5)?;
    /// let _c = registry.set(2, 5)?; // a replace: still two ids
    /// assert_eq!(registry.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        // The point index's own counts (its live entries), not a count of
        // the registry's: a shared word written on every create and delete
        // cost churn throughput (`crate::stripes`).
        self.live_ids(&sync::pin())
    }

    /// Whether no id has a channel (same caveat as [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// assert!(registry.is_empty());
    /// let _inbox = registry.set(1, 5)?;
    /// assert!(!registry.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids with a channel, in ascending order.
    ///
    /// The iterator pins no epoch between items: it resumes after the last id
    /// it returned. It sees every id present for its whole run whose
    /// creating `set` or `register` had returned when it began (a creation
    /// still running may be missed), never one twice, and may or may not see
    /// ids added or removed meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// let _inboxes: Vec<_> = [30, 10, 20].into_iter().map(|id| registry.set(id, 1)).collect();
    /// registry.delete(&20);
    /// assert_eq!(registry.ids().collect::<Vec<_>>(), [10, 30]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> Ids<'_, K, T, std::ops::RangeFull, S> {
        self.ids_in(..)
    }

    /// The ids within `range`, in ascending order (see [`ids`](Self::ids)).
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, ()>::new();
    /// let _inboxes: Vec<_> = (0..10).map(|id| registry.set(id, 1)).collect();
    /// assert_eq!(registry.ids_in(3..6).collect::<Vec<_>>(), [3, 4, 5]);
    /// assert_eq!(registry.ids_in(8..).collect::<Vec<_>>(), [8, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids_in<R: RangeBounds<K>>(&self, range: R) -> Ids<'_, K, T, R, S> {
        Ids {
            registry: self,
            range,
            last: None,
            done: false,
        }
    }

    /// Installs the generation `chan` under `id`, handing the new node's
    /// slot or the old generation's `successor` one count of it. With
    /// `Occupied::Refuse`, does nothing if `id` has a channel.
    ///
    /// `chan` stays an owned `ChanRef` until the one instruction that transfers
    /// its reference (a successful claim), so a panic on the way (a `Hash` or
    /// `Ord` that panics inside an index) leaks nothing.
    ///
    /// The caller pins `guard` *before* it builds `chan`: the pin's fence
    /// then never stands between building the generation and publishing it,
    /// so only the publishing CAS (the index insert's or the claim's
    /// release) can make it visible, and under loom the ordering sweep
    /// (`just orderings`) sees a weakened one (`sync::Built`).
    fn install(
        &self,
        id: K,
        chan: ChanRef<T, S>,
        occupied: Occupied,
        guard: &Guard,
    ) -> Installed<T, S> {
        let chan_ptr = ChanRef::as_ptr(&chan).cast_mut();
        loop {
            let Some(node) = self.points.get(&id, guard) else {
                // Absent: insert a node whose slot takes its own count. The
                // point index reports exactly whether this node got in.
                let node = Box::new(Node::new(id.clone(), Slot::new(chan_ptr)));
                match self.points.insert(node, Slot::is_removed, guard) {
                    Ok(node) => {
                        self.keys_added(&id, guard);
                        node.value.mark_keyed();
                        return Installed::Created;
                    }
                    // Another insert of `id` got in first: drop our node
                    // (its slot releases its own count) and look again.
                    Err((_, unused)) => {
                        drop(unused);
                        continue;
                    }
                }
            };
            let current = node.value.load();
            if current == removed() {
                // On its way out of the point index: take it out
                // (idempotent), so the next round inserts a new node.
                self.points.remove(node, guard);
                continue;
            }
            if current == deleted() {
                // A deleted id whose node was kept (module docs, *Deleted
                // ids' nodes*): re-create it in place. Success `Release`:
                // publishes the generation to `Slot::load`'s `Acquire`, as
                // the insert's CAS does for a new node; nothing to acquire
                // (the slot held a mark). Failure `Relaxed`: the slot is
                // loaded again with `Acquire` on the next round.
                let won = if cfg!(channel_registry_broken = "recreate_by_store") {
                    // Negative control: a check-then-store, which overwrites
                    // a racing re-creation (its generation is never closed
                    // or released) or a `take_out`'s mark (the id is
                    // unlinked right after it was created).
                    node.value.current.store(chan_ptr, Ordering::Release);
                    true
                } else {
                    node.value
                        .current
                        .compare_exchange(deleted(), chan_ptr, Ordering::Release, Ordering::Relaxed)
                        .is_ok()
                };
                if won {
                    // The slot now owns our count.
                    let _ = ChanRef::into_raw(chan);
                    self.kept_nodes.add(-1);
                    // The ordered set's side, unless a creation through
                    // this node already did it (module docs, *Deleted ids'
                    // nodes*): then the key is there and stays while the
                    // node does. Negative control `recreate_skips_keys`:
                    // never, so a re-creation can return while the key that
                    // the node's first creation has not yet bumped is being
                    // taken out.
                    if !cfg!(channel_registry_broken = "recreate_skips_keys")
                        && !node.value.is_keyed()
                    {
                        self.keys_added(&id, guard);
                        node.value.mark_keyed();
                    }
                    return Installed::Created;
                }
                continue;
            }
            // SAFETY: loaded from the slot under `guard`.
            let old = unsafe { &*current };
            if occupied == Occupied::Refuse {
                let successor = old.successor();
                if successor.is_null() {
                    return Installed::Refused(chan);
                }
                self.finish_retire(node, current, successor, guard);
                continue;
            }
            match old.claim(chan_ptr) {
                Ok(()) => {
                    // The claimed `successor` now carries our count.
                    let _ = ChanRef::into_raw(chan);
                    self.finish_retire(node, current, chan_ptr, guard);
                    return Installed::Replaced(current);
                }
                Err(successor) => self.finish_retire(node, current, successor, guard),
            }
        }
    }

    /// The ordered set's side of a creation (module docs, *Two indexes*):
    /// after the point-index write, make sure the key is in the set, in an
    /// entry that no removal still deciding can take out
    /// (`crate::index::version`).
    fn keys_added(&self, id: &K, guard: &Guard) {
        self.keys.touch(id, guard);
    }

    /// The ordered set's side of a removal (module docs, *Two indexes*):
    /// take `id`'s key out unless the point index holds a node of the id
    /// that needs it (one with a generation, or a kept node), or a creation
    /// touches the key meanwhile (`crate::index::version`).
    fn keys_removed(&self, id: &K, guard: &Guard) {
        self.keys
            .remove_unless(id, || self.needs_key(id, guard), guard);
    }

    /// Whether the point index holds a node of `id` that is not on its way
    /// out: a live id's, or a kept node (whose key stays with it).
    fn needs_key(&self, id: &K, guard: &Guard) -> bool {
        self.points
            .get(id, guard)
            .is_some_and(|node| !node.value.is_removed())
    }

    /// Takes a deleted id's kept node out of the point index (module docs,
    /// *Deleted ids' nodes*): marks its slot `removed()`, then removes the
    /// entry. Returns `false`, and does nothing, if the slot no longer
    /// holds `deleted()`: the id was re-created in place, or another thread
    /// is taking the node out.
    fn take_out(&self, node: &IdNode<K, T, S>, guard: &Guard) -> bool {
        // Negative control `take_out_skips_mark`: removing the entry without
        // the mark unlinks a node that a `set` re-created in place meanwhile,
        // and the id it just created vanishes.
        if !cfg!(channel_registry_broken = "take_out_skips_mark")
            // `Relaxed` both ways: the mark carries no data, and nothing
            // read after it depends on this thread's earlier writes. A
            // thread that reads `removed()` only removes the entry, whose
            // own CAS decides; the CAS itself is what makes the mark and a
            // re-creation in place exclusive (both read `deleted()`, and only
            // one RMW can).
            && node
                .value
                .current
                .compare_exchange(deleted(), removed(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        self.kept_nodes.add(-1);
        self.points.remove(node, guard);
        true
    }

    /// Ids that exist: the point index's live entries, less the deleted
    /// ids' nodes it still holds (both estimates, exact when no create or
    /// delete is in flight).
    fn live_ids(&self, guard: &Guard) -> usize {
        self.points
            .live(guard)
            .saturating_sub(self.kept_nodes.sum())
    }

    /// Whether a delete may leave its id's key in the ordered set, and its
    /// node in the point index (module docs, *Deleted ids' keys*). Called
    /// before the delete advances the slot: the id being deleted is counted
    /// as a deleted one, not a live one.
    fn keep_deleted_key(&self, guard: &Guard) -> bool {
        let Some(kept) = self.kept_keys else {
            return false;
        };
        // Summing the stripes reads lines that other threads write, so a
        // thread does it on one call in `KEEP_DECISION_EVERY` and takes the
        // last answer on the others: a delete then writes no shared word
        // but its stripe. The bound can overshoot by at most that many
        // deletes per deleting thread (module docs).
        if !stripes::one_in(KEEP_DECISION_EVERY) {
            return self.keep_hint.get();
        }
        let live = self.live_ids(guard).saturating_sub(1);
        let deleted_keys = self.keys.len().saturating_sub(live);
        let keep = deleted_keys
            <= kept
                .per_live
                .saturating_mul(live)
                .saturating_add(kept.extra);
        self.keep_hint.set(keep);
        keep
    }

    /// The slot's current generation, finishing any retirement in progress
    /// first; `None` if the id is deleted.
    fn current(&self, node: &IdNode<K, T, S>, guard: &Guard) -> Option<*mut Chan<T, S>> {
        loop {
            let current = node.value.load();
            if is_mark(current) {
                return None;
            }
            // SAFETY: loaded from the slot under `guard`.
            let successor = unsafe { &*current }.successor();
            if successor.is_null() {
                return Some(current);
            }
            self.finish_retire(node, current, successor, guard);
        }
    }

    /// Steps 2 and 3 of a retirement (module docs): close `old`, advance the
    /// slot to `successor`, and, if this thread advanced it, defer the
    /// release of `old` and take a deleted id out of both indexes.
    /// Idempotent.
    fn finish_retire(
        &self,
        node: &IdNode<K, T, S>,
        old: *mut Chan<T, S>,
        successor: *mut Chan<T, S>,
        guard: &Guard,
    ) {
        // SAFETY: `old` was loaded from this slot under `guard`.
        #[cfg(not(any(
            channel_registry_broken = "skip_close",
            channel_registry_broken = "close_after_advance"
        )))]
        unsafe { &*old }.close();
        // `Release` on success: publishes the successor to `Slot::load`,
        // which acquires. No acquire half: every caller loaded `old` from
        // this slot with `Acquire` and the successor from the claim with
        // `Acquire`, and a slot only moves forward, so this CAS reads the
        // very store the caller already acquired. (It was `AcqRel`; `just
        // orderings` passed `Release`, and this is why.) `just orderings`
        // passes `Acquire` too: the close above runs a `SeqCst` fence
        // (`notify_all_sides`), which publishes the successor as well; the CAS
        // keeps its own release rather than lean on the wake-up code.
        // Failure: another thread advanced it; nothing to read.
        //
        // A delete whose node may not stay (module docs, *Deleted ids'
        // nodes*) advances the slot straight to `removed()`: the mark comes
        // with the advance, so no re-creation in place can slip in between
        // (and it is one atomic step, not two). Whichever thread advances
        // decides, from the same counts.
        let target = if successor == deleted() && !self.keep_deleted_key(guard) {
            removed()
        } else {
            successor
        };
        let advanced = node
            .value
            .current
            .compare_exchange(old, target, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        if !advanced {
            return;
        }
        // Negative control: only the thread that advances the slot closes,
        // so a claimer whose retirement a helper advanced returns before the
        // helper has closed the old generation.
        #[cfg(channel_registry_broken = "close_after_advance")]
        // SAFETY: as above.
        unsafe { &*old }.close();
        crate::sync::retire_fence();
        // SAFETY: the slot no longer points at `old`, and nothing else that a
        // thread pinning from now on can reach does (module docs); the
        // registry's count of it is released after every current pin ends,
        // by `release_generation`, on any thread (`Chan<T, S>` is `Send + Sync`
        // for `T: Send`). Deferred *before* the id leaves the indexes below:
        // that runs the user's `Hash` and `Ord`, which may panic, and the
        // release must not be skipped.
        // SAFETY: `old` is alive under `guard`.
        let bytes = unsafe { &*old }.bytes();
        // SAFETY: as above.
        unsafe { reclaim::defer(guard, old.cast(), bytes, release_generation::<T, S>) };
        if target == deleted() {
            self.kept_nodes.add(1);
        } else if target == removed() {
            self.points.remove(node, guard);
            self.keys_removed(node.key(), guard);
        }
    }
}

/// Releases the registry's count of a retired generation (`reclaim::defer`).
///
/// # Safety
///
/// `ptr` is a `ChanRef::into_raw` pointer whose reference the registry
/// owned, released once.
unsafe fn release_generation<T, S>(ptr: *mut ()) {
    // SAFETY: the caller's contract.
    drop(unsafe { ChanRef::from_raw(ptr.cast::<Chan<T, S>>()) });
}

/// What `install` did.
enum Installed<T, S> {
    /// The id had no channel.
    Created,
    /// It replaced this generation, which stays alive under the caller's
    /// guard.
    Replaced(*mut Chan<T, S>),
    /// The id is occupied and the caller said not to replace
    /// (`Occupied::Refuse`): the new generation's count, handed back.
    Refused(ChanRef<T, S>),
}

impl<K, T, S> Default for Registry<K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, T, S> Drop for Registry<K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    fn drop(&mut self) {
        // Close every generation still registered, so receivers and handles
        // learn that no sender can reach them any more. `&mut self`: no other
        // thread uses the indexes; the slots release their counts when the
        // point index drops its nodes.
        self.points.for_each_live(|node| {
            // `Relaxed`: `&mut self` already orders every write to the
            // registry before this drop. (It was `Acquire`; `just orderings`
            // passed `Relaxed`.)
            let current = node.value.current.load(Ordering::Relaxed);
            if !is_mark(current) {
                // SAFETY: the slot owns a count of `current`.
                unsafe { &*current }.close();
            }
        });
    }
}

impl<K, T, S> std::fmt::Debug for Registry<K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Future of [`Registry::send_async`].
///
/// # Examples
///
/// ```
/// use channel_registry::Registry;
/// use futures_lite::future::block_on;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, &str>::new();
/// let inbox = registry.set(1, 5)?;
/// let send = registry.send_async(&1, "routed"); // a `RoutedSendFut`
/// block_on(send)?;
/// assert_eq!(inbox.try_recv(), Ok("routed"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RoutedSendFut<'a, K, T, S = ()>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    registry: &'a Registry<K, T, S>,
    id: &'a K,
    msg: Option<T>,
    wait: SendWait<T, S>,
}

impl<K, T, S> Unpin for RoutedSendFut<'_, K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
}

impl<K, T, S> std::future::Future for RoutedSendFut<'_, K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    type Output = Result<(), SendError<T>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(msg) = this.msg.take() else {
            panic!("channel-registry: send future polled after completion");
        };
        this.registry
            .attempt_send(this.id, msg, &mut this.wait, cx.waker())
            .into_poll(&mut this.msg)
    }
}

impl<K, T, S> std::fmt::Debug for RoutedSendFut<'_, K, T, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedSendFut")
            .field("pending", &self.msg.is_some())
            .finish_non_exhaustive()
    }
}

/// Iterator of [`Registry::ids`] and [`Registry::ids_in`].
///
/// # Examples
///
/// ```
/// use channel_registry::Registry;
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, ()>::new();
/// let _inboxes: Vec<_> = (0..5).map(|id| registry.set(id, 1)).collect();
/// let mut ids = registry.ids();
/// assert_eq!(ids.next(), Some(0));
/// registry.delete(&1); // removed while iterating: not returned
/// assert_eq!(ids.collect::<Vec<_>>(), [2, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ids<'a, K, T, R, S = ()>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    registry: &'a Registry<K, T, S>,
    range: R,
    last: Option<K>,
    done: bool,
}

impl<K, T, R, S> Iterator for Ids<'_, K, T, R, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
    R: RangeBounds<K>,
{
    type Item = K;

    fn next(&mut self) -> Option<K> {
        if self.done {
            return None;
        }
        let guard = sync::pin();
        let registry = self.registry;
        let mut key = match &self.last {
            Some(last) => registry.keys.first(Bound::Excluded(last), &guard),
            None => registry.keys.first(self.range.start_bound(), &guard),
        };
        while let Some(k) = key {
            if !self.range.contains(k) {
                break;
            }
            // The ordered set is a hint: the point index decides.
            let node = registry.points.get(k, &guard);
            if node.is_some_and(|node| registry.current(node, &guard).is_some()) {
                self.last = Some(k.clone());
                return self.last.clone();
            }
            // A deleted id's node, if it was kept (module docs, *Deleted ids'
            // nodes*): take it out, unless the id is being re-created in
            // place (then `take_out` does nothing).
            if let Some(node) = node {
                registry.take_out(node, &guard);
            }
            // A deleted id's key (module docs, *Deleted ids' keys*): take it
            // out, unless the id was re-created meanwhile. `k` stays valid: the set frees keys through the
            // epoch, and `guard` is pinned.
            #[cfg(not(channel_registry_broken = "ids_cleanup_skips_check"))]
            registry.keys_removed(k, &guard);
            // Negative control: the removal without asking the point index,
            // so a key that an id re-created in place needs goes too.
            #[cfg(channel_registry_broken = "ids_cleanup_skips_check")]
            registry.keys.remove_unless(k, || false, &guard);
            key = registry.keys.first(Bound::Excluded(k), &guard);
        }
        self.done = true;
        None
    }
}

impl<K, T, R, S> std::fmt::Debug for Ids<'_, K, T, R, S>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
