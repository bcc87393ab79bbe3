#![cfg(not(any(loom, shuttle)))]
//! A delete may leave its id's node in the point index, with the slot
//! marked deleted, and a later `set` re-creates the id in that node
//! (`src/registry.rs`, *Deleted ids' nodes*). These tests hold it to what
//! the module docs promise: churn over a fixed set of ids never migrates
//! the index, kept nodes stay within the deleted ids' keys' bound, `len`
//! does not count them, and `ids` takes out the ones it passes. Read with
//! the hidden `__index_entries` and `__index_migrations` (deterministic
//! counts, no timing).

use channel_registry::{RegisterError, Registry};

/// A xorshift step: the same churn every run.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn churn_over_a_fixed_set_of_ids_never_migrates_the_index() {
    let registry = Registry::<u64, u32>::new();
    let ids = 1_024u64;
    for id in 0..ids {
        drop(registry.set(id, 5).unwrap());
    }
    let migrations = registry.__index_migrations();
    let mut live = vec![true; ids as usize];
    let mut x = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200_000 {
        let r = next(&mut x);
        let id = r % ids;
        if r & (1 << 40) != 0 {
            drop(registry.set(id, 5).unwrap());
            live[id as usize] = true;
        } else {
            assert_eq!(registry.delete(&id), live[id as usize]);
            live[id as usize] = false;
        }
    }
    // Before nodes were kept, each delete left a tombstone and each
    // re-creation took a new bucket: this churn migrated the table 25
    // times.
    assert_eq!(registry.__index_migrations(), migrations);
    let expected: Vec<u64> = (0..ids).filter(|&id| live[id as usize]).collect();
    assert_eq!(registry.len(), expected.len());
    for id in 0..ids {
        assert_eq!(registry.contains(&id), live[id as usize], "id {id}");
    }
    assert_eq!(registry.ids().collect::<Vec<_>>(), expected);
    // `ids` took out every kept node it passed.
    assert_eq!(registry.__index_entries(), expected.len());
}

#[test]
fn len_counts_ids_not_kept_nodes() {
    let registry = Registry::<u64, u32>::new();
    let rxs: Vec<_> = (0..100).map(|id| registry.set(id, 1).unwrap()).collect();
    for id in (0..100).step_by(2) {
        assert!(registry.delete(&id));
    }
    // 50 deleted ids against 50 live: within 2 × 50 + 64, every node kept.
    assert_eq!(registry.len(), 50);
    assert_eq!(registry.__index_entries(), 100);
    // A re-creation in place: no new entry.
    let rx = registry.set(0, 1).unwrap();
    assert_eq!(registry.len(), 51);
    assert_eq!(registry.__index_entries(), 100);
    assert!(registry.try_send(&0, 7).is_ok());
    assert_eq!(rx.try_recv(), Ok(7));
    // `register` re-creates in place too, and then finds the id occupied.
    let registered = registry.register(2, 1).unwrap();
    assert!(matches!(
        registry.register(2, 1),
        Err(RegisterError::Occupied)
    ));
    assert_eq!(registry.len(), 52);
    assert_eq!(registry.__index_entries(), 100);
    assert_eq!(registry.ids().count(), 52);
    assert_eq!(registry.__index_entries(), 52);
    drop((rxs, registered));
}

#[test]
fn unique_ids_leave_at_most_the_slack_of_kept_nodes() {
    let registry = Registry::<u64, u32>::new();
    for id in 0..10_000 {
        let rx = registry.set(id, 1).unwrap();
        assert!(registry.delete(&id));
        drop(rx);
        // No id lives, so deletes keep nodes only up to the 64 of slack.
        assert!(
            registry.__index_entries() <= 65,
            "after deleting id {id}: {} entries",
            registry.__index_entries()
        );
        assert_eq!(registry.len(), 0);
    }
    assert_eq!(registry.ids().count(), 0);
    assert_eq!(
        registry.__index_entries(),
        0,
        "ids() takes out what it passes"
    );
}

#[test]
fn a_registry_that_keeps_no_keys_keeps_no_nodes() {
    let registry = Registry::<u64, u32>::new().__keep_deleted_keys(None);
    let rxs: Vec<_> = (0..10).map(|id| registry.set(id, 1).unwrap()).collect();
    for id in 0..5 {
        assert!(registry.delete(&id));
    }
    assert_eq!(registry.__index_entries(), 5);
    assert_eq!(registry.len(), 5);
    drop(rxs);
}
