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


def test_json_output_is_json_lines_one_object_per_row() -> None:
    lines = render_result(RESULT, "json").splitlines()

    assert len(lines) == 2
    assert json.loads(lines[0]) == {
        "symbol": "AAA",
        "date": "2024-01-02",
        "close": 12.5,
        "pct": "1.25",
        "note": None,
    }
    assert json.loads(lines[1])["symbol"] == "B,B"


def test_table_output_shows_every_value_and_the_row_count() -> None:
    text = render_result(RESULT, "table", width=80)

    for value in ("symbol", "AAA", "2024-01-03", "12.5", "B,B", "2 rows"):
        assert value in text


WIDE = QueryResult(
    ["symbol", "date", "open", "high", "low", "close", "volume", "adj_close", "close_usd", "source"],
    [
        ("AAPL", date(2013, 1, 2), 131.7123456, 132.1, 130.0, 131.75, 123_456_789, 131.7, Decimal("131.745"),
         "Stocks/aapl.us.txt:2 a long text value that may wrap at words")
        for _ in range(100)
    ],
)  # fmt: skip


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_a_table_fits_the_width_and_never_cuts_a_number_or_a_date(width: int) -> None:
    text = render_result(WIDE, "table", width=width, max_rows=3)
    lines = text.splitlines()

    assert "…" not in text
    assert all(len(line) <= width for line in lines if "a long text value" not in line)
    for value in ("2013-01-02", "131.7123456", "123456789", "131.745"):
        assert text.count(value) == 3  # whole, once per row shown
    assert "adj_close" in text and "close_usd" in text  # headers whole too


def test_a_table_shows_the_first_rows_and_says_how_many_more() -> None:
    text = render_result(WIDE, "table", width=200, max_rows=5)

    assert text.count("AAPL") == 5
    assert text.rstrip().endswith("5 of 100 rows shown; 95 more rows (--max-rows 0 shows all)")
    assert render_result(WIDE, "table", width=200, max_rows=0).count("AAPL") == 100
    assert render_result(WIDE, "csv").count("AAPL") == 100  # scripts always get every row


def test_too_wide_for_the_terminal_shows_each_row_as_a_block() -> None:
    text = render_result(WIDE, "table", width=60, max_rows=2)

    assert "-[ row 1 ]" in text and "-[ row 2 ]" in text
    assert "close_usd | 131.745" in text


def test_a_64k_row_result_renders_quickly_as_a_table() -> None:
    import time

    big = QueryResult(WIDE.columns, WIDE.rows * 640)
    started = time.monotonic()
    text = render_result(big, "table", width=200)
    assert time.monotonic() - started < 2.0
    assert "40 of 64,000 rows shown" in text


def test_unknown_output_format_is_rejected() -> None:
    with pytest.raises(PipelineError, match="not one of table, csv, json"):
        render_result(RESULT, "xml")
