#!/usr/bin/env bash
# Starts a Kafka server (broker and/or KRaft controller, or a 3.x ZooKeeper-mode broker).
#   kafka-server-start.sh [-daemon] server.properties [--override key=value ...]
set -euo pipefail
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 [-daemon] server.properties [--override property=value]*" >&2
  exit 1
fi
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}"
export KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:-@SERVER_LOG4J_OPTS@}"
daemon=()
if [ "$1" = "-daemon" ]; then daemon=(-daemon); shift; fi
exec "$bin/kafka-run-class.sh" "${daemon[@]}" -name kafkaServer -loggc kafka.Kafka "$@"
