"""Two sinks in one consumer group are SIGKILLed at random moments while a 200k-row stream flows.

Real Kafka (one KRaft node). Both sinks subscribe to the topic as members of one group, so every kill
also costs a rebalance: the killed member's partitions move to the survivor when its session expires,
and back when its next incarnation joins. Each kill lands 0-1.5 s after that incarnation's first object
was written, while rows are still arriving.

Guarantee checked: docs/guarantees.md, "G1 - the sink loses nothing and duplicates nothing"
(objects named by topic-partition-first offset, offsets committed only after the object is durable,
an open batch dropped when its partition is revoked).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from fixtures_faults import SampleData, cli_env, kill_hard, lake_counts, parse_summary, spawn_cli, wait_until

from pipeline.status import read_status, status_path

pytestmark = pytest.mark.integration

KILLS = 22
#: Each incarnation is killed this long (uniformly random) after its first object reached the lake.
KILL_AFTER_FIRST_WRITE_S = (0.0, 1.5)
#: A killed member's partitions move on once its session expires: a short one keeps the churn quick.
SESSION_TIMEOUT_MS = 2500
#: Paced so the stream outlasts the kills (each costs a rebalance of up to a session timeout).
RATE = "1400/s"


def _wrote_since(state_dir: Path, topic: str, started: float) -> bool:
    """True once the sink incarnation started at `started` has written at least one object."""
    doc = read_status(status_path(state_dir, "sink", topic))
    return bool(doc) and float(doc.get("started_at", 0)) >= started and int(doc.get("objects_written", 0)) > 0


def test_two_group_sinks_killed_at_random_many_times_lose_and_duplicate_nothing(
    broker: str, topic: str, group_id: str, sample_200k: SampleData, tmp_path: Path
) -> None:
    seed = int(os.environ.get("STOCKPIPE_FAULT_SEED", "20261122"))
    print(f"kill moments: random.Random({seed}) (set STOCKPIPE_FAULT_SEED to vary)")
    rng = random.Random(seed)
    lake = tmp_path / "lake"
    common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
    sink_args = [
        *("sink", *common, "--group", group_id, "--lake", str(lake)),
        *("--session-timeout-ms", str(SESSION_TIMEOUT_MS)),
        # Small, quick batches: many write-then-commit steps for the kills to land between.
        *("--batch-records", "5000", "--batch-age", "1"),
    ]
    producer_log = tmp_path / "produce.log"
    producer = spawn_cli(
        ["produce", "--source", str(sample_200k.path), "--rate", RATE, *common],
        cli_env(tmp_path / "state-producer"),
        producer_log,
    )
    slots = {name: tmp_path / f"state-{name}" for name in ("a", "b")}
    sinks: dict[str, tuple[subprocess.Popen[bytes], float]] = {}

    def start(name: str) -> None:
        started = time.time()
        sinks[name] = (spawn_cli(sink_args, cli_env(slots[name]), tmp_path / f"sink-{name}.log"), started)

    kills = kills_while_producing = 0
    try:
        for name in slots:
            start(name)
        for n in range(KILLS):
            if producer.poll() is not None:
                break  # the stream has ended: later kills would not land mid-stream
            name = rng.choice(sorted(slots))
            proc, started = sinks[name]
            wait_until(
                f"sink {name} incarnation to write to the lake (kill {n}, log sink-{name}.log)",
                lambda p=proc, s=started, nm=name: _wrote_since(slots[nm], topic, s) or p.poll() is not None,
                timeout_s=90,
            )
            assert proc.poll() is None, (
                f"sink {name} exited: {(tmp_path / f'sink-{name}.log').read_text()[-2000:]}"
            )
            time.sleep(rng.uniform(*KILL_AFTER_FIRST_WRITE_S))  # the random kill moment, not a wait
            kills_while_producing += producer.poll() is None
            kill_hard(proc)
            kills += 1
            print(f"kill {n}: sink {name}, {time.time() - started:.1f} s after it started")
            start(name)
        producer.wait(600)
        produced = parse_summary(producer_log.read_text())
        assert producer.returncode == 0, producer_log.read_text()[-3000:]
        assert produced["delivered"] == sample_200k.rows

        # Both members drain what is left until the topic has been idle, then stop gracefully.
        for proc, _started in sinks.values():
            kill_hard(proc)
        for name in slots:
            log = tmp_path / f"sink-{name}.log"
            sinks[name] = (
                spawn_cli([*sink_args, "--idle-timeout", "8"], cli_env(slots[name]), log),
                time.time(),
            )
        for name, (proc, _started) in sinks.items():
            assert proc.wait(300) == 0, (tmp_path / f"sink-{name}.log").read_text()[-3000:]
    finally:
        kill_hard(producer)
        for proc, _ in sinks.values():
            kill_hard(proc)

    print(f"{kills} SIGKILLs over two group members, {kills_while_producing} while the producer was sending")
    assert kills >= 20 and kills_while_producing >= 20, "too few kills landed mid-stream to prove anything"
    rows, distinct = lake_counts(str(lake), tmp_path / "state")
    assert (rows, distinct) == (produced["delivered"], produced["delivered"])
