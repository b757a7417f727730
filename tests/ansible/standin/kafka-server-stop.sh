#!/bin/bash
# TEST STAND-IN for Apache Kafka's bin/kafka-server-stop.sh.
pids=$(pgrep -f 'libs/tansu broker' || true)
[ -n "$pids" ] || { echo "No kafka server to stop"; exit 1; }
kill -TERM $pids
