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

import subprocess
import time
from pathlib import Path

import pytest
from fixtures_faults import GroupStream, SampleData, kill_hard, wait_until

pytestmark = pytest.mark.integration

KILLS = 22
#: Each incarnation is killed this long (uniformly random) after its first object reached the lake.
KILL_AFTER_FIRST_WRITE_S = (0.0, 1.5)
#: A killed member's partitions move on once its session expires: a short one keeps the churn quick.
SESSION_TIMEOUT_MS = 2500
#: Paced so the stream outlasts the kills (each costs a rebalance of up to a session timeout).
RATE = "1400/s"


def test_two_group_sinks_killed_at_random_many_times_lose_and_duplicate_nothing(
    broker: str, topic: str, group_id: str, sample_200k: SampleData, tmp_path: Path
) -> None:
    stream = GroupStream(
        broker, topic, group_id, sample_200k, tmp_path, rate=RATE, session_timeout_ms=SESSION_TIMEOUT_MS,
        # Small, quick batches: many write-then-commit steps for the kills to land between.
        batch_records=5000, batch_age_s=1, moments="kill",
    )  # fmt: skip
    rng, producer = stream.rng, stream.producer
    names = ("a", "b")
    sinks: dict[str, subprocess.Popen[bytes]] = {}
    started_at: dict[str, float] = {}

    def start(name: str) -> None:
        started_at[name] = time.time()
        sinks[name] = stream.start_sink(name)

    kills = kills_while_producing = 0
    try:
        for name in names:
            start(name)
        for n in range(KILLS):
            if producer.poll() is not None:
                break  # the stream has ended: later kills would not land mid-stream
            name = rng.choice(names)
            proc, started = sinks[name], started_at[name]
            wait_until(
                f"sink {name} incarnation to write to the lake (kill {n}, log sink-{name}.log)",
                lambda p=proc, s=started, nm=name: (
                    stream.objects_written(nm, since=s) > 0 or p.poll() is not None
                ),
                timeout_s=90,
            )
            assert proc.poll() is None, f"sink {name} exited: {stream.sink_log(name).read_text()[-2000:]}"
            time.sleep(rng.uniform(*KILL_AFTER_FIRST_WRITE_S))  # the random kill moment, not a wait
            kills_while_producing += producer.poll() is None
            kill_hard(proc)
            kills += 1
            print(f"kill {n}: sink {name}, {time.time() - started:.1f} s after it started")
            start(name)
        delivered = stream.producer_delivered()
        stream.drain(sinks)
    finally:
        kill_hard(producer)
        for proc in sinks.values():
            kill_hard(proc)

    print(f"{kills} SIGKILLs over two group members, {kills_while_producing} while the producer was sending")
    assert kills >= 20 and kills_while_producing >= 20, "too few kills landed mid-stream to prove anything"
    stream.check_lake(delivered)
