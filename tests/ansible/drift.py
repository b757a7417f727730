"""Drift and heap-change test for a converged molecule scenario (run by tests/ansible/run.sh).

1. Edit server.properties by hand on one broker and raise that host's kafka_heap_size (extra inventory).
2. `--check --diff` must report changes on that host only and restart nothing.
3. The next run must fix it, restart only that broker, and its JVM must run with the new heap.
(That the run after is changed=0 is checked by rolling.py's final rerun.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hostlib import Checks, broker, converge, extra_inventory, main_guard, read_hosts, ssh


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--target", default="sp-h2")
    parser.add_argument("--heap", default="512m")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = {h.name: h.private for h in read_hosts()}
    target = args.target
    others = sorted(set(hosts) - {target})
    check = Checks()

    before = {h: broker(a) for h, a in hosts.items()}
    ssh(hosts[target], "sed -i 's/^num.partitions=.*/num.partitions=1/' /etc/kafka/server.properties")
    check(
        "num.partitions=1" in ssh(hosts[target], "cat /etc/kafka/server.properties"),
        f"hand edit applied on {target}",
    )
    heap_mb = args.heap.rstrip("mM")
    with extra_inventory(f"all:\n  hosts:\n    {target}:\n      kafka_heap_size: {args.heap}\n") as inventory:
        run = converge(args.scenario, log, "-i", inventory, "--check", "--diff")
        check(run.rc == 0, f"--check --diff run succeeds (rc={run.rc})")
        check(run.changed.get(target, 0) > 0, f"--check reports changes on {target} ({run.changed})")
        check(
            all(run.changed.get(h, -1) == 0 for h in others),
            f"--check reports nothing on {others} ({run.changed})",
        )
        check(
            "num.partitions" in run.output and f"-Xmx{heap_mb}m" in run.output,
            "--diff shows the file and heap change",
        )
        mid = {h: broker(a) for h, a in hosts.items()}
        check(mid == before, "--check restarted no broker")

        run = converge(args.scenario, log, "-i", inventory)
        check(run.rc == 0, f"fixing run succeeds (rc={run.rc})")
        check(
            run.changed.get(target, 0) > 0 and all(run.changed.get(h, -1) == 0 for h in others),
            f"fixing run changes {target} only ({run.changed})",
        )
    after = {h: broker(a) for h, a in hosts.items()}
    check(after[target].started_us != before[target].started_us, f"{target} was restarted")
    check(all(after[h] == before[h] for h in others), f"{others} were not restarted")
    check(
        after[target].heap() == (f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m") and after[target].user == "kafka",
        f"{target}'s JVM runs as kafka with -Xms{heap_mb}m -Xmx{heap_mb}m (got {after[target].user}, "
        f"{after[target].heap()})",
    )
    props = ssh(hosts[target], "cat /etc/kafka/server.properties")
    check("num.partitions=1\n" not in props + "\n", f"hand edit on {target} was reverted")
    return check.done()


if __name__ == "__main__":
    main_guard(main)
