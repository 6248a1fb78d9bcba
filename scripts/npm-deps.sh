#!/bin/bash
# Installs the npm packages (GOV.UK Frontend sources for the stylesheet; playwright-core,
# axe-core and ajv for tests) exactly as package-lock.json pins them, when they are
# missing or the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.cg-lock-stamp
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then touch "$stamp"; exit 0; fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
