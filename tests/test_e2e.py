"""End to end: generate -> produce (each client) -> sink (each lake target) -> crawl -> SQL.

Real processes: the tansu broker, and for S3 a moto_server serving S3 and the Glue catalog API.
SQL counts and aggregates must equal what the generator wrote (its manifest).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_kafka import TEST_SESSION_TIMEOUT_MS

from pipeline.catalog import crawl
from pipeline.config import Settings, load_settings
from pipeline.kafka.topics import ensure_topic
from pipeline.lake import open_lake
from pipeline.produce.service import run_produce
from pipeline.query import open_engine
from pipeline.query.named import list_queries
from pipeline.sink.service import run_sink
from pipeline.sources.sample import Manifest, generate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("sample")
    return root, generate(root, tickers=24, days=180, seed=2024, empty_files=1)


def _sink(settings: Settings, max_records: int, batch_age_s: float = 2.0):
    return run_sink(
        settings,
        max_records=max_records,
        idle_timeout_s=60,
        batch_records=2_000,
        batch_age_s=batch_age_s,
        show_progress=False,
        consumer_options={"session_timeout_ms": TEST_SESSION_TIMEOUT_MS},
    )


def _check_sql_matches_manifest(settings: Settings, manifest: Manifest) -> None:
    with open_engine(settings) as engine:
        count, volume, distinct = engine.execute(
            f"SELECT count(*), sum(volume), count(DISTINCT (symbol, date)) FROM {settings.table}"
        ).rows[0]
        assert count == manifest.rows
        assert volume == manifest.total_volume
        assert distinct == manifest.rows, "a (symbol, date) appears twice"
        latest = engine.run_named("latest_price", table=settings.table)
        closes = {
            row[latest.columns.index("symbol")]: row[latest.columns.index("close")] for row in latest.rows
        }
        assert closes == {sym: stats.last_close for sym, stats in manifest.symbols.items()}
        for query in list_queries():
            assert engine.run_named(query.name, table=settings.table).rows, f"{query.name} returned nothing"


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
@pytest.mark.parametrize("target", ["local", "s3"])
def test_pipeline_end_to_end(
    client: str,
    target: str,
    dataset: tuple[Path, Manifest],
    broker: str,
    topic: str,
    group_id: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
):
    source, manifest = dataset
    settings = load_settings(
        bootstrap=broker, topic=topic, client=client, group_id=group_id, state_dir=str(tmp_path / "state")
    )
    if target == "local":
        settings = replace(settings, lake=str(tmp_path / "lake"))
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        settings = replace(
            settings,
            lake=f"s3://{bucket}/lake",
            aws_endpoint_url=endpoint,
            region="us-east-1",
            catalog="glue",
            database=f"e2e_{uuid.uuid4().hex[:8]}",
        )

    produced = run_produce(settings, source, show_progress=False)
    assert produced.counts.rows_read == manifest.rows
    assert produced.report.delivered == manifest.rows
    assert produced.report.failed == produced.report.unconfirmed == 0
    assert produced.counts.empty_files == 1

    sunk = _sink(settings, produced.report.delivered)
    assert sunk.report.rows_written == manifest.rows
    assert sunk.report.poison == 0

    report = crawl(settings)
    assert report.tables[0].name == settings.table
    _check_sql_matches_manifest(settings, manifest)


def test_replaying_the_same_offsets_rewrites_the_same_objects(
    dataset: tuple[Path, Manifest], broker: str, topic: str, tmp_path: Path
):
    source, manifest = dataset
    settings = load_settings(
        bootstrap=broker, topic=topic, lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state")
    )
    produced = run_produce(settings, source, show_progress=False)
    assert produced.report.delivered == manifest.rows
    lake = open_lake(settings.lake)

    # Only the deterministic batch rules (count, lake partition) may cut batches here: a wall-clock
    # cut is safe (docs/guarantees.md) but would not give byte-identical objects to compare.
    _sink(replace(settings, group_id=f"first-{uuid.uuid4().hex[:8]}"), manifest.rows, batch_age_s=3600)
    first = {o.key: lake.get(o.key) for o in lake.list()}
    # A new group starts again from offset 0: the batches and object names must come out the same.
    _sink(replace(settings, group_id=f"replay-{uuid.uuid4().hex[:8]}"), manifest.rows, batch_age_s=3600)
    second = {o.key: lake.get(o.key) for o in lake.list()}

    assert first and second == first
    crawl(settings)
    _check_sql_matches_manifest(settings, manifest)


@pytest.mark.parametrize("punctuation", ["-", ".", "_"])
def test_a_new_group_with_other_batch_cuts_replays_without_duplicates(
    dataset: tuple[Path, Manifest], broker: str, punctuation: str, tmp_path: Path
):
    """A reset or new consumer group re-reads from offset 0 and cuts batches its own way (timers, a
    different batch size): batches still close where existing objects begin, so nothing overlaps.
    Topic names may hold any of Kafka's punctuation (`.` once disabled this rule)."""
    source, manifest = dataset
    topic = f"replay{punctuation}{uuid.uuid4().hex[:8]}{punctuation}v2"
    assert ensure_topic(broker, topic, partitions=3)
    settings = load_settings(
        bootstrap=broker, topic=topic, lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state")
    )
    assert run_produce(settings, source, show_progress=False).report.delivered == manifest.rows
    common = {"max_records": manifest.rows, "idle_timeout_s": 60, "batch_age_s": 3600, "show_progress": False}
    options = {"session_timeout_ms": TEST_SESSION_TIMEOUT_MS}
    run_sink(
        replace(settings, group_id=f"a-{uuid.uuid4().hex[:8]}"),
        batch_records=50,
        consumer_options=options,
        **common,
    )
    run_sink(
        replace(settings, group_id=f"b-{uuid.uuid4().hex[:8]}"),
        batch_records=70,
        consumer_options=options,
        **common,
    )
    crawl(settings)
    _check_sql_matches_manifest(settings, manifest)
