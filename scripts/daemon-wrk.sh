#!/usr/bin/env bash
# Throughput of webhook-daemon binaries under wrk, interleaved, medians of N.
#
#   scripts/daemon-wrk.sh [-n ROUNDS] [-d SECONDS] [-l post|get] BINARY [BINARY...]
#
# Each round starts each binary on a free loopback port (--work-ms 0), PUTs
# instance 1 with capacity 4096, and runs two wrk loads against it: POST
# /instances/1/events (25-byte body; 202 or 429, both answered by the
# registry) and GET /instances/1. Prints requests/s per binary and load, and
# the median over the rounds (-l runs one load only). Needs wrk (apt-get install wrk) and curl.
set -euo pipefail
rounds=5 seconds=5 loads="post get"
while getopts "n:d:l:" opt; do
  case $opt in
    n) rounds=$OPTARG ;;
    d) seconds=$OPTARG ;;
    l) loads=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n rounds] [-d seconds] BINARY..." >&2; exit 2; }
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; kill $(jobs -p) 2> /dev/null || true' EXIT
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{\"event\":\"0123456789ab\"}"
LUA

port=18080
run() { # binary load -> requests/s
  local bin=$1 load=$2
  port=$((port + 1))
  "$bin" --listen "127.0.0.1:$port" --work-ms 0 > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/instances" && break; sleep 0.05; done
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$port/instances/1?capacity=4096"
  local script=() path=/instances/1
  if [ "$load" = post ]; then script=(-s "$tmp/post.lua"); path=/instances/1/events; fi
  wrk -t1 -c32 -d"${seconds}s" "${script[@]}" "http://127.0.0.1:$port$path" 2> /dev/null |
    awk '/^Requests\/sec/ {print $2}'
  kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
}

for round in $(seq "$rounds"); do
  for load in $loads; do
    for bin in "$@"; do
      echo "$bin $load $(run "$bin" "$load")" | tee -a "$tmp/results"
    done
  done
done
echo "== medians of $rounds rounds (requests/s)"
cut -d' ' -f1,2 "$tmp/results" | sort -u | while read -r bin load; do
  values=$(awk -v b="$bin" -v l="$load" '$1 == b && $2 == l && $3 != "" {print $3}' "$tmp/results" | sort -n)
  n=$(echo "$values" | grep -c .)
  median=$(echo "$values" | sed -n "$(( (n + 1) / 2 ))p")
  printf '%-60s %-5s %10s  (%s runs)\n' "$bin" "$load" "${median:-none}" "$n"
done
