//! What `ids` lists while the same id is deleted and created again.
//!
//! The linearizability checker of the other suites accepts any listing
//! (`ids` is not an atomic snapshot, so the shared model cannot say which
//! listing is right at one point), so these scenarios check the listing
//! guarantee directly: an id that exists for the whole of an `ids` run, and
//! whose creating call had returned before the run began, is listed.
//!
//! Each scenario ends with a question about the final state that tells
//! whether the id existed throughout: if a `delete` raced the `set` and the
//! id exists at the end, the delete came first, so the id existed from the
//! `set`'s return on, and the thread's own `ids` after that `set` must list
//! it. Run with every spawn order (the harness's reason: loom's DPOR misses
//! some reorderings of the first schedule; `LOOM_SPAWN_ORDERS=first` keeps
//! only the written one) at preemption bound 3 (`LOOM_MAX_PREEMPTIONS`
//! overrides it).
#![cfg(loom)]

use channel_registry::Registry;
use loom::sync::Arc;
use loom::thread;

type Ids = Arc<Registry<u64, u32>>;

/// What a scenario's check found wrong, if anything.
type Verdict = Result<(), String>;

/// Runs `a` and `b` on two threads of a fresh registry made by `setup`,
/// then `check(registry, a's result, b's result)`, in every interleaving up
/// to the bound and with both spawn orders. A failed check panics after the
/// execution's teardown (a panic with the registry alive would drop it
/// outside the execution).
fn two_threads<A, B>(
    setup: fn() -> Registry<u64, u32>,
    a: fn(&Ids) -> A,
    b: fn(&Ids) -> B,
    check: fn(&Ids, &A, &B) -> Verdict,
) where
    A: Send + 'static,
    B: Send + 'static,
{
    let first_only = std::env::var("LOOM_SPAWN_ORDERS").is_ok_and(|v| v == "first");
    for b_first in [false, true]
        .into_iter()
        .take(if first_only { 1 } else { 2 })
    {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(move || {
            let registry: Ids = Arc::new(setup());
            let spawn_a = |registry: &Ids| {
                let registry = registry.clone();
                thread::spawn(move || a(&registry))
            };
            let spawn_b = |registry: &Ids| {
                let registry = registry.clone();
                thread::spawn(move || b(&registry))
            };
            let (ta, tb) = if b_first {
                let tb = spawn_b(&registry);
                (spawn_a(&registry), tb)
            } else {
                let ta = spawn_a(&registry);
                (ta, spawn_b(&registry))
            };
            let ra = ta.join().unwrap();
            let rb = tb.join().unwrap();
            let verdict = check(&registry, &ra, &rb);
            // Tear down inside the execution, as the harness does.
            drop((ra, rb, registry));
            channel_registry::reclaim();
            if let Err(why) = verdict {
                panic!("{why}");
            }
        });
    }
}

/// A registry where id 1 was created and deleted, its node and key kept.
fn deleted_and_kept() -> Registry<u64, u32> {
    let registry = Registry::new();
    drop(registry.set(1, 1).unwrap());
    assert!(registry.delete(&1));
    registry
}

/// Creates id 1 and lists the ids: the listing is checked in `check`.
fn set_then_ids(registry: &Ids) -> Vec<u64> {
    drop(registry.set(1, 1).unwrap());
    registry.ids().collect()
}

/// A delete that takes the id's key out of the ordered set races a `set`
/// that creates the id again and then lists: the delete's removal must not
/// take out the key that the finished `set` found in the set. (The first
/// protocol removed the key, then looked again and put it back; the `ids`
/// in between missed the id.) Catches `touch_without_bump` and
/// `remove_without_claim`.
#[test]
fn delete_vs_set_then_ids() {
    two_threads(
        || {
            let registry = Registry::new().__keep_deleted_keys(None);
            drop(registry.set(1, 1).unwrap());
            registry
        },
        |registry| registry.delete(&1),
        set_then_ids,
        |registry, deleted, listed| {
            if !deleted {
                return Err("the delete did not find id 1".into());
            }
            if registry.contains(&1) && listed != &[1] {
                return Err(format!(
                    "id 1 existed from the set's return on (the delete came first), \
                     but the ids() after it listed {listed:?}"
                ));
            }
            Ok(())
        },
    );
}

/// Id 1 was deleted with its node and key kept. One thread's `ids` finds
/// the key of a deleted id and takes it out, while another thread creates
/// the id again in its kept node and then lists: nothing deletes the id
/// after that, so the second listing must have it. Catches
/// `ids_cleanup_skips_check`.
#[test]
fn ids_cleanup_vs_set_then_ids() {
    two_threads(
        deleted_and_kept,
        |registry| registry.ids().collect::<Vec<u64>>(),
        set_then_ids,
        |registry, _, listed| {
            let at_rest: Vec<u64> = registry.ids().collect();
            if !registry.contains(&1) || listed != &[1] || at_rest != [1] {
                return Err(format!(
                    "id 1 was created before the ids() and never deleted, \
                     but it listed {listed:?} (at rest: {at_rest:?})"
                ));
            }
            Ok(())
        },
    );
}

/// Both sides of one id's key at once: a delete that takes the key out and
/// a creation through a new node, then a listing on each thread. At the end
/// the ordered set agrees with the point index.
#[test]
fn delete_then_ids_vs_set_then_ids() {
    two_threads(
        || {
            let registry = Registry::new().__keep_deleted_keys(None);
            drop(registry.set(1, 1).unwrap());
            registry
        },
        |registry| {
            registry.delete(&1);
            registry.ids().collect::<Vec<u64>>()
        },
        set_then_ids,
        |registry, _, listed| {
            let exists = registry.contains(&1);
            if exists && listed != &[1] {
                return Err(format!(
                    "id 1 exists at the end (the delete came first), but the ids() \
                     after the set listed {listed:?}"
                ));
            }
            let at_rest: Vec<u64> = registry.ids().collect();
            if at_rest != if exists { vec![1] } else { vec![] } {
                return Err(format!(
                    "at rest, ids() lists {at_rest:?}, contains(&1) = {exists}"
                ));
            }
            Ok(())
        },
    );
}

/// Id 1 was deleted with its node and key kept. One thread's `ids` passes
/// the deleted id and takes its node and key out, while the other thread's
/// `set` inserts a new node; before that `set` has seen to the key, the
/// first thread deletes the id (the new node is kept) and creates it again
/// in that node, then lists. If the first thread's `set` created the id
/// (it did not replace the other `set`'s channel), the id existed from its
/// return on, so the listing must have it: a re-creation in place may skip
/// the ordered set only once a creation through the node has done its side.
/// (If it replaced, the id's creating call may still be running, and the
/// guarantee does not cover it.) Catches `recreate_skips_keys`.
#[test]
fn ids_cleanup_then_recreate_vs_set() {
    two_threads(
        deleted_and_kept,
        |registry| {
            let _: Vec<u64> = registry.ids().collect();
            registry.delete(&1);
            let created = registry.set_with(1, 1, ()).unwrap();
            let listed: Vec<u64> = registry.ids().collect();
            (created.replaced.is_none(), listed)
        },
        |registry| drop(registry.set(1, 1).unwrap()),
        |registry, (created, listed), ()| {
            let at_rest: Vec<u64> = registry.ids().collect();
            if (*created && listed != &[1]) || at_rest != [1] {
                return Err(format!(
                    "id 1 was created by a set that returned before the last ids() and \
                     never deleted after, but it listed {listed:?} (at rest: {at_rest:?})"
                ));
            }
            Ok(())
        },
    );
}
