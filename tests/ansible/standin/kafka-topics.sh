#!/bin/bash
# TEST STAND-IN for Apache Kafka's bin/kafka-topics.sh: --list, --create [--if-not-exists],
# --describe [--topic T] [--under-replicated-partitions], backed by `tansu topic`.
set -euo pipefail
base="$(cd "$(dirname "$0")/.." && pwd)"
bs=""; action=""; topic=""; parts=1; ine=false; urp=false
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server) bs="$2"; shift 2 ;;
    --list|--create|--describe) action="${1#--}"; shift ;;
    --topic) topic="$2"; shift 2 ;;
    --partitions) parts="$2"; shift 2 ;;
    --replication-factor) shift 2 ;;
    --if-not-exists) ine=true; shift ;;
    --under-replicated-partitions) urp=true; shift ;;
    *) echo "kafka-topics.sh (stand-in): unsupported option $1" >&2; exit 1 ;;
  esac
done
[ -n "$bs" ] || { echo "Missing required argument \"[bootstrap-server]\"" >&2; exit 1; }
broker="tcp://${bs%%,*}"
meta() { "$base/libs/tansu" topic list --broker "$broker"; }
case "$action" in
  list) meta | python3 -c 'import json,sys; [print(t["name"]) for t in json.load(sys.stdin)]' ;;
  create)
    [ -n "$topic" ] || { echo "Missing required argument \"[topic]\"" >&2; exit 1; }
    if $ine && meta | python3 -c 'import json,sys; sys.exit(0 if sys.argv[1] in [t["name"] for t in json.load(sys.stdin)] else 1)' "$topic"; then
      exit 0
    fi
    "$base/libs/tansu" topic create "$topic" --broker "$broker" --partitions "$parts" >/dev/null
    echo "Created topic $topic." ;;
  describe)
    meta | python3 -c '
import json, sys
topic, urp = sys.argv[1], sys.argv[2] == "true"
for t in json.load(sys.stdin):
    if topic and t["name"] != topic:
        continue
    for p in t["partitions"]:
        if urp and sorted(p["isr_nodes"]) == sorted(p["replica_nodes"]):
            continue
        print("Topic: %s\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s" % (t["name"], p["partition_index"], p["leader_id"],
              ",".join(map(str, p["replica_nodes"])), ",".join(map(str, p["isr_nodes"]))))
' "$topic" "$urp" ;;
  *) echo "kafka-topics.sh (stand-in): one of --list, --create, --describe is required" >&2; exit 1 ;;
esac
