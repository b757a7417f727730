"""Named queries shipped with the package: Jinja templates in pipeline/queries/<name>.sql.j2.

The same SQL runs on DuckDB and on Athena (Trino): max_by/min_by, DATE 'YYYY-MM-DD' literals, the
`"date"` column quoted. Date ranges add predicates on the partition keys (year, year*100+month or
trade_date) so both engines skip partitions outside the range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from pipeline.errors import PipelineError
from pipeline.layout import PARTITION_KEYS, table_problem
from pipeline.sink.encode import SCHEMA

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"
_DESCRIPTION = re.compile(r"^\{#\s*(.*?)\s*#\}", re.DOTALL)
PARAMS = ("table", "start", "end", "limit", "partition_keys")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str

    def __str__(self) -> str:
        return f"{self.name:<14} {self.description}"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(QUERIES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def list_queries() -> list[NamedQuery]:
    out = []
    for path in sorted(QUERIES_DIR.glob("*.sql.j2")):
        if path.name.startswith("_"):
            continue  # macros
        m = _DESCRIPTION.match(path.read_text())
        out.append(NamedQuery(path.name.removesuffix(".sql.j2"), " ".join(m[1].split()) if m else ""))
    return out


def _date(name: str, value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PipelineError(f"{name} {value!r} is not a date", f"give --{name} as YYYY-MM-DD") from None


def render(
    name: str,
    *,
    table: str = "prices",
    start: date | str | None = None,
    end: date | str | None = None,
    limit: int | None = None,
    partition_keys: list[str] | tuple[str, ...] = PARTITION_KEYS["month"],
    columns: list[str] | tuple[str, ...] | None = None,
    **unknown: Any,
) -> str:
    """The SQL of named query `name` for `table`; start/end (inclusive) default to the whole range."""
    names = [q.name for q in list_queries()]
    if name not in names:
        raise PipelineError(f"there is no named query {name!r}", f"choose one of: {', '.join(names)}")
    if unknown:
        raise PipelineError(
            f"named queries take no parameter {', '.join(sorted(unknown))}",
            f"parameters are: {', '.join(PARAMS[:4])}",
        )
    problem = table_problem(table)
    if problem is not None:
        raise PipelineError(problem, "fix --table")
    start_d, end_d = _date("start", start), _date("end", end)
    if start_d and end_d and start_d > end_d:
        raise PipelineError(f"start {start_d} is after end {end_d}", "swap --start and --end")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise PipelineError(f"limit {limit!r} must be a whole number of at least 1", "fix --limit")
    sql = (
        _env()
        .get_template(f"{name}.sql.j2")
        .render(
            table=table,
            start=start_d,
            end=end_d,
            limit=limit,
            partition_keys=list(partition_keys),
            # A lake written before a column existed lacks it: queries use optional columns only if there.
            columns=set(columns) if columns is not None else set(SCHEMA.names),
        )
    )
    return "\n".join(line.rstrip() for line in sql.strip().splitlines() if line.strip()) + "\n"
