#!/usr/bin/env bash
# Creates .venv and installs the project with the extras asked for (default: local,dev).
# Idempotent and quick when nothing changed: pip is only run when pyproject.toml is newer
# than the stamp it left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local,dev}"
py="${PYTHON:-python3}"

if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "stockpipe needs Python 3.11 or newer; '$py' is $("$py" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.installed-${extras//,/-}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log=.venv/pip-install.log
  if ! .venv/bin/python -m pip install --quiet -e ".[${extras}]" >"$log" 2>&1; then
    grep -v 'WARNING: Location' "$log" | tail -n 30 >&2
    echo "setup: pip install of .[${extras}] failed; full log in $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
