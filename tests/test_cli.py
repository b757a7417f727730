"""The `stockpipe` command as a user runs it: real subprocesses against the test broker."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def stockpipe(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sample_produce_sink_crawl_query_through_the_cli(
    broker: str, topic: str, group_id: str, tmp_path: Path
):
    env = {
        "STOCKPIPE_BOOTSTRAP": broker,
        "STOCKPIPE_TOPIC": topic,
        "STOCKPIPE_GROUP_ID": group_id,
        "STOCKPIPE_LAKE": str(tmp_path / "lake"),
        "STOCKPIPE_STATE_DIR": str(tmp_path / "state"),
    }
    out = tmp_path / "data"
    res = stockpipe("sample", "--out", str(out), "--tickers", "8", "--days", "40", env=env)
    assert res.returncode == 0, res.stderr
    rows = json.loads((out / "manifest.json").read_text())["rows"]

    res = stockpipe("produce", "--source", str(out), "--rate", "2000/s", env=env)
    assert res.returncode == 0, res.stderr
    assert f"delivered {rows:,}, failed 0, unconfirmed 0" in res.stdout

    res = stockpipe("sink", "--max-records", str(rows), "--idle-timeout", "60", "--no-progress", env=env)
    assert res.returncode == 0, res.stderr
    assert f"wrote {rows:,} rows" in res.stdout

    res = stockpipe("crawl", env=env)
    assert res.returncode == 0, res.stderr
    assert "table prices" in res.stdout

    res = stockpipe("query", "SELECT count(*) AS n FROM prices", "--format", "csv", env=env)
    assert res.returncode == 0, res.stderr
    assert list(csv.DictReader(io.StringIO(res.stdout))) == [{"n": str(rows)}]

    res = stockpipe("query", "--named", "latest_price", "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    latest = [json.loads(line) for line in res.stdout.splitlines()]  # JSON Lines: one object per row
    assert len(latest) == 8 and {"symbol", "date", "close"} <= set(latest[0])

    res = stockpipe("query", "--list", env=env)
    assert {"latest_price", "daily_summary", "vwap", "top_movers"} <= {
        line.split()[0] for line in res.stdout.splitlines() if line.strip()
    }


def test_errors_are_one_line_with_a_fix(tmp_path: Path):
    res = stockpipe("produce", "--source", str(tmp_path / "missing"), env={})
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert res.stderr.startswith("stockpipe: error: source") and "pass a directory" in res.stderr
