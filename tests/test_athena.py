"""The Athena engine against a real HTTP server speaking the Athena JSON protocol (athena_endpoint.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from athena_endpoint import FakeAthena

from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.query import open_engine
from pipeline.query.athena import AthenaEngine


def _settings(url: str) -> Settings:
    return Settings(
        engine="athena",
        catalog="glue",
        database="market",
        athena_workgroup="analytics",
        athena_output="s3://results-bucket/athena/",
        aws_endpoint_url=url,
        region="us-east-1",
    )


def _engine(athena: FakeAthena, **kw: Any) -> AthenaEngine:
    return AthenaEngine(_settings(athena.url), poll_s=0.01, max_poll_s=0.05, **kw)


COLUMNS = [
    ("symbol", "varchar"),
    ("date", "date"),
    ("close", "double"),
    ("volume", "bigint"),
    ("pct", "decimal"),
    ("up", "boolean"),
    ("at", "timestamp"),
]


def test_query_is_polled_until_it_succeeds_and_all_result_pages_are_read(athena_endpoint: FakeAthena) -> None:
    rows = [
        [f"S{i}", f"2024-01-{i + 1:02d}", f"{i}.5", str(i * 1000), "1.25", "true", "2024-01-02 03:04:05.123"]
        for i in range(5)
    ]
    rows[3][2] = None  # a NULL cell
    athena_endpoint.script("FROM prices", columns=COLUMNS, rows=rows, page_size=2)

    result = _engine(athena_endpoint).execute("SELECT * FROM prices")

    assert result.columns == [c for c, _ in COLUMNS]
    assert len(result.rows) == 5  # the header row is not a row
    assert result.rows[0] == (
        "S0",
        date(2024, 1, 1),
        0.5,
        0,
        Decimal("1.25"),
        True,
        datetime(2024, 1, 2, 3, 4, 5, 123000),
    )
    assert result.rows[3][2] is None
    assert [r[0] for r in result.rows] == ["S0", "S1", "S2", "S3", "S4"]
    polls = athena_endpoint.calls_to("GetQueryExecution")
    assert len(polls) == 3  # QUEUED, RUNNING, SUCCEEDED
    pages = athena_endpoint.calls_to("GetQueryResults")
    assert [p.get("NextToken") for p in pages] == [None, "2", "4"]  # 6 rows incl. header, 2 per page
    (start,) = athena_endpoint.calls_to("StartQueryExecution")
    assert start["WorkGroup"] == "analytics"
    assert start["QueryExecutionContext"] == {"Database": "market"}
    assert start["ResultConfiguration"] == {"OutputLocation": "s3://results-bucket/athena/"}


def test_failed_query_raises_with_athenas_reason(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script(
        "FROM nowhere",
        states=["QUEUED", "RUNNING", "FAILED"],
        reason="TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.market.nowhere' does not exist",
    )

    with pytest.raises(PipelineError) as err:
        _engine(athena_endpoint).execute("SELECT * FROM nowhere")

    assert "FAILED: TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.market.nowhere' does not exist" in str(
        err.value
    )
    assert athena_endpoint.calls_to("GetQueryResults") == []


def test_cancelled_query_raises(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script("SELECT 1", states=["RUNNING", "CANCELLED"], reason="Query cancelled by user")

    with pytest.raises(PipelineError, match="CANCELLED: Query cancelled by user"):
        _engine(athena_endpoint).execute("SELECT 1")


def test_query_past_its_deadline_is_stopped_and_reported(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script("SELECT slow", states=["QUEUED", "RUNNING"])  # never finishes

    with pytest.raises(PipelineError, match=r"still RUNNING after 0.3s; it was cancelled"):
        _engine(athena_endpoint, timeout_s=0.3).execute("SELECT slow")

    (stop,) = athena_endpoint.calls_to("StopQueryExecution")
    assert stop["QueryExecutionId"] == athena_endpoint.calls_to("GetQueryExecution")[0]["QueryExecutionId"]
    assert len(athena_endpoint.calls_to("GetQueryExecution")) >= 3


def test_poll_interval_backs_off(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script("SELECT 2", states=["QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"])
    sleeps: list[float] = []

    AthenaEngine(_settings(athena_endpoint.url), poll_s=0.2, max_poll_s=0.4, sleep=sleeps.append).execute(
        "SELECT 2"
    )

    assert sleeps == pytest.approx([0.2, 0.3, 0.4, 0.4])


def test_named_query_is_rendered_for_athena_with_partition_predicates(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script(
        "max_by(close",
        columns=[("symbol", "varchar"), ("date", "date"), ("close", "double"), ("volume", "bigint")],
        rows=[["AAA", "2024-02-29", "12.5", "100"]],
    )

    result = _engine(athena_endpoint).run_named("latest_price", start="2024-02-01", end="2024-02-29")

    assert result.rows == [("AAA", date(2024, 2, 29), 12.5, 100)]
    sql = athena_endpoint.calls_to("StartQueryExecution")[0]["QueryString"]
    assert "FROM prices" in sql
    assert "year BETWEEN 2024 AND 2024" in sql
    assert "\"date\" BETWEEN DATE '2024-02-01' AND DATE '2024-02-29'" in sql


def test_ddl_results_have_no_header_row_to_skip(athena_endpoint: FakeAthena) -> None:
    athena_endpoint.script(
        "SHOW TABLES", columns=[("tab_name", "string")], rows=[["prices"]], statement_type="DDL"
    )

    result = _engine(athena_endpoint).execute("SHOW TABLES")

    assert result.rows == [("prices",)]


def test_open_engine_picks_athena_from_settings(athena_endpoint: FakeAthena) -> None:
    engine = open_engine(_settings(athena_endpoint.url))

    assert isinstance(engine, AthenaEngine)


def test_unreachable_athena_endpoint_fails_with_a_clear_message(aws_env: dict[str, str]) -> None:
    engine = AthenaEngine(_settings("http://127.0.0.1:9"))

    with pytest.raises(PipelineError, match=r"cannot reach Athena at http://127.0.0.1:9 to start a query"):
        engine.execute("SELECT 1")
