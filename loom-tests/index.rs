//! Scenarios of the point index (`src/index/hash.rs`): migrations (resizes)
//! racing lookups, removals and other migrations, on the real registry.
//!
//! Under the model checkers the index starts at 4 buckets, migrates once an
//! insert would fill more than 3 of them, and migrates in chunks of 2
//! buckets. So with ids 1, 2 and 3 live, a `set` of a new id starts a
//! migration, and two such `set`s help each other migrate. Every
//! scenario ends with `contains` for every id and `ids()` at quiescence
//! (`harness/src/lib.rs`), so an id lost or duplicated by a migration, or left
//! out of the ordered set, fails it.
//!
//! Bounds: a migration is dozens of atomic steps per thread, so only the
//! scenario whose other thread only reads runs with no preemption bound
//! (two migrating threads did not finish in 5 minutes unbounded). Each
//! scenario's bound is written at its `check`, chosen to keep the suite
//! within CI's time; every negative control of the index needs one
//! preemption (a helper stopped in the middle of a migration).
//! `LOOM_MAX_PREEMPTIONS` raises them (`LOOM_MAX_PREEMPTIONS=3 just
//! loom-release` takes much longer).
#![cfg(any(loom, shuttle))]

use scenario_harness::{Bound, Op, Scenario};

fn ids(name: &'static str, initial: &[u64], threads: Vec<Vec<Op>>) -> Scenario {
    Scenario {
        name,
        cap: 1,
        initial: initial.iter().map(|id| (*id, vec![])).collect(),
        threads,
        ..Default::default()
    }
}

/// A `set` of a new id migrates the table that holds a live id, while
/// another thread sends to that id and asks for it: both must find it
/// whatever state its bucket is in (not yet frozen, frozen, copied, moved).
/// Catches `get_skips_moved`.
#[test]
fn migration_vs_try_send_then_contains() {
    ids(
        "index: set(new) || try_send,contains",
        &[1, 2, 3],
        vec![vec![Op::Set(4)], vec![Op::TrySend(1, 10), Op::Contains(1)]],
    )
    .check(Bound::Exhaustive);
}

/// Two `set`s of new ids both start (or join) a migration of a table with
/// live ids: each helper must redo a chunk that the other claimed and has
/// not finished before it moves the root, or the ids in that chunk are
/// missing from the new root until the other helper's copies land. The
/// thread that returns from its `set` then asks for every live id. Catches
/// `swap_before_claimed_done`.
#[test]
fn two_migrations_help_each_other() {
    ids(
        "index: set(new) || set(new),contains x3",
        &[1, 2, 3],
        vec![
            vec![Op::Set(4)],
            vec![
                Op::Set(5),
                Op::Contains(1),
                Op::Contains(2),
                Op::Contains(3),
            ],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// A delete tombstones its id while a `set` of another id migrates the
/// table: the tombstone must not be lost to the migration (a deleted id
/// coming back), and the delete must not report a live id as absent.
#[test]
fn delete_vs_migration() {
    ids(
        "index: delete || set(new),contains",
        &[1, 2, 3],
        vec![vec![Op::Delete(1)], vec![Op::Set(4), Op::Contains(1)]],
    )
    .check(Bound::Preemptions(3));
}

/// Delete and re-create one id while a third thread creates another: the
/// re-creation inserts a new node into a table whose old entry is a
/// tombstone or is being migrated, and the ordered set must end up listing
/// exactly the ids that exist. Catches `touch_without_bump` and
/// `remove_without_claim`.
#[test]
fn delete_vs_set_vs_migration() {
    ids(
        "index: delete || set || set(new)",
        &[1, 2, 3],
        vec![vec![Op::Delete(1)], vec![Op::Set(1)], vec![Op::Set(4)]],
    )
    .check(Bound::Preemptions(1));
}

/// Two creations of one new id, next to a live id: each insert first starts
/// (or helps) the migration, then they race for the id's bucket in the new
/// table; exactly one creates, and the live id survives.
#[test]
fn racing_creations_during_migration() {
    ids(
        "index: set(new) || register(new)",
        &[1, 2, 3],
        vec![vec![Op::Set(4)], vec![Op::Register(4)]],
    )
    .check(Bound::Preemptions(1));
}

/// A creation that has found its empty bucket and passed the load check,
/// while another thread fills the table and migrates it: the bucket must be
/// frozen before the migration moves on, so that the creation's insert
/// fails there and is redone in the new table. Catches `freeze_skips_empty`
/// (the creation's id is lost when the root moves, and `contains` misses
/// it after `set` returned). Bound 2: at bound 1 it caught the control only
/// while `set` did one more atomic step (a shared count of live ids, since
/// removed), which gave loom the preemption point the bug needs.
#[test]
fn creation_vs_another_threads_migration() {
    ids(
        "index: set,set(migrates) || set,contains",
        &[1, 2],
        vec![
            vec![Op::Set(3), Op::Set(4)],
            vec![Op::Set(5), Op::Contains(5)],
        ],
    )
    .check(Bound::Preemptions(2));
}

/// A deleted id's key stays in the ordered set (the keeping path): `ids()`
/// finds it, sees the id absent and takes the key out, while another thread
/// re-creates the id, whose creation finds the key still there and adds
/// nothing but a version bump. The removal must see the bump, or the id
/// it sees in the point index, and leave the key, or the id exists and
/// `ids()` never lists it again. Catches `ids_cleanup_skips_check`,
/// `touch_without_bump` and `remove_without_claim`.
#[test]
fn ids_cleanup_vs_re_creation() {
    Scenario {
        keep_deleted_keys: true,
        ..ids(
            "index, keys kept: delete,ids || set",
            &[1, 2],
            vec![vec![Op::Delete(1), Op::Ids], vec![Op::Set(1)]],
        )
    }
    .check(Bound::Preemptions(3));
}

/// Deleted ids' keys kept while ids are re-created and deleted again
/// around a migration: whatever the set holds, `ids()` at quiescence lists
/// exactly the ids that exist.
#[test]
fn kept_keys_vs_migration() {
    Scenario {
        keep_deleted_keys: true,
        ..ids(
            "index, keys kept: delete,set || set(new),delete",
            &[1, 2, 3],
            vec![
                vec![Op::Delete(1), Op::Set(1)],
                vec![Op::Set(4), Op::Delete(1)],
            ],
        )
    }
    .check(Bound::Preemptions(1));
}
