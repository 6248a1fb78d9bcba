#!/bin/bash
# Sortition engine speed (issue 7). Prints one line per measurement:
#   sa_fixture_22 (n=150, k=22, households)                target < 1 s
#   example_large_200 (n=2000, k=200)                      target < 60 s (paper: ~1160 s, Gurobi)
#   the synthetic instances with expected LEXIMIN vectors (accuracy and time)
#   a realistic generated pool, n=1727, k=110, 7 categories, shaped like the paper's
#   sf_e (4000 s with Gurobi)                              target < 5 min
# each with CBC/CLP (the default) and GLPK. Uses $CG_BIN (release build) and
# $CG_SHARED_DATA. Each run is stopped with SIGINT after 600 s (the realistic pool
# after SORTITION_BENCH_LIMIT seconds, default 900, and stage by stage after
# SORTITION_BENCH_STAGES_LIMIT, default 300); set SORTITION_BENCH_QUICK=1 to skip the
# realistic pool.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${CG_BIN:-build/commonground}
DATA=${CG_SHARED_DATA:-$(cd .. && pwd)/shared/data}/sortition
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ ! -d "$DATA" ]; then
  echo "sortition: $DATA not found, skipped"
  exit 0
fi

# Runs one instance; prints wall and CPU time (user + system: the machines are shared,
# and CPU time is what contention inflates least), solver figures and the smallest
# probability.
run() { # label solver people categories k [extra args...]
  local label=$1 solver=$2 people=$3 cats=$4 k=$5
  shift 5
  local t0 t1
  t0=$(date +%s.%N)
  local rc=0
  /usr/bin/time -o "$TMP/time" -f '%U %S' timeout -s INT "${LIMIT:-600}" "$BIN" sortition --solver "$solver" --people "$people" --categories "$cats" \
    --panel "$k" --seed 1 --format json "$@" >"$TMP/out.json" 2>"$TMP/err" || rc=$?
  if [ $rc -eq 124 ]; then # timeout sent SIGINT: the engine stopped cleanly
    echo "$label [$solver]: stopped by SIGINT at the ${LIMIT:-600} s limit, did not finish; last progress:"
    grep '^sortition: stage' "$TMP/err" | tail -1
    return 1
  elif [ $rc -ne 0 ]; then
    echo "$label [$solver]: FAILED: $(grep -v -E '^sortition: (stage|leximin:|warm start|time:)' "$TMP/err" | head -3)"
    return 1
  fi
  t1=$(date +%s.%N)
  local s
  s=$(tr -d '\n ' <"$TMP/out.json" | grep -o '"solver":{[^}]*}' | sed 's/"solver"://')
  local min
  min=$(tr -d '\n ' <"$TMP/out.json" | grep -o '"stats":{"min":[^,]*' | sed 's/.*://')
  local cpu
  cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$TMP/time")
  printf '%-34s %-5s %7.2f s wall %7s s cpu  min %.6f  %s\n' "$label" "$solver" "$(echo "$t1 - $t0" | bc)" "$cpu" "$min" "$s"
}

# Largest |probability - expected| over the people of a synthetic instance.
accuracy() { # expected.csv
  awk -F, 'NR==FNR { if (FNR > 1) e[$1] = $2; next }
           /"id":/ { gsub(/[",]/, "", $0); split($0, a, ":"); id = a[2]; gsub(/ /, "", id) }
           /"probability":/ && id != "" { gsub(/[ ,]/, "", $0); split($0, a, ":"); d = a[2] - e[id];
             if (d < 0) d = -d; if (d > m) m = d; id = "" }
           END { printf "  max |p - expected| = %.2e\n", m }' "$1" "$TMP/out.json"
}

# A realistic pool shaped like sf_e (n=1727, k=110, 7 categories with 3/4/12/3/5/2/2
# features and the population shares of the paper's intersections.csv). Volunteers are
# skewed against the population (propensity between 0.5 and 2 per feature) and the
# quotas are the population share of k rounded down and up, as practitioners set them.
# Deterministic: a Park-Miller generator with a fixed seed.
gen_pool() { # dir
  awk -v dir="$1" 'BEGIN {
    x = 20211;
    ncat = split("a b c d e f g", cat, " ");
    feats["a"] = "a1:0.49 a2:0.505 a3:0.005";
    feats["b"] = "b1:0.2166 b2:0.2487 b3:0.2452 b4:0.2895";
    feats["c"] = "c1:0.042 c2:0.112 c3:0.084 c4:0.073 c5:0.082 c6:0.094 c7:0.128 c8:0.137 c9:0.085 c10:0.049 c11:0.085 c12:0.029";
    feats["d"] = "d1:0.18 d2:0.376 d3:0.444";
    feats["e"] = "e1:0.247 e2:0.456 e3:0.22 e4:0.036 e5:0.041";
    feats["f"] = "f1:0.897 f2:0.103";
    feats["g"] = "g1:0.749 g2:0.251";
    n = 1727; k = 110;
    print "category,feature,min,max" > (dir "/categories.csv");
    header = "";
    for (c = 1; c <= ncat; c++) {
      nf[c] = split(feats[cat[c]], fl, " ");
      tot = 0;
      for (j = 1; j <= nf[c]; j++) {
        split(fl[j], kv, ":"); name[c, j] = kv[1]; share[c, j] = kv[2];
        x = (x * 16807) % 2147483647; skew = 0.5 + 1.5 * x / 2147483647;
        w[c, j] = share[c, j] * skew; tot += w[c, j];
        lo = int(share[c, j] * k); hi = lo + 1;
        print cat[c] "," name[c, j] "," lo "," hi > (dir "/categories.csv");
      }
      for (j = 1; j <= nf[c]; j++) w[c, j] /= tot;
      header = header (c > 1 ? "," : "") cat[c];
    }
    print header > (dir "/respondents.csv");
    for (i = 0; i < n; i++) {
      line = "";
      for (c = 1; c <= ncat; c++) {
        x = (x * 16807) % 2147483647; u = x / 2147483647; acc = 0; pick = nf[c];
        for (j = 1; j <= nf[c]; j++) { acc += w[c, j]; if (u < acc) { pick = j; break } }
        line = line (c > 1 ? "," : "") name[c, pick];
      }
      print line > (dir "/respondents.csv");
    }
  }'
}

S=$DATA
echo "sortition engine (issue 7): wall time of one run each, release build"
# Each instance with CBC/CLP and GLPK, then CBC/CLP stage by stage (--no-relaxation,
# labelled "stages") to show what the relaxation's shortcut saves.
for variant in coin glpk stages; do
  solver=$variant sfx="" more=()
  [ "$variant" = stages ] && solver=coin sfx=" (stages)" more=(--no-relaxation)
  run "sa_fixture_22$sfx" $solver "$S/sa_fixture_22/respondents.csv" "$S/sa_fixture_22/categories.csv" 22 --address-columns address "${more[@]}"
  run "example_small_20$sfx" $solver "$S/example_small_20/respondents.csv" "$S/example_small_20/categories.csv" 20 "${more[@]}"
  run "example_large_200$sfx" $solver "$S/example_large_200/respondents.csv" "$S/example_large_200/categories.csv" 200 "${more[@]}"
  for d in "$S"/synthetic/syn_*/; do
    name=$(basename "$d")
    k=$(grep -o '"k": *[0-9]*' "$d/meta.json" | head -1 | grep -o '[0-9]*$')
    extra=()
    [ -n "$(grep -o '"address_line_1"' "$d/meta.json")" ] && extra=(--address-columns address_line_1,postcode)
    run "$name$sfx" $solver "$d/respondents.csv" "$d/categories.csv" "$k" "${extra[@]}" "${more[@]}" && accuracy "$d/expected_leximin.csv"
  done
done
if [ -z "${SORTITION_BENCH_QUICK:-}" ]; then
  mkdir -p "$TMP/pool"
  gen_pool "$TMP/pool"
  for solver in coin glpk; do
    LIMIT=${SORTITION_BENCH_LIMIT:-900} run "realistic n=1727 k=110 (sf_e-like)" $solver \
      "$TMP/pool/respondents.csv" "$TMP/pool/categories.csv" 110
  done
  # stage by stage, for the ratio (did not finish in 26 minutes in earlier builds)
  LIMIT=${SORTITION_BENCH_STAGES_LIMIT:-300} run "realistic n=1727 k=110 (stages)" coin \
    "$TMP/pool/respondents.csv" "$TMP/pool/categories.csv" 110 --no-relaxation
fi
