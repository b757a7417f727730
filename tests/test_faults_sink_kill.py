"""The sink is SIGKILLed at random moments while a 200k-row stream flows, and restarted each time.

Guarantee checked: docs/guarantees.md, "G1 - the sink loses nothing and duplicates nothing"
(objects named by topic-partition-first offset, offsets committed only after the object is durable).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path

import pytest
from fixtures_faults import SampleData, cli_env, kill_hard, lake_counts, parse_summary, spawn_cli, wait_until

pytestmark = pytest.mark.integration

#: A restart costs ~1 s with static assignment (no group join), so kills are cheap.
KILLS = 16
#: Each incarnation is killed this long (uniformly random) after its first write to the lake.
KILL_AFTER_FIRST_WRITE_S = (0.0, 1.5)


def _newest_write(lake: Path) -> float:
    """Most recent modification time of any data object (a rewrite of the same name counts)."""
    newest = 0.0
    for path in lake.rglob("*.parquet"):
        with contextlib.suppress(FileNotFoundError):  # a temp file renamed away since the listing
            newest = max(newest, path.stat().st_mtime)
    return newest


def test_sink_killed_with_sigkill_many_times_loses_nothing_and_duplicates_nothing(
    broker: str, topic: str, group_id: str, sample_200k: SampleData, tmp_path: Path
) -> None:
    seed = int(os.environ.get("STOCKPIPE_FAULT_SEED", "20261122"))
    print(f"kill moments: random.Random({seed}) (set STOCKPIPE_FAULT_SEED to vary)")
    rng = random.Random(seed)
    lake = tmp_path / "lake"
    env = cli_env(tmp_path / "state")
    common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
    sink_args = [
        "sink",
        *common,
        "--group",
        group_id,
        "--lake",
        str(lake),
        # Static assignment of all three partitions: offsets are committed to and fetched from the
        # group as usual, but no member joins or leaves it. The test broker's group coordinator wedges
        # for good when a killed member drops out around a rebalance (ENVIRONMENT.md), which a few
        # kills in a row reliably hit; what this test is about is commit-after-write, not rebalancing.
        "--partitions",
        "0,1,2",
        # Small, quick batches: many write-then-commit steps for the kills to land between.
        "--batch-records",
        "5000",
        "--batch-age",
        "1",
    ]
    producer_log = tmp_path / "produce.log"
    # Paced so that records keep arriving across the incarnations and every kill lands mid-stream.
    producer = spawn_cli(
        ["produce", "--source", str(sample_200k.path), "--rate", "3000/s", *common], env, producer_log
    )
    sink_log = tmp_path / "sink.log"
    kills = kills_while_producing = 0
    try:
        for n in range(KILLS):
            if producer.poll() is not None:
                break  # the stream has ended: a new incarnation might find nothing left to write
            started = time.time()
            sink = spawn_cli(sink_args, env, sink_log)
            try:
                wait_until(
                    f"sink incarnation {n} to write to the lake (log {sink_log})",
                    lambda s=sink, t=started: _newest_write(lake) > t or s.poll() is not None,
                    timeout_s=60,
                )
                print(f"incarnation {n}: first write after {time.time() - started:.1f} s")
                assert sink.poll() is None, (
                    f"sink exited with {sink.returncode}: {sink_log.read_text()[-2000:]}"
                )
                time.sleep(rng.uniform(*KILL_AFTER_FIRST_WRITE_S))  # the random kill moment, not a wait
                kills_while_producing += producer.poll() is None
            finally:
                kill_hard(sink)
                kills += 1
        producer.wait(180)
        produced = parse_summary(producer_log.read_text())
        assert producer.returncode == 0, producer_log.read_text()[-3000:]
        assert produced["delivered"] == sample_200k.rows

        # The last incarnation runs until the topic has been idle for 5 s, then stops gracefully.
        final = spawn_cli([*sink_args, "--idle-timeout", "5"], env, sink_log)
        t0 = time.time()
        try:
            final.wait(180)
            print(f"final run {time.time() - t0:.1f} s")
        finally:
            kill_hard(final)
        assert final.returncode == 0, sink_log.read_text()[-3000:]
    finally:
        kill_hard(producer)

    print(f"{kills} SIGKILLs, {kills_while_producing} of them while the producer was still sending")
    assert kills_while_producing >= KILLS // 2, "too few kills landed mid-stream to prove anything"
    rows, distinct = lake_counts(str(lake), tmp_path / "state")
    assert (rows, distinct) == (produced["delivered"], produced["delivered"])
