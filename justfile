# channel-registry tasks. `just --list` shows them; `cargo install just` gets just.

default:
    @just --list

# The README's test command: unit, contract, proptest and doc tests.
test:
    cargo test

# The loom suite, exactly as users type it (pairs unbounded, scenarios at bound 2).
loom:
    RUSTFLAGS="--cfg loom" cargo test

# The same, optimized (about 5x faster; what CI runs), with one line per scenario.
loom-release:
    RUSTFLAGS="--cfg loom" cargo test --release --test loom_pairs --test loom_scenarios -- --nocapture --test-threads 2

# crossbeam-epoch modelled by loom too (`--cfg crossbeam_loom` + its `loom`
# feature, enabled by Cargo.toml under that cfg). Epoch's own pin/collect
# protocol multiplies the state space: one pair takes ~25 s at bound 1 and
# more than 4 minutes at bound 2 on a 2-core machine, and a three-thread
# scenario does not finish at bound 1 in 5 minutes. So this runs the pairs,
# at `bound` (default 1). Separate target dir: different cfgs must not evict
# each other's builds.
loom-deep bound="1":
    RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_PAIRS_BOUND={{bound}} CARGO_TARGET_DIR=target/loom-deep \
        cargo test --release --test loom_pairs -- --nocapture --test-threads 2

# Each deliberately broken protocol variant must fail the loom suite; this
# recipe fails if any of them passes. `just loom-negative no_follow` runs one.
loom-negative *variants:
    bash scripts/loom-negative.sh {{variants}}

# Miri on the unit/contract/model tests. Flags (../shared/FACTS.md):
#   -Zmiri-disable-stacked-borrows: Stacked Borrows reports UB inside
#     crossbeam-epoch itself (crossbeam #545, #878); data-race and
#     use-after-free detection stay on.
#   -Zmiri-ignore-leaks: crossbeam-epoch's global collector keeps garbage
#     past the end of `main` by design (crossbeam #579).
miri:
    rustup +nightly component add miri rust-src
    MIRIFLAGS="-Zmiri-disable-stacked-borrows -Zmiri-ignore-leaks" PROPTEST_CASES=4 \
        cargo +nightly miri test --test contract --test model

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
