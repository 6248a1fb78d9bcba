#!/bin/bash
# Web server benchmark (issue 2): wrk on loopback, keep-alive, 64 connections, 2 threads,
# against the release binary with the demo database: the home page (database read +
# template + layout) and /healthz; then resident memory at idle.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CG_BIN:-build/commonground}
dir=$(mktemp -d /tmp/cg-bench-web-XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" init --db "$dir/bench.db" --demo >/dev/null
port=${CG_BENCH_PORT:-18080}
"$bin" serve --db "$dir/bench.db" --listen 127.0.0.1:$port --no-access-log --log-level warn >"$dir/out" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "resident memory at idle: $((rss_idle / 1024)) MB ($rss_idle kB)"
for path in / /healthz /places; do
  echo "--- wrk -t2 -c64 -d10s --latency http://127.0.0.1:$port$path"
  wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$port$path" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
done
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "resident memory after load: $((rss_after / 1024)) MB"
