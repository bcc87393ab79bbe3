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

# The loom suite optimized, one line per scenario and spawn order with its bound, interleavings and time.
loom-release:
    RUSTFLAGS="--cfg loom" cargo test --release --test loom_pairs --test loom_scenarios --test loom_shapes --test loom_index -- --nocapture --test-threads 2

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
        cargo test --release --test loom_scenarios --test loom_shapes -- --nocapture --test-threads 2
    RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_PAIRS_BOUND={{pair_bound}} CARGO_TARGET_DIR=target/loom-deep \
        cargo test --release --test loom_pairs -- --nocapture --test-threads 2

# `just loom-negative no_follow` runs one variant.
#
# Every deliberately broken protocol variant must fail the loom suite (fails if one passes).
loom-negative *variants:
    bash scripts/loom-negative.sh {{variants}}

# The shuttle suite at depth (loom-tests/README.md): the random scenarios with `iterations` schedules per scheduler (PCT,
# random) and seed, then every named loom scenario with iterations/20; seeds 1 to 8 plus a fresh one, printed for replay.
# About 10 minutes at the default here (555 s on 2 cores, 2026-12-03).
#
# shuttle: random 3-4 thread scenarios and every loom scenario, under PCT and random schedules.
shuttle iterations="100000":
    SHUTTLE_ITERATIONS={{iterations}} SHUTTLE_SEEDS=1,2,3,4,5,6,7,8 RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
        cargo test --release --test shuttle -- --nocapture
    SHUTTLE_ITERATIONS=$(( {{iterations}} / 20 )) SHUTTLE_SEEDS=1,2,3,4,5,6,7,8 RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
        cargo test --release --test loom_pairs --test loom_scenarios --test loom_shapes --test loom_index -- --nocapture --test-threads 2

# Every schedule-bug negative control must fail the shuttle suite (the two weak-memory ones are reported, not required).
shuttle-negative *variants:
    bash scripts/shuttle-negative.sh {{variants}}

# Mutation testing of src/ with cargo-mutants: native tests, then doctests, loom and shuttle on what
# each stage missed (scripts/mutants.sh; several hours here). Extra arguments go to the first stage.
#
# cargo-mutants on src/, every stage: survivors must be killed or argued (loom-tests/README.md).
mutants *args:
    bash scripts/mutants.sh {{args}}

# Every memory ordering and fence in src/ weakened one step at a time, the loom suite run on each
# (scripts/weaken-orderings.sh; about an hour here, resumable).
#
# Weaken each ordering of src/ one step and run loom on it: caught, or argued at its site.
orderings *sites:
    bash scripts/weaken-orderings.sh {{sites}}

# Miri with -Zmiri-many-seeds (random preemption, weak-memory emulation) on the threaded contract and accounting tests.
miri-seeds seeds="16":
    bash scripts/miri-seeds.sh {{seeds}}

# Miri on the contract and misuse tests, with the flags that work (scripts/miri.sh says why).
miri:
    bash scripts/miri.sh

# Miri must catch `release_skips_epoch` (a retired channel released before the epoch's grace
# period) in the threaded accounting test: it exits 1 if Miri passes it.
miri-negative seeds="4":
    ! CHANNEL_REGISTRY_BROKEN=release_skips_epoch CARGO_TARGET_DIR=target/miri-negative \
        MIRIFLAGS="-Zmiri-disable-stacked-borrows -Zmiri-ignore-leaks -Zmiri-permissive-provenance -Zmiri-many-seeds=0..{{seeds}}" \
        cargo +nightly miri test --test accounting

# ThreadSanitizer on the threaded tests (nightly, -Zbuild-std; suppressions in tsan.supp).
tsan:
    bash scripts/tsan.sh

# History checking: 1,000 recorded histories checked for linearizability, then the broken variants (must be caught).
lincheck histories="1000":
    LINCHECK_HISTORIES={{histories}} bash scripts/lincheck.sh

# Fuzz the model target for `seconds` (fuzz/README.md); installs cargo-fuzz if missing.
fuzz seconds="600":
    cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    cd fuzz && cargo +nightly fuzz run model -- -max_total_time={{seconds}} -print_final_stats=1

# The webhook daemon's demo (what the README runs first): a storm over HTTP, every event accounted for (exit 1 if one is lost).
daemon-demo seconds="10":
    cargo run --release -p webhook-daemon -- --demo --seconds {{seconds}}

# Serve the webhook daemon on 127.0.0.1:8080 until Ctrl-C (prints its summary).
daemon:
    cargo run --release -p webhook-daemon

# The daemon's unit and integration tests (loopback HTTP, a few seconds).
daemon-test:
    cargo test -p webhook-daemon

# Load a running daemon (`just daemon`) from a second process with wrk (apt-get install wrk); mode: storm or posts.
daemon-wrk seconds="10" mode="storm":
    wrk -t2 -c64 -d{{seconds}}s --latency -s webhook-daemon/wrk/storm.lua http://127.0.0.1:8080 -- {{mode}}

# The Go daemon's storm on the library alone, with every message accounted for.
storm seconds="3":
    cargo run --release --example storm -- --seconds {{seconds}}

# Soak with exact accounting (lost, duplicated, drops, channels freed, heap); `just soak 1e8`.
soak ops="2e7" threads="4":
    cargo run --release --example soak -- --ops {{ops}} --threads {{threads}}

# The benchmark matrix (read-heavy, mixed, churn, churn with a held pin; bench/README.md) against every peer and the Go original (installs golang-go if go is missing): CSV, plots, README table; prints its duration estimate at start.
bench *flags:
    bash bench/go/ensure-go.sh
    CARGO_TARGET_DIR=target/bench cargo run --release -p channel-registry-bench -- {{flags}} | tee bench/results/last-run.log

# criterion micro-benchmarks (single thread) and their table in bench/results/criterion.md.
bench-micro:
    CARGO_TARGET_DIR=target/bench cargo bench -p channel-registry-bench --bench micro
    CARGO_TARGET_DIR=target/bench cargo run --release -p channel-registry-bench -- --criterion-table target/bench/criterion

# Instructions per op under callgrind for every impl (needs valgrind); writes bench/results/instructions.md.
bench-instr n="20000":
    CARGO_TARGET_DIR=target/bench cargo run --release -p channel-registry-bench --bin instr -- --n {{n}}

# What CI runs.
ci:
    bash .ci/run
