"""`stockpipe check` finds what the lake lost after the sink committed it, and the replay it proposes
writes exactly that back (docs/guarantees.md, G1: "What can still break it", objects lost outside the sink).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env, drain_sink, lake_counts

from pipeline.sink.check import compare

pytestmark = pytest.mark.integration


def test_compare_finds_gaps_overlaps_expired_offsets_and_skips_poison():
    extents = [(0, 9, "a"), (10, 19, "b"), (25, 29, "c"), (28, 40, "d")]
    result = compare(0, extents, committed=45, retained_from=0, poison={20, 21})
    assert result.missing == [(22, 24), (41, 44)]
    assert result.twice == [(28, 29)]
    assert not compare(0, extents[:2], committed=20, retained_from=0, poison=set()).missing
    expired = compare(0, [(50, 59, "e")], committed=60, retained_from=50, poison=set())
    assert expired.ok  # what retention removed before the sink ever saw it is not the lake's loss
    gone = compare(0, [(10, 19, "b")], committed=20, retained_from=5, poison=set())
    assert gone.missing == [(5, 9)] and "MISSING offsets 5..9" in gone.line()


def test_a_deleted_object_is_reported_the_replay_writes_it_back_and_a_torn_one_is_named(
    broker: str, topic: str, group_id: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "state")
    source = tmp_path / "src"
    made = cli(["sample", "--out", str(source), "--tickers", "12", "--days", "300"], env)
    assert made.returncode == 0, made.stderr
    rows = json.loads((source / "manifest.json").read_text())["rows"]
    done = cli(
        ["produce", "--source", str(source), "--bootstrap", broker, "--topic", topic, "--no-progress"], env
    )
    assert done.returncode == 0, done.stderr
    lake = tmp_path / "lake"
    sunk = drain_sink(broker, topic, group_id, lake, env, "--batch-records", "500")
    assert sunk.returncode == 0, sunk.stderr
    common = ["--bootstrap", broker, "--topic", topic, "--lake", str(lake)]

    clean = cli(["check", *common, "--group", group_id], env)
    assert clean.returncode == 0 and clean.stdout.count("every offset in exactly one object") == 3, (
        clean.stdout
    )

    victims = sorted(lake.rglob(f"{topic}-1-*.parquet"))[1:3]  # two objects of partition 1 vanish
    lost = sum(1 for _ in victims)
    for path in victims:
        path.unlink()
    broken = cli(["check", *common, "--group", group_id], env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "partition 1: " in broken.stdout and "MISSING offsets" in broken.stdout
    assert f"--group {group_id}-repair" in broken.stdout
    assert lost == 2 and lake_counts(str(lake), tmp_path / "state")[0] < rows

    repair = drain_sink(broker, topic, f"{group_id}-repair", lake, env)  # what the check proposes
    assert repair.returncode == 0, repair.stderr
    assert "already exists" in repair.stderr  # the objects that were there are kept
    assert cli(["check", *common, "--group", group_id], env).returncode == 0
    assert lake_counts(str(lake), tmp_path / "state") == (rows, rows)

    torn = sorted(lake.rglob(f"{topic}-0-*.parquet"))[0]  # a hostile or truncated file in the lake
    torn.write_bytes(torn.read_bytes()[:100])
    hostile = cli(["check", *common, "--group", group_id], env)
    assert hostile.returncode != 0 and "Traceback" not in hostile.stderr, hostile.stderr
    assert f"{torn} is not a readable parquet object" in hostile.stderr, hostile.stderr
    assert len(hostile.stderr.strip().splitlines()) == 1, hostile.stderr
