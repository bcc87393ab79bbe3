//! Single-thread costs with criterion: lookup + try_send (into full
//! channels, as in the workloads), send + recv, set over a live id, and
//! delete + set, for this crate (routed and cached handles) and every peer,
//! on 1,024 registered ids visited in a fixed pseudo-random order.

use std::hint::black_box;
use std::time::Duration;

use channel_registry_bench::{Fixture, IMPLS, Impl, XorShift64Star, dispatch};
use criterion::{Criterion, criterion_group, criterion_main};

const KEYS: usize = 1024;

fn ids() -> Vec<u64> {
    let mut r = XorShift64Star::new(1);
    (0..4096).map(|_| r.next_u64() % KEYS as u64).collect()
}

fn one<I: Impl>(c: &mut Criterion) {
    let ids = ids();
    let mut g = c.benchmark_group(I::NAME);
    let mut f = Fixture::<I>::new(KEYS);
    f.fill();
    let mut i = 0;
    g.bench_function("send_full", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            f.op_send(black_box(ids[i]))
        })
    });
    let mut f = Fixture::<I>::new(KEYS);
    g.bench_function("send_recv", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(f.op_send_recv(black_box(ids[i])))
        })
    });
    g.bench_function("set", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            f.op_set(black_box(ids[i]))
        })
    });
    g.bench_function("delete_set", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            f.op_delete_set(black_box(ids[i]))
        })
    });
    g.finish();
    drop(f);
    I::new(0).quiesce();
}

fn all(c: &mut Criterion) {
    for name in IMPLS {
        dispatch!(name, I => one::<I>(c));
    }
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = all
}
criterion_main!(micro);
