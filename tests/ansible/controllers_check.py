"""Dedicated KRaft controllers under load (the controllers scenario, run by tests/ansible/run.sh after
converge and idempotence).

Three brokers (the kafka group) and three dedicated controllers (the kafka_controller group), secured as
the kit is by default:

(a) layout: every controller runs process.roles=controller with the CONTROLLER listener only; every broker
    process.roles=broker with no CONTROLLER listener; the quorum (kafka-metadata-quorum.sh, asked on a
    controller's own listener with its certificate) has exactly the controllers as voters, its leader one
    of them, and exactly the brokers as observers.
(b) a heap change for every node while a paced idempotent producer and a consumer of every partition run
    over SASL_SSL (rolling.Load): every node restarted one at a time, each only after the previous one
    was healthy again (the gates' journals), the brokers first, then the controllers, the one that led the
    quorum before the roll last; the ISR monitor never saw two brokers out of sync at once; every JVM has
    the new heap; no restart is left pending; the quorum has the same voters and a leader afterwards.
(c) every acknowledged record was consumed exactly once, the next run is changed=0 and the brokers pass
    verify_cluster.py.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from hostlib import HERE, Checks, Host, broker, converge, lab_login, main_guard, read_hosts, ssh
from rolling import EXTERNAL_PORT, MARKER, Load, check_roll, restarts

CONTROLLER_PORT = 9093


def quorum_status(controller: Host) -> dict[str, str]:
    """`kafka-metadata-quorum.sh describe --status` on a controller, as {field: value}."""
    out = ssh(
        controller.private,
        "KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/kafka-metadata-quorum.sh "
        f"--bootstrap-controller {controller.private}:{CONTROLLER_PORT} "
        "--command-config /etc/kafka/admin.properties describe --status 2>/dev/null",
    )
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def node_ids(value: str) -> set[int]:
    """The ids in a CurrentVoters/CurrentObservers value: [{"id": 1, ...}, ...] (Kafka 4) or [1, 2] (3.x)."""
    found = re.findall(r'"id":\s*(\d+)', value) or re.findall(r"\d+", value)
    return {int(i) for i in found}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--topic", default="stock-prices")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--heap", default="320m", help="(b): the new heap of every node")
    parser.add_argument("--rate", type=float, default=250.0, help="records per second")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    check = Checks()
    hosts = read_hosts()
    props = {h.name: ssh(h.private, "cat /etc/kafka/server.properties") for h in hosts}
    roles = {h: re.findall(r"(?m)^process\.roles=(.*)$", p)[0] for h, p in props.items()}
    ids = {h: int(re.findall(r"(?m)^node\.id=(\d+)", p)[0]) for h, p in props.items()}
    brokers = [h for h in hosts if roles[h.name] == "broker"]
    controllers = [h for h in hosts if roles[h.name] == "controller"]

    # (a) layout
    check(
        len(brokers) == 3 and len(controllers) == 3,
        f"(a) three brokers and three dedicated controllers ({roles})",
    )
    listeners = {h: re.findall(r"(?m)^listeners=(.*)$", p)[0] for h, p in props.items()}
    check(
        all(re.fullmatch(rf"CONTROLLER://[\d.]+:{CONTROLLER_PORT}", listeners[h.name]) for h in controllers)
        and all("CONTROLLER://" not in listeners[h.name] for h in brokers),
        f"(a) controllers listen on CONTROLLER only, brokers not on it ({listeners})",
    )
    status = quorum_status(controllers[0])
    voters = node_ids(status.get("CurrentVoters", ""))
    observers = node_ids(status.get("CurrentObservers", ""))
    leader_before = int(status.get("LeaderId", "-1").strip() or -1)
    controller_ids = {ids[h.name] for h in controllers}
    last = controllers[-1]
    if leader_before == ids[last.name]:
        # The leader last in inventory order too would not show the roll's order: move the leadership by
        # restarting it (its gate waits until it follows the new leader).
        ssh(last.private, "systemctl restart kafka && /usr/local/sbin/kafka-health-check 120", timeout=180)
        moved = int(quorum_status(controllers[0]).get("LeaderId", "-1").strip() or -1)
        check.info(f"leader {leader_before} ({last.name}) restarted before the roll: now {moved} leads")
        leader_before = moved
    check(
        voters == controller_ids and leader_before in controller_ids - {ids[last.name]},
        f"(a) the voters are the controllers {sorted(controller_ids)} (got {sorted(voters)}), "
        f"leader {leader_before}, not the last controller in inventory order",
    )
    check(
        observers == {ids[h.name] for h in brokers},
        f"(a) the brokers are the quorum's observers (got {sorted(observers)})",
    )

    # (b) every node's heap changed under load
    load = Load(
        ",".join(f"{h.public}:{EXTERNAL_PORT}" for h in brokers), args.topic, args.rate,
        producer_config=lab_login("producer"), reader_config=lab_login("admin"),
    )  # fmt: skip
    load.start_and_wait(check, 500)
    before = {h.name: broker(h.private) for h in hosts}
    t0 = time.monotonic()
    extra = ["-e", f"kafka_heap_size={args.heap}"]
    run = converge(args.scenario, log, *extra)
    t1 = time.monotonic()
    check(run.rc == 0, f"(b) heap change run succeeds (rc={run.rc}, {t1 - t0:.0f} s)")
    after = {h.name: broker(h.private) for h in hosts}
    check(all(after[h].started_us != before[h].started_us for h in after), "(b) every node was restarted")
    heap = args.heap.rstrip("mM")
    check(
        all(b.heap() == (f"-Xms{heap}m", f"-Xmx{heap}m") and b.user == "kafka" for b in after.values()),
        f"(b) every JVM runs as kafka with -Xms{heap}m -Xmx{heap}m "
        f"({ {h: (b.user, *b.heap()) for h, b in after.items()} })",
    )
    # One node at a time, each after the previous one was healthy again; never two brokers out of sync.
    check_roll(check, load, hosts, "(b)", t0, t1)
    order = [r.host for r in restarts(hosts, t0)]
    broker_names = {h.name for h in brokers}
    leader_host = next((h.name for h in controllers if ids[h.name] == leader_before), "?")
    check(
        len(order) == len(hosts) and set(order[: len(brokers)]) == broker_names and order[-1] == leader_host,
        f"(b) the brokers restarted first, the controllers after them, the leader before the roll "
        f"({leader_host}) last ({order})",
    )
    pending = [h.name for h in hosts if ssh(h.private, f"test -e {MARKER} && echo p || true")]
    check(not pending, f"(b) no restart is pending any more ({pending})")
    status = quorum_status(controllers[-1])
    leader_after = int(status.get("LeaderId", "-1").strip() or -1)
    check(
        node_ids(status.get("CurrentVoters", "")) == controller_ids and leader_after in controller_ids,
        f"(b) after the roll the quorum has the same voters and a leader ({leader_after})",
    )

    # (c) nothing lost, nothing left to change
    load.stop()
    load.check_exactly_once(check)
    run = converge(args.scenario, log, *extra)
    check(
        run.rc == 0 and set(run.changed) == {h.name for h in hosts} and not any(run.changed.values()),
        f"the next run is changed=0 ({run.changed})",
    )
    verify = subprocess.run(
        [sys.executable, str(HERE / "verify_cluster.py"), "--topic", args.topic,
         "--partitions", str(args.partitions), "--replication-factor", "3", "--min-isr", "2",
         *(f"--broker={ids[h.name]}={h.private}={h.public}" for h in brokers),
         "--secured", brokers[0].name],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    with log.open("a") as fh:
        fh.write(f"\n===== verify_cluster.py (rc={verify.returncode})\n{verify.stdout}{verify.stderr}")
    check(
        verify.returncode == 0,
        f"the brokers pass verify_cluster.py ({verify.stdout.strip().splitlines()[-1:]})",
    )
    return check.done()


if __name__ == "__main__":
    main_guard(main)
