#!/usr/bin/env bash
# Sends SIGTERM to every ZooKeeper server JVM on this host.
set -uo pipefail
pids="$(pgrep -f 'java.* org\.apache\.zookeeper\.server\.quorum\.QuorumPeerMain ' || true)"
if [ -z "$pids" ]; then
  echo "No zookeeper server to stop"
  exit 1
fi
# shellcheck disable=SC2086
kill -s TERM $pids
