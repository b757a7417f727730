"""Preflight test on fresh hosts (run by tests/ansible/run.sh before the first converge).

Each bad setting must make the converge playbook fail with its one-line message, on every host,
before any change: the recap reports changed=0 and no Kafka or ZooKeeper file exists afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from drift import converge, ssh

# (case, extra vars, extra inventory, expected message)
CASES = [
    ("heap larger than memory", "kafka_heap_size=4096g", "", "does not fit in"),
    ("missing advertised host", "kafka_advertised_host=''", "", "No advertised host for"),
    ("Kafka 4 with ZooKeeper", "kafka_mode=zookeeper kafka_version=4.1.0", "", "has no ZooKeeper mode"),
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
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    hosts = {line.split()[0]: line.split()[1] for line in Path(args.hosts).read_text().splitlines() if line}
    passed, failed = 0, 0
    for name, extra_vars, inventory, message in CASES:
        extra: list[str] = ["-e", extra_vars] if extra_vars else []
        inv_file = None
        if inventory:
            with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
                fh.write(inventory)
                inv_file = fh.name
            extra += ["-i", inv_file]
        try:
            rc, changed, output = converge(args.scenario, Path(args.log), *extra)
        finally:
            if inv_file:
                os.unlink(inv_file)
        leftovers = {
            h: ssh(
                a, args.key, "ls -d /etc/kafka /etc/zookeeper /opt/kafka* /opt/zookeeper 2>/dev/null || true"
            )
            for h, a in hosts.items()
        }
        problems = []
        if rc == 0:
            problems.append("the run succeeded")
        if message not in output:
            problems.append(f"no '{message}' in the output")
        if any(v > 0 for v in changed.values()):
            problems.append(f"changes were made {changed}")
        if any(leftovers.values()):
            problems.append(f"files were created {leftovers}")
        if problems:
            failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}")
        else:
            passed += 1
            print(f"ok   {name}: fails before any change with '{message}'")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
