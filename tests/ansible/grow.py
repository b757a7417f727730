"""(c) Growing a running cluster under load (rolling.py --grow, in the kraft scenario, after the upgrade).

A spare host starts (scripts/lab-hosts.sh up N+1, with its data volume) and joins the inventory's kafka
group with the next id, through an extra inventory file as an operator would add it; the same converge,
with -e kafka_rebalance=true, runs while rolling.py's producer and consumer go on. Then:
- the run succeeds; the new broker runs process.roles=broker (no CONTROLLER listener) with the voters the
  others have: the KRaft quorum is as it was;
- no other broker restarted, its server.properties is unchanged and no restart is pending;
- the replicas moved with a throttle (the run says so) and the new broker now holds replicas of the
  topic, every partition fully in sync, and no throttle is left on any broker.
rolling.py then checks every acknowledged record was consumed exactly once, that the next run (with the
fourth broker and kafka_rebalance=true) is changed=0 on all four hosts, and verify_cluster.py on four.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from hostlib import REPO, RUN_DIR, Checks, Host, broker, converge, read_hosts, ssh

SSH_ARGS = (
    "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o IdentitiesOnly=yes -o LogLevel=ERROR"
)
ADMIN = "--command-config /etc/kafka/admin.properties"


def _bootstrap(host: Host) -> str:
    return f"--bootstrap-server {host.private}:9091 {ADMIN}"


def add_host(count: int) -> Host:
    """Start hosts up to `count` (the running ones stay as they are); returns the last one."""
    env = {**os.environ, "LAB_DATA_VOLUME_MB": os.environ.get("LAB_DATA_VOLUME_MB", "512")}
    done = subprocess.run(
        [str(REPO / "scripts" / "lab-hosts.sh"), "up", str(count)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"lab-hosts.sh up {count} failed: {done.stderr[-1500:]}")
    return read_hosts()[count - 1]


def replicas(host: Host, topic: str) -> list[tuple[list[int], list[int]]]:
    """(replicas, ISR) of each partition of `topic`, as kafka-topics --describe prints them."""
    out = ssh(host.private, f"/opt/kafka/bin/kafka-topics.sh {_bootstrap(host)} --describe --topic {topic}")
    found = re.findall(r"Replicas: ([\d,]+)\s+Isr: ([\d,]+)", out)
    return [([int(i) for i in r.split(",")], [int(i) for i in s.split(",")]) for r, s in found]


def grow(
    check: Checks, hosts: list[Host], scenario: str, log: Path, keep: list[str], topic: str
) -> tuple[list[Host], list[str]]:
    """Add a broker under load; returns every host and the arguments that keep the cluster as it is now."""
    ids = [int(ssh(h.private, "sed -n 's/^node.id=//p' /etc/kafka/server.properties")) for h in hosts]
    new = add_host(len(hosts) + 1)
    new_id = max(ids) + 1
    inventory = log.parent / f"{scenario}-grow-inventory.json"
    inventory.write_text(json.dumps({"all": {
        "hosts": {new.name: {
            "ansible_host": new.private, "ansible_port": 22, "ansible_user": "root",
            "ansible_private_key_file": str(RUN_DIR / "id_ed25519"), "ansible_ssh_common_args": SSH_ARGS,
            "kafka_node_id": new_id}},
        "children": {"kafka": {"hosts": {new.name: {}}}},
    }}))  # fmt: skip
    grown = [*keep, "-i", str(inventory), "-e", "kafka_rebalance=true"]
    conf = "/etc/kafka/server.properties"
    before = {h.name: (broker(h.private).started_us, ssh(h.private, f"sha256sum {conf}")) for h in hosts}
    voters = ssh(hosts[0].private, f"sed -n 's/^controller.quorum.voters=//p' {conf}")

    run = converge(scenario, log, *grown)
    check(run.rc == 0, f"(c) {new.name} added as broker {new_id} with kafka_rebalance=true (rc={run.rc})")
    after = {h.name: (broker(h.private).started_us, ssh(h.private, f"sha256sum {conf}")) for h in hosts}
    check(after == before, f"(c) no other broker restarted or got a new server.properties ({sorted(before)})")
    marker = "test -e /etc/kafka/restart-pending && echo p || true"
    pending = [h.name for h in hosts if ssh(h.private, marker)]
    check(not pending, f"(c) no restart is pending on the other brokers ({pending})")
    props = ssh(new.private, f"cat {conf}")
    roles = re.findall(r"(?m)^process\.roles=(.*)$", props)
    new_voters = re.findall(r"(?m)^controller\.quorum\.voters=(.*)$", props)
    check(
        roles == ["broker"] and new_voters == [voters] and "CONTROLLER://" not in props,
        f"(c) {new.name} is a broker only, with the voters as they were ({roles}, {new_voters}; {voters})",
    )
    throttled = "moved (kafka-reassign-partitions: The inter-broker throttle limit was set to 10485760 B/s"
    check(throttled in run.output, f"(c) the run moved replicas, Kafka's tool says throttled: '{throttled}'")
    parts = replicas(new, topic)
    on_new = sum(new_id in r for r, _isr in parts)
    check(
        len(parts) > 0 and on_new > 0 and all(sorted(r) == sorted(isr) for r, isr in parts),
        f"(c) broker {new_id} holds replicas of {on_new} of {len(parts)} partitions, every partition in sync "
        f"({parts})",
    )
    throttles = ssh(
        new.private,
        f"for id in {' '.join(str(i) for i in [*ids, new_id])}; do /opt/kafka/bin/kafka-configs.sh "
        f"{_bootstrap(new)} --describe --entity-type brokers --entity-name $id; done",
    )
    check("throttled.rate" not in throttles, f"(c) no replication throttle is left ({throttles[-300:]})")
    return [*hosts, new], grown
