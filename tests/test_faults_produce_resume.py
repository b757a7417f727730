"""The producer is interrupted (SIGINT) mid-replay and resumed from its checkpoint.

Guarantee checked: docs/guarantees.md, "G2 - an interrupted replay resumes without loss or
duplicates" (deterministic merge order, a checkpoint of the delivered record numbers written on stop).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from fixtures_faults import (
    SampleData,
    cli,
    cli_env,
    drain_sink,
    kill_hard,
    lake_counts,
    parse_summary,
    spawn_cli,
    wait_until,
)

from pipeline.errors import PipelineError
from pipeline.produce.checkpoint import Checkpoint, default_checkpoint_path


def _delivered_in(checkpoint: Path) -> int:
    try:
        return int(json.loads(checkpoint.read_text())["delivered"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0  # not written yet (or being replaced)


@pytest.mark.integration
def test_producer_interrupted_by_sigint_resumes_without_resending_and_lake_has_one_copy_of_each_row(
    broker: str, topic: str, group_id: str, sample_200k: SampleData, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "state")
    checkpoint = tmp_path / "replay.checkpoint.json"
    produce = [
        "produce",
        "--source",
        str(sample_200k.path),
        "--bootstrap",
        broker,
        "--topic",
        topic,
        "--checkpoint",
        str(checkpoint),
        "--no-progress",
    ]
    # Paced so the replay surely lasts longer than the moment we interrupt it (>= 5 s).
    first_log = tmp_path / "produce-1.log"
    first = spawn_cli([*produce, "--rate", "40000/s"], env, first_log)
    try:
        wait_until("a periodic checkpoint with deliveries", lambda: _delivered_in(checkpoint) >= 10_000, 60)
        first.send_signal(signal.SIGINT)
        first.wait(150)
    finally:
        kill_hard(first)
    out1 = first_log.read_text()
    run1 = parse_summary(out1)
    assert "interrupted" in out1 and "continue with --resume" in out1, out1[-2000:]
    assert first.returncode == 1, out1[-2000:]  # an interrupted replay is not a complete one
    assert run1["failed"] == 0 and run1["unconfirmed"] == 0, out1[-2000:]  # flushed before leaving
    assert run1["sent"] == run1["delivered"] < sample_200k.rows
    # The checkpoint on disk says exactly what the summary reported.
    assert json.loads(checkpoint.read_text())["delivered"] == run1["delivered"]

    second = cli([*produce, "--resume"], env, timeout_s=300)
    assert second.returncode == 0, second.stdout + second.stderr
    run2 = parse_summary(second.stdout)
    assert run2["skipped"] == run1["delivered"]  # nothing delivered is sent again
    assert run2["sent"] == run2["delivered"] == sample_200k.rows - run1["delivered"]

    lake = tmp_path / "lake"
    sink = drain_sink(broker, topic, group_id, lake, env, timeout_s=300)
    assert sink.returncode == 0, sink.stderr[-2000:]
    assert lake_counts(str(lake), tmp_path / "state") == (sample_200k.rows, sample_200k.rows)


def test_checkpoint_watermark_and_out_of_order_deliveries_survive_save_and_load(tmp_path: Path) -> None:
    path = default_checkpoint_path(tmp_path / "state", tmp_path / "src", "prices")
    cp = Checkpoint(path, tmp_path / "src", "prices", fingerprint="f1")
    for seq in (0, 1, 2, 5, 7, 8, 3):  # partitions report out of order; 4 and 6 failed or are pending
        cp.mark(seq)
    assert cp.watermark == 4 and cp.beyond == {5, 7, 8}
    cp.save()
    loaded = Checkpoint.load(path, tmp_path / "src", "prices", fingerprint="f1")
    assert [n for n in range(10) if not loaded.delivered(n)] == [4, 6, 9]
    assert loaded.delivered_count == 7


def test_checkpoint_refuses_to_resume_a_changed_source_or_another_topic(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    Checkpoint(path, tmp_path / "src", "prices", fingerprint="f1").save()
    with pytest.raises(PipelineError, match="source files changed"):
        Checkpoint.load(path, tmp_path / "src", "prices", fingerprint="f2")
    with pytest.raises(PipelineError, match="belongs to source"):
        Checkpoint.load(path, tmp_path / "src", "other-topic", fingerprint="f1")
    with pytest.raises(PipelineError, match="no checkpoint"):
        Checkpoint.load(tmp_path / "missing.json", tmp_path / "src", "prices", fingerprint="f1")
