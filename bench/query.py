"""The `query` rows of `make bench`: the named queries and a GROUP BY over the lake the sink wrote (local
and S3) vs the same SQL over one Parquet file with the same rows, and the seed's one-object-per-record
layout."""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from common import AWS_ENV, Bench, Row, median
from synthetic import DataSet

SEED_QUERY_OBJECTS = 1_000  # one JSON object per record: a small sample, extrapolated


GROUP_BY = (
    "SELECT symbol, count(*) AS n, sum(volume) AS volume, avg(close) AS avg_close, min(low) AS low, "
    "max(high) AS high FROM {table} {where} GROUP BY symbol ORDER BY symbol"
)


def timed(fn: Any, repeat: int) -> tuple[float, list[float]]:
    """Median seconds of `repeat` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return median(times), times


def section_query(b: Bench, big: DataSet) -> None:
    import duckdb

    from pipeline.catalog import crawl
    from pipeline.config import Settings
    from pipeline.query import open_engine
    from pipeline.query.named import list_queries, render

    repeat = b.args.repeat
    settings = Settings(
        lake=str(b.work / "lake"), state_dir=str(b.work / "state"), database="bench", catalog="local"
    )
    crawl(settings)
    engine: Any = open_engine(settings)
    one = b.work / "one-file.parquet"
    engine.con.execute(f"COPY (SELECT * FROM prices) TO '{one}' (FORMAT parquet)")
    engine.con.execute(f"CREATE OR REPLACE VIEW onefile AS SELECT * FROM read_parquet('{one}')")
    rows = engine.execute("SELECT count(*) FROM onefile").rows[0][0]
    if rows != big.rows:
        raise RuntimeError(f"the lake holds {rows:,} rows, expected {big.rows:,}")
    year, month = engine.execute(
        "SELECT year, month FROM prices GROUP BY year, month ORDER BY year DESC, month DESC LIMIT 1 OFFSET 1"
    ).rows[0]
    b.raw["query"] = {"rows": rows, "repeat": repeat}

    for q in list_queries():
        sql_lake = render(q.name, table="prices", partition_keys=["year", "month"])
        sql_one = render(q.name, table="onefile", partition_keys=["year", "month"])
        t_lake, all_lake = timed(lambda s=sql_lake: engine.execute(s), repeat)
        t_one, all_one = timed(lambda s=sql_one: engine.execute(s), repeat)
        b.raw["query"][q.name] = {"lake_s": all_lake, "one_file_s": all_one}
        b.add(
            Row("query", f"named {q.name} (local lake)", t_lake, "s", t_one, "one local file", better="lower")
        )

    group_lake = GROUP_BY.format(table="prices", where="")
    t_lake, all_lake = timed(lambda: engine.execute(group_lake), repeat)
    t_one, all_one = timed(lambda: engine.execute(GROUP_BY.format(table="onefile", where="")), repeat)
    b.raw["query"]["group_by"] = {"lake_s": all_lake, "one_file_s": all_one}
    label = f"{rows / 1e6:.2g}M-row GROUP BY"
    b.add(
        Row(
            "query",
            f"{label} (local lake)",
            t_lake,
            "s",
            t_one,
            "one local file",
            better="lower",
            target_ratio=3.0,
        )
    )
    where = f"WHERE year = {year} AND month = {month}"
    pruned_sql = GROUP_BY.format(table="prices", where=where)
    t_pruned, all_pruned = timed(lambda: engine.execute(pruned_sql), repeat)
    t_pruned_one, _ = timed(lambda: engine.execute(GROUP_BY.format(table="onefile", where=where)), repeat)
    b.raw["query"]["pruned"] = {"lake_s": all_pruned, "where": where}
    b.add(
        Row(
            "query",
            "pruned GROUP BY, one month (local lake)",
            t_pruned,
            "s",
            t_pruned_one,
            "one local file",
            better="lower",
            target_value=0.2,
            note=f"{where}",
        )
    )
    engine.close()

    # The same over S3 (moto_server): DuckDB scans a pyarrow dataset of the objects.
    if "sink_s3" in b.raw:
        s3_settings = Settings(
            lake="s3://bench-lake/lake",
            aws_endpoint_url=b.moto,
            region="us-east-1",
            state_dir=str(b.work / "state-s3"),
            database="bench",
            catalog="local",
        )
        os.environ.update(AWS_ENV)
        crawl(s3_settings)
        s3_engine: Any = open_engine(s3_settings)
        s3_engine.con.execute(f"CREATE OR REPLACE VIEW onefile AS SELECT * FROM read_parquet('{one}')")
        t_s3, all_s3 = timed(lambda: s3_engine.execute(group_lake), min(repeat, 3))
        t_s3p, all_s3p = timed(lambda: s3_engine.execute(pruned_sql), min(repeat, 3))
        b.raw["query"]["s3"] = {"group_by_s": all_s3, "pruned_s": all_s3p}
        b.add(
            Row(
                "query",
                f"{label} (S3 lake, moto)",
                t_s3,
                "s",
                t_one,
                "one local file",
                better="lower",
                target_ratio=3.0,
            )
        )
        b.add(
            Row(
                "query",
                "pruned GROUP BY, one month (S3 lake, moto)",
                t_s3p,
                "s",
                t_pruned_one,
                "one local file",
                better="lower",
                target_value=0.2,
            )
        )
        s3_engine.close()

    # The seed's layout: one JSON object per record, queried by a glob over all of them.
    seed_dir = b.work / "seed-objects"
    shutil.rmtree(seed_dir, ignore_errors=True)
    seed_dir.mkdir(parents=True)
    con = duckdb.connect()
    sample = con.execute(
        f"SELECT symbol, CAST(date AS VARCHAR) AS date, open, high, low, close, volume "
        f"FROM read_parquet('{one}') LIMIT {SEED_QUERY_OBJECTS}"
    ).fetchall()
    for i, (sym, day, o, h, lo, c, v) in enumerate(sample):
        obj = {"symbol": sym, "date": day, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        (seed_dir / f"stock_market_{i}.json").write_text(json.dumps(obj))
    seed_sql = GROUP_BY.format(table=f"read_json('{seed_dir}/*.json', format = 'auto')", where="")
    t_seed, all_seed = timed(lambda: con.execute(seed_sql).fetchall(), max(1, repeat // 2))
    con.close()
    extrapolated = t_seed * rows / len(sample)
    b.raw["query"]["seed_layout"] = {
        "objects": len(sample),
        "seconds": all_seed,
        "extrapolated_s": extrapolated,
    }
    b.add(
        Row(
            "query",
            f"{label}, seed layout (1 JSON object/record)",
            extrapolated,
            "s",
            t_lake,
            "local lake",
            better="lower",
            note=(
                f"measured {t_seed:.2f} s on {len(sample):,} objects on local disk, extrapolated linearly "
                f"to {rows:,} (on S3 each object is also a GET: slower still)"
            ),
        )
    )
