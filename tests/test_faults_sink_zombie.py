"""A sink paused past its session (SIGSTOP: a long GC, a frozen VM) comes back as a zombie.

Real Kafka, two sinks in one consumer group (subscription). In each round one of them is stopped with
SIGSTOP at a random moment while rows stream (while it is handling a poll's records, not waiting in the
poll: see `_stop_while_busy`), stays stopped until the group has handed its partitions to
the other sink and that sink has written objects for them, then is continued: it still holds the batches
it had open and writes them, under the names its successor has already used. Objects are created, never
replaced, so the zombie keeps what is there, its commits are refused, and it rejoins the group.

Guarantee checked: docs/guarantees.md, "G1 - the sink loses nothing and duplicates nothing", the fencing
rule (objects are never replaced; a writer that finds its object name taken adopts what is there).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fixtures_faults import GroupStream, SampleData, kill_hard, wait_until

from pipeline.layout import parse_object_name

pytestmark = pytest.mark.integration

ROUNDS = 8
SESSION_TIMEOUT_MS = 2500
#: Paced so that every round happens while rows are still arriving.
RATE = "2000/s"


def _members(bootstrap: str, group: str) -> int:
    """Members of the group now; -1 while the coordinator cannot say (it is still loading, moving)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.describe_consumer_groups([group], request_timeout=10).values()
    try:
        return len(future.result().members)
    except KafkaException:
        return -1


def _stop_while_busy(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> bool:
    """SIGSTOP `proc` at a moment its main thread is running; False when it never was (stopped anyway).

    A sink stopped while it waits in its poll learns on resuming, in that same poll, that the group
    dropped it, and forgets its open batches: safe, but no zombie write. Stopped while it handles a poll's
    records (decoding, writing), it resumes, finishes that and writes its now expired batches before its
    next poll can tell it anything: the zombie write that the fencing must stop. At this test's rate a
    sink waits in its poll most of the time, so a random moment alone rarely catches it busy (eight rounds
    once missed it in a loaded CI run).
    """
    stat = Path(f"/proc/{proc.pid}/task/{proc.pid}/stat")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # The state is the field after the parenthesised command name ("R" running, "S" sleeping).
        if stat.read_text().rpartition(")")[2].split()[0] == "R":
            proc.send_signal(signal.SIGSTOP)
            return True
        time.sleep(0.0002)
    proc.send_signal(signal.SIGSTOP)
    return False


def _written_after(lake: Path, moment: float) -> set[int]:
    """Kafka partitions with an object created after `moment` (while the other sink was stopped)."""
    out: set[int] = set()
    for path in lake.rglob("*.parquet"):
        parsed = parse_object_name(path.name)
        try:
            if parsed is not None and path.stat().st_mtime > moment:
                out.add(parsed[1])
        except FileNotFoundError:
            continue
    return out


def test_a_sink_paused_past_its_session_never_replaces_its_successors_objects(
    broker: str, topic: str, group_id: str, sample_200k: SampleData, tmp_path: Path
) -> None:
    stream = GroupStream(
        broker, topic, group_id, sample_200k, tmp_path, rate=RATE, session_timeout_ms=SESSION_TIMEOUT_MS,
        batch_records=3000, batch_age_s=2, moments="pause",
    )  # fmt: skip
    rng, producer, lake = stream.rng, stream.producer, stream.lake
    names = ("a", "b")
    logs = {name: stream.sink_log(name) for name in names}
    sinks: dict[str, subprocess.Popen[bytes]] = {name: stream.start_sink(name) for name in names}
    rounds = 0
    try:
        wait_until("both sinks to join the group", lambda: _members(broker, group_id) == 2, 60, every_s=0.5)
        for n in range(ROUNDS):
            if producer.poll() is not None:
                break
            name = names[n % 2]
            wait_until(
                f"sink {name} to write an object (round {n})",
                lambda nm=name: stream.objects_written(nm) > 0,
                timeout_s=60,
            )
            time.sleep(rng.uniform(0.0, 2.0))  # the random pause moment, not a wait
            busy = _stop_while_busy(sinks[name])
            paused_at = time.time()
            try:
                wait_until(
                    f"the group to drop the stopped sink {name}",
                    lambda: _members(broker, group_id) == 1,
                    60,
                    0.5,
                )
                wait_until(
                    f"the other sink to write objects for all three partitions while {name} is stopped",
                    lambda t=paused_at: _written_after(lake, t) == {0, 1, 2},
                    timeout_s=60,
                    every_s=0.5,
                )
            finally:
                sinks[name].send_signal(signal.SIGCONT)
            print(f"round {n}: sink {name} stopped {time.time() - paused_at:.1f} s"
                  f"{' while busy' if busy else ' (never caught busy)'}")  # fmt: skip
            rounds += 1
            wait_until(f"sink {name} to rejoin", lambda: _members(broker, group_id) == 2, 60, every_s=0.5)
        delivered = stream.producer_delivered()
        stream.drain(sinks)
    finally:
        kill_hard(producer)
        for proc in sinks.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
            kill_hard(proc)

    zombie_lines = [
        line
        for log in logs.values()
        for line in log.read_text().splitlines()
        if "already exists" in line or "refused" in line
    ]
    print(f"{rounds} rounds; the zombies said:\n" + "\n".join(zombie_lines[:10]))
    assert rounds >= 3, "too few rounds happened while rows were streaming to prove anything"
    assert zombie_lines, "no sink ever found its object taken or its commit refused: no zombie was exercised"
    stream.check_lake(delivered)
