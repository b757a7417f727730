"""Drift and heap-change test for a converged molecule scenario (run by tests/ansible/run.sh).

1. Edit server.properties by hand on one broker and raise that host's kafka_heap_size (extra inventory).
2. `--check --diff` must report changes on that host only and restart nothing.
3. The next run must fix it, restart only that broker, and give it the new heap.
4. The run after must report changed=0 everywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECAP = re.compile(
    r"^(?P<host>[\w.-]+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unr>\d+)\s+failed=(?P<failed>\d+)"
)


def ssh(address: str, key: str, command: str) -> str:
    result = subprocess.run(
        ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{address}", command],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


def broker_state(address: str, key: str) -> tuple[str, str]:
    """(MainPID plus its start time, KAFKA_HEAP_OPTS of the main process)."""
    out = ssh(
        address,
        key,
        "pid=$(systemctl show -p MainPID --value kafka); "
        "echo $pid $(systemctl show -p ExecMainStartTimestampMonotonic --value kafka); "
        "tr '\\0' '\\n' < /proc/$pid/environ | sed -n 's/^KAFKA_HEAP_OPTS=//p'",
    )
    first, _, heap = out.partition("\n")
    return first, heap


def converge(scenario: str, log: Path, *extra: str) -> tuple[int, dict[str, int], str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        ["molecule", "converge", "-s", scenario, "--", *extra],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = result.stdout + result.stderr
    with log.open("a") as fh:
        fh.write(
            f"\n===== molecule converge -s {scenario} -- {' '.join(extra)} (rc={result.returncode})\n{output}"
        )
    changed: dict[str, int] = {}
    for line in output.splitlines():
        match = RECAP.match(line.strip())
        if match:
            broken = int(match["failed"]) + int(match["unr"]) > 0
            changed[match["host"]] = -1 if broken else int(match["changed"])
    return result.returncode, changed, output


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument(
        "--hosts", required=True, help="hosts.txt from scripts/lab-hosts.sh (name private public)"
    )
    parser.add_argument("--key", required=True)
    parser.add_argument("--target", default="sp-h2")
    parser.add_argument("--heap", default="512m")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = {line.split()[0]: line.split()[1] for line in Path(args.hosts).read_text().splitlines() if line}
    target = args.target
    others = sorted(set(hosts) - {target})
    failures: list[str] = []
    passed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal passed
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if ok:
            passed += 1
        else:
            failures.append(what)

    before = {h: broker_state(a, args.key) for h, a in hosts.items()}
    ssh(
        hosts[target],
        args.key,
        "sed -i 's/^num.partitions=.*/num.partitions=1/' /etc/kafka/server.properties",
    )
    check(
        "num.partitions=1" in ssh(hosts[target], args.key, "cat /etc/kafka/server.properties"),
        f"hand edit applied on {target}",
    )
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        fh.write(f"all:\n  hosts:\n    {target}:\n      kafka_heap_size: {args.heap}\n")
        extra_inventory = fh.name
    try:
        rc, changed, output = converge(args.scenario, log, "-i", extra_inventory, "--check", "--diff")
        check(rc == 0, f"--check --diff run succeeds (rc={rc})")
        check(changed.get(target, 0) > 0, f"--check reports changes on {target} ({changed})")
        check(
            all(changed.get(h, -1) == 0 for h in others), f"--check reports nothing on {others} ({changed})"
        )
        heap_mb = args.heap.rstrip("mM")
        check(
            "num.partitions" in output and f"-Xmx{heap_mb}m" in output,
            "--diff shows the file and heap change",
        )
        mid = {h: broker_state(a, args.key) for h, a in hosts.items()}
        check(mid == before, "--check restarted no broker")

        rc, changed, _ = converge(args.scenario, log, "-i", extra_inventory)
        check(rc == 0, f"fixing run succeeds (rc={rc})")
        check(changed.get(target, 0) > 0 and all(changed.get(h, -1) == 0 for h in others),
              f"fixing run changes {target} only ({changed})")  # fmt: skip
        after = {h: broker_state(a, args.key) for h, a in hosts.items()}
        check(after[target][0] != before[target][0], f"{target} was restarted")
        check(all(after[h][0] == before[h][0] for h in others), f"{others} were not restarted")
        check(
            f"-Xmx{heap_mb}m" in after[target][1].split(),
            f"{target} runs with -Xmx{heap_mb}m ({after[target][1]})",
        )
        props = ssh(hosts[target], args.key, "cat /etc/kafka/server.properties")
        check("num.partitions=1\n" not in props + "\n", f"hand edit on {target} was reverted")

        rc, changed, _ = converge(args.scenario, log, "-i", extra_inventory)
        check(rc == 0 and set(changed) == set(hosts) and not any(changed.values()),
              f"next run is changed=0 everywhere ({changed})")  # fmt: skip
    finally:
        os.unlink(extra_inventory)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
