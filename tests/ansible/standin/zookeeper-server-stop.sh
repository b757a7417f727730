#!/bin/bash
# TEST STAND-IN for bin/zookeeper-server-stop.sh.
pids=$(pgrep -f 'org.apache.zookeeper.server.quorum.QuorumPeerMain' || true)
[ -n "$pids" ] || { echo "No zookeeper server to stop"; exit 1; }
kill -TERM $pids
