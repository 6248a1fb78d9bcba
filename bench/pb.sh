#!/bin/bash
# Participatory budgeting engine (issue 4): the speed and memory figures the issue asks
# for, measured with the release binary ($CG_BIN) on the pabulib files in
# $CG_SHARED_DATA/pb. Each figure is the best of 5 runs; "cpu" is the process's CPU
# time as `commonground pb --timing` reports it (reading the file, then computing),
# which stays meaningful on a shared, loaded machine; "wall" is the whole command.
# Peak memory is the maximum resident set size from /usr/bin/time.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${CG_BIN:-build/commonground}
DATA=${CG_SHARED_DATA:-$(cd .. && pwd)/shared/data}/pb
if [ ! -x "$BIN" ]; then echo "pb bench: $BIN missing (make build/commonground)"; exit 1; fi
if [ ! -d "$DATA" ]; then echo "pb bench: $DATA absent, skipped"; exit 0; fi

# best FILE ARGS...: prints "read R ms, compute C ms, whole command W ms" (best of 5
# by compute time; wall time best separately).
best() {
  local f=$1; shift
  local bestc="" bestline="" bestw=""
  for i in 1 2 3 4 5; do
    local t0 t1 line c w
    t0=$(date +%s%N)
    line=$("$BIN" pb "$DATA/$f" "$@" --timing 2>&1 >/dev/null | grep '^timing:')
    t1=$(date +%s%N)
    w=$(( (t1 - t0) / 1000000 ))
    c=$(echo "$line" | sed -E 's/.*compute ([0-9.]+) ms cpu.*/\1/')
    r=$(echo "$line" | sed -E 's/.*read ([0-9.]+) ms cpu.*/\1/')
    if [ -z "$bestc" ] || awk "BEGIN{exit !($c < $bestc)}"; then bestc=$c; bestline="read $r ms cpu, compute $c ms cpu"; fi
    if [ -z "$bestw" ] || [ "$w" -lt "$bestw" ]; then bestw=$w; fi
  done
  echo "$bestline, whole command ${bestw} ms wall"
}

echo "-- one Equal Shares run (target: Warszawa 2026 < 50 ms, Wroclaw 2015 < 100 ms)"
for f in Poland_Warszawa_2026.pb Poland_Wroclaw_2015_150_-_500.pb; do
  for m in --exact --fast; do
    printf '%-34s %-8s %s\n' "$f" "$m" "$(best "$f" --rule equal-shares "$m" --no-explain)"
  done
  printf '%-34s %-8s %s\n' "$f" "+explain" "$(best "$f" --rule equal-shares --exact)"
done

echo "-- full Add1 completion, increment 1 (target: Warszawa 2023 Mokotow < 1 s)"
for f in Poland_Warszawa_2023_Mokotow.pb Poland_Warszawa_2019_Ursynow.pb Poland_Warszawa_2026.pb; do
  for m in --exact --fast; do
    runs=$("$BIN" pb "$DATA/$f" --rule equal-shares --completion add1 "$m" --no-explain --format json |
           grep -E '"(runs|steps)"' | tr -d ' ,\n' | sed 's/"runs":/ runs /; s/"steps":/steps /')
    printf '%-34s %-8s %s (%s)\n' "$f" "$m" "$(best "$f" --rule equal-shares --completion add1 "$m" --no-explain)" "$runs"
  done
done

echo "-- peak memory, every file, equal shares with Add1 and explanations (target < 100 MB)"
max=0
for p in "$DATA"/*.pb; do
  kb=$( { /usr/bin/time -f '%M' "$BIN" pb "$p" --rule equal-shares --completion add1 --fast >/dev/null; } 2>&1 | tail -1)
  gk=$( { /usr/bin/time -f '%M' "$BIN" pb "$p" >/dev/null; } 2>&1 | tail -1)
  [ "$gk" -gt "$kb" ] && kb=$gk
  [ "$kb" -gt "$max" ] && max=$kb
  printf '%-64s %6d KB\n' "$(basename "$p")" "$kb"
done
echo "largest peak: $((max / 1024)) MB"

# Instruction counts (stable where CPU time is not): PB_CALLGRIND=1 bench/pb.sh
if [ -n "${PB_CALLGRIND:-}" ] && command -v valgrind >/dev/null; then
  echo "-- instructions, full Add1 on Mokotow (valgrind --tool=callgrind)"
  for m in --fast --exact; do
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" pb "$DATA/Poland_Warszawa_2023_Mokotow.pb" \
      --rule equal-shares --completion add1 "$m" --no-explain 2>&1 >/dev/null | grep -o 'refs: *[0-9,]*' |
      sed "s/^/Poland_Warszawa_2023_Mokotow.pb $m /"
    rm -f "$out"
  done
fi
