#!/usr/bin/env bash
# ThreadSanitizer on the threaded tests (nightly, std rebuilt with TSan).
# `tsan.supp` holds only documented false positives inside dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup +nightly component add rust-src
export RUSTFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="suppressions=$(pwd)/tsan.supp halt_on_error=1"
export CARGO_TARGET_DIR=target/tsan
cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --test contract --test accounting --test misuse \
    --test overflow --test teardown --test garbage_limit
