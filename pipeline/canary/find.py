"""`stockpipe canary find`: poll until SQL counts the canary, or say which stage has not got it."""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass
from datetime import date

from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import Lake, LakeObject, open_lake
from pipeline.layout import PARTITION_KEYS, extension_of, is_data_name, partition_path

#: At most this many objects of the canary's partition are opened to tell "not written" from
#: "written but not visible" on timeout (a partition of today holds few objects: canaries, live bars).
MAX_OBJECTS_SCANNED = 200


class CanaryNotFound(PipelineError):
    """The deadline passed without SQL counting the canary (the CLI exits 1, not 2)."""


@dataclass(frozen=True)
class FindResult:
    found: int
    seconds: float
    sql: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def canary_sql(table: str, partition_by: str, symbol: str, day: date, nonce: int) -> str:
    """Count one bar by SQL, pruned to its lake partition (the same SQL for DuckDB and Athena)."""
    where = []
    for part in partition_path(day, partition_by).split("/"):
        key, value = part.split("=", 1)
        # Partition column types as the crawler infers them: trade_date date, year and month int.
        by_date = key in PARTITION_KEYS["date"]
        where.append(f"{key} = DATE '{value}'" if by_date else f"{key} = {int(value)}")
    where += [f"\"date\" = DATE '{day.isoformat()}'", f"symbol = {_sql_string(symbol)}", f"volume = {nonce}"]
    return f"SELECT count(*) AS found FROM {table} WHERE {' AND '.join(where)}"


def find_canary(
    settings: Settings,
    symbol: str,
    day: date,
    nonce: int,
    *,
    timeout_s: float = 180.0,
    crawl: bool = True,
    interval_s: float = 5.0,
) -> FindResult:
    """Until `timeout_s`: crawl (when asked) and count the canary by SQL, every `interval_s`.

    Returns once the count is >= 1; on timeout raises CanaryNotFound saying what was seen last.
    """
    from pipeline import catalog
    from pipeline.query import open_engine

    started = time.monotonic()
    deadline = started + timeout_s
    sql = canary_sql(settings.table, settings.partition_by, symbol, day, nonce)
    last = "no query ran"
    polls = 0
    while True:
        polls += 1
        try:
            if crawl:
                catalog.crawl(settings)
            # A new engine each time: an engine over S3 lists the table's objects when it opens.
            with open_engine(settings) as engine:
                count = int(engine.execute(sql).rows[0][0] or 0)
        except PipelineError as exc:
            last = f"last SQL attempt failed: {exc.one_line()}"
        else:
            if count >= 1:
                return FindResult(count, round(time.monotonic() - started, 3), sql)
            last = f"SQL counted 0 rows in {polls} polls"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval_s, remaining))
    raise _not_found(settings, symbol, day, nonce, timeout_s, crawl, last)


def _not_found(
    settings: Settings, symbol: str, day: date, nonce: int, timeout_s: float, crawl: bool, last: str
) -> CanaryNotFound:
    what = f"canary {symbol} {day.isoformat()} nonce {nonce}"
    sink_fix = (
        "check `journalctl -u stockpipe-sink` on the pipeline host (is the sink running and consuming?)"
    )
    prefix = f"{settings.table}/{partition_path(day, settings.partition_by)}/"
    try:
        lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
        objects = [o for o in lake.list(prefix) if is_data_name(o.key.rsplit("/", 1)[-1])]
        where = lake.location(prefix)
    except PipelineError as exc:
        return CanaryNotFound(
            f"{what}: SQL did not see it within {timeout_s:g} s ({last}) and the lake cannot be listed "
            f"({exc.problem})",
            exc.fix or sink_fix,
        )
    if not objects:
        return CanaryNotFound(
            f"{what}: the sink has not written it within {timeout_s:g} s (no object under {where}; {last})",
            sink_fix,
        )
    holder, scanned = _object_holding(lake, objects, symbol, nonce)
    if holder is None:
        more = f" (opened {scanned} of them)" if scanned < len(objects) else ""
        return CanaryNotFound(
            f"{what}: the sink has not written it within {timeout_s:g} s ({len(objects)} "
            f"object{'s' if len(objects) != 1 else ''} under "
            f"{where}{more}, none holds it; {last})",
            sink_fix,
        )
    crawl_hint = "" if crawl else "; or run find with --crawl"
    return CanaryNotFound(
        f"{what}: it is in the lake ({lake.location(holder)}) but SQL does not see it within "
        f"{timeout_s:g} s ({last})",
        f"check the catalog (`stockpipe crawl`, {settings.catalog} database {settings.database}) "
        f"and the {settings.engine} engine{crawl_hint}",
    )


def _object_holding(lake: Lake, objects: list[LakeObject], symbol: str, nonce: int) -> tuple[str | None, int]:
    """The first object (newest offsets first) with the canary's row, and how many were opened."""
    candidates = sorted(objects, key=lambda o: o.key, reverse=True)[:MAX_OBJECTS_SCANNED]
    for obj in candidates:
        try:
            if _holds(lake.get(obj.key), obj.key, symbol, nonce):
                return obj.key, len(candidates)
        except (PipelineError, OSError, ValueError):
            continue  # unreadable or half-written: not evidence either way
    return None, len(candidates)


def _holds(data: bytes, key: str, symbol: str, nonce: int) -> bool:
    if extension_of(key) == "parquet":
        import pyarrow.parquet as pq

        # No reader threads: pyarrow's thread pool, used after DuckDB in the same process, often
        # aborts the interpreter at exit ("terminate called without an active exception").
        table = pq.read_table(io.BytesIO(data), columns=["symbol", "volume"], use_threads=False)
        return any(
            s == symbol and v == nonce
            for s, v in zip(table["symbol"].to_pylist(), table["volume"].to_pylist(), strict=True)
        )
    for line in data.splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("symbol") == symbol and row.get("volume") == nonce:
                return True
    return False
