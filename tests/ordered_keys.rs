#![cfg(not(any(loom, shuttle)))]
//! The ordered set of ids (for `ids` and `ids_in`) may keep the keys of
//! deleted ids, so that re-creating an id writes nothing to it
//! (`src/registry.rs`, *Deleted ids' keys*). These tests hold it to its
//! bound: a delete leaves its key only while the set holds at most
//! `2 × live + 64` deleted ids' keys, and `ids` takes out every deleted id's
//! key it passes. Sizes are read with the hidden `__ordered_keys`, which
//! counts the set's keys (deterministic, no timing).

use channel_registry::Registry;

/// The production bound, as documented.
fn bound(live: usize) -> usize {
    live + 2 * live + 64
}

#[test]
fn unique_ids_created_and_deleted_leave_at_most_the_slack() {
    let registry = Registry::<u64, u32>::new();
    for id in 0..10_000 {
        let rx = registry.set(id, 1).unwrap();
        assert!(registry.delete(&id));
        drop(rx);
        assert!(
            registry.__ordered_keys() <= bound(0) + 1,
            "after deleting id {id}: {} keys",
            registry.__ordered_keys()
        );
    }
    assert_eq!(registry.ids().count(), 0);
    assert_eq!(
        registry.__ordered_keys(),
        0,
        "ids() takes out what it passes"
    );
}

#[test]
fn re_created_ids_reuse_their_keys() {
    let registry = Registry::<u64, u32>::new();
    let mut held = Vec::new();
    for round in 0..50 {
        for id in 0..100 {
            if (id + round) % 3 == 0 {
                registry.delete(&id);
            } else {
                held.push(registry.set(id, 1).unwrap());
            }
        }
        // Never more keys than ids ever used: re-creation finds its key.
        assert!(registry.__ordered_keys() <= 100);
    }
    let live: Vec<u64> = (0..100).filter(|id| registry.contains(id)).collect();
    assert_eq!(registry.ids().collect::<Vec<_>>(), live);
    assert_eq!(registry.__ordered_keys(), live.len());
}

#[test]
fn ids_skips_deleted_keys_and_takes_them_out() {
    let registry = Registry::<u64, u32>::new();
    let rxs: Vec<_> = (0..100).map(|id| registry.set(id, 1).unwrap()).collect();
    for id in (0..100).step_by(2) {
        assert!(registry.delete(&id));
    }
    // 50 deleted keys against 50 live ids: within 2 × 50 + 64, all kept.
    assert_eq!(registry.__ordered_keys(), 100);
    let odd: Vec<u64> = (1..100).step_by(2).collect();
    assert_eq!(
        registry.ids_in(10..=20).collect::<Vec<_>>(),
        vec![11, 13, 15, 17, 19]
    );
    assert_eq!(registry.ids().collect::<Vec<_>>(), odd);
    assert_eq!(registry.__ordered_keys(), 50);
    drop(rxs);
}

#[test]
fn deleting_everything_keeps_a_bounded_remainder() {
    let registry = Registry::<u64, u32>::new();
    let peak = 3_000usize;
    let rxs: Vec<_> = (0..peak as u64)
        .map(|id| registry.set(id, 1).unwrap())
        .collect();
    for id in 0..peak as u64 {
        assert!(registry.delete(&id));
        // A delete leaves its key only while the deleted ids' keys number at
        // most 2 × live + 64, and each later delete then removes its own:
        // the remainder never passes 2 × peak + 65.
        let live = peak - id as usize - 1;
        let deleted_keys = registry.__ordered_keys() - live;
        assert!(
            deleted_keys <= 2 * peak + 65,
            "{deleted_keys} deleted ids' keys"
        );
    }
    // The keys left are those deleted while 2 × live + 64 was not reached:
    // about two thirds of the peak, plus at most the 15 deletes after it
    // that took the last worked-out answer (a thread works it out on one
    // delete in 16: the module docs' *Deleted ids' keys*).
    let left = registry.__ordered_keys();
    assert!(left <= (2 * peak + 64) / 3 + 1 + 15, "{left} keys left");
    assert!(left >= 64, "{left} keys left: the keeping path never ran");
    assert_eq!(registry.ids().next(), None);
    assert_eq!(
        registry.__ordered_keys(),
        0,
        "ids() takes out what it passes"
    );
    drop(rxs);
}

#[test]
fn a_registry_that_keeps_no_keys_removes_at_once() {
    let registry = Registry::<u64, u32>::new().__keep_deleted_keys(None);
    let rxs: Vec<_> = (0..10).map(|id| registry.set(id, 1).unwrap()).collect();
    for id in 0..5 {
        registry.delete(&id);
    }
    assert_eq!(registry.__ordered_keys(), 5);
    assert_eq!(registry.ids().collect::<Vec<_>>(), vec![5, 6, 7, 8, 9]);
    drop(rxs);
}
