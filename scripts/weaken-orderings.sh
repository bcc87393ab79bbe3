#!/usr/bin/env bash
# Weakens each memory ordering and fence of src/ one step at a time and runs
# the loom suite on each weakening (loom-tests/README.md, "Memory orderings").
#
# cargo-mutants does not touch orderings. This does, the way mutant schemata
# do: a copy of the crate (target/weaken/tree) has every ordering site wrapped
# by scripts/orderings.pl in `crate::sync::weakened(SITE, ..)` (or
# `weakened_fence`), which returns the written ordering unless
# CHANNEL_REGISTRY_WEAKEN=SITE:TO picks that site. So the suite is built once
# and run once per weakening: SeqCst to AcqRel, Acquire or Release (what the
# operation accepts), AcqRel to Acquire and to Release, Acquire or Release to
# Relaxed, and every fence removed (a SeqCst fence also weakened to AcqRel).
#
# Each run is the loom suite in its written spawn order at the default bounds
# (pairs unbounded, scenarios at bound 2), plus the ring's own loom tests,
# stopping at the first failure. A weakening that passes is listed as
# NOT CAUGHT: the comment at its site must say why the stronger ordering is
# kept, or the weaker one should be taken. loom treats a SeqCst load, store
# or read-modify-write as AcqRel (tokio-rs/loom#180), so weakening one of
# those one step cannot be caught by loom at all; those sites are argued.
#   bash scripts/weaken-orderings.sh [SITE:TO ...]     (about an hour here)
set -u
cd "$(dirname "$0")/.."
files="src/chan.rs src/registry.rs src/ring.rs src/waiters.rs src/index/hash.rs"
work=target/weaken
tree=$work/tree
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# The instrumented copy: the working tree's files, tracked or new.
mkdir -p "$tree"
rm -rf "$tree/src"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$tree"
(cd "$tree" && perl ../../../scripts/orderings.pl instrument $files)
cat >> "$tree/src/sync/mod.rs" <<'RUST'

/// The weakening chosen by `CHANNEL_REGISTRY_WEAKEN=SITE:TO`
/// (scripts/weaken-orderings.sh; not in the shipped crate).
fn weakening() -> Option<(usize, &'static str)> {
    static CHOSEN: std::sync::OnceLock<Option<(usize, &'static str)>> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let spec = std::env::var("CHANNEL_REGISTRY_WEAKEN").ok().filter(|s| !s.is_empty())?;
        let (site, to) = spec.split_once(':').expect("CHANNEL_REGISTRY_WEAKEN=SITE:TO");
        Some((site.parse().expect("a site number"), Box::leak(to.to_owned().into_boxed_str())))
    })
}

pub(crate) fn weakened(site: usize, ordering: Ordering) -> Ordering {
    match weakening() {
        Some((chosen, to)) if chosen == site => match to {
            "Relaxed" => Ordering::Relaxed,
            "Acquire" => Ordering::Acquire,
            "Release" => Ordering::Release,
            "AcqRel" => Ordering::AcqRel,
            other => panic!("cannot weaken site {site} to {other}"),
        },
        _ => ordering,
    }
}

pub(crate) fn weakened_fence(site: usize, ordering: Ordering) {
    match weakening() {
        Some((chosen, "removed")) if chosen == site => {}
        _ => fence(weakened(site, ordering)),
    }
}
RUST
perl scripts/orderings.pl list $files > "$work/weakenings.tsv"
# Results are kept per version of the instrumented sources, with the text
# of comments left out: a rerun on the same code only runs the weakenings
# that have no result yet. Rewording a comment keeps them; adding or
# removing a line, comment or not, starts a new version.
results=$work/results/$(cat $(find "$tree/src" -name '*.rs' | sort) | sed -e 's|^ *//.*||' -e 's| // .*||' | sha1sum | cut -c1-12)
mkdir -p "$results"

run() {  # run SPEC LOG: the loom suite with one weakening (none if SPEC is empty)
    LOOM_SPAWN_ORDERS=first CHANNEL_REGISTRY_WEAKEN=$1 RUSTFLAGS="--cfg loom" \
        CARGO_TARGET_DIR=../weaken-target timeout 1800 \
        bash -c 'cd "$0" && cargo nextest run --release --no-tests=fail --lib --test loom_pairs \
            --test loom_scenarios --test loom_shapes --test loom_index --test-threads 2' "$tree" > "$2" 2>&1
}
echo "== the instrumented suite, no weakening (must pass)"
if ! run "" "$work/baseline.log"; then
    echo "   the instrumented suite fails unweakened: see $work/baseline.log"; exit 1
fi
total=0; caught=0; missed=()
while IFS=$'\t' read -r site where kind from to; do
    if [ $# -ne 0 ] && [[ " $* " != *" $site:$to "* ]]; then continue; fi
    total=$((total + 1))
    log="$results/$site-$to.log"
    # Resumable: a weakening already run in this tree keeps its result.
    if [ -s "$results/$site-$to" ]; then
        cat "$results/$site-$to"
        grep -q "NOT CAUGHT" "$results/$site-$to" && missed+=("$site:$to $where $kind $from->$to") || caught=$((caught + 1))
        continue
    fi
    started=$(date +%s)
    if run "$site:$to" "$log"; then
        result="NOT CAUGHT"; missed+=("$site:$to $where $kind $from->$to")
    else
        caught=$((caught + 1))
        test=$(grep -m1 -oE "(FAIL|TIMEOUT|SIGABRT|SIGSEGV) \[ *[0-9.]+s\] *\([ 0-9/]+\) [^ ]+ [^ ]+" "$log" | awk '{print $NF}')
        why=$(grep -m1 -oE "not linearizable|deadlock|never dropped|dropped twice|Causality violation|data race|disagrees|leaked|TIMEOUT|SIGSEGV|SIGABRT" "$log" ||
            grep -m1 -oE "panicked at [^ ]+" "$log")
        result="caught by $test ($why)"
    fi
    printf '%-4s %-26s %-11s %-7s -> %-8s %4ss  %s\n' "$site" "$where" "$kind" "$from" "$to" \
        "$(( $(date +%s) - started ))" "$result" | tee "$results/$site-$to"
done < "$work/weakenings.tsv"
echo "caught $caught of $total weakenings"
for m in "${missed[@]}"; do echo "   not caught: $m"; done
