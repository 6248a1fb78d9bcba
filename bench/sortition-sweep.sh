#!/bin/bash
# Sortition: the relaxation's shortcut on many generated pools (issue 7). Thirty pools
# of 300 to 1,700 people, 5 to 7 categories of 2 to 5 features, volunteers skewed
# toward some features, quotas the counts of one random panel of size k, loosened by
# 0 or 1 at each end. For each: seconds, whether the relaxation was met, the number of
# types. Each run is stopped with SIGINT after SORTITION_SWEEP_LIMIT seconds (120).
# Uses $CG_BIN (release build). Deterministic (awk's srand with the pool's number).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${CG_BIN:-build/commonground}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

gen() { # seed n k dir
  awk -v seed="$1" -v n="$2" -v k="$3" -v dir="$4" 'BEGIN {
    srand(seed);
    ncat = 5 + int(rand() * 3);
    for (c = 0; c < ncat; c++) nf[c] = 2 + int(rand() * 4);
    for (i = 0; i < n; i++)
      for (c = 0; c < ncat; c++) {
        if (rand() < 0.5) { f = int(-log(1 - rand()) * nf[c] / 2); if (f > nf[c] - 1) f = nf[c] - 1 }
        else f = int(rand() * nf[c]);
        v[i, c] = f;
      }
    # a random panel of k (partial Fisher-Yates)
    for (i = 0; i < n; i++) idx[i] = i;
    for (i = 0; i < k; i++) { j = i + int(rand() * (n - i)); t = idx[i]; idx[i] = idx[j]; idx[j] = t }
    print "category,feature,min,max" > (dir "/categories.csv");
    for (c = 0; c < ncat; c++)
      for (f = 0; f < nf[c]; f++) {
        cnt = 0;
        for (i = 0; i < k; i++) cnt += v[idx[i], c] == f;
        lo = cnt - int(rand() * 2); if (lo < 0) lo = 0;
        hi = cnt + int(rand() * 2);
        print "c" c ",f" f "," lo "," hi > (dir "/categories.csv");
      }
    h = ""; for (c = 0; c < ncat; c++) h = h (c ? "," : "") "c" c;
    print h > (dir "/people.csv");
    for (i = 0; i < n; i++) {
      line = ""; for (c = 0; c < ncat; c++) line = line (c ? "," : "") "f" v[i, c];
      print line > (dir "/people.csv");
    }
  }'
}

echo "sortition sweep: 30 generated pools, release build"
times=()
met=0
for s in $(seq 30 59); do
  n=$((300 + (s * 53) % 1400)) k=$((20 + (s * 7) % 100))
  gen "$s" "$n" "$k" "$TMP"
  t0=$(date +%s.%N)
  rc=0
  timeout -s INT "${SORTITION_SWEEP_LIMIT:-120}" "$BIN" sortition --quiet --people "$TMP/people.csv" \
    --categories "$TMP/categories.csv" --panel "$k" --seed 1 --format json >"$TMP/out.json" 2>"$TMP/err" || rc=$?
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  relax=$(tr -d '\n ' <"$TMP/out.json" | grep -o '"relaxation":"[^"]*"' | cut -d'"' -f4)
  types=$(tr -d '\n ' <"$TMP/out.json" | grep -o '"types":[0-9]*' | cut -d: -f2)
  printf 'pool %2d  n=%4d k=%3d types=%5s  %7.2f s  exit %d  relaxation %s\n' "$s" "$n" "$k" "${types:--}" "$t" "$rc" "${relax:--}"
  times+=("$t")
  [ "$relax" = met ] && met=$((met + 1))
done
printf '%s\n' "${times[@]}" | sort -g | awk -v met="$met" '{ a[NR] = $1 } END {
  printf "%d pools: relaxation met in %d; median %.2f s, 90th percentile %.2f s, max %.2f s\n",
    NR, met, a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR] }'
