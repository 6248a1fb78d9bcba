#!/bin/bash
# Runs every test program and prints one summary; the last line is
# "N passed, N failed, N skipped". Unit and HTTP tests are cmocka binaries run with TAP
# output; browser tests are node's test runner with TAP output. A program that exits
# non-zero without reporting a failing test (a sanitizer abort, a crash) counts as one
# failure, so nothing can fail silently. Logs: build/test/logs/.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=build/test/logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=()

count() { # $1 = log file, $2 = exit status, $3 = label
  local p f s
  # cmocka reports a skipped test as "not ok N # SKIP", node as "ok N ... # SKIP".
  p=$(grep -E '^ok [0-9]+' "$1" | grep -cvE '# (SKIP|skip)')
  s=$(grep -E '^(not )?ok [0-9]+' "$1" | grep -cE '# (SKIP|skip)')
  f=$(grep -E '^not ok [0-9]+' "$1" | grep -cvE '# (SKIP|skip)')
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    failures+=("$3 (exit status $2, see $1)")
  fi
  while IFS= read -r line; do failures+=("$3: $line"); done < <(grep -E '^not ok [0-9]+' "$1" | grep -vE '# (SKIP|skip)')
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  printf '%-48s %4d passed %3d failed %3d skipped\n' "$3" "$p" "$f" "$s"
}

export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CG_TEST_BIN=$PWD/build/test/commonground
export CG_SHARED_DATA=${CG_SHARED_DATA:-$(cd .. && pwd)/shared/data}

# PostgreSQL: a throwaway cluster (scripts/pg-test.sh) for the second run of the store
# and HTTP tests and for tests/server/test_scaleout; removed when this script exits.
# Without it those runs are reported as skipped, with the reason.
export PG_TEST_DIR=$PWD/build/pg/run-$$
pg_reason=
if CG_TEST_PG_URL=$(scripts/pg-test.sh start 2>"$logs/pg-start.log"); then
  export CG_TEST_PG_URL
  trap 'scripts/pg-test.sh stop' EXIT
else
  unset CG_TEST_PG_URL
  pg_reason=$(grep -v '^$' "$logs/pg-start.log" | head -1)
  echo "PostgreSQL unavailable (${pg_reason:-see $logs/pg-start.log}): its runs are skipped"
fi

# A test runs a second time on PostgreSQL when it honours CG_TEST_DB_URL: the store
# tests that say so, and the HTTP tests started through the harness.
runs_on_pg() {
  local src="tests/${1}.c"
  [ -f "$src" ] && grep -qE 'CG_TEST_DB_URL|cg_server_start\(' "$src"
}

# Unit tests first, then HTTP tests against the real server.
for t in $(find build/test/tests -type f -executable -name 'test_*' | sort | grep -v '/server/') \
         $(find build/test/tests/server -type f -executable -name 'test_*' 2>/dev/null | sort); do
  name=${t#build/test/tests/}
  log="$logs/${name//\//_}.log"
  timeout 900 "$t" >"$log" 2>&1
  count "$log" $? "$name"
  if runs_on_pg "$name"; then
    if [ -n "${CG_TEST_PG_URL:-}" ]; then
      log="$logs/${name//\//_}.postgresql.log"
      CG_TEST_DB_URL=$CG_TEST_PG_URL timeout 900 "$t" >"$log" 2>&1
      count "$log" $? "$name [postgresql]"
    else
      skipped=$((skipped + 1))
      printf '%-48s skipped: PostgreSQL unavailable\n' "$name [postgresql]"
    fi
  fi
done

# Browser tests (headless Chromium through playwright-core).
if [ -d tests/browser ] && ls tests/browser/*.test.mjs >/dev/null 2>&1; then
  log="$logs/browser.log"
  timeout 900 node --test --test-reporter=tap tests/browser/ >"$log" 2>&1
  count "$log" $? "browser"
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "Failures:"
  for f in "${failures[@]}"; do echo "  $f"; done
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
