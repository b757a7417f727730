#!/usr/bin/env bash
# The Prometheus JMX exporter Java agent that roles/jmx_exporter pins (its version and SHA-256 are read from
# roles/jmx_exporter/defaults/main.yml), fetched from Maven Central with mvn, checked against that SHA-256
# and cached in .cache/jmx-exporter. Prints the jar's path on stdout.
#
#   scripts/fetch-jmx-exporter.sh
#
# The lab (scripts/lab.sh) and the role tests (tests/ansible/run.sh) install the agent from this copy:
# their hosts have no route to Maven Central. Needs Java and Maven (mvn), like the Kafka distributions.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEFAULTS="$REPO/roles/jmx_exporter/defaults/main.yml"
OUT="$REPO/.cache/jmx-exporter"
die() { echo "fetch-jmx-exporter: error: $1" >&2; exit 1; }

value() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *\$/\1/p" "$DEFAULTS"; }
version="$(value jmx_exporter_version)"
want="$(value jmx_exporter_checksum | tr 'A-F' 'a-f')"
[ -n "$version" ] && [ ${#want} -eq 64 ] || die "cannot read jmx_exporter_version/jmx_exporter_checksum from $DEFAULTS"
jar="$OUT/jmx_prometheus_javaagent-$version.jar"

if [ -f "$jar" ] && [ "$(sha256sum "$jar" | cut -d' ' -f1)" = "$want" ]; then
  echo "$jar"
  exit 0
fi
command -v mvn >/dev/null || die "mvn is missing; fix: apt-get install maven (and a JDK 17)"
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp" "$OUT"
# mvn checks the artifact against Maven Central's published SHA-1; the role pins its SHA-256.
(cd "$OUT.tmp" && mvn -B -q dependency:copy -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$version" \
  -DoutputDirectory="$OUT.tmp") >&2 || die "mvn could not fetch io.prometheus.jmx:jmx_prometheus_javaagent:$version"
got="$(sha256sum "$OUT.tmp/jmx_prometheus_javaagent-$version.jar" | cut -d' ' -f1)"
[ "$got" = "$want" ] || die "jmx_prometheus_javaagent-$version.jar from Maven Central has SHA-256 $got, the role pins $want"
mv "$OUT.tmp/jmx_prometheus_javaagent-$version.jar" "$jar"
rm -rf "$OUT.tmp"
echo "$jar"
