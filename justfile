# channel-registry tasks. `just --list` shows them; `cargo install just` gets just.

# List the recipes.
default:
    @just --list

# The README's test command: unit, contract, proptest and doc tests.
test:
    cargo test

# The loom suite, exactly as users type it (pairs unbounded, scenarios at bound 2).
loom:
    RUSTFLAGS="--cfg loom" cargo test

# The loom suite optimized (about 6x faster), one line per scenario with its bound, interleavings and time.
loom-release:
    RUSTFLAGS="--cfg loom" cargo test --release --test loom_pairs --test loom_scenarios -- --nocapture --test-threads 2

# The deep run, in two parts (summary last, for `just --list`):
#  1. the larger scenarios at preemption bound 3 (about 30 s here; bound 4 takes
#     about 6.5 minutes), crossbeam-epoch a black box as in `loom`;
#  2. the pairs with crossbeam-epoch modelled by loom too (`--cfg crossbeam_loom`
#     and epoch's `loom` feature, which Cargo.toml enables under that cfg), at
#     `pair_bound` (default 1: about 7.5 minutes). Epoch's own pin/collect
#     protocol multiplies the state space: one pair takes more than 4 minutes at
#     bound 2, and a three-thread scenario does not finish at bound 1 in 5.
# Separate target dirs: different cfgs must not evict each other's builds.
#
# Deeper loom: scenarios at bound 3, then pairs with crossbeam-epoch modelled (bound 1).
loom-deep pair_bound="1":
    RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
        cargo test --release --test loom_scenarios -- --nocapture --test-threads 2
    RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_PAIRS_BOUND={{pair_bound}} CARGO_TARGET_DIR=target/loom-deep \
        cargo test --release --test loom_pairs -- --nocapture --test-threads 2

# `just loom-negative no_follow` runs one variant.
#
# Every deliberately broken protocol variant must fail the loom suite (fails if one passes).
loom-negative *variants:
    bash scripts/loom-negative.sh {{variants}}

# About 6 minutes; the contract tests less the five stress loops
# that run thousands of operations (hours under Miri; loom, TSan and the
# native runs cover them). Flags (../shared/FACTS.md):
#   -Zmiri-disable-stacked-borrows: Stacked Borrows reports UB inside
#     crossbeam-epoch itself (crossbeam #545, #878); data-race and
#     use-after-free detection stay on.
#   -Zmiri-ignore-leaks: crossbeam-epoch's global collector keeps garbage
#     past the end of `main` by design (crossbeam #579).
#   -Zmiri-permissive-provenance: crossbeam-epoch turns tagged integers back
#     into pointers (atomic.rs); this silences that warning, nothing else.
#
# Miri on the contract tests (data races, use-after-free), with the flags that work.
miri:
    rustup +nightly component add miri rust-src
    MIRIFLAGS="-Zmiri-disable-stacked-borrows -Zmiri-ignore-leaks -Zmiri-permissive-provenance" CARGO_TARGET_DIR=target/miri \
        cargo +nightly miri test --test contract -- \
        --skip concurrent_inserts --skip after_delete --skip set_never --skip stream_wakes --skip replacement_storm

# ThreadSanitizer on the threaded tests (needs nightly + rust-src for -Zbuild-std).
tsan:
    rustup +nightly component add rust-src
    RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="suppressions=$(pwd)/tsan.supp" CARGO_TARGET_DIR=target/tsan \
        cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --test contract --test accounting

# The seed's storm, with every message accounted for.
storm seconds="3":
    cargo run --release --example storm -- --seconds {{seconds}}

# What CI runs.
ci:
    bash .ci/run
