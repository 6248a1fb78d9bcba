#!/bin/bash
# PostgreSQL versus SQLite (issue 8): the same release binary on each backend with the
# demo database, one server and two servers on one database.
#   reads:  wrk -t2 -c64 -d10s on / (home page) and /openreferral/services (when the
#           directory exists); the API keeps rendered pages for 2 s in process memory
#           (src/directory/cache.h), so a third run makes every request distinct
#           (modified_after = a random second of 2001, which every service passes) to
#           measure the database path. With two servers, two wrk processes of 32
#           connections, one per server, started together (their Requests/sec summed).
#   writes: 64 clients (threads, each with its own connection) creating users through
#           the store for 10 s (tests/store/bench_writes.c): one INSERT and its audit
#           entry per committed transaction. Two "servers" = two such processes.
# Durability is alike on both sides: SQLite synchronous=FULL (the store's setting) and
# a PostgreSQL cluster with fsync and synchronous_commit on (PG_TEST_DURABLE=1).
# The cluster is a throwaway one under build/pg (scripts/pg-test.sh), removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CG_BIN:-build/commonground}
secs=${CG_BENCH_SECONDS:-10}
dir=$(mktemp -d /tmp/cg-bench-pg-XXXXXX)
export PG_TEST_DIR=$PWD/build/pg/bench-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/pg-test.sh stop
  rm -rf "$dir"
}
trap cleanup EXIT

# The write client, built from the release objects (`make bench` builds them first).
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc tests/store/bench_writes.c \
  $(ls build/release/obj/core/*.o build/release/obj/store/*.o) \
  $(pkg-config --libs sqlite3 libpq jansson libsodium) -lpthread -lm -o "$dir/bench_writes"

if ! pg=$(PG_TEST_DURABLE=1 scripts/pg-test.sh start); then
  echo "PostgreSQL could not be started: only SQLite figures"
  pg=
fi
pgdb() { # a fresh database on the cluster: its URL
  psql -X -q "$pg" -c "CREATE DATABASE $1" >/dev/null
  echo "${pg/\/cg_test\?//$1?}"
}

start_server() { # db port: starts serve, waits for /healthz
  "$bin" serve --db "$1" --listen "127.0.0.1:$2" --no-access-log --log-level warn \
    >"$dir/serve-$2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "server on port $2 did not start:"; cat "$dir/serve-$2.log"; return 1
}

stop_servers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }

# Distinct, uncacheable API requests (see the header).
cat >"$dir/uncached.lua" <<'LUA'
request = function()
  local t = string.format("2001-01-01T%02d:%02d:%02dZ", math.random(0, 23),
                          math.random(0, 59), math.random(0, 59))
  return wrk.format("GET", "/openreferral/services?modified_after=" .. t)
end
LUA

read_bench() { # label db
  local label=$1 db=$2
  start_server "$db" 18091
  local paths=(/)
  curl -sf "http://127.0.0.1:18091/openreferral/services" >/dev/null &&
    paths+=(/openreferral/services uncached:/openreferral/services)
  for path in "${paths[@]}"; do
    local p=${path#uncached:} script=()
    [ "$p" != "$path" ] && script=(-s "$dir/uncached.lua")
    wrk -t2 -c64 -d"${secs}s" --latency "${script[@]}" "http://127.0.0.1:18091$p" >"$dir/one.txt"
    grep -q "Non-2xx" "$dir/one.txt" && echo "  (non-2xx answers: $(grep Non-2xx "$dir/one.txt"))"
    printf '%-10s 1 server   %-32s %8s req/s  p50 %s  p99 %s\n' "$label" "$path" "$(rps "$dir/one.txt")" \
      "$(awk '$1=="50%" {print $2}' "$dir/one.txt")" "$(awk '$1=="99%" {print $2}' "$dir/one.txt")"
  done
  start_server "$db" 18092
  for path in "${paths[@]}"; do
    local p=${path#uncached:} script=()
    [ "$p" != "$path" ] && script=(-s "$dir/uncached.lua")
    wrk -t1 -c32 -d"${secs}s" "${script[@]}" "http://127.0.0.1:18091$p" >"$dir/a.txt" &
    local w=$!
    wrk -t1 -c32 -d"${secs}s" "${script[@]}" "http://127.0.0.1:18092$p" >"$dir/b.txt"
    wait $w
    printf '%-10s 2 servers  %-32s %8.0f req/s  (%s + %s)\n' "$label" "$path" \
      "$(awk -v a="$(rps "$dir/a.txt")" -v b="$(rps "$dir/b.txt")" 'BEGIN {print a + b}')" "$(rps "$dir/a.txt")" "$(rps "$dir/b.txt")"
  done
  stop_servers
}

write_bench() { # label db
  local label=$1 db=$2 line
  # A client whose write fails (SQLite: busy past its 5 s timeout) is counted as an
  # error in the line, not a reason to stop.
  line=$("$dir/bench_writes" "$db" 64 "$secs" 2>/dev/null || true)
  printf '%-10s 1 process  64 clients: %s\n' "$label" "$line"
  "$dir/bench_writes" "$db" 32 "$secs" >"$dir/w1.txt" 2>/dev/null &
  local w=$!
  "$dir/bench_writes" "$db" 32 "$secs" >"$dir/w2.txt" 2>/dev/null || true
  wait $w || true
  printf '%-10s 2 processes x 32 clients: %s | %s\n' "$label" "$(cat "$dir/w1.txt")" "$(cat "$dir/w2.txt")"
}

"$bin" init --db "$dir/bench.db" --demo >/dev/null
echo "--- reads (wrk, ${secs}s each)"
read_bench sqlite "$dir/bench.db"
if [ -n "$pg" ]; then
  url=$(pgdb cg_bench)
  "$bin" init --db "$url" --demo >/dev/null
  read_bench postgresql "$url"
fi
echo "--- writes (user + audit entry per transaction, ${secs}s each)"
write_bench sqlite "$dir/bench.db"
[ -n "$pg" ] && write_bench postgresql "$url"
exit 0
