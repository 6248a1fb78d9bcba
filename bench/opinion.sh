#!/bin/bash
# Opinion-mapping engine (issue 5): speed and memory of `commonground opinion`.
#  1. american-assembly.bowling-green (2,031 participants, 896 comments, ~225,000 votes):
#     full analysis; target under 100 ms.
#  2. A generated conversation shaped like the largest held on pol.is (33,000
#     participants, 800 comments, 2 million votes): full analysis under 2 s, memory
#     proportional to votes (peak RSS at 1 and 2 million votes).
#  3. One new vote on that conversation, then a warm-started update: under 50 ms.
# The "compute" figure is the engine alone; "load" is CSV parsing; both are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${CG_BIN:-build/commonground}
DATA=${CG_SHARED_DATA:-../shared/data}
if [ ! -x "$BIN" ]; then
  echo "opinion bench: $BIN is missing (make build/commonground)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

peak_rss() { # prints the peak resident set of a command in MiB
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f MiB", $1/1024}'
  else
    echo "n/a (no /usr/bin/time)"
  fi
}

best() { # the run with the smallest compute time, of the timing lines on stdin
  awk '{for (i = 1; i <= NF; i++) if ($i == "compute") { print $(i + 1), $0; break }}' | sort -n | head -1 |
    cut -d' ' -f2- | sed 's/^/  /'
}

bg="$DATA/polis/american-assembly.bowling-green"
if [ -d "$bg" ]; then
  echo "bowling-green (best of 5):"
  for i in 1 2 3 4 5; do "$BIN" opinion "$bg" --format json --timing 2>&1 >/dev/null | grep timing; done | best
else
  echo "bowling-green: skipped ($bg absent)"
fi

# Generated conversation: 3 opinion groups with planted agree rates, participation
# skewed like real conversations (a few heavy voters, many light ones), comments seen
# more often the older they are. Deterministic (fixed awk seed).
gen() { # $1 = participants, $2 = comments, $3 = votes, $4 = dir
  mkdir -p "$4"
  awk -v P="$1" -v C="$2" -v V="$3" -v dir="$4" 'BEGIN {
    srand(20261126);
    cf = dir "/comments.csv"; vf = dir "/votes.csv";
    print "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body" > cf;
    for (c = 0; c < C; c++) {
      mod = (c % 50 == 49) ? -1 : 1;
      printf "%d,x,%d,%d,0,0,%d,generated comment %d\n", 1000 + c, c, c % P, mod, c > cf;
      for (g = 0; g < 3; g++) pa[c, g] = (rand() < 0.5) ? 0.8 : 0.2;
    }
    print "timestamp,datetime,comment-id,voter-id,vote" > vf;
    n = 0; ts = 100000;
    mean = V / P;
    for (p = 0; p < P && n < V; p++) {
      g = p % 3;
      k = int(-log(1 - rand()) * mean) + 1;   # exponential: many light voters
      if (k > C) k = C;
      if (p == P - 1 || n + k > V) k = V - n;
      if (k > C) k = C;
      start = int(rand() * C);
      for (i = 0; i < k; i++) {
        c = (start + i * 7) % C;
        u = rand();
        v = (u < 0.15) ? 0 : ((rand() < pa[c, g]) ? 1 : -1);
        printf "%d,x,%d,%d,%d\n", ts++, c, p, v > vf;
        n++;
      }
    }
  }'
}

echo "generating 33,000 x 800 conversation with 1 and 2 million votes..."
gen 33000 800 1000000 "$tmp/m1"
gen 33000 800 2000000 "$tmp/m2"
for m in m1 m2; do
  echo "generated $m ($(($(wc -l <"$tmp/$m/votes.csv") - 1)) votes):"
  for i in 1 2 3; do "$BIN" opinion "$tmp/$m" --format json --timing 2>&1 >/dev/null | grep timing; done | best
  echo "  peak memory: $(peak_rss "$BIN" opinion "$tmp/$m" --format json)"
done
echo "incremental updates on the 2-million-vote conversation:"
"$BIN" opinion "$tmp/m2" --format json --updates 50 2>&1 >/dev/null | grep updates | sed 's/^/  /'
