#!/usr/bin/env bash
# Miri with many scheduler seeds on the threaded contract and accounting
# tests: `-Zmiri-many-seeds=0..SEEDS` reruns each test binary once per seed,
# with Miri's random preemption and its weak-memory emulation (a store
# buffer: loads may return older values, as on real hardware) on, and with
# the real skip list and crossbeam-epoch, which loom and shuttle replace or
# treat as a black box. The tests shrink their loops under Miri
# (`scaled(native, miri)` in each file). Other flags as in scripts/miri.sh.
#   bash scripts/miri-seeds.sh [SEEDS]   (default 16; CI runs 2)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-16}
rustup +nightly component add miri rust-src
export MIRIFLAGS="-Zmiri-disable-stacked-borrows -Zmiri-ignore-leaks -Zmiri-permissive-provenance -Zmiri-many-seeds=0..$seeds"
cargo +nightly miri setup
started=$(date +%s)
# The threaded tests of the contract (the single-threaded ones run in `just
# miri`), and the accounting tests (every message and channel accounted for
# while threads create, delete, replace, send, wait and drop receivers).
# Two lanes, one per core (as in scripts/miri.sh).
. scripts/lanes.sh
lane contract target/miri cargo +nightly miri test --test contract -- \
    set_never after_delete concurrent_inserts replacement_storm delete_wakes \
    replace_wakes blocked_handle stream_wakes
lane accounting target/miri-2 cargo +nightly miri test --test accounting
lanes_wait
echo "miri-seeds: $seeds seeds in $(( $(date +%s) - started ))s"
