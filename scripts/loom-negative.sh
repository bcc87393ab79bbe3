#!/usr/bin/env bash
# Runs the loom suite once per deliberately broken protocol variant
# (`--cfg channel_registry_broken="NAME"`, loom-tests/README.md) and fails if
# the suite passes on any of them. Each variant runs the scenarios in their
# written spawn order only (LOOM_SPAWN_ORDERS=first): a bug caught there is
# caught by the full suite, which adds the other orders. Tests run under
# cargo-nextest, which stops at the first failure; a variant whose bug only
# one scenario of a later suite can show runs that scenario
# (NAME=TARGET:TEST below), the others run every pair and scenario.
# `remove_stops_at_tombstone` needs a freed node's address to be reused,
# which no model checker does: the index's unit test catches it.
# `long_probe_grows` shows only at real table sizes: tests/collisions.rs
# catches it. `full_list_releases_inline` breaks a bound on work, not
# safety: tests/overflow.rs catches it. `hold_back_never_waits` and
# `hold_back_inside_pin` break the garbage limit (a bound on memory) and
# its deadlock rule: tests/garbage_limit.rs catches them.
# `drain_skips_buffered` leaves a dropped receiver's messages to the
# channel's teardown (dropped later, still once): tests/contract.rs's
# drop count catches it. `release_without_acquire` is caught by the
# reference count's own loom test (src/chan_ref.rs), named `lib:` below.
#   bash scripts/loom-negative.sh [NAME ...]
set -u
cd "$(dirname "$0")/.."
all="skip_close no_follow close_before_claim no_notify_fence ring_relaxed_stamp
contains_skips_successor=loom_shapes:try_send_then_contains_vs_delete
state_skips_successor=loom_shapes:handle_send_then_state_vs_set
close_after_advance=loom_shapes:helper_contains_vs_delete_then_handle_send
close_wakes_one=loom_shapes:two_senders_wait_delete
cancel_drops_wakeup=loom_shapes:cancelled_receiver_passes_its_wakeup_on
finish_keeps_wakeup=loom_shapes:woken_receiver_gives_up
waiter_pop_skips_notify=loom_shapes:woken_sender_gives_up
timeout_skips_final_attempt=loom_shapes:delete_then_recv_timeout_vs_try_send
get_skips_moved=loom_index:migration_vs_try_send_then_contains
swap_before_claimed_done=loom_index:two_migrations_help_each_other
touch_without_bump=loom_listing:delete_vs_set_then_ids
remove_without_claim=loom_listing:delete_vs_set_then_ids
freeze_skips_empty=loom_index:creation_vs_another_threads_migration
chunk_misses_last_bucket=loom_index:migration_vs_try_send_then_contains
claim_without_release=loom_pairs:set_delete
ids_cleanup_skips_check=loom_listing:ids_cleanup_vs_set_then_ids
release_skips_epoch=loom_shapes:drop_rx_then_delete_vs_try_send
take_out_skips_mark=loom_pairs:kept_set_ids
recreate_by_store=loom_pairs:kept_set_set
recreate_skips_keys=loom_listing:ids_cleanup_then_recreate_vs_set
close_without_fence=loom_pairs:delete_recv
drop_skips_close=loom_shapes:two_senders_wait_drop_rx
release_without_acquire=lib:chan_ref::loom_tests::the_last_reference_on_either_thread_sees_the_other_threads_push"
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
mkdir -p target
survivors=()
for entry in $all; do
    variant=${entry%%=*}
    if [ $# -ne 0 ] && [[ " $* " != *" $variant "* ]]; then continue; fi
    if [ "$entry" = "$variant" ]; then
        tests=(--test loom_pairs --test loom_scenarios); filter=(); what="pairs and scenarios"
    else
        target=${entry#*=}; target=${target%%:*}; test=${entry#*=}; test=${test#*:}
        # `lib` names the library's own loom tests (a module's `loom_tests`).
        if [ "$target" = lib ]; then tests=(--lib); else tests=(--test "$target"); fi
        filter=(-E "test(=$test)"); what="$target: $test"
    fi
    echo "== negative control: $variant ($what)"
    log="target/loom-negative-$variant.log"
    if LOOM_SPAWN_ORDERS=first CHANNEL_REGISTRY_BROKEN=$variant RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom-negative \
        timeout 1500 cargo nextest run --release --no-tests=fail "${tests[@]}" "${filter[@]}" --test-threads 2 \
        > "$log" 2>&1; then
        echo "   NOT CAUGHT: the loom suite passed"
        survivors+=("$variant")
    else
        reason=$(grep -m1 -E "not linearizable|deadlock|never dropped|dropped twice|Causality violation" "$log" || grep -m1 "panicked at" "$log")
        if [ -z "$reason" ]; then
            # A variant that does not build (or a run that dies before any
            # test fails) is not a catch.
            echo "   NOT CAUGHT: the run failed without a checker's failure (does the variant build? $log)"
            survivors+=("$variant (no checker failure)")
        else
            echo "   caught: $(echo "$reason" | sed 's/^ *//' | cut -c1-160)"
        fi
    fi
    if [ "$variant" = ring_relaxed_stamp ]; then
        # The ring's own loom tests (src/ring.rs) must catch it too.
        log="target/loom-negative-$variant-ring.log"
        if CHANNEL_REGISTRY_BROKEN=$variant RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom-negative \
            timeout 600 cargo test --release --lib ring::loom_tests > "$log" 2>&1; then
            echo "   NOT CAUGHT by the ring's own loom tests"
            survivors+=("$variant (ring tests)")
        else
            reason=$( (grep -m1 "Causality violation" "$log" || grep -m1 "panicked at" "$log") | cut -c1-120)
            if [ -z "$reason" ]; then
                echo "   NOT CAUGHT: the ring's tests failed without a checker's failure ($log)"
                survivors+=("$variant (ring tests, no checker failure)")
            else
                echo "   caught by the ring's own loom tests: $reason"
            fi
        fi
    fi
done
# Variants that need real allocations or real sizes, caught natively.
for entry in remove_stops_at_tombstone="--lib index::hash" long_probe_grows="--test collisions" \
    full_list_releases_inline="--test overflow" hold_back_never_waits="--test garbage_limit" \
    hold_back_inside_pin="--test garbage_limit" drain_skips_buffered="--test contract"; do
    variant=${entry%%=*}; args=${entry#*=}; args=${args//\"/}
    if [ $# -ne 0 ] && [[ " $* " != *" $variant "* ]]; then continue; fi
    echo "== negative control: $variant (natively: cargo test $args)"
    log="target/loom-negative-$variant.log"
    # shellcheck disable=SC2086
    if CHANNEL_REGISTRY_BROKEN=$variant CARGO_TARGET_DIR=target/loom-negative \
        timeout 600 cargo test --release $args > "$log" 2>&1; then
        echo "   NOT CAUGHT natively"
        survivors+=("$variant")
    else
        reason=$(grep -m1 -E "^test .*FAILED" "$log")
        if [ -z "$reason" ]; then
            echo "   NOT CAUGHT: the run failed without a failing test (does the variant build? $log)"
            survivors+=("$variant (no failing test)")
        else
            echo "   caught: $reason"
        fi
    fi
done
if [ ${#survivors[@]} -ne 0 ]; then
    echo "negative controls not caught: ${survivors[*]}"
    exit 1
fi
echo "all negative controls caught"
