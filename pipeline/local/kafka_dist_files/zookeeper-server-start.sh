#!/usr/bin/env bash
# Starts a ZooKeeper server from the jars of this (3.x) distribution.
#   zookeeper-server-start.sh [-daemon] zookeeper.properties
set -euo pipefail
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 [-daemon] zookeeper.properties" >&2
  exit 1
fi
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M}"
export KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:$bin/../config/log4j.properties}"
daemon=()
if [ "$1" = "-daemon" ]; then daemon=(-daemon); shift; fi
exec "$bin/kafka-run-class.sh" "${daemon[@]}" -name zookeeper -loggc org.apache.zookeeper.server.quorum.QuorumPeerMain "$@"
