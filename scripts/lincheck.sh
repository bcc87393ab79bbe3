#!/usr/bin/env bash
# History checking on the real registry (tests/lincheck): records
# LINCHECK_HISTORIES concurrent histories (default 1,000; 4 threads x 64
# operations each on 2 ids), checks each id's sub-history for linearizability
# against the sequential specification, then runs the same check on
# deliberately broken protocol variants (`--cfg channel_registry_broken`, see
# loom-tests/README.md), each of which must be caught.
set -euo pipefail
cd "$(dirname "$0")/.."
export LINCHECK_HISTORIES=${LINCHECK_HISTORIES:-1000}
echo "== lincheck: $LINCHECK_HISTORIES histories on the real registry"
cargo test --release --test lincheck -- --nocapture --test-threads 1 2>&1 |
    grep -E "^lincheck|^test |test result"
survivors=()
# The first three break the slot protocol: on 2026-12-03 caught in
# histories 0, 1 and 37 (in CI; 0, 170 and 1,099 beside other jobs). The
# last two break the point index's migration:
# `chunk_misses_last_bucket` loses an id whenever a migration runs with one
# in a chunk's last bucket (tens of histories); `get_skips_moved` (a lookup
# that misses a frozen entry) shows only when a lookup overlaps a migration
# on real threads. Up to LINCHECK_NEGATIVE_HISTORIES (default 20,000)
# histories are recorded, stopping at the first that is not linearizable.
# (`swap_before_claimed_done` and `freeze_skips_empty` need a migration and
# another thread's step in a window of a few hundred nanoseconds: loom and
# shuttle catch them, this checker did not in 20,000 histories, so they are
# not required here.)
negative_histories=${LINCHECK_NEGATIVE_HISTORIES:-20000}
for variant in skip_close no_follow close_before_claim chunk_misses_last_bucket get_skips_moved; do
    log="target/lincheck-negative-$variant.log"
    mkdir -p target
    if LINCHECK_HISTORIES=$negative_histories CHANNEL_REGISTRY_BROKEN=$variant CARGO_TARGET_DIR=target/lincheck-negative \
        cargo test --release --test lincheck recorded -- --nocapture > "$log" 2>&1; then
        echo "== negative control $variant: NOT CAUGHT in $negative_histories histories"
        survivors+=("$variant")
    else
        reason=$(grep -m1 "not linearizable\|came out twice" "$log")
        if [ -z "$reason" ]; then
            # A variant that does not build is not a catch.
            echo "== negative control $variant: NOT CAUGHT: the run failed without a checker's failure (does it build? $log)"
            survivors+=("$variant (no checker failure)")
        else
            echo "== negative control $variant: caught ($reason)"
        fi
    fi
done
if [ ${#survivors[@]} -ne 0 ]; then
    echo "negative controls not caught: ${survivors[*]}"
    exit 1
fi
