"""Preflight test on fresh hosts (run by tests/ansible/run.sh before the first converge).

Each bad setting must make the converge playbook fail with its one-line message before any change:
the recap reports changed=0, no Kafka or ZooKeeper file exists afterwards, and roles/java did not run
(the test hosts' image has Java already, so its install would not show as a change here; it would on a
fresh EC2 host).
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from hostlib import Checks, converge, extra_inventory, main_guard, read_hosts, ssh

# (case, extra vars, extra inventory, expected message)
CASES = [
    ("heap larger than memory", "kafka_heap_size=4096g", "", "does not fit in"),
    (
        "cluster id read as an option",
        "kafka_cluster_id=-AAAAAAAAAAAAAAAAAAAAA",
        "",
        "kafka_cluster_id must be 22 characters",
    ),
    ("missing advertised host", "kafka_advertised_host=''", "", "No advertised host for"),
    ("Kafka 4 with ZooKeeper", "kafka_mode=zookeeper kafka_version=4.1.0", "", "has no ZooKeeper mode"),
    (
        "new broker without an id",
        "",
        "all:\n  hosts:\n    sp-h2:\n      kafka_node_id: ''\n",
        "No broker id for sp-h2",
    ),
    (
        "even ZooKeeper ensemble",
        "",
        "zookeeper:\n  hosts:\n    sp-h1: {}\n    sp-h2: {}\n",
        "a ZooKeeper ensemble needs 1 or an odd number of servers",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    hosts = {h.name: h.private for h in read_hosts()}
    check = Checks()
    for name, extra_vars, inventory, message in CASES:
        extra: list[str] = ["-e", extra_vars] if extra_vars else []
        with extra_inventory(inventory) if inventory else nullcontext() as inv_file:
            if inv_file:
                extra += ["-i", inv_file]
            run = converge(args.scenario, Path(args.log), *extra)
        leftovers = {
            h: ssh(a, "ls -d /etc/kafka /etc/zookeeper /opt/kafka* /opt/zookeeper 2>/dev/null || true")
            for h, a in hosts.items()
        }
        problems = []
        if run.rc == 0:
            problems.append("the run succeeded")
        if message not in run.output:
            problems.append(f"no '{message}' in the output")
        if any(v > 0 for v in run.changed.values()):
            problems.append(f"changes were made {run.changed}")
        if any(leftovers.values()):
            problems.append(f"files were created {leftovers}")
        if "TASK [java : " in run.output:  # on a fresh host Java would be installed: a change
            problems.append("roles/java ran before the failed check")
        check(
            not problems,
            f"{name}: " + ("; ".join(problems) if problems else f"fails before any change with '{message}'"),
        )
    return check.done()


if __name__ == "__main__":
    main_guard(main)
