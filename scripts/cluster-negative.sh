#!/usr/bin/env bash
# The cluster protocol's negative controls: each broken variant of the
# webhook daemon's cluster mode must make its test fail. Needs nats-server.
#
# Each is a feature of webhook-daemon (only that crate is rebuilt).
#
#   unchecked_put  a replace written without the revision check
#                  (put_delete_and_get_are_linearizable_across_replicas)
set -euo pipefail
cd "$(dirname "$0")/.."
export WEBHOOK_REQUIRE_NATS=1
mkdir -p target
status=0
for variant in unchecked_put:put_delete_and_get_are_linearizable_across_replicas; do
  name=${variant%%:*} test=${variant#*:}
  echo "== negative control: $name ($test)"
  caught=no
  # The race needs two replaces to meet between a read and a write: a few
  # attempts at most.
  for attempt in 1 2 3 4 5; do
    # Caught means the test ran and failed: a build error is not a catch.
    if ! cargo test -q -p webhook-daemon --features "negative-${name//_/-}" --test cluster "$test" \
        > target/negative-$name.log 2>&1; then
      if grep -q "test result: FAILED" target/negative-$name.log; then
        caught=yes
        break
      fi
      echo "   the broken build did not run its test:"; tail -5 target/negative-$name.log; exit 1
    fi
  done
  if [ $caught = yes ]; then
    echo "   caught (attempt $attempt): $(grep -m1 -A1 panicked target/negative-$name.log | tail -1)"
  else
    echo "   NOT CAUGHT in 5 attempts"; status=1
  fi
done
exit $status
