#!/usr/bin/env bash
# Runs the loom suite once per deliberately broken protocol variant
# (`--cfg channel_registry_broken="NAME"`, see loom-tests/README.md) and
# fails if the suite passes on any of them. Each variant runs the scenarios
# in their written spawn order only (LOOM_SPAWN_ORDERS=first): a bug caught
# there is caught by the full suite, which adds the other orders.
set -u
cd "$(dirname "$0")/.."
variants=${*:-skip_close no_follow close_before_claim trust_insert_closure no_notify_fence ring_relaxed_stamp}
mkdir -p target
survivors=()
for variant in $variants; do
    echo "== negative control: $variant"
    log="target/loom-negative-$variant.log"
    if LOOM_SPAWN_ORDERS=first RUSTFLAGS="--cfg loom --cfg channel_registry_broken=\"$variant\"" CARGO_TARGET_DIR=target/loom-negative \
        timeout 1200 cargo test --release --test loom_pairs --test loom_scenarios -- --test-threads 2 \
        > "$log" 2>&1; then
        echo "   NOT CAUGHT: the loom suite passed"
        survivors+=("$variant")
    else
        reason=$(grep -m1 -E "not linearizable|^deadlock|leaked|already released|Causality violation" "$log" || grep -m1 "panicked at" "$log")
        echo "   caught: $(echo "$reason" | cut -c1-160)"
    fi
    if [ "$variant" = ring_relaxed_stamp ]; then
        # The ring's own loom tests (src/ring.rs) must catch it too.
        log="target/loom-negative-$variant-ring.log"
        if RUSTFLAGS="--cfg loom --cfg channel_registry_broken=\"$variant\"" CARGO_TARGET_DIR=target/loom-negative \
            timeout 600 cargo test --release --lib ring::loom_tests > "$log" 2>&1; then
            echo "   NOT CAUGHT by the ring's own loom tests"
            survivors+=("$variant (ring tests)")
        else
            echo "   caught by the ring's own loom tests: $( (grep -m1 "Causality violation" "$log" || grep -m1 "panicked at" "$log") | cut -c1-120)"
        fi
    fi
done
if [ ${#survivors[@]} -ne 0 ]; then
    echo "negative controls not caught: ${survivors[*]}"
    exit 1
fi
echo "all negative controls caught"
