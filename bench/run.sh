#!/bin/bash
# `make bench`: runs every bench/*.sh in turn (each prints its own figures). Heavy runs
# live here, never in `make test`. Figures are recorded in docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export CG_BIN=$PWD/build/commonground
export CG_SHARED_DATA=${CG_SHARED_DATA:-$(cd .. && pwd)/shared/data}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
status=0
for b in bench/*.sh; do
  [ "$b" = bench/run.sh ] && continue
  echo "== $b"
  bash "$b" || status=1
done
exit $status
