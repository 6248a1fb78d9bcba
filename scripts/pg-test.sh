#!/bin/bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: created under build/pg,
# listening only on a Unix socket in that directory (no TCP port, so it never clashes
# with another server), trusted local connections, removed afterwards. Installs
# nothing: scripts/deps.sh lists postgresql.
#
#   scripts/pg-test.sh start   creates and starts it; prints the database URL
#   scripts/pg-test.sh stop    stops it and removes its directory
#   scripts/pg-test.sh run CMD ARGS...
#                              start, run CMD with CG_TEST_PG_URL set, stop (always);
#                              when the cluster cannot start, runs CMD without it
#                              (tests then skip their PostgreSQL cases and say why)
#
# The URL names the database cg_test (created here) as the superuser cg; tests create
# more databases beside it. PostgreSQL refuses to run as root, so as root the server
# runs as the `postgres` system user (created by the Debian package).
set -uo pipefail
cd "$(dirname "$0")/.."

# One cluster per PG_TEST_DIR (default build/pg/default): test runs started by different
# people in one tree use different directories and never stop each other's cluster.
dir=${PG_TEST_DIR:-$PWD/build/pg/default}
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
pgbin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
port=5432 # only names the socket file; the directory is private

as_owner() { # runs a command as the user that owns the cluster
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Where the cluster really is: $dir, or (when the server's user cannot reach $dir, e.g.
# a checkout under /root) a directory under /tmp that $dir links to.
real() { readlink -f "$dir"; }

url() { echo "postgresql://cg@/cg_test?host=$(real)/sock&port=$port"; }

stop() {
  local r
  r=$(real)
  if [ -f "$r/data/postmaster.pid" ]; then
    as_owner "$pgbin/pg_ctl" -D "$r/data" -m immediate -w stop >/dev/null 2>&1
  fi
  [ -L "$dir" ] && rm -rf "$r"
  rm -rf "$dir"
}

start() {
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "pg-test: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    return 1
  fi
  stop
  mkdir -p "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "pg-test: running as root and there is no 'postgres' user to run the server" >&2
      return 1
    fi
    chown -R postgres "$dir"
    # The server must reach the directory, and a socket path must fit in 107 bytes.
    if ! runuser -u postgres -- test -w "$dir/sock" || [ ${#dir} -gt 80 ]; then
      rm -rf "$dir"
      local tmp
      tmp=$(mktemp -d /tmp/cg-pg.XXXXXX)
      mkdir -p "$tmp/sock"
      chown -R postgres "$tmp"
      ln -s "$tmp" "$dir"
    fi
  fi
  dir=$(real) # from here on, the real directory
  if ! as_owner "$pgbin/initdb" -D "$dir/data" -U cg --auth=trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1; then
    echo "pg-test: initdb failed:" >&2
    tail -5 "$dir/initdb.log" >&2
    return 1
  fi
  # Tests do not need this throwaway cluster to survive a power cut: fsync off, unless
  # PG_TEST_DURABLE=1 (the benchmarks, to compare with SQLite's synchronous=FULL).
  # max_connections covers two servers with their threads plus the test programs.
  local opts="-c listen_addresses= -c unix_socket_directories=$dir/sock -p $port"
  opts+=" -c max_connections=300 -c shared_buffers=64MB"
  if [ "${PG_TEST_DURABLE:-0}" != 1 ]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  if ! as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" \
      start >/dev/null 2>&1; then
    echo "pg-test: the server did not start:" >&2
    tail -5 "$dir/server.log" >&2
    return 1
  fi
  if ! "$pgbin/psql" -X -q "postgresql://cg@/postgres?host=$dir/sock&port=$port" \
      -c "CREATE DATABASE cg_test" >/dev/null 2>&1; then
    echo "pg-test: cannot create the test database" >&2
    return 1
  fi
  url
}

case "${1:-}" in
  start) start || { stop; exit 1; } ;;
  stop) stop ;;
  url) url ;;
  run)
    shift
    export PG_TEST_DIR=${PG_TEST_DIR:-$PWD/build/pg/run-$$}
    dir=$PG_TEST_DIR
    [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }
    trap stop EXIT
    if u=$(start); then
      export CG_TEST_PG_URL=$u
    else
      stop
      echo "pg-test: PostgreSQL unavailable; PostgreSQL tests will skip" >&2
    fi
    "$@"
    ;;
  *)
    echo "usage: $0 start|stop|url|run CMD [ARGS...]" >&2
    exit 2
    ;;
esac
