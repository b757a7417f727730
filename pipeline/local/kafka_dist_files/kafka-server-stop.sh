#!/usr/bin/env bash
# Sends SIGTERM (a controlled shutdown) to every Kafka server JVM on this host.
set -uo pipefail
pids="$(pgrep -f 'java.* kafka\.Kafka ' || true)"
if [ -z "$pids" ]; then
  echo "No kafka server to stop"
  exit 1
fi
# shellcheck disable=SC2086
kill -s TERM $pids
