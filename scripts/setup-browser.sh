#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the dashboard's browser test (tests/test_dashboard_browser.py).
# Idempotent: does nothing when both are already there. Needs root (or sudo) and Debian's package registry;
# browser downloads by test tools (playwright install, selenium-manager) are not used.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup-browser: chromium/chromedriver missing and not root; install Debian's chromium chromium-driver" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t setup-browser.XXXXXX.log)"
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
  >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "setup-browser: apt-get install chromium chromium-driver failed; full log in $log" >&2
  exit 1
fi
rm -f "$log"
chromium --version 2>/dev/null
