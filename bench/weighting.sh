#!/bin/bash
# Weighting engine speed (issue 6): 200,000 respondents x 5 variables (age 16+ in 5
# bands, sex, tenure in 4 groups, disability, ethnic group in 5 = 400 cells), margins from
# the Adur census extracts, reading the CSV and writing weights.csv + summary.json
# included. Target: under 0.5 s and under 100 MB. Also the 2,000-respondent reference
# case. Prints wall and CPU time (medians of 5 runs), peak memory (max RSS) and the
# in-process CPU time of reading, weighting and writing (--timing). On a shared machine
# wall time includes waiting for a core; CPU time is what the program itself costs.
#
# Needs: CG_BIN (release binary), CG_SHARED_DATA (bench/run.sh sets both).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CG_BIN:-$PWD/build/commonground}
DATA=${CG_SHARED_DATA:-$(cd .. && pwd)/shared/data}
[ -x "$BIN" ] || { echo "weighting: $BIN not built (make build/commonground)"; exit 1; }
[ -d "$DATA/census" ] || { echo "weighting: $DATA/census absent, skipped"; exit 0; }
N=${WEIGHT_BENCH_N:-200000}
work=$(mktemp -d /tmp/cg_weight_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$BIN" weight margins-from-census --census "$DATA/census" --area Adur \
  --variables age6,sex,tenure,disability,ethnic_group5 --out "$work/margins.csv" 2>/dev/null

# Skewed synthetic respondents (older, owner-occupiers, women and White residents answer
# more often), fixed seed so every run reads the same file.
awk -v n="$N" 'BEGIN {
  srand(20210321);
  split("Aged 16 to 24 years|Aged 25 to 34 years|Aged 35 to 49 years|Aged 50 to 64 years|Aged 65 years and over", age, "|");
  split("1 3 6 10 18", aw, " ");
  split("Female|Male", sex, "|"); split("62 38", sw, " ");
  split("Owned outright|Owned with mortgage or shared ownership|Social rented|Private rented or lives rent free", ten, "|");
  split("Disabled under the Equality Act|Not disabled under the Equality Act", dis, "|");
  split("\"Asian, Asian British or Asian Welsh\"|\"Black, Black British, Black Welsh, Caribbean or African\"|Mixed or Multiple ethnic groups|Other ethnic group|White", eth, "|");
  split("1 0.5 1.5 0.6 96.4", ew, " ");
  print "id,age6,sex,tenure,disability,ethnic_group5,y";
  # Tenure and disability depend on age, as in real populations, so the raking
  # variables interact and raking needs more than a few sweeps.
  split("10 15 40 35|25 45 12 18|45 40 8 7|65 22 7 6|78 8 10 4", tage, "|");
  split("8 12 18 28 45", dage, " ");
  for (i = 1; i <= n; i++) {
    a = pick(aw, 5);
    split(tage[a], tw, " ");
    t = pick(tw, 4);
    dw[1] = dage[a]; dw[2] = 100 - dage[a];
    y = (rand() < 0.25 + 0.08 * (5 - a) + (t >= 3 ? 0.15 : 0)) ? 1 : 0;
    printf "R%06d,%s,%s,%s,%s,%s,%d\n", i, age[a], sex[pick(sw, 2)], ten[t], dis[pick(dw, 2)], eth[pick(ew, 5)], y;
  }
}
function pick(w, k,   s, j, u) {
  s = 0; for (j = 1; j <= k; j++) s += w[j];
  u = rand() * s;
  for (j = 1; j < k; j++) { u -= w[j]; if (u < 0) return j; }
  return k;
}' > "$work/respondents.csv"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench_case() { # $1 label, rest = arguments to `weight`
  local label=$1
  shift
  local times=() cpus=() rss=0
  for run in 1 2 3 4 5; do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$BIN" weight "$@" --format quiet --timing \
      >/dev/null 2>"$work/err" || { echo "weighting: $label failed:"; cat "$work/err"; exit 1; }
    read -r t u s m <"$work/time"
    times+=("$t")
    cpus+=("$(echo "$u + $s" | bc -l)")
    [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%-44s wall %ss, CPU (user+sys) %ss (medians of 5), max RSS %.1f MB\n' "$label" \
    "$(printf '%s\n' "${times[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" \
    "$(echo "$rss / 1024" | bc -l)"
  echo "  wall runs: ${times[*]}; CPU runs: ${cpus[*]}"
  echo "  last run, CPU time by phase: $(grep timing: "$work/err" | sed 's/timing: //')"
}

rows=$(($(wc -l <"$work/respondents.csv") - 1))
size=$(du -h "$work/respondents.csv" | cut -f1)
bench_case "$rows respondents x 5 variables ($size CSV)" \
  --respondents "$work/respondents.csv" --margins "$work/margins.csv" --out "$work/out"
python3 - "$work/out/summary.json" <<'EOF' 2>/dev/null || true
import json, sys
s = json.load(open(sys.argv[1]))
print(f"  status {s['status']}, {s['iterations']} sweeps, {s['n_cells']} cells, ESS {s['ess']:.0f}, "
      f"weight ratio {s['weight_ratio']:.1f}, max margin error {s['max_abs_margin_error']:.2g}")
EOF
bench_case "same, trimmed at 5 x mean weight" \
  --respondents "$work/respondents.csv" --margins "$work/margins.csv" --trim-upper 5 --out "$work/out_trim"
if [ -d "$DATA/weighting/adur_age_sex_tenure" ]; then
  bench_case "adur_age_sex_tenure (2,000 respondents)" \
    --case "$DATA/weighting/adur_age_sex_tenure" --out "$work/out_adur"
fi
