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
for variant in skip_close no_follow close_before_claim trust_insert_closure; do
    log="target/lincheck-negative-$variant.log"
    mkdir -p target
    if CHANNEL_REGISTRY_BROKEN=$variant CARGO_TARGET_DIR=target/lincheck-negative \
        cargo test --release --test lincheck recorded -- --nocapture > "$log" 2>&1; then
        echo "== negative control $variant: NOT CAUGHT in $LINCHECK_HISTORIES histories"
        survivors+=("$variant")
    else
        echo "== negative control $variant: caught ($(grep -m1 "not linearizable\|came out twice" "$log"))"
    fi
done
if [ ${#survivors[@]} -ne 0 ]; then
    echo "negative controls not caught: ${survivors[*]}"
    exit 1
fi
