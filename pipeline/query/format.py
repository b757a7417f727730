"""Query results for people (a table at the terminal's width) and for scripts (CSV, JSON Lines).

- `table`: aligned columns that fit `width` (the terminal's, `shutil.get_terminal_size`). A value is
  never cut: numbers, dates and other short values keep their whole width; long text columns wrap
  inside their cell; when even that cannot fit, each row is shown as a block of `column: value`
  lines (like psql's expanded display). At most `max_rows` rows are rendered, then "N more rows".
- `csv`: a header line, then one line per row (every row).
- `json`: JSON Lines, one object per row (`{"column": value, ...}`); dates as `YYYY-MM-DD`,
  decimals as strings, so no digit is lost. Read it with `jq -s`, `pandas.read_json(lines=True)`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.errors import PipelineError
from pipeline.query.base import QueryResult

FORMATS = ("table", "csv", "json")
#: Rows a table shows unless told otherwise (`--max-rows`; 0 shows every row).
DEFAULT_MAX_ROWS = 40
#: A text column narrower than this is never wrapped (symbols, short names).
_MIN_WRAP = 12


def terminal_width() -> int:
    """The terminal's columns (COLUMNS wins; 80 when there is no terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


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


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _plural(n: int, word: str = "row") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def render(
    result: QueryResult, fmt: str = "table", width: int | None = None, max_rows: int | None = DEFAULT_MAX_ROWS
) -> str:
    """The result as text in `fmt`; `width` and `max_rows` (None or 0: all) apply to `table` only."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
        return out.getvalue()
    if fmt == "json":
        dumps = json.JSONEncoder(allow_nan=False, default=str, ensure_ascii=False).encode
        columns = result.columns
        return "".join(
            dumps({c: _json_value(v) for c, v in zip(columns, row, strict=True)}) + "\n"
            for row in result.rows
        )
    if fmt == "table":
        return render_table(result, width or terminal_width(), max_rows)
    raise PipelineError(f"output format {fmt!r} is not one of {', '.join(FORMATS)}", "fix --format")


def render_table(result: QueryResult, width: int, max_rows: int | None = DEFAULT_MAX_ROWS) -> str:
    total = len(result.rows)
    shown = result.rows if not max_rows else result.rows[:max_rows]
    cells = [[_text(v) for v in row] for row in shown]
    more = total - len(shown)
    caption = _plural(total)
    if more:
        caption = f"{len(shown):,} of {caption} shown; {more:,} more rows (--max-rows 0 shows all)"
    columns = result.columns
    numeric = [any(_numeric(row[i]) for row in shown[:200]) for i in range(len(columns))]
    longest = [max((len(row[i]) for row in cells), default=0) for i in range(len(columns))]
    # A column is as wide as its longest value and its header (never cut), except long text, which
    # wraps inside its cell at words; columns are two spaces apart (one padding, one rule character).
    widths = [max(longest[i], len(c)) for i, c in enumerate(columns)]
    wraps = [not numeric[i] and longest[i] > _MIN_WRAP for i in range(len(columns))]
    least = [max(_MIN_WRAP, len(c)) if wraps[i] else widths[i] for i, c in enumerate(columns)]
    if columns and sum(least) + 2 * (len(columns) - 1) > width:
        return _expanded(columns, cells, caption, width)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False, collapse_padding=True)
    for i, column in enumerate(columns):
        table.add_column(
            column,
            justify="right" if numeric[i] else "left",
            no_wrap=not wraps[i],
            overflow="fold",
            min_width=least[i],
        )
    for row in cells:
        table.add_row(*row)
    console = _console(width)
    console.print(table)
    console.print(caption, overflow="fold")
    return _text_of(console)


def _expanded(columns: list[str], cells: list[list[str]], caption: str, width: int) -> str:
    """One block per row, `column | value`, for results too wide for the terminal."""
    name_width = max(len(c) for c in columns)
    out = io.StringIO()
    for n, row in enumerate(cells, 1):
        out.write(f"-[ row {n:,} ]" + "-" * max(width - 12 - len(f"{n:,}"), 3) + "\n")
        for column, value in zip(columns, row, strict=True):
            out.write(f"{column.ljust(name_width)} | {value}\n")
    out.write("\n".join(textwrap.wrap(caption, width)) + "\n")
    return out.getvalue()


def _console(width: int) -> Console:
    # force_jupyter=False: inside a notebook rich would otherwise render to the notebook, not the buffer
    return Console(
        file=io.StringIO(), width=width, force_terminal=False, force_jupyter=False, color_system=None
    )


def _text_of(console: Console) -> str:
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in text.splitlines())
