"""indexProcessed.csv's Adj Close and CloseUSD reach the lake, the catalog and the named queries
(nullable: the Kaggle layout has neither); an index analyst compares indices across currencies with
CloseUSD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env, drain_sink

from pipeline.sources.formats import INDEX_HEADER, KAGGLE_HEADER

pytestmark = pytest.mark.integration


def test_adj_close_and_close_usd_flow_from_the_index_file_to_sql(
    broker: str, topic: str, group_id: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "indexProcessed.csv").write_text(
        INDEX_HEADER
        + "\nN225,2017-01-04,19000,19600,18900,19594.16,19594.16,100,176.3474"
        + "\nN225,2017-01-05,19600,19700,19400,19520.69,19520.69,100,175.6862"
        + "\nNYA,2017-01-04,11000,11200,10900,11100,11100,200,"  # no CloseUSD: null, not a reject
        + "\nHSI,2017-01-04,22000,22200,21900,22134,22134,300,-5\n"  # a negative dollar close: rejected
    )
    (src / "Stocks").mkdir()
    (src / "Stocks" / "aaa.us.txt").write_text(KAGGLE_HEADER + "\n2017-01-04,10,11,9,10.5,1000,0\n")
    env = cli_env(tmp_path / "state")
    done = cli(
        ["produce", "--source", str(src), "--bootstrap", broker, "--topic", topic, "--no-progress"], env
    )
    assert done.returncode == 0, done.stderr
    assert (
        "delivered 4," in done.stdout and "closeusd must be a finite number > 0" in done.stdout + done.stderr
    )
    lake = tmp_path / "lake"
    assert drain_sink(broker, topic, group_id, lake, env).returncode == 0
    assert cli(["crawl", "--lake", str(lake)], env).returncode == 0

    sql = 'SELECT symbol, "date", adj_close, close_usd FROM prices ORDER BY symbol, "date"'
    rows = cli(["query", sql, "--lake", str(lake), "--format", "json"], env)
    assert rows.returncode == 0, rows.stderr
    found = [json.loads(line) for line in rows.stdout.splitlines() if line.strip()]  # JSON Lines
    assert [(r["symbol"], r["date"], r["adj_close"], r["close_usd"]) for r in found] == [
        ("AAA", "2017-01-04", None, None),
        ("N225", "2017-01-04", 19594.16, 176.3474),
        ("N225", "2017-01-05", 19520.69, 175.6862),
        ("NYA", "2017-01-04", 11100.0, None),
    ]
    latest = cli(["query", "--named", "latest_price", "--lake", str(lake), "--format", "json"], env)
    latest_rows = [json.loads(line) for line in latest.stdout.splitlines() if line.strip()]
    assert {r["symbol"]: r["close_usd"] for r in latest_rows}["N225"] == 175.6862
