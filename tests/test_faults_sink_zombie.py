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

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fixtures_faults import SampleData, cli_env, kill_hard, lake_counts, parse_summary, spawn_cli, wait_until

from pipeline.layout import parse_object_name
from pipeline.status import read_status, status_path

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
    seed = int(os.environ.get("STOCKPIPE_FAULT_SEED", "20261122"))
    print(f"pause moments: random.Random({seed}) (set STOCKPIPE_FAULT_SEED to vary)")
    rng = random.Random(seed)
    lake = tmp_path / "lake"
    common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
    sink_args = [
        *("sink", *common, "--group", group_id, "--lake", str(lake)),
        *("--session-timeout-ms", str(SESSION_TIMEOUT_MS), "--batch-records", "3000", "--batch-age", "2"),
    ]
    producer_log = tmp_path / "produce.log"
    producer = spawn_cli(
        ["produce", "--source", str(sample_200k.path), "--rate", RATE, *common],
        cli_env(tmp_path / "state-producer"),
        producer_log,
    )
    states = {name: tmp_path / f"state-{name}" for name in ("a", "b")}
    logs = {name: tmp_path / f"sink-{name}.log" for name in states}
    sinks: dict[str, subprocess.Popen[bytes]] = {
        name: spawn_cli(sink_args, cli_env(states[name]), logs[name]) for name in states
    }
    rounds = 0
    try:
        wait_until("both sinks to join the group", lambda: _members(broker, group_id) == 2, 60, every_s=0.5)
        for n in range(ROUNDS):
            if producer.poll() is not None:
                break
            name = ("a", "b")[n % 2]
            wait_until(
                f"sink {name} to write an object (round {n})",
                lambda nm=name: int((read_status(status_path(states[nm], "sink", topic)) or {}).get(
                    "objects_written", 0)) > 0,
                timeout_s=60,
            )  # fmt: skip
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
        producer.wait(600)
        assert producer.returncode == 0, producer_log.read_text()[-3000:]
        produced = parse_summary(producer_log.read_text())
        assert produced["delivered"] == sample_200k.rows
        for name, proc in sinks.items():  # drain what is left, then stop gracefully
            kill_hard(proc)
            sinks[name] = spawn_cli([*sink_args, "--idle-timeout", "8"], cli_env(states[name]), logs[name])
        for name, proc in sinks.items():
            assert proc.wait(300) == 0, logs[name].read_text()[-3000:]
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
    rows, distinct = lake_counts(str(lake), tmp_path / "state")
    assert (rows, distinct) == (produced["delivered"], produced["delivered"])
