#!/usr/bin/env bash
# Builds a TEST-ONLY tarball in the Apache Kafka layout (kafka_<scala>-<version>/bin, config, libs) whose
# scripts run the tansu broker (and, for 3.x, Debian's real ZooKeeper jars). Apache Kafka cannot be
# downloaded here; the roles install this exactly as they would install the real tarball.
#
#   build-tarball.sh VERSION SCALA OUT_DIR STORAGE_ENGINE S3_ENDPOINT
# Writes OUT_DIR/kafka_<scala>-<version>.tgz and prints its SHA-512.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
version="$1"; scala="$2"; out="$3"; storage="$4"; s3="$5"
name="kafka_${scala}-${version}"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
d="$stage/$name"; mkdir -p "$d/bin" "$d/config" "$d/libs"
tansu="$("$REPO/.venv/bin/python" -c 'from pipeline.local.tansu import tansu_binary; print(tansu_binary())')"
cp "$tansu" "$d/libs/tansu"
for s in kafka-server-start.sh kafka-server-stop.sh kafka-storage.sh kafka-topics.sh; do
  install -m 0755 "$HERE/$s" "$d/bin/$s"
done
if [ "${version%%.*}" -lt 4 ]; then
  for s in zookeeper-server-start.sh zookeeper-server-stop.sh; do install -m 0755 "$HERE/$s" "$d/bin/$s"; done
  # Real ZooKeeper from Debian's libzookeeper-java: the jar and its manifest Class-Path, plus a logger.
  jars="/usr/share/java/zookeeper.jar /usr/share/java/slf4j-simple.jar $(unzip -p /usr/share/java/zookeeper.jar META-INF/MANIFEST.MF \
    | tr -d '\r' | sed -n '/^Class-Path:/,/^[A-Z]/p' | sed -e 's/^Class-Path: //' -e 's/^ //' -e '/^[A-Z][a-zA-Z-]*:/d' | tr -d '\n')"
  for j in $jars; do [ -e "$j" ] && cp -L "$j" "$d/libs/"; done
  printf 'dataDir=/tmp/zookeeper\nclientPort=2181\n' >"$d/config/zookeeper.properties"
  printf 'log4j.rootLogger=INFO, stdout\n' >"$d/config/log4j.properties"
else
  printf 'Configuration:\n  Loggers:\n    Root:\n      level: INFO\n' >"$d/config/log4j2.yaml"
fi
printf 'process.roles=broker,controller\nnode.id=1\nlisteners=PLAINTEXT://:9092\nlog.dirs=/tmp/kraft-combined-logs\n' \
  >"$d/config/server.properties"
cat >"$d/config/standin.env" <<ENV
STANDIN_STORAGE_ENGINE=$storage
AWS_ENDPOINT=$s3
AWS_ALLOW_HTTP=true
AWS_ACCESS_KEY_ID=standin
AWS_SECRET_ACCESS_KEY=standin
AWS_DEFAULT_REGION=us-east-1
ENV
echo "TEST STAND-IN for Apache Kafka $version (tansu broker); never use outside tests/ansible." >"$d/STANDIN.txt"
mkdir -p "$out"
tar -C "$stage" --owner=0 --group=0 -czf "$out/$name.tgz" "$name"
sha512sum "$out/$name.tgz" | cut -d' ' -f1
