#!/usr/bin/env bash
# Role tests on real Apache Kafka (assembled from Maven Central by pipeline/local/kafka_dist.py):
# ansible-lint (production profile), four molecule scenarios on systemd-nspawn hosts: kraft (opted in
# to PLAINTEXT) and zookeeper (Kafka 3.9, secured by default), each with converge, verify and the
# checkers below (data volumes and the rerun that must change nothing, drift, broker identity, restart
# gate, rolling restarts under load, each roll followed by a changed=0 rerun) and secure (the
# default, SASL_SSL, in KRaft with three brokers and three dedicated controllers: refusals, least
# privilege, the quorum, rotation under load including a CA change, each roll brokers first and the
# quorum's leader last; zookeeper runs the same refusals and least-privilege checks); then the whole
# site.yml on the local lab
# (scripts/lab.sh: 3 brokers + 1 pipeline host that is also the monitoring host + 1 spare, moto as AWS),
# secured by default, ending with Prometheus' alerts on real faults (monitoring_check.py) and the spare
# joining as a second pipeline host whose sink dies mid-replay (site_test.py scaleout).
# Installs what it needs, cleans up in a trap, prints one line per step and finally "N passed, M failed".
#
#   tests/ansible/run.sh [SCENARIO...]     (default: kraft secure zookeeper site; must run as root)
#
# The drift test runs in the kraft scenario; STOCKPIPE_DRIFT_ALL=1 runs it in every scenario.
# Checkers share tests/ansible/hostlib.py; each prints "ok"/"FAIL" per check into its log.
# Logs: test-artifacts/ansible/. Cached rootfs: .cache/ansible-hosts/ (delete it to rebuild).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
export RUN_DIR="${RUN_DIR:-/run/stockpipe-hosts}"
ARTIFACTS="$REPO/test-artifacts/ansible"
# The hosts, the bridge and the artifacts are per machine: a second run waits for the first instead of
# tearing its hosts down under it. flock -o: only flock holds the lock, never a host or server left behind.
LAB_LOCK="${STOCKPIPE_LAB_LOCK:-/tmp/stockpipe-lab.lock}"
if [ -z "${STOCKPIPE_LAB_LOCKED:-}" ]; then
  flock -n "$LAB_LOCK" true || echo "another lab or role test run holds $LAB_LOCK; waiting for it to end"
  STOCKPIPE_LAB_LOCKED=1 exec flock -o "$LAB_LOCK" bash "$HERE/run.sh" "$@"
fi
if [ $# -gt 0 ]; then SCENARIOS=("$@"); else SCENARIOS=(kraft secure zookeeper site); fi
BRIDGE_ADDR=10.77.0.1
S3_PORT=9000
HTTP_PORT=8000
passed=0; failed=0; pids=()
DIST="$REPO/.cache/kafka-dist"
TARBALLS="$ARTIFACTS/tarballs"
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"

cleanup() {
  "$REPO/scripts/lab-hosts.sh" net-down >>"$ARTIFACTS/cleanup.log" 2>&1 || true
  [ -z "${LAB_SECRETS_DIR:-}" ] || rm -rf "$LAB_SECRETS_DIR"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step NAME LOG COMMAND...: runs COMMAND, prints one line with the result and the wall time.
step() {
  local name="$1" log="$2"; shift 2
  local start=$SECONDS
  if "$@" >"$log" 2>&1; then
    printf '%-58s PASS %4ds\n' "$name" $((SECONDS - start)); passed=$((passed + 1)); return 0
  fi
  printf '%-58s FAIL %4ds  (log: %s)\n' "$name" $((SECONDS - start)) "${log#"$REPO"/}"
  grep -E "ERROR|FAILED!|fatal:|FAIL |failed=[1-9]|Traceback|Error" "$log" | tail -n 12 | cut -c1-400 | sed 's/^/    | /'
  failed=$((failed + 1)); return 1
}

fatal_setup() { printf '%s\n%d passed, %d failed\n' "setup failed: $1" "$passed" $((failed + 1)); exit 1; }

[ "$(id -u)" -eq 0 ] || fatal_setup "run as root (systemd-nspawn, network namespaces)"

install_packages() {
  local missing=()
  for p in debootstrap systemd-container openssh-client maven openjdk-17-jdk-headless; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

wait_port() {  # wait_port HOST PORT SECONDS
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "nothing answers on $1:$2 after $3 s" >&2; return 1; }
    sleep 0.2
  done
}

start_servers() {
  "$REPO/scripts/lab-hosts.sh" net-up || return 1
  "$REPO/.venv/bin/moto_server" -H "$BRIDGE_ADDR" -p "$S3_PORT" >"$ARTIFACTS/moto.log" 2>&1 &
  pids+=($!)
  mkdir -p "$RUN_DIR" && echo $! >"$RUN_DIR/moto.pid"   # scripts/lab.sh reuses it as the lab's AWS endpoint
  "$REPO/.venv/bin/python" -m http.server --bind "$BRIDGE_ADDR" --directory "$TARBALLS" "$HTTP_PORT" \
    >"$ARTIFACTS/http.log" 2>&1 &
  pids+=($!)
  wait_port "$BRIDGE_ADDR" "$S3_PORT" 30 && wait_port "$BRIDGE_ADDR" "$HTTP_PORT" 30
}

# Apache Kafka in Apache's tarball layout, assembled from Maven Central (pipeline/local/kafka_dist.py,
# cached in .cache/kafka-dist, rebuilt only when its inputs change): 4.1.0 (kraft), 4.1.1 (its upgrade),
# 3.9.1 (zookeeper: brokers and the ZooKeeper servers from the same tarball). The tests install a
# snapshot (hard links: a rebuild replaces the cache's files, not these) with SHA-512s of the snapshot.
build_distributions() {
  "$REPO/.venv/bin/python" -m pipeline.local.kafka_dist --out "$DIST" 4.1.0 4.1.1 3.9.1 || return 1
  mkdir -p "$TARBALLS"
  for v in 4.1.0 4.1.1 3.9.1; do
    ln -f "$DIST/kafka_2.13-$v.tgz" "$TARBALLS/" 2>/dev/null || cp "$DIST/kafka_2.13-$v.tgz" "$TARBALLS/" || return 1
  done
  (cd "$TARBALLS" && sha512sum kafka_2.13-*.tgz >SHA512SUMS)
}
sha512_of() { sed -n "s/  kafka_2.13-$1\.tgz\$//p" "$TARBALLS/SHA512SUMS"; }

# The Prometheus JMX exporter agent the jmx_exporter role pins (scripts/fetch-jmx-exporter.sh: from Maven
# Central, cached in .cache/jmx-exporter), served beside the tarballs; the role checks its own SHA-256.
stage_jmx_exporter() {
  local jar
  jar="$("$REPO/scripts/fetch-jmx-exporter.sh")" || return 1
  mkdir -p "$TARBALLS"
  ln -f "$jar" "$TARBALLS/" 2>/dev/null || cp "$jar" "$TARBALLS/" || return 1
  basename "$jar" >"$TARBALLS/JMX_EXPORTER"
}

step "install apt packages" "$ARTIFACTS/apt.log" install_packages || fatal_setup "apt packages"
step "python env (scripts/setup.sh local,dev,ansible)" "$ARTIFACTS/setup.log" ./scripts/setup.sh local,dev,ansible \
  || fatal_setup "python env"
export PATH="$REPO/.venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
# One ansible-lint over everything (the scenarios' shared playbooks find the roles through ansible.cfg):
# a second run for molecule/shared linted the roles it includes again (~13 s).
lint() {
  ansible-lint --profile production roles/*/ site.yml playbooks tests/ansible/molecule/shared
}
# ansible-lint (one core, ~70 s) runs beside the rootfs build (debootstrap: mostly downloads and disk), the
# distributions and the JMX agent; its step line comes when they are done.
lint >"$ARTIFACTS/lint.log" 2>&1 &
lint_pid=$!
pids+=("$lint_pid")
wait_lint() { local rc=0; wait "$lint_pid" || rc=$?; cat "$ARTIFACTS/lint.log"; return "$rc"; }
step "rootfs (build or reuse)" "$ARTIFACTS/rootfs.log" "$REPO/scripts/lab-hosts.sh" rootfs || fatal_setup "rootfs"
step "Kafka 4.1.0, 4.1.1, 3.9.1 from Maven Central (build or reuse)" "$ARTIFACTS/kafka-dist.log" \
  build_distributions || fatal_setup "Kafka distributions (log: test-artifacts/ansible/kafka-dist.log)"
step "Prometheus JMX exporter agent from Maven Central (fetch or reuse)" "$ARTIFACTS/jmx-exporter.log" \
  stage_jmx_exporter || fatal_setup "JMX exporter agent (log: test-artifacts/ansible/jmx-exporter.log)"
step "ansible-lint --profile production (roles, test playbooks; beside the above)" "$ARTIFACTS/lint-result.log" \
  wait_lint
step "bridge, S3 (moto) and tarball HTTP servers" "$ARTIFACTS/servers.log" start_servers || fatal_setup "servers"
STOCKPIPE_TARBALL_SHA512_4="$(sha512_of 4.1.0)"
STOCKPIPE_TARBALL_SHA512_4_UP="$(sha512_of 4.1.1)"
STOCKPIPE_TARBALL_SHA512_3="$(sha512_of 3.9.1)"
export STOCKPIPE_TARBALL_SHA512_4 STOCKPIPE_TARBALL_SHA512_3 STOCKPIPE_TARBALL_SHA512_4_UP
export STOCKPIPE_TARBALL_BASE="http://$BRIDGE_ADDR:$HTTP_PORT"
export STOCKPIPE_TARBALL_DIR="$TARBALLS"
export STOCKPIPE_JMX_EXPORTER_URL="$STOCKPIPE_TARBALL_BASE/$(cat "$TARBALLS/JMX_EXPORTER")"
# The secure scenario's CA and broker keys (made by roles/kafka_pki) and SCRAM passwords: per run, in a
# directory only root reads, outside the repository, removed at the end.
LAB_SECRETS_DIR="$(mktemp -d /tmp/stockpipe-lab-secrets.XXXXXX)"
# Each scenario its own CA (STOCKPIPE_LAB_PKI is set per scenario below): rotation.py moves the secure
# scenario's brokers to a new CA, which later scenarios must not inherit.
export STOCKPIPE_LAB_SECRETS="$LAB_SECRETS_DIR/scram.yml"
(umask 077 && python -c 'import secrets
for user in ("admin", "producer", "sink", "canary"):
    print(f"{user}: {secrets.token_hex(16)}")' >"$STOCKPIPE_LAB_SECRETS")

# On a failed step: keep each host's service journals, listening sockets and the S3 server's view (ssh -n:
# without it the first ssh reads the rest of hosts.txt and only the first host is collected).
collect_diagnostics() {
  local out="$ARTIFACTS/$1-diagnostics.log"
  [ -f "$RUN_DIR/hosts.txt" ] || return 0
  while read -r name ip _; do
    echo "===== $name ($ip)"
    ssh -n -i "$RUN_DIR/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o LogLevel=ERROR -o ConnectTimeout=5 "root@$ip" \
      'systemctl status kafka zookeeper "stockpipe-*" prometheus prometheus-node-exporter --no-pager; ss -ltnp;
       journalctl -u kafka -u zookeeper -u "stockpipe-*" -u prometheus -u prometheus-node-exporter --no-pager \
         | tail -n 200; tail -n 100 /var/log/kafka/server.log 2>/dev/null' 2>&1
  done <"$RUN_DIR/hosts.txt" >"$out"
  tail -n 40 "$ARTIFACTS/moto.log" >>"$out"
  echo "    diagnostics: ${out#"$REPO"/}"
}

# site.yml end to end on the lab: kafka, analytics (moto), pipeline, smoke, monitoring; then checks
# (site_test.py), and last the alerts on real faults (monitoring_check.py: it stops a broker and the sink).
site_scenario() {
  local log="$ARTIFACTS/site" failed_before=$failed
  "$REPO/scripts/lab-hosts.sh" down >/dev/null 2>&1
  if step "[site] lab up: 3 brokers + 1 pipeline/monitoring host + 1 spare (scripts/lab.sh)" "$log-lab.log" \
       "$REPO/scripts/lab.sh" up --brokers 3 --spare-hosts 1 --kafka-tarball "$TARBALLS/kafka_2.13-4.1.0.tgz" \
       --jmx-exporter-jar "$TARBALLS/$(cat "$TARBALLS/JMX_EXPORTER")" \
    && step "[site] site.yml -i inventory/lab (kafka, analytics, pipeline, smoke, monitoring)" "$log-converge.log" \
       python "$HERE/site_test.py" converge; then
    step "[site] verify (services, user, sample rows in the lake by SQL)" "$log-verify.log" python "$HERE/site_test.py" verify
    step "[site] idempotence (second site.yml run changed=0)" "$log-idempotence.log" \
      python "$HERE/site_test.py" idempotence
    step "[site] no password in output, arguments or config; own logins" "$log-secrets.log" \
      python "$HERE/site_test.py" secrets
    step "[site] origin tutorial's kafka-python client via :9092" "$log-tutorial.log" python "$HERE/site_test.py" tutorial
    step "[site] passwords rotated + a config change: services restart, resume, old refused, canary via sink" \
      "$log-rotate.log" python "$HERE/site_test.py" rotate
    step "[site] Prometheus: targets up, broker/URP and lag alerts fire and clear, producer = sink" \
      "$log-monitoring.log" python "$HERE/monitoring_check.py" --log "$log-monitoring-runs.log"
    step "[site] a second pipeline host: sinks share the group; one killed mid-replay, SQL counts each row once" \
      "$log-scaleout.log" python "$HERE/site_test.py" scaleout
  fi
  [ "$failed" -eq "$failed_before" ] || collect_diagnostics site
  step "[site] lab hosts down" "$log-down.log" "$REPO/scripts/lab-hosts.sh" down
  rm -rf "$REPO/inventory/lab"
}

# STOCKPIPE_LAB_HOLD=1 (debugging, never in CI): after a failed scenario, keep its hosts up (at most an
# hour) until /tmp/stockpipe-lab-release exists, for a look with ssh -i $RUN_DIR/id_ed25519 root@HOST.
hold_hosts() {
  [ -n "${STOCKPIPE_LAB_HOLD:-}" ] || return 0
  echo "    [$1] holding the hosts: touch /tmp/stockpipe-lab-release to go on"
  rm -f /tmp/stockpipe-lab-release
  for _ in $(seq 720); do [ -e /tmp/stockpipe-lab-release ] && break; sleep 5; done
  rm -f /tmp/stockpipe-lab-release
}

# Checkers after converge + verify, in the order they run on one set of hosts. Each leaves
# the cluster healthy for the next; the heap/version changes they make are carried by the later ones.
checks() {
  local s="$1" log="$ARTIFACTS/$1"
  if [ "$s" = kraft ]; then
    step "[$s] data volumes: XFS noatime mount by UUID; a rerun keeps it, changed=0" "$log-volume.log" \
      python "$HERE/volume_check.py" --scenario "$s" --log "$log-volume-runs.log"
  fi
  if [ "$s" = kraft ] || [ -n "${STOCKPIPE_DRIFT_ALL:-}" ]; then
    step "[$s] drift + heap change on one host" "$log-drift.log" \
      python "$HERE/drift.py" --scenario "$s" --log "$log-drift-runs.log"
  fi
  # ZooKeeper mode: only the single foreign id (the swap adds nothing there but time).
  step "[$s] running brokers refuse a new id (and in kraft an internal TLS switch): one line, no change" "$log-identity.log" \
    python "$HERE/identity.py" --scenario "$s" --cases "$([ "$s" = kraft ] && echo swap,foreign,tls || echo foreign)" \
    --log "$log-identity-runs.log"
  if [ "$s" = kraft ]; then
    # gate.py leaves its broken roll for rolling.py to resume (same heap: 640m, rolling.py's default).
    step "[$s] restart gate: refuses, a failed broker stops the roll" "$log-gate.log" \
      python "$HERE/gate.py" --scenario "$s" --log "$log-gate-runs.log"
    step "[$s] rolling restarts under load: resumed heap roll, upgrade 4.1.0 -> 4.1.1, a 4th broker" "$log-rolling.log" \
      python "$HERE/rolling.py" --scenario "$s" --version 4.1.1 --grow \
      --url "$STOCKPIPE_TARBALL_BASE/kafka_2.13-4.1.1.tgz" --sha512 "$STOCKPIPE_TARBALL_SHA512_4_UP" \
      --log "$log-rolling-runs.log"
  else
    step "[$s] rolling restart under load: heap" "$log-rolling.log" \
      python "$HERE/rolling.py" --scenario "$s" --log "$log-rolling-runs.log"
  fi
}

cd "$HERE"
for s in "${SCENARIOS[@]}"; do
  export STOCKPIPE_LAB_PKI="$LAB_SECRETS_DIR/pki-$s"
  if [ "$s" = site ]; then site_scenario; continue; fi
  log="$ARTIFACTS/$s"
  failed_before=$failed
  "$REPO/scripts/lab-hosts.sh" down >/dev/null 2>&1
  # A run killed before its destroy step leaves molecule's state saying "created": create would then
  # skip the hosts just torn down, and converge finds no route to them.
  molecule reset -s "$s" >/dev/null 2>&1
  if step "[$s] create hosts" "$log-create.log" molecule create -s "$s" \
    && { [ "$s" != kraft ] || step "[$s] preflight: bad settings fail before any change" "$log-preflight.log" \
         python "$HERE/preflight.py" --scenario "$s" --log "$log-preflight-runs.log"; } \
    && step "[$s] converge" "$log-converge.log" molecule converge -s "$s"; then
    # No separate idempotence step (molecule's costs a whole run, ~50-90 s): every scenario already reruns
    # with nothing changed and asserts changed=0 on every host: kraft right after converge (volume_check.py's
    # rerun), secure and zookeeper after their rolls (rotation.py, rolling.py); site.yml has its own
    # idempotence step.
    # secure (KRaft) and zookeeper (3.9) are secured by default: the same refusals and ACLs in both modes.
    if [ "$s" = secure ] || [ "$s" = zookeeper ]; then
      step "[$s] refusals, least privilege and clients over SASL_SSL" "$log-check.log" \
        python "$HERE/secure_check.py" --scenario "$s"
    fi
    if [ "$s" = secure ]; then
      step "[$s] dedicated controllers' quorum; password and certificate rotation under load, leader last" \
        "$log-rotation.log" \
        python "$HERE/rotation.py" --scenario "$s" --log "$log-rotation-runs.log"
    else
      step "[$s] verify (metadata, replication, quorum/ZooKeeper, JVM heap and user, logs)" "$log-verify.log" \
        molecule verify -s "$s"
      checks "$s"
    fi
  fi
  [ "$failed" -eq "$failed_before" ] || { collect_diagnostics "$s"; hold_hosts "$s"; }
  step "[$s] destroy hosts" "$log-destroy.log" molecule destroy -s "$s"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
