#!/bin/bash
# TEST STAND-IN for Apache Kafka's bin/kafka-server-start.sh (built by tests/ansible/standin/build-tarball.sh).
# Runs the tansu Kafka-protocol broker once per listener in server.properties, each advertising the
# matching advertised.listeners entry, all on the shared storage from config/standin.env.
set -euo pipefail
base="$(cd "$(dirname "$0")/.." && pwd)"
cfg="${1:?usage: kafka-server-start.sh server.properties}"
[ -r "$cfg" ] || { echo "kafka-server-start.sh: cannot read $cfg" >&2; exit 1; }
prop() { sed -n "s/^$1=//p" "$cfg" | tail -n 1; }
set -a; . "$base/config/standin.env"; set +a
[ -n "${KAFKA_HEAP_OPTS:-}" ] || KAFKA_HEAP_OPTS="-Xmx1G -Xms1G"
export KAFKA_HEAP_OPTS
listeners="$(prop listeners)"
advertised="$(prop advertised.listeners)"
log_dirs="$(prop log.dirs)"
[ -n "$listeners" ] || { echo "kafka-server-start.sh: no listeners in $cfg" >&2; exit 1; }
if [ -n "$(prop process.roles)" ]; then
  meta="${log_dirs%%,*}/meta.properties"
  if [ ! -f "$meta" ]; then
    echo "No meta.properties found in ${log_dirs%%,*} (have you run kafka-storage.sh to format the directory?)" >&2
    exit 1
  fi
  cluster_id="$(sed -n 's/^cluster.id=//p' "$meta")"
else
  zk="$(prop zookeeper.connect)"
  [ -n "$zk" ] || { echo "kafka-server-start.sh: neither process.roles nor zookeeper.connect set" >&2; exit 1; }
  # Like a real broker, do not come up without a reachable ZooKeeper (deadline 120 s).
  deadline=$((SECONDS + 120)); ok=false
  while [ $SECONDS -lt $deadline ] && ! $ok; do
    for hp in ${zk//,/ }; do
      hp="${hp%%/*}"
      if reply=$( (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null ) && [ "$reply" = imok ]; then ok=true; break; fi
    done
    $ok || sleep 1
  done
  $ok || { echo "kafka-server-start.sh: no ZooKeeper in $zk answered ruok" >&2; exit 1; }
  cluster_id="zk-$(printf '%s' "$zk" | md5sum | cut -c1-16)"
fi
pids=()
for l in ${listeners//,/ }; do
  name="${l%%://*}"; hostport="${l#*://}"
  adv="$(printf '%s\n' ${advertised//,/ } | sed -n "s#^$name://##p")"
  [ -n "$adv" ] || adv="$hostport"
  "$base/libs/tansu" broker --cluster-id "$cluster_id" --listener-url "tcp://$hostport" \
    --advertised-listener-url "tcp://$adv" --storage-engine "$STANDIN_STORAGE_ENGINE" &
  pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 143' TERM INT
wait -n || true
echo "kafka-server-start.sh: a listener process exited; stopping the broker" >&2
kill -TERM "${pids[@]}" 2>/dev/null || true
wait || true
exit 1
