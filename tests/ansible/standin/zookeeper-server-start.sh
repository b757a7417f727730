#!/bin/bash
# TEST STAND-IN for the ZooKeeper launcher in Kafka 3.x tarballs: runs the real ZooKeeper
# (Debian's jars in libs/) with KAFKA_HEAP_OPTS, like the Apache script.
set -euo pipefail
base="$(cd "$(dirname "$0")/.." && pwd)"
cfg="${1:?usage: zookeeper-server-start.sh zookeeper.properties}"
[ -n "${KAFKA_HEAP_OPTS:-}" ] || KAFKA_HEAP_OPTS="-Xmx512M -Xms512M"
exec java $KAFKA_HEAP_OPTS ${KAFKA_LOG4J_OPTS:-} -Dzookeeper.log.dir="${LOG_DIR:-$base/logs}" \
  -cp "$base/libs/*" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
