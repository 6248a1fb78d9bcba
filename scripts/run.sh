#!/bin/bash
# `make run`: creates the database with demo data on first use, then serves on
# http://localhost:8080 (override with CG_LISTEN / CG_DB).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${CG_DB:-var/commonground.db}
listen=${CG_LISTEN:-127.0.0.1:8080}
mkdir -p "$(dirname "$db")"
if [ ! -f "$db" ]; then
  umask 077
  build/commonground init --db "$db" --demo | tee var/first-admin.txt
  umask 022
fi
echo
echo "Open http://localhost:${listen##*:}/ in a browser."
if [ -f var/first-admin.txt ]; then
  echo "Sign in as the demo administrator with the email and one-time password in var/first-admin.txt:"
  grep -E 'First administrator|One-time password' var/first-admin.txt || true
  echo "(the one-time password works for the first sign-in only, which asks you to choose your own)"
fi
echo "Stop with Ctrl-C."
exec build/commonground serve --db "$db" --listen "$listen"
