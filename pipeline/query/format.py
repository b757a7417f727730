"""Query results for people (a rich table) and for scripts (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.errors import PipelineError
from pipeline.query.base import QueryResult

FORMATS = ("table", "csv", "json")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def render(result: QueryResult, fmt: str = "table", width: int = 120) -> str:
    """`table`: aligned columns for a terminal; `csv`: a header line then rows; `json`: a list of objects."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
        return out.getvalue()
    if fmt == "json":
        objects = [
            {c: _json_value(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows
        ]
        return json.dumps(objects, indent=1, allow_nan=False, default=str) + "\n"
    if fmt == "table":
        table = Table(
            show_lines=False, caption=f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
        )
        for i, column in enumerate(result.columns):
            numeric = any(
                isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool)
                for row in result.rows[:50]
            )
            table.add_column(column, justify="right" if numeric else "left")
        for row in result.rows:
            table.add_row(*(_text(v) for v in row))
        # force_jupyter=False: inside a notebook rich would otherwise render to the notebook, not the buffer
        console = Console(
            file=io.StringIO(), width=width, force_terminal=False, force_jupyter=False, color_system=None
        )
        console.print(table)
        return console.file.getvalue()  # type: ignore[attr-defined]
    raise PipelineError(f"output format {fmt!r} is not one of {', '.join(FORMATS)}", "fix --format")
