#!/usr/bin/env bash
# Installs the pinned s3rver (disk-backed S3 server for the fault tests) into tests/s3rver/node_modules.
# Idempotent and quick when nothing changed: `npm ci` runs only when package-lock.json is newer than
# the stamp it left behind. Needs node + npm (the npm registry is reachable here).
set -euo pipefail
cd "$(dirname "$0")"
stamp="node_modules/.installed"
if [ -x node_modules/.bin/s3rver ] && [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "tests/s3rver/install.sh: npm not found; install Node.js 20 (apt-get install nodejs npm)" >&2
  exit 1
fi
log="$(mktemp)"
if ! npm ci --no-audit --no-fund --ignore-scripts >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "tests/s3rver/install.sh: npm ci failed (full log in $log)" >&2
  exit 1
fi
rm -f "$log"
touch "$stamp"
