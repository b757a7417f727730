#!/usr/bin/env bash
# The local lab: rehearse site.yml on this machine before touching AWS.
#
#   sudo make lab            # = scripts/lab.sh up: 3 brokers + 1 pipeline host (also the monitoring host), a local AWS-API endpoint
#   ansible-playbook -i inventory/lab site.yml
#   sudo make lab-down       # = scripts/lab.sh down: stops everything, removes inventory/lab
#
#   scripts/lab.sh up [--brokers N] [--spare-hosts N] [--kafka-tarball PATH] [--kafka-version V] [--jmx-exporter-jar PATH]
#   scripts/lab.sh down | status
#   scripts/lab.sh stockpipe ARGS...   run `stockpipe ARGS` on the pipeline host as the services do
#                                      (e.g. scripts/lab.sh stockpipe query --named top_movers)
#
# --spare-hosts N starts N more hosts after the pipeline host, in no inventory group: add them to one (a
# second pipeline host, a fourth broker) with an extra inventory file, as an operator grows a cluster.
# $RUN_DIR/hosts.txt lists every host: the brokers, the pipeline host, then the spares.
#
# Hosts are systemd-nspawn machines (Debian 12, systemd, sshd) on a private bridge 10.77.0.0/24, the same
# mechanism as the role tests (scripts/lab-hosts.sh). Each host has a private address (10.77.0.1N, the
# brokers' internal listener) and a "public" one (10.77.0.11N, the advertised external listener). The AWS
# side (S3 lake, Glue catalog, IAM) is a moto server on 10.77.0.1:9000; SQL runs in DuckDB on the pipeline
# host because moto's Athena runs no queries. The hosts have no route to the internet: the Kafka tarball
# and the pipeline's wheels come from this machine.
#
# The Kafka tarball (Apache's layout, installed through kafka_tarball_url + its SHA-512): --kafka-tarball
# PATH when given; else Apache's archive (downloaded once into .cache/lab, SHA-512 checked); else, when
# the archive cannot be reached, the same version assembled from its Maven Central artifacts
# (pipeline/local/kafka_dist.py, cached in .cache/kafka-dist). `lab.sh up` says which one it used.
#
# Monitoring (docs/monitoring.md): the pipeline host is also the `monitoring` host (Prometheus on
# 10.77.0.1N:9090, reachable from this machine over the bridge). The brokers' JMX exporter agent is the jar
# scripts/fetch-jmx-exporter.sh fetches from Maven Central (or --jmx-exporter-jar PATH), copied from here;
# the Debian packages of Prometheus and the node exporter come from a local apt repository
# (scripts/lab-apt.sh, cached in .cache/lab-apt) copied into each host as its only apt source.
#
# Needs Linux and root (network namespaces, a bridge, systemd-nspawn); installs debootstrap and
# systemd-container with apt when they are missing.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export RUN_DIR="${RUN_DIR:-/run/stockpipe-hosts}"
LAB_DIR="$REPO/inventory/lab"
CACHE="$REPO/.cache/lab"
BRIDGE_ADDR=10.77.0.1
AWS_PORT=9000
BROKERS=3
SPARES=0
KAFKA_VERSION=4.1.0
KAFKA_SCALA=2.13
KAFKA_TARBALL=""
JMX_EXPORTER_JAR=""

die() { echo "lab: error: $1" >&2; exit 1; }
say() { echo "lab: $*"; }

preflight() {
  [ "$(uname -s)" = Linux ] || die "the lab needs Linux (systemd-nspawn, network namespaces); fix: run it on a Linux machine or VM, or use site.yml against EC2"
  [ "$(id -u)" -eq 0 ] || die "the lab needs root (it creates a bridge, network namespaces and nspawn machines); fix: sudo make lab"
  command -v ip >/dev/null || die "iproute2 (ip) is missing; fix: install iproute2"
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v dpkg-scanpackages >/dev/null || missing+=(dpkg-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them; fix: install ${missing[*]}"
    say "installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed; fix: install them by hand"
  fi
}

wait_port() {  # wait_port HOST PORT SECONDS
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

start_aws() {
  local pidfile="$RUN_DIR/moto.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "local AWS endpoint already running (http://$BRIDGE_ADDR:$AWS_PORT)"
    return 0
  fi
  if wait_port "$BRIDGE_ADDR" "$AWS_PORT" 0; then
    die "something else listens on $BRIDGE_ADDR:$AWS_PORT; fix: stop it (a role test run?) and retry"
  fi
  [ -x "$REPO/.venv/bin/moto_server" ] || die "moto_server is not installed; fix: ./scripts/setup.sh local,dev,ansible"
  setsid "$REPO/.venv/bin/moto_server" -H "$BRIDGE_ADDR" -p "$AWS_PORT" >"$RUN_DIR/moto.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_port "$BRIDGE_ADDR" "$AWS_PORT" 30 || die "the local AWS endpoint did not start; see $RUN_DIR/moto.log"
  say "local AWS endpoint (moto) on http://$BRIDGE_ADDR:$AWS_PORT"
}

kafka_tarball() {
  if [ -n "$KAFKA_TARBALL" ]; then
    [ -f "$KAFKA_TARBALL" ] || die "--kafka-tarball $KAFKA_TARBALL: no such file"
    KAFKA_TARBALL="$(cd "$(dirname "$KAFKA_TARBALL")" && pwd)/$(basename "$KAFKA_TARBALL")"
    say "Kafka: $KAFKA_TARBALL (--kafka-tarball)"
    return 0
  fi
  local name="kafka_$KAFKA_SCALA-$KAFKA_VERSION.tgz"
  local url="https://archive.apache.org/dist/kafka/$KAFKA_VERSION/$name"
  KAFKA_TARBALL="$CACHE/$name"
  if [ -f "$KAFKA_TARBALL" ]; then
    say "Kafka: $KAFKA_TARBALL (Apache archive, downloaded earlier)"
    return 0
  fi
  mkdir -p "$CACHE"
  say "downloading $url"
  if curl -fsSL --retry 2 --connect-timeout 10 -o "$KAFKA_TARBALL.tmp" "$url" \
      && curl -fsSL --connect-timeout 10 -o "$KAFKA_TARBALL.sha512" "$url.sha512"; then
    # The Apache .sha512 file is "name: HEX HEX ..." (spaces and line breaks inside the digest).
    local want got
    want="$(tr -d ' \n\r' <"$KAFKA_TARBALL.sha512" | sed 's/.*://' | tr 'A-F' 'a-f')"
    got="$(sha512sum "$KAFKA_TARBALL.tmp" | cut -d' ' -f1)"
    [ "$want" = "$got" ] || { rm -f "$KAFKA_TARBALL.tmp"; die "$name: SHA-512 mismatch (download damaged?); fix: retry"; }
    mv "$KAFKA_TARBALL.tmp" "$KAFKA_TARBALL"
    say "Kafka: $KAFKA_TARBALL (Apache archive)"
    return 0
  fi
  rm -f "$KAFKA_TARBALL.tmp" "$KAFKA_TARBALL.sha512"
  say "the Apache archive cannot be reached; assembling Kafka $KAFKA_VERSION from Maven Central instead"
  local dist="$REPO/.cache/kafka-dist"
  (cd "$REPO" && "$REPO/.venv/bin/python" -m pipeline.local.kafka_dist --out "$dist" "$KAFKA_VERSION") >&2 \
    || die "cannot download $url nor build Kafka $KAFKA_VERSION from Maven Central (see above); fix: fetch the tarball elsewhere and pass --kafka-tarball PATH"
  KAFKA_TARBALL="$dist/$name"
  say "Kafka: $KAFKA_TARBALL (assembled from Maven Central by pipeline/local/kafka_dist.py)"
}

jmx_exporter_jar() {
  if [ -n "$JMX_EXPORTER_JAR" ]; then
    [ -f "$JMX_EXPORTER_JAR" ] || die "--jmx-exporter-jar $JMX_EXPORTER_JAR: no such file"
    JMX_EXPORTER_JAR="$(cd "$(dirname "$JMX_EXPORTER_JAR")" && pwd)/$(basename "$JMX_EXPORTER_JAR")"
  else
    JMX_EXPORTER_JAR="$("$HERE/fetch-jmx-exporter.sh")" \
      || die "cannot fetch the JMX exporter agent from Maven Central (see above); fix: pass --jmx-exporter-jar PATH"
  fi
  say "JMX exporter agent: $JMX_EXPORTER_JAR"
}

# The lab's apt mirror (scripts/lab-apt.sh) inside every host, as its only apt source.
apt_mirror() {
  local repo name _ip _public
  repo="$("$HERE/lab-apt.sh")" || die "cannot build the lab's apt repository (see above)"
  while read -r name _ip _public; do
    local root="$RUN_DIR/$name/root"
    rm -rf "$root/srv/stockpipe-lab-apt" && mkdir -p "$root/srv"
    cp -r "$repo" "$root/srv/stockpipe-lab-apt"
    echo "deb [trusted=yes] file:/srv/stockpipe-lab-apt ./" >"$root/etc/apt/sources.list.d/stockpipe-lab.list"
  done <"$RUN_DIR/hosts.txt"
  say "apt: every host installs from its copy of $repo (Debian packages of Prometheus and the node exporter)"
}

write_inventory() {
  local total=$((BROKERS + 1)) sha
  sha="$(sha512sum "$KAFKA_TARBALL" | cut -d' ' -f1)"
  mkdir -p "$LAB_DIR"
  {
    echo "# Written by scripts/lab.sh up; removed by scripts/lab.sh down. Do not edit: rerun the lab."
    echo "all:"
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $RUN_DIR/id_ed25519"
    echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    echo "    # Fresh host keys every lab: ssh reads the arguments above, Mitogen's ssh (the kit's strategy) this."
    echo "    ansible_host_key_checking: false"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "    # Settings of the localhost plays (analytics, smoke), as -e @file would give them."
    echo "    stockpipe_settings_file: $LAB_DIR/settings.yml"
    echo "    # Lab hosts have no internet: the Kafka tarball is copied from this machine."
    echo "    kafka_version: \"$KAFKA_VERSION\""
    echo "    kafka_tarball_url: $KAFKA_TARBALL"
    echo "    kafka_tarball_checksum: $sha"
    echo "    # Lab hosts see this machine's whole memory; keep each broker small."
    echo "    kafka_heap_size: 512m"
    echo "    # /proc/sys is read-only inside the lab's systemd-nspawn hosts: the brokers' sysctl settings cannot be applied."
    echo "    kafka_manage_sysctl: false"
    echo "    # The brokers' Prometheus JMX exporter agent, copied from this machine (its SHA-256 is the role's)."
    echo "    jmx_exporter_url: $JMX_EXPORTER_JAR"
    echo "  hosts:"
    echo "    localhost:"
    echo "      ansible_connection: local"
    echo "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\""
    echo "  children:"
    # Zones as on EC2 (kafka_rack): the brokers round-robin over three, the pipeline host in the first.
    local i=0 brokers="" pipeline="" monitoring="" zones=(a b c)
    while read -r name ip public; do
      i=$((i + 1))
      if [ $i -gt $total ]; then
        continue  # a spare host
      elif [ $i -eq $total ]; then
        pipeline+="        $name:\n          ansible_host: $ip\n          kafka_rack: lab-zone-a\n"
        monitoring="        $name:\n"
      else
        brokers+="        $name:\n          ansible_host: $ip\n          kafka_node_id: $i\n"
        brokers+="          kafka_internal_address: $ip\n          kafka_advertised_host: $public\n"
        brokers+="          kafka_rack: lab-zone-${zones[$(((i - 1) % 3))]}\n"
      fi
    done <"$RUN_DIR/hosts.txt"
    echo "    kafka:"
    echo "      hosts:"
    printf '%b' "$brokers"
    echo "    pipeline:"
    echo "      hosts:"
    printf '%b' "$pipeline"
    echo "      vars:"
    echo "        # The lab's AWS endpoint (settings.yml) takes any key; real hosts use their instance profile."
    echo "        pipeline_environment:"
    echo "          AWS_ACCESS_KEY_ID: lab"
    echo "          AWS_SECRET_ACCESS_KEY: lab"
    echo "        # moto's Athena runs no SQL: the pipeline host queries the lake with DuckDB."
    echo "        pipeline_engine: duckdb"
    echo "    # Prometheus (playbooks/monitoring.yml) on the pipeline host."
    echo "    monitoring:"
    echo "      hosts:"
    printf '%b' "$monitoring"
  } >"$LAB_DIR/hosts.yml"
  cat >"$LAB_DIR/settings.yml" <<YAML
# Written by scripts/lab.sh up: the playbooks/vars/aws.yml settings for the lab's local AWS endpoint.
aws_endpoint_url: http://$BRIDGE_ADDR:$AWS_PORT
aws_access_key_id: lab
aws_secret_access_key: lab
aws_region: us-east-1
stockpipe_cluster: stockpipe-lab
stockpipe_bucket: stockpipe-lab
stockpipe_catalog_mode: direct
YAML
}

up() {
  preflight
  mkdir -p "$RUN_DIR"
  [ -x "$REPO/.venv/bin/ansible-playbook" ] && [ -x "$REPO/.venv/bin/moto_server" ] \
    || { say "installing the Python environment (scripts/setup.sh local,dev,ansible)"; "$REPO/scripts/setup.sh" local,dev,ansible; }
  kafka_tarball
  jmx_exporter_jar
  say "root file system (built once, cached in .cache/ansible-hosts)"
  "$HERE/lab-hosts.sh" rootfs
  "$HERE/lab-hosts.sh" net-up
  start_aws
  "$HERE/lab-hosts.sh" up $((BROKERS + 1 + SPARES))
  apt_mirror
  write_inventory
  local monitor
  monitor="$(sed -n "$((BROKERS + 1))p" "$RUN_DIR/hosts.txt" | cut -d' ' -f2)"
  say "ready: $BROKERS brokers and 1 pipeline + monitoring host (inventory/lab/hosts.yml)$([ "$SPARES" -eq 0 ] || echo ", $SPARES spare"). Next:"
  say "  .venv/bin/ansible-playbook -i inventory/lab site.yml"
  say "  scripts/lab.sh stockpipe query --named top_movers      # SQL on the pipeline host"
  say "  http://$monitor:9090/alerts                           # Prometheus, once site.yml ran"
}

down() {
  [ "$(id -u)" -eq 0 ] || die "the lab needs root to stop its hosts; fix: sudo make lab-down"
  if [ -f "$RUN_DIR/moto.pid" ]; then
    kill "$(cat "$RUN_DIR/moto.pid")" 2>/dev/null || true
    rm -f "$RUN_DIR/moto.pid"
  fi
  "$HERE/lab-hosts.sh" net-down
  rm -rf "$LAB_DIR"
  say "down"
}

status() {
  if [ ! -f "$RUN_DIR/hosts.txt" ]; then say "not running (sudo make lab starts it)"; return 0; fi
  while read -r name ip public; do
    local state=down
    [ -f "$RUN_DIR/$name/pid" ] && kill -0 "$(cat "$RUN_DIR/$name/pid")" 2>/dev/null && state=up
    printf 'lab: %-6s %-5s private %-12s public %s\n' "$name" "$state" "$ip" "$public"
  done <"$RUN_DIR/hosts.txt"
  if wait_port "$BRIDGE_ADDR" "$AWS_PORT" 0; then say "AWS endpoint http://$BRIDGE_ADDR:$AWS_PORT up"
  else say "AWS endpoint http://$BRIDGE_ADDR:$AWS_PORT down"; fi
}

# Any stockpipe command on the pipeline host, as the pipeline user with the services' environment.
run_stockpipe() {
  [ -f "$RUN_DIR/hosts.txt" ] || die "the lab is not running; fix: sudo make lab"
  local ip remote
  ip="$(awk '/^    pipeline:/ { p = 1 } p && /ansible_host:/ { print $2; exit }' "$LAB_DIR/hosts.yml")"
  remote="cd /var/lib/stockpipe && sudo -u stockpipe env \$(grep -v '^#' /etc/stockpipe/environment | xargs)"
  remote+=" /opt/stockpipe/venv/bin/stockpipe $(printf '%q ' "$@")"
  exec ssh -i "$RUN_DIR/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$ip" "$remote"
}

cmd="${1:-}"; shift || true
if [ "$cmd" = stockpipe ]; then run_stockpipe "$@"; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --brokers) BROKERS="$2"; shift 2 ;;
    --spare-hosts) SPARES="$2"; shift 2 ;;
    --kafka-tarball) KAFKA_TARBALL="$2"; shift 2 ;;
    --kafka-version) KAFKA_VERSION="$2"; shift 2 ;;
    --jmx-exporter-jar) JMX_EXPORTER_JAR="$2"; shift 2 ;;
    *) die "unknown option $1; fix: see the usage at the top of scripts/lab.sh" ;;
  esac
done
[[ "$BROKERS" =~ ^[1-9]$ ]] || die "--brokers $BROKERS: use 1 to 9"
[[ "$SPARES" =~ ^[0-9]$ ]] && [ $((BROKERS + 1 + SPARES)) -le 9 ] \
  || die "--spare-hosts $SPARES: use 0 to $((8 - BROKERS)) (the lab has at most 9 hosts)"
case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/lab.sh up [--brokers N] [--spare-hosts N] [--kafka-tarball PATH] [--kafka-version V] [--jmx-exporter-jar PATH]" \
       "| down | status" \
       "| stockpipe ARGS..." >&2; exit 2 ;;
esac
