#!/usr/bin/env bash
# Installs the Debian packages the Python tests drive as real programs: Chromium and ChromeDriver for the
# dashboard's browser test (tests/test_dashboard_browser.py), kcat for the client guide's test
# (tests/test_client_docs.py, docs/clients.md). Idempotent: does nothing when all are there. Needs root
# (or sudo) and Debian's package registry; browser downloads by test tools (playwright install,
# selenium-manager) are not used.
set -euo pipefail
missing=()
for tool in chromium:chromium chromedriver:chromium-driver kcat:kcat; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup-test-tools: ${missing[*]} missing and not root; install Debian's ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t setup-test-tools.XXXXXX.log)"
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
  >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "setup-test-tools: apt-get install ${missing[*]} failed; full log in $log" >&2
  exit 1
fi
rm -f "$log"
