#!/usr/bin/env bash
# Mutation testing of src/ with cargo-mutants, in three stages, each on the
# mutants that the stages before it missed (loom-tests/README.md, "Mutation
# testing"):
#   1. the native tests (cargo-nextest; .cargo/mutants.toml), about 3 s a run;
#   2. the doctests;
#   3. the loom suite in its written spawn order, optimized, plus the code
#      that only the model builds compile (the ordered-set stand-in and the
#      loom mode of the sync shim, src/sync/loom.rs);
#   4. the shuttle suite (random and PCT schedules, fixed seeds), plus the
#      shuttle mode of the sync shim (src/sync/shuttle.rs).
# Survivors of every stage are listed in target/mutants/survivors.txt; each
# must be killed by a new test or argued equivalent in .cargo/mutants.toml.
#   bash scripts/mutants.sh          (a few hours here; `--iterate` resumes)
#   MUTANTS_FROM=doc bash scripts/mutants.sh
#                                    (stages 2-4 only, on the native stage's
#                                     target/mutants/native-missed.txt)
#   MUTANTS_FROM=loom bash scripts/mutants.sh
#                                    (stages 3-4 only, on the doctest stage's
#                                     target/mutants/doc-missed.txt)
set -u
cd "$(dirname "$0")/.."
cargo mutants --version >/dev/null 2>&1 || cargo install cargo-mutants --locked
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
out=target/mutants
mkdir -p "$out"
# No debug info: the mutants' builds link a dozen test binaries each.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0

# `--re` arguments that select the mutants listed in file $1, by file and
# description: line and column are left out, so a list survives edits that
# only move code.
select_listed() {
    perl -ne 'chomp; next unless /^([^:]+):\d+:\d+: (.*)$/; my ($f, $d) = ($1, $2);
        s/([\\.+*?()|\[\]{}^\$])/\\$1/g for $f, $d; print "--re\n^$f:\\d+:\\d+: $d\$\n"' "$1"
}

from=${MUTANTS_FROM:-native}
case $from in native|doc|loom) ;; *) echo "MUTANTS_FROM is native, doc or loom, not $from"; exit 2;; esac
if [ "$from" = native ]; then
    echo "== stage 1: native tests"
    cargo mutants -j 2 -o "$out/native" "$@"
    # A mutant whose tests time out is caught: it hangs where the original does not.
    cp "$out/native/mutants.out/missed.txt" "$out/native-missed.txt"
elif [ "$from" = doc ] && [ ! -f "$out/native-missed.txt" ]; then
    echo "MUTANTS_FROM=doc needs $out/native-missed.txt from a native stage"; exit 2
elif [ "$from" = loom ] && [ ! -f "$out/doc-missed.txt" ]; then
    echo "MUTANTS_FROM=loom needs $out/doc-missed.txt from a doctest stage"; exit 2
fi

if [ "$from" != loom ]; then
    echo "== stage 2: doctests, on the $(wc -l < "$out/native-missed.txt") mutants the native tests missed"
    mapfile -t re < <(select_listed "$out/native-missed.txt")
    if [ ${#re[@]} -ne 0 ]; then
        cargo mutants -j 2 -o "$out/doc" --test-tool cargo --cargo-test-arg=--doc "${re[@]}"
        cp "$out/doc/mutants.out/missed.txt" "$out/doc-missed.txt"
    else
        : > "$out/doc-missed.txt"
    fi
fi

echo "== stage 3: loom, on the $(wc -l < "$out/doc-missed.txt") mutants still missed, and the model-only code"
mapfile -t re < <(select_listed "$out/doc-missed.txt")
# .cargo/mutants-loom.toml: no exclusion of the model-only code.
LOOM_SPAWN_ORDERS=first RUSTFLAGS="--cfg loom" CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_TEST_OPT_LEVEL=3 \
    cargo mutants -j 2 -o "$out/loom" --config .cargo/mutants-loom.toml \
    --cargo-test-arg=--lib --cargo-test-arg=--test=loom_pairs --cargo-test-arg=--test=loom_scenarios \
    --cargo-test-arg=--test=loom_shapes --cargo-test-arg=--test=loom_index \
    "${re[@]}" --re '^src/index/keys_model\.rs:' --re '^src/sync/loom\.rs:'
cp "$out/loom/mutants.out/missed.txt" "$out/loom-missed.txt"

echo "== stage 4: shuttle, on the $(wc -l < "$out/loom-missed.txt") mutants loom missed"
mapfile -t re < <(select_listed "$out/loom-missed.txt")
if [ ${#re[@]} -ne 0 ]; then
    SHUTTLE_ITERATIONS=2000 SHUTTLE_SEEDS=1,2 RUSTFLAGS="--cfg shuttle" CARGO_PROFILE_DEV_OPT_LEVEL=3 \
        CARGO_PROFILE_TEST_OPT_LEVEL=3 cargo mutants -j 2 -o "$out/shuttle" --config .cargo/mutants-loom.toml \
        --cargo-test-arg=--test=shuttle "${re[@]}" --re '^src/sync/shuttle\.rs:'
    cp "$out/shuttle/mutants.out/missed.txt" "$out/survivors.txt"
else
    : > "$out/survivors.txt"
fi
echo "== survivors of every stage: $(wc -l < "$out/survivors.txt") ($out/survivors.txt)"
cat "$out/survivors.txt"
