"""Broker identity test on a converged scenario (run by tests/ansible/run.sh).

A broker's id lives in its data (meta.properties: node.id in KRaft, broker.id in ZooKeeper mode). An
inventory that gives a broker another id must fail the run with one line per broker concerned, before
anything changes: no file rewritten, no broker restarted, on any host.

1. Two brokers' ids swapped (what a dynamic inventory that sorts hosts differently would do with
   position-based ids), together with a setting change meant for every broker.
2. One broker given an id that is not its own: only that broker is named, and the others, which
   passed their own check, change nothing either.
3. (tls) The internal listener switched between PLAINTEXT and TLS (kafka_internal_tls) on a running
   cluster: brokers on either side of a rolling switch cannot reach each other, so every broker is
   refused in one line and nothing changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hostlib import Checks, Run, broker, converge, extra_inventory, main_guard, read_hosts, ssh

FILES = "/etc/kafka/server.properties /etc/systemd/system/kafka.service"


def state(hosts: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Per host: the broker's start time and a digest of the files the broker reads."""
    return {h: (broker(a).started_us, ssh(a, f"cat {FILES} | sha256sum")) for h, a in hosts.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--cases", default="swap,foreign", help="comma-separated, of swap,foreign,tls")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = {h.name: h.private for h in read_hosts()}
    ids = {
        h: ssh(a, "sed -n 's/^\\(node\\|broker\\)\\.id=//p' /etc/kafka/server.properties")
        for h, a in hosts.items()
    }
    names = sorted(hosts)
    check = Checks()
    before = state(hosts)

    first, second, last = names[0], names[1], names[-1]
    cases = [
        (
            "swap",
            f"ids of {first} and {second} swapped",
            f"all:\n  hosts:\n    {first}:\n      kafka_node_id: {ids[second]}\n"
            f"    {second}:\n      kafka_node_id: {ids[first]}\n",
            {first: (ids[second], ids[first]), second: (ids[first], ids[second])},
        ),
        (
            "foreign",
            f"{last} given id 7",
            f"all:\n  hosts:\n    {last}:\n      kafka_node_id: 7\n",
            {last: ("7", ids[last])},
        ),
    ]
    for case, name, inventory, wrong in cases:
        if case not in args.cases.split(","):
            continue
        with extra_inventory(inventory) as inv:
            # A change for every broker rides along: it must not reach any of them.
            run = converge(args.scenario, log, "-i", inv, "-e", "kafka_log_retention_hours=167")
        lines = {
            host: f"{host}: kafka_node_id is {given} but /var/lib/kafka/data/meta.properties holds id {kept}"
            for host, (given, kept) in wrong.items()
        }
        check_refused(check, name, run, hosts, before, lines)
    if "tls" in args.cases.split(","):
        protocols = ssh(hosts[first], f"sed -n 's/^listener.security.protocol.map=//p' {FILES.split()[0]}")
        running = dict(item.split(":", 1) for item in protocols.split(","))["INTERNAL"]
        other = "PLAINTEXT" if running == "SSL" else "SSL"
        run = converge(args.scenario, log, "-e", f"kafka_internal_tls={str(other == 'SSL').lower()}")
        says = f"its internal listener speaks {running} but the new configuration says {other}"
        name = f"internal listener {running} -> {other} on a running cluster"
        check_refused(check, name, run, hosts, before, {h: f"{h}: {says}" for h in hosts})
    return check.done()


def check_refused(
    check: Checks,
    name: str,
    run: Run,
    hosts: dict[str, str],
    before: dict[str, tuple[int, str]],
    lines: dict[str, str],
) -> None:
    """The run failed once for each host of `lines`, saying its line, and nothing changed on any host."""
    fatal = run.fatal_lines()
    check(run.rc != 0, f"{name}: the run fails (rc={run.rc})")
    check(
        sorted(line.split("]")[0].removeprefix("fatal: [") for line in fatal) == sorted(lines),
        f"{name}: one failure per broker concerned, naming it ({fatal and [f[:80] for f in fatal]})",
    )
    for line in lines.values():
        check(line in run.output, f"{name}: the message says '{line}'")
    check(
        all(v in (0, -1) for v in run.changed.values()) and set(run.changed) == set(hosts),
        f"{name}: changed=0 on every host ({run.changed})",
    )
    check(state(hosts) == before, f"{name}: no broker restarted and no file changed on any host")


if __name__ == "__main__":
    main_guard(main)
