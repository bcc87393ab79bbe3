#!/usr/bin/env bash
# `just bench` runs this first: puts Go on PATH for the benchmark's Go row
# (bench/README.md) when it is missing, with Debian's golang-go (Go 1.19;
# bench/go builds with it), through sudo when not root and sudo exists.
# Never fails the recipe: without Go the harness says so and skips the row.
set -u
command -v go >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "ensure-go: go is not on PATH and neither root nor sudo is available to install golang-go" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "ensure-go: go is not on PATH; apt-get install -y golang-go" >&2
"${sudo[@]}" apt-get install -y golang-go >&2 ||
    { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y golang-go >&2; } ||
    echo "ensure-go: could not install golang-go; the Go row will be skipped" >&2
exit 0
