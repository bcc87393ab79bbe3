#!/usr/bin/env bash
# Resident memory of the release daemon per buffered event, and under a PUT
# flood, read from /proc/PID/status. Needs wrk (apt-get install wrk) and curl.
#
#   scripts/daemon-rss.sh [BINARY]     (default target/release/webhook-daemon)
#
# 1. Buffered events: 300 instances of capacity 4096 whose workers sleep a
#    minute per event (--work-ms 60000), so posts stay buffered; wrk posts
#    ~25-byte events to them for 10 s. RSS per buffered event = (RSS after
#    the posts - RSS after the PUTs) / events buffered (/metrics). The
#    mailboxes are allocated in full by the PUTs, so this is what an event
#    adds: its body and its share of the server's working memory.
# 2. PUT flood: 5,000 PUTs of capacity 4096 against the default slot budget.
set -euo pipefail
bin=${1:-target/release/webhook-daemon}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { curl -s "http://$addr/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
start() {
  addr=127.0.0.1:$((18500 + RANDOM % 1000))
  "$bin" --listen "$addr" "$@" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$addr/healthz" && return; sleep 0.05; done
  echo "the daemon did not start" >&2; exit 1
}
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT

start --work-ms 60000 --max-mailbox-slots 2000000 --drain-timeout-ms 100
for id in $(seq 0 299); do curl -s -o /dev/null -X PUT "http://$addr/instances/$id?capacity=4096"; done
before=$(rss_kib "$pid")
wrk -t1 -c32 -d10s -s "$here/webhook-daemon/wrk/storm.lua" "http://$addr" -- posts > /dev/null
after=$(rss_kib "$pid")
buffered=$(metric webhook_events_buffered)
echo "buffered events: $buffered; RSS after the PUTs $before KiB, after the posts $after KiB"
awk -v a="$after" -v b="$before" -v n="$buffered" 'BEGIN { printf "RSS per buffered event: %.1f bytes\n", (a - b) * 1024 / n }'
kill -9 "$pid"; wait "$pid" 2> /dev/null || true

start --work-ms 1
before=$(rss_kib "$pid")
codes=$(for id in $(seq 0 4999); do curl -s -o /dev/null -w '%{http_code}\n' -X PUT "http://$addr/instances/$id?capacity=4096"; done | sort | uniq -c | tr '\n' ' ')
after=$(rss_kib "$pid")
echo "PUT flood, 5,000 x capacity 4096: answers $codes; RSS $before -> $after KiB"
kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
