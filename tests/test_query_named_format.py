"""Named query rendering (validation, defaults) and the table/CSV/JSON output formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from pipeline.errors import PipelineError
from pipeline.query import QueryResult
from pipeline.query.format import render as render_result
from pipeline.query.named import list_queries, render


def test_shipped_named_queries_are_listed_with_descriptions() -> None:
    queries = {q.name: q.description for q in list_queries()}

    assert set(queries) == {"latest_price", "daily_summary", "vwap", "top_movers"}
    assert all(queries.values())


def test_without_a_range_a_named_query_scans_everything() -> None:
    sql = render("daily_summary")

    assert "WHERE TRUE\nGROUP BY" in sql
    assert "LIMIT" not in sql


def test_top_movers_defaults_to_ten_rows() -> None:
    assert render("top_movers").rstrip().endswith("LIMIT 10")
    assert render("top_movers", limit=3).rstrip().endswith("LIMIT 3")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["year", "month"], ["year >= 2024", "year * 100 + month >= 202403"]),
        (["year"], ["year >= 2024"]),
        (["trade_date"], ["trade_date >= DATE '2024-03-04'"]),
        ([], []),
    ],
)
def test_a_start_date_adds_predicates_on_the_partition_keys(keys: list[str], expected: list[str]) -> None:
    sql = render("vwap", start=date(2024, 3, 4), partition_keys=keys)

    assert "\"date\" >= DATE '2024-03-04'" in sql
    for predicate in expected:
        assert predicate in sql
    assert ("year" in sql) == ("year" in keys)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"table": "prices; DROP TABLE x"}, "table name"),
        ({"start": "2024-13-01"}, "is not a date"),
        ({"start": "2024-02-01", "end": "2024-01-01"}, "is after end"),
        ({"limit": 0}, "limit 0"),
        ({"symbols": "AAA"}, "no parameter symbols"),
    ],
)
def test_bad_parameters_are_rejected_with_the_fix(params: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        render("vwap", **params)  # type: ignore[arg-type]


def test_unknown_query_lists_the_known_ones() -> None:
    with pytest.raises(PipelineError, match="choose one of: daily_summary, latest_price, top_movers, vwap"):
        render("best_stock")


RESULT = QueryResult(
    ["symbol", "date", "close", "pct", "note"],
    [
        ("AAA", date(2024, 1, 2), 12.5, Decimal("1.25"), None),
        ("B,B", date(2024, 1, 3), 7.0, Decimal("-2"), "x"),
    ],
)


def test_csv_output_has_a_header_and_quotes_commas() -> None:
    rows = list(csv.reader(io.StringIO(render_result(RESULT, "csv"))))

    assert rows == [
        ["symbol", "date", "close", "pct", "note"],
        ["AAA", "2024-01-02", "12.5", "1.25", ""],
        ["B,B", "2024-01-03", "7.0", "-2", "x"],
    ]


def test_json_output_is_a_list_of_objects() -> None:
    data = json.loads(render_result(RESULT, "json"))

    assert data[0] == {"symbol": "AAA", "date": "2024-01-02", "close": 12.5, "pct": "1.25", "note": None}
    assert len(data) == 2


def test_table_output_shows_every_value_and_the_row_count() -> None:
    text = render_result(RESULT, "table")

    for value in ("symbol", "AAA", "2024-01-03", "12.5", "B,B", "2 rows"):
        assert value in text


def test_unknown_output_format_is_rejected() -> None:
    with pytest.raises(PipelineError, match="not one of table, csv, json"):
        render_result(RESULT, "xml")
