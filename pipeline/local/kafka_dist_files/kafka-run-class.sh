#!/usr/bin/env bash
# Runs one main class of this Kafka distribution on the JVM: stockpipe's own launcher for a distribution
# assembled from Maven Central (pipeline/local/kafka_dist.py). It honours the environment Apache's
# launcher reads: JAVA_HOME, KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, LOG_DIR,
# KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS, JMX_PORT, KAFKA_OPTS, and its flags -daemon, -name NAME, -loggc.
#
#   kafka-run-class.sh [-daemon] [-name NAME] [-loggc] MAIN_CLASS [ARGS...]
set -euo pipefail
base="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
daemon=false; name=""; loggc=false
while [ $# -gt 0 ]; do
  case "$1" in
    -daemon) daemon=true; shift ;;
    -name) name="$2"; shift 2 ;;
    -loggc) loggc=true; shift ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: $0 [-daemon] [-name NAME] [-loggc] MAIN_CLASS [ARGS...]" >&2
  exit 2
fi
main="$1"; shift

if [ -n "${JAVA_HOME:-}" ]; then java="$JAVA_HOME/bin/java"; else java="java"; fi
command -v "$java" >/dev/null 2>&1 || { echo "$0: no java ($java); set JAVA_HOME or install a JRE 17+" >&2; exit 1; }

LOG_DIR="${LOG_DIR:-$base/logs}"
mkdir -p "$LOG_DIR" 2>/dev/null || true

# Defaults that apply when the caller sets nothing (tools: a small heap; everyone: G1 with short pauses).
heap_opts="${KAFKA_HEAP_OPTS:--Xmx256M}"
perf_opts="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"
log4j_opts="${KAFKA_LOG4J_OPTS:-}"
if [ -z "$log4j_opts" ]; then
  if [ -f "$base/config/tools-log4j2.yaml" ]; then
    log4j_opts="-Dlog4j2.configurationFile=$base/config/tools-log4j2.yaml"
  elif [ -f "$base/config/tools-log4j.properties" ]; then
    log4j_opts="-Dlog4j.configuration=file:$base/config/tools-log4j.properties"
  fi
fi
gc_opts=""
if $loggc; then
  gc_file="${name:-kafka}-gc.log"
  gc_opts="${KAFKA_GC_LOG_OPTS:--Xlog:gc*:file=$LOG_DIR/$gc_file:time,tags:filecount=10,filesize=100M}"
fi
jmx_opts=""
if [ -n "${JMX_PORT:-}" ]; then
  jmx_opts="${KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false} -Dcom.sun.management.jmxremote.port=$JMX_PORT"
fi

# Word splitting of the *_OPTS variables is intended: each holds several JVM flags.
# shellcheck disable=SC2086
set -- "$java" $heap_opts $perf_opts $gc_opts $jmx_opts $log4j_opts "-Dkafka.logs.dir=$LOG_DIR" \
  -cp "$base/libs/*" ${KAFKA_OPTS:-} "$main" "$@"
if $daemon; then
  out="$LOG_DIR/${name:-kafka}.out"
  nohup "$@" >"$out" 2>&1 </dev/null &
  exit 0
fi
exec "$@"
