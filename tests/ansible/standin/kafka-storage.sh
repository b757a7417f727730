#!/bin/bash
# TEST STAND-IN for Apache Kafka's bin/kafka-storage.sh (random-uuid, format).
set -euo pipefail
case "${1:-}" in
  random-uuid)
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | head -c 22; echo ;;
  format)
    shift; cid=""; cfg=""; ignore=false
    while [ $# -gt 0 ]; do
      case "$1" in
        -t|--cluster-id) cid="$2"; shift 2 ;;
        -c|--config) cfg="$2"; shift 2 ;;
        -g|--ignore-formatted) ignore=true; shift ;;
        *) echo "kafka-storage.sh: unknown option $1" >&2; exit 1 ;;
      esac
    done
    [ -n "$cid" ] && [ -r "$cfg" ] || { echo "usage: kafka-storage.sh format -t ID -c CONFIG [--ignore-formatted]" >&2; exit 1; }
    dirs="$(sed -n 's/^log.dirs=//p' "$cfg" | tail -n 1)"; node="$(sed -n 's/^node.id=//p' "$cfg" | tail -n 1)"
    [ -n "$node" ] || { echo "kafka-storage.sh: node.id missing in $cfg" >&2; exit 1; }
    for d in ${dirs//,/ }; do
      if [ -f "$d/meta.properties" ]; then
        $ignore || { echo "Log directory $d is already formatted. Use --ignore-formatted to ignore this directory and format the others." >&2; exit 1; }
        continue
      fi
      mkdir -p "$d"
      printf '#\n#%s\nnode.id=%s\ndirectory.id=%s\nversion=1\ncluster.id=%s\n' "$(date)" "$node" \
        "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | head -c 22)" "$cid" >"$d/meta.properties"
      echo "Formatting metadata directory $d with metadata.version (stand-in)."
    done ;;
  *) echo "kafka-storage.sh (stand-in): supports random-uuid and format" >&2; exit 1 ;;
esac
