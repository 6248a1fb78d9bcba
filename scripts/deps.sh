#!/bin/bash
# Installs the Debian packages Common Ground needs to build, test and run, when any is
# missing. As root it runs apt-get; otherwise it prints the exact command and stops, so
# nothing is ever installed behind an operator's back. The list is the one place that
# names the project's system dependencies (README.md says why each was chosen).
set -euo pipefail

PACKAGES=(
  build-essential pkg-config gettext
  libmicrohttpd-dev   # HTTP server
  libsqlite3-dev      # embedded store
  libpq-dev postgresql # PostgreSQL backend and its tests
  libsodium-dev       # Argon2id, random tokens, constant-time compares
  libjansson-dev      # JSON reading and writing
  libcurl4-openssl-dev # HTTP tests drive the real server with libcurl
  libcmocka-dev       # unit-test framework
  libgmp-dev          # exact rational arithmetic (participatory budgeting)
  libglpk-dev coinor-libcbc-dev coinor-libclp-dev # LP/MIP solvers (sortition)
  libopenblas0-serial # optimised BLAS/LAPACK behind CLP's dense LU (1.6x on large sortition pools)
  chromium            # browser tests (driven by playwright-core from npm)
  wrk                 # benchmarks
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Common Ground needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd >/dev/null
