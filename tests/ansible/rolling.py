"""Rolling restarts under load (run by tests/ansible/run.sh on a converged scenario, last).

While a producer (acks=all, enable.idempotence, one unique sequential value per record) and a consumer
(every partition assigned from the start: no group rebalances in the count) run against the brokers'
external listeners from this machine, and a monitor reads the partitions' ISRs every second:

(a) a heap change for every broker restarts them one at a time: each restart begins only after the
    previous broker was back in every ISR (the gate's journal), the monitor never sees two brokers out
    of the ISRs at once, every JVM ends with the new heap and no restart is left pending. After
    gate.py (kraft) this run resumes the roll that gate.py broke off with the same heap: the broken
    broker first, then the others, whose files this run does not change (their restart was pending);
(b) with --version, the upgrade to that Kafka version does the same: new versioned directory beside
    the old one, symlink moved, every broker restarted on the new version;
(c) with --grow, a broker added to the running cluster with kafka_rebalance=true (grow.py): a broker only,
    the others not restarted, the replicas moved onto it throttled.

Afterwards every acknowledged record was consumed exactly once (duplicates fail), no delivery failed,
the next run is changed=0 and the cluster passes verify_cluster.py. Prints the numbers: records
acknowledged and consumed, duplicates, errors, and per broker how long each restart took.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from grow import grow
from hostlib import (
    Broker,
    Checks,
    Host,
    broker,
    check_verify_cluster,
    converge,
    gate_log,
    lab_login,
    main_guard,
    read_hosts,
    ssh,
)

EXTERNAL_PORT = 9092
MARKER = "/etc/kafka/restart-pending"


@dataclass
class Load:
    """A paced idempotent producer, a consumer of every partition and an ISR monitor, on threads."""

    bootstrap: str
    topic: str
    rate: float
    # Client settings added to the producer's, and to the consumer's and monitor's (a secured login).
    producer_config: dict[str, object] = field(default_factory=dict)
    reader_config: dict[str, object] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    acked: set[bytes] = field(default_factory=set)
    delivery_errors: list[str] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    consumed: collections.Counter[bytes] = field(default_factory=collections.Counter)
    produced: int = 0
    # (monotonic time, brokers in metadata, brokers missing from some ISR) per second
    samples: list[tuple[float, frozenset[int], frozenset[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop_producing = threading.Event()
        self._stop_all = threading.Event()
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._threads = [
            threading.Thread(target=self._produce, daemon=True),
            threading.Thread(target=self._consume, daemon=True),
            threading.Thread(target=self._monitor, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _error(self, err: KafkaError) -> None:
        if err.fatal():
            self.client_errors.append(f"fatal: {err}")

    def set_producer_login(self, username: str, password: str) -> None:
        """Log the live producer's next connections in with a new password (as after a rotation)."""
        assert self._producer is not None
        self._producer.set_sasl_credentials(username, password)

    def _produce(self) -> None:
        producer = self._producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 50,
                "message.timeout.ms": 300_000,
                "log_level": 2,
                "error_cb": self._error,
                **self.producer_config,
            }
        )

        def delivered(err: KafkaError | None, msg: object) -> None:
            if err is not None:
                self.delivery_errors.append(str(err))
            else:
                with self._lock:
                    self.acked.add(msg.value())  # type: ignore[attr-defined]

        prefix = f"{self.run_id}:".encode()
        seq = itertools.count()
        tick = 0.2  # a burst every 200 ms: few produce requests, little CPU taken from the brokers
        due = time.monotonic()
        while not self._stop_producing.is_set():
            for _ in range(max(1, round(self.rate * tick))):
                producer.produce(self.topic, value=prefix + b"%09d" % next(seq), on_delivery=delivered)
                self.produced += 1
            producer.poll(0)
            due += tick
            self._stop_producing.wait(max(0.0, due - time.monotonic()))
        left = producer.flush(300)
        if left:
            self.delivery_errors.append(f"{left} records still unacknowledged after flush(300)")

    def _consume(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"rolling-{self.run_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 2,
                "error_cb": self._error,
                **self.reader_config,
            }
        )
        partitions = consumer.list_topics(self.topic, timeout=30).topics[self.topic].partitions
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        prefix = f"{self.run_id}:".encode()
        while not self._stop_all.is_set():
            batch = consumer.consume(500, timeout=0.5)
            with self._lock:
                for msg in batch:
                    if msg.error() is None and msg.value().startswith(prefix):
                        self.consumed[msg.value()] += 1
        consumer.close()

    def _monitor(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"monitor-{self.run_id}",
                "log_level": 2,
                **self.reader_config,
            }
        )
        while not self._stop_all.is_set():
            try:
                md = consumer.list_topics(self.topic, timeout=5)
                parts = md.topics[self.topic].partitions.values()
                out = frozenset(b for p in parts for b in set(p.replicas) - set(p.isrs))
                self.samples.append((time.monotonic(), frozenset(md.brokers), out))
            except Exception:
                pass
            self._stop_all.wait(1.0)
        consumer.close()

    def start_and_wait(self, check: Checks, records: int, deadline_s: float = 60) -> None:
        """Start, and check that `records` were acknowledged and consumed within deadline_s."""
        self.start()
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and (len(self.acked) < records or len(self.consumed) < records):
            time.sleep(0.5)
        check(
            len(self.acked) >= records and len(self.consumed) >= records,
            f"load running ({len(self.acked)} acknowledged)",
        )

    def caught_up(self) -> bool:
        with self._lock:
            return all(value in self.consumed for value in self.acked)

    def stop(self, drain_s: float = 120) -> None:
        """Stop producing, wait (at most drain_s) until every acknowledged record was consumed, stop."""
        self._stop_producing.set()
        self._threads[0].join(330)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and not self.caught_up():
            time.sleep(0.5)
        self._stop_all.set()
        for thread in self._threads[1:]:
            thread.join(30)

    def check_exactly_once(self, check: Checks) -> None:
        """After stop(): every record produced was acknowledged and consumed exactly once, without errors."""
        acked, consumed = self.acked, self.consumed
        duplicates = sum(n - 1 for n in consumed.values() if n > 1)
        missing = len(acked - set(consumed))
        unacked_seen = len(set(consumed) - acked)
        check.info(
            f"records: {self.produced} produced, {len(acked)} acknowledged, {len(consumed)} consumed "
            f"({sum(consumed.values())} deliveries), {duplicates} duplicates, {missing} acknowledged but not "
            f"consumed, {unacked_seen} consumed without an acknowledgement, {len(self.delivery_errors)} "
            f"delivery errors, {len(self.client_errors)} fatal client errors"
        )
        check(not self.delivery_errors, f"no delivery error ({self.delivery_errors[:3]})")
        check(not self.client_errors, f"no fatal client error ({self.client_errors[:3]})")
        check(
            len(acked) == self.produced,
            f"every record produced was acknowledged ({len(acked)}/{self.produced})",
        )
        check(missing == 0 and duplicates == 0, "every acknowledged record was consumed exactly once")


@dataclass(frozen=True)
class Restart:
    host: str
    began: float  # monotonic seconds (the hosts share this machine's kernel clock)
    healthy: float | None


def restarts(hosts: list[Host], since: float) -> list[Restart]:
    """The roll's restarts after `since`, from each node's gate journal, in the order they began."""
    found = []
    for host in hosts:
        lines = [(t, m) for t, m in gate_log(host.private) if t >= since]
        began = [t for t, m in lines if m.startswith(("restarting broker", "restarting controller"))]
        if began:
            healthy = [t for t, m in lines if "healthy after its restart" in m and t > began[-1]]
            found.append(Restart(host.name, began[-1], healthy[0] if healthy else None))
    return sorted(found, key=lambda r: r.began)


def check_roll(check: Checks, load: Load, hosts: list[Host], phase: str, t0: float, t1: float) -> None:
    roll = restarts(hosts, t0)
    check(
        sorted(r.host for r in roll) == sorted(h.name for h in hosts),
        f"{phase}: every node's gate logged a restart ({[r.host for r in roll]})",
    )
    sequential = all(
        prev.healthy is not None and nxt.began > prev.healthy for prev, nxt in itertools.pairwise(roll)
    )
    check(
        sequential and bool(roll) and roll[-1].healthy is not None,
        f"{phase}: one at a time, each restart began after the previous node was healthy again "
        "(a broker: back in every ISR) "
        f"({[(r.host, round(r.began - t0, 1), r.healthy and round(r.healthy - t0, 1)) for r in roll]})",
    )
    window = [s for s in load.samples if t0 <= s[0] <= t1]
    worst = max((len(out) for _t, _b, out in window), default=0)
    seen_out = set().union(*(out for _t, _b, out in window)) if window else set()
    check(
        len(window) > 10 and worst <= 1,
        f"{phase}: the monitor never saw two brokers out of the ISRs at once ({len(window)} samples, "
        f"brokers seen out of sync: {sorted(seen_out)})",
    )
    for r in roll:
        took = f"{r.healthy - r.began:.1f} s" if r.healthy else "never healthy"
        check.info(f"{phase}: {r.host} restarted and healthy again in {took}")


def upgrade(
    check: Checks, load: Load, hosts: list[Host], args: argparse.Namespace, log: Path,
    before: dict[str, Broker], old_home: dict[str, str],
) -> list[str]:  # fmt: skip
    """(b): the upgrade under load; returns the extra arguments that keep the cluster as it is now."""
    extra = [
        "-e", f"kafka_heap_size={args.heap} kafka_version={args.version}",
        "-e", f"kafka_tarball_url={args.url} kafka_tarball_checksum={args.sha512}",
    ]  # fmt: skip
    t0 = time.monotonic()
    run = converge(args.scenario, log, *extra)
    t1 = time.monotonic()
    check(run.rc == 0, f"(b) upgrade to {args.version} succeeds (rc={run.rc}, {t1 - t0:.0f} s)")
    after = {h.name: broker(h.private) for h in hosts}
    check(all(after[h].started_us != before[h].started_us for h in after), "(b) every broker was restarted")
    new_home = f"/opt/kafka_2.13-{args.version}"
    for h in hosts:
        home = ssh(h.private, "readlink /opt/kafka")
        kept = ssh(h.private, f"test -d {old_home[h.name]} && echo kept || echo gone")
        started = ssh(h.private, "grep -h 'Kafka version: ' /var/log/kafka/server.log | tail -n 1")
        check(
            home == new_home and kept == "kept" and f"Kafka version: {args.version} " in started,
            f"(b) {h.name}: /opt/kafka -> {home}, {old_home[h.name]} {kept}, server.log: "
            f"{started.split('] ', 1)[-1][:60]}",
        )
    check_roll(check, load, hosts, "(b)", t0, t1)
    return extra


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--topic", default="stock-prices")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--heap", default="640m", help="(a): the new heap of every broker (gate.py's)")
    parser.add_argument("--version", help="(b): the Kafka version to upgrade to (none: no upgrade)")
    parser.add_argument("--url", help="(b): its tarball URL")
    parser.add_argument("--sha512", help="(b): its tarball's SHA-512")
    parser.add_argument("--grow", action="store_true", help="(c): add a broker under load (grow.py)")
    parser.add_argument("--rate", type=float, default=250.0, help="records per second")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = read_hosts()
    check = Checks()
    props = {h.name: ssh(h.private, "cat /etc/kafka/server.properties") for h in hosts}
    ids = {h: re.findall(r"(?m)^(?:node|broker)\.id=(\d+)", p)[0] for h, p in props.items()}
    zookeeper = any("zookeeper.connect=" in p for p in props.values())
    secured = all("EXTERNAL:SASL_SSL" in p for p in props.values())
    old_home = {h.name: ssh(h.private, "readlink /opt/kafka") for h in hosts}

    logins = (
        {"producer_config": lab_login("producer"), "reader_config": lab_login("admin")} if secured else {}
    )
    load = Load(",".join(f"{h.public}:{EXTERNAL_PORT}" for h in hosts), args.topic, args.rate, **logins)
    load.start_and_wait(check, 500)

    # (a) heap change for every broker
    heap = args.heap.rstrip("mM")
    before = {h.name: broker(h.private) for h in hosts}
    t0 = time.monotonic()
    run = converge(args.scenario, log, "-e", f"kafka_heap_size={args.heap}")
    t1 = time.monotonic()
    check(run.rc == 0, f"(a) heap change run succeeds (rc={run.rc}, {t1 - t0:.0f} s)")
    after = {h.name: broker(h.private) for h in hosts}
    check(all(after[h].started_us != before[h].started_us for h in after), "(a) every broker was restarted")
    check(
        all(b.heap() == (f"-Xms{heap}m", f"-Xmx{heap}m") and b.user == "kafka" for b in after.values()),
        f"(a) every JVM runs as kafka with -Xms{heap}m -Xmx{heap}m "
        f"({ {h: (b.user, *b.heap()) for h, b in after.items()} })",
    )
    check_roll(check, load, hosts, "(a)", t0, t1)
    pending = [h.name for h in hosts if ssh(h.private, f"test -e {MARKER} && echo p || true")]
    check(not pending, f"(a) no restart is pending any more ({pending})")

    final = ["-e", f"kafka_heap_size={args.heap}"]
    if args.version:
        final = upgrade(check, load, hosts, args, log, before=after, old_home=old_home)
    if args.grow:
        hosts, final = grow(check, hosts, args.scenario, log, final, args.topic)
        ids = {h.name: ssh(h.private, "sed -n 's/^node.id=//p' /etc/kafka/server.properties") for h in hosts}

    load.stop()
    load.check_exactly_once(check)

    run = converge(args.scenario, log, *final)
    check(
        run.rc == 0 and set(run.changed) == {h.name for h in hosts} and not any(run.changed.values()),
        f"the next run is changed=0 ({run.changed})",
    )
    brokers = [(ids[h.name], h) for h in hosts]
    check_verify_cluster(check, log, args.topic, args.partitions, brokers, zookeeper, secured)
    return check.done()


if __name__ == "__main__":
    main_guard(main)
