#!/bin/bash
# Community directory benchmark (issue 3): a generated directory of 10,000 services
# across 3,000 organisations (Open Referral UK JSON, written by the awk program below,
# deterministic) imported through `commonground directory import` and timed; then wrk on
# loopback (keep-alive, 64 connections, 2 threads) against the release binary:
#   /openreferral/services?per_page=50   (ORUK page, fully nested, with total count)
#   /directory?q=food+bank               (the HTML search page: FTS5 ranked, 20 results)
#   /openreferral/services?search=club&per_page=50
# Targets: each page >= 2,000 requests/s with p99 < 30 ms; import < 5 s.
# Then the same three kinds of request uncached: a second server with CG_DIR_CACHE=0
# (the response cache off) and a wrk Lua script that varies the page number or the
# search word on every request, as a crawler or a changing feed would.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CG_BIN:-build/commonground}
dir=$(mktemp -d /tmp/cg-bench-dir-XXXXXX)
pid=
pid2=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; [ -n "$pid2" ] && kill $pid2 2>/dev/null; [ -n "$pid2" ] && wait $pid2 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" init --db "$dir/bench.db" --demo >/dev/null

# 3,000 organisations, 10,000 services: categories from the default taxonomy, areas by
# ONS ward code, one location with coordinates in Adur and Worthing, one weekly schedule.
awk -v NORG=3000 -v NSVC=10000 'BEGIN {
  srand(3);
  split("01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16", terms, " ");
  split("E05007562 E05007563 E05007564 E05007565 E05007566 E05007567 E05007568 E05007569 E05007570 E05007571 E05007694 E05007695 E05007696 E05007697 E05007698 E05007699 E05007700 E05007701", wards, " ");
  split("food bank|youth club|walking group|repair cafe|lunch club|money advice|choir|football club|knit and natter|litter pick|digital drop-in|parent and toddler|men'"'"'s shed|book club|community garden", kinds, "|");
  split("Worthing|Lancing|Shoreham|Sompting|Southwick|Goring|Durrington|Broadwater", towns, "|");
  split("MO TU WE TH FR SA SU", days, " ");
  printf "{\"organizations\":[";
  for (o = 1; o <= NORG; o++) {
    printf "%s{\"id\":\"b0000000-0000-4000-8000-%012d\",\"name\":\"%s group %d\",\"description\":\"A generated benchmark organisation\"}", (o > 1 ? "," : ""), o, towns[1 + o % 8], o;
  }
  printf "],\"services\":[";
  for (s = 1; s <= NSVC; s++) {
    o = 1 + (s * 7) % NORG; k = 1 + (s % 15); t = 1 + (s % 8);
    lat = 50.80 + rand() * 0.05; lon = -0.42 + rand() * 0.20;
    printf "%s{\"id\":\"c0000000-0000-4000-8000-%012d\",\"organization_id\":\"b0000000-0000-4000-8000-%012d\",", (s > 1 ? "," : ""), s, o;
    printf "\"name\":\"%s %s %d\",\"status\":\"active\",\"description\":\"A %s in %s for everyone, generated for the benchmark, number %d.\",", towns[t], kinds[k], s, kinds[k], towns[t], s;
    printf "\"attributes\":[{\"id\":\"d0000000-0000-4000-8000-%012d\",\"taxonomy_term_id\":\"6d1c3b1e-6a53-4c1e-9a43-0000000000%s\"}],", s, terms[1 + s % 16];
    printf "\"service_areas\":[{\"id\":\"e0000000-0000-4000-8000-%012d\",\"name\":\"ward\",\"extent\":\"%s\",\"extent_type\":\"ons_gss_code\"}],", s, wards[1 + s % 18];
    printf "\"service_at_locations\":[{\"id\":\"f0000000-0000-4000-8000-%012d\",\"location\":{\"id\":\"a0000000-0000-4000-8000-%012d\",\"location_type\":\"physical\",\"name\":\"Hall %d\",\"latitude\":%.5f,\"longitude\":%.5f,\"addresses\":[{\"id\":\"a1000000-0000-4000-8000-%012d\",\"address_1\":\"%d High Street\",\"city\":\"%s\",\"state_province\":\"\",\"postal_code\":\"BN1%d %dAB\",\"country\":\"GB\",\"address_type\":\"physical\"}]}}],", s, s, s, lat, lon, s, s % 200, towns[t], s % 7, s % 10;
    printf "\"schedules\":[{\"id\":\"a2000000-0000-4000-8000-%012d\",\"freq\":\"WEEKLY\",\"byday\":\"%s\",\"opens_at\":\"10:00\",\"closes_at\":\"12:00\"}]}", s, days[1 + s % 7];
  }
  printf "]}\n";
}' >"$dir/feed.json"
echo "feed: $(du -h "$dir/feed.json" | cut -f1) of ORUK JSON, 3000 organisations, 10000 services"
start=$(date +%s.%N)
"$bin" directory import "$dir/feed.json" --db "$dir/bench.db"
end=$(date +%s.%N)
echo "import wall time (process start to exit): $(echo "$end - $start" | bc) s"
start=$(date +%s.%N)
"$bin" directory import "$dir/feed.json" --db "$dir/bench.db"
end=$(date +%s.%N)
echo "re-import of the same feed (nothing changes): $(echo "$end - $start" | bc) s"

port=${CG_BENCH_PORT:-18083}
"$bin" serve --db "$dir/bench.db" --listen 127.0.0.1:$port --no-access-log --log-level warn >"$dir/out" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "page sizes: $(curl -s "http://127.0.0.1:$port/openreferral/services?per_page=50" | wc -c) bytes (ORUK page), $(curl -s "http://127.0.0.1:$port/directory?q=food+bank" | wc -c) bytes (search page)"
for path in "/openreferral/services?per_page=50" "/directory?q=food+bank" "/openreferral/services?search=club&per_page=50"; do
  echo "--- wrk -t2 -c64 -d10s --latency http://127.0.0.1:$port$path"
  wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$port$path" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
done
kill $pid
wait $pid 2>/dev/null || true
pid=

# Uncached: every request answered from the database. The Lua script puts 1 + (n mod
# WRK_MOD) in place of %d, or the (n mod words)-th of WRK_WORDS in place of %s.
cat >"$dir/vary.lua" <<'LUA'
local n = 0
local tmpl = os.getenv("WRK_TMPL")
local modn = tonumber(os.getenv("WRK_MOD") or "1")
local words = {}
for w in string.gmatch(os.getenv("WRK_WORDS") or "x", "[^,]+") do words[#words + 1] = w end
request = function()
  n = n + 1
  local path = string.gsub(tmpl, "%%d", tostring(1 + n % modn))
  path = string.gsub(path, "%%s", words[1 + n % #words])
  return wrk.format("GET", path)
end
LUA
CG_DIR_CACHE=0 "$bin" serve --db "$dir/bench.db" --listen 127.0.0.1:$port --no-access-log --log-level warn >"$dir/out2" 2>&1 &
pid2=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
words="club,food,youth,lunch,walking,choir,repair,money,garden,book,worthing,lancing,shoreham,advice,digital,parent,litter,knit,football,community"
for spec in "/openreferral/services?per_page=50&page=%d|200" "/directory?q=food+bank&page=%d|62" "/openreferral/services?search=%s&per_page=50|1"; do
  path=${spec%|*}
  echo "--- uncached (CG_DIR_CACHE=0): WRK_TMPL='$path' WRK_MOD=${spec#*|} wrk -t2 -c64 -d10s --latency -s vary.lua"
  WRK_TMPL="$path" WRK_MOD=${spec#*|} WRK_WORDS=$words wrk -t2 -c64 -d10s --latency -s "$dir/vary.lua" "http://127.0.0.1:$port/" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
done
