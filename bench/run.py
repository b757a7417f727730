"""`make bench`: how fast the pipeline is, as ratios against baselines measured in the same run.

    .venv/bin/python bench/run.py [--records 1000000] [--only produce,sink,query,freshness]

Starts its own tansu broker and moto_server on 127.0.0.1 (free ports), generates the synthetic data
set once (cached under bench/results/data/), prints one table and writes every raw number to
bench/results/latest.json. See bench/README.md for how to read the table. Goals are printed as
met / MISSED (by how much); they are never assertions, and a missed goal does not fail the run. The
exit code is non-zero only when a measurement could not be taken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    AWS_ENV,
    BIN,
    REPO,
    Row,
    child_cmd,
    grab,
    parse_int,
    render_table,
    rows_json,
    run_child,
    start_moto,
    start_tansu,
    stop_process,
)
from converge import section_ansible

RESULTS = REPO / "bench" / "results"
SECTIONS = ("produce", "sink", "query", "freshness", "memory", "ansible")
TICKERS = 2000  # ~ the number of tickers with data in a recent month of the Kaggle set
KAFKA_PYTHON_RECORDS = 100_000  # kafka-python does ~11k msg/s here: a 1M run would take minutes
SEED_ROWS = 3  # the seed's producer sleeps 1 s per row: a short run, extrapolated
SEED_QUERY_OBJECTS = 1_000  # one JSON object per record: a small sample, extrapolated
BATCH_AGE_S = 5.0  # the sink's rotate interval in the freshness run


@dataclass
class DataSet:
    name: str
    path: Path
    rows: int
    messages: Path


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    bootstrap: str = ""
    moto: str = ""
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"  {row.section}/{row.name}: {row.value if row.value is not None else '-'} {row.unit}",
            flush=True,
        )

    def remaining_s(self) -> float:
        return self.args.budget_s - (time.monotonic() - self.started)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- data ----------------------------------------------------------------------------------------
def dataset(name: str, tickers: int, rows: int, messages: bool = True) -> DataSet:
    """The synthetic Kaggle-layout set with about `rows` rows, generated once and cached; with
    `messages`, also its records pre-encoded for the bare loops (`StockBar.to_json`, one at a time)."""
    from pipeline.sources import SourceSet
    from pipeline.sources.sample import generate

    path = data_path(name, tickers, rows)
    manifest = path / "source" / "manifest.json"
    encoded = path / "messages.bin"
    if not manifest.exists():
        shutil.rmtree(path, ignore_errors=True)
        days = int(path.name.rsplit("-d", 1)[1])
        log(f"generating {name}: {tickers} tickers x {days} days -> {path}")
        generate(path / "source", tickers, days)
    if messages and not encoded.exists():
        from children import write_messages

        bars = SourceSet(path / "source").bars()
        write_messages(encoded, ((b.key(), b.to_json()) for b in bars))
    total = json.loads(manifest.read_text())["rows"]
    return DataSet(name, path / "source", int(total), encoded)


def data_path(name: str, tickers: int, rows: int) -> Path:
    # One ticker in five lists partway through the period (sample.py): ~0.953 of tickers x days.
    days = max(1, round(rows / tickers / 0.953))
    return RESULTS / "data" / f"{name}-t{tickers}-d{days}"


def tickers_for(records: int) -> int:
    """Tickers of the data sets: TICKERS, fewer for a small --records."""
    return TICKERS if records >= 100_000 else max(10, records // 500)


# -- produce -------------------------------------------------------------------------------------
def stockpipe_produce(b: Bench, data: DataSet, client: str, topic: str) -> dict[str, Any]:
    """`stockpipe produce` as a user runs it; the rate is its own (replay) elapsed time."""
    cmd = [str(BIN / "stockpipe"), "produce", "--source", str(data.path), "--no-progress"]
    cmd += ["--bootstrap", b.bootstrap, "--topic", topic, "--client", client, "--partitions", "3"]
    res = run_child(cmd, timeout_s=min(600, b.remaining_s()), env={"STOCKPIPE_STATE_DIR": str(b.work)})
    if res.returncode != 0:
        raise RuntimeError(f"stockpipe produce failed ({res.returncode}): {res.stderr[-1500:]}")
    text = res.stdout
    delivered = parse_int(grab(r"delivered ([\d,]+)", text) or "0")
    elapsed = float(grab(r"unconfirmed [\d,]+ in ([\d.]+) s", text) or res.wall_s)
    out = {
        "records": delivered,
        "elapsed_s": elapsed,
        "rate": delivered / elapsed,
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
        "peak_rss_mb": res.peak_rss_mb,
        "summary": text.strip(),
    }
    if delivered != data.rows:
        raise RuntimeError(f"stockpipe produce delivered {delivered:,} of {data.rows:,} rows: {text}")
    return out


def bare_produce(b: Bench, data: DataSet, client: str, topic: str) -> dict[str, Any]:
    from pipeline.kafka.topics import ensure_topic

    ensure_topic(b.bootstrap, topic, 3)
    res = run_child(
        child_cmd("bare-produce", bootstrap=b.bootstrap, topic=topic, client=client, messages=data.messages),
        timeout_s=min(600, b.remaining_s()),
    )
    out = res.json()
    out |= {
        "rate": out["delivered"] / out["elapsed_s"],
        "peak_rss_mb": res.peak_rss_mb,
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
    }
    return out


def section_produce(b: Bench, big: DataSet, small: DataSet, kp: DataSet) -> None:
    from pipeline.kafka.topics import ensure_topic

    for client, data in (("confluent", big), ("kafka-python", kp)):
        log(f"produce: stockpipe produce --client {client} ({data.rows:,} records)")
        topic = "bench-replay-1m" if client == "confluent" else f"bench-replay-{client}"
        replay = stockpipe_produce(b, data, client, topic)
        log(f"produce: bare {client} loop ({data.rows:,} records)")
        bare = bare_produce(b, data, client, f"bench-bare-{client}")
        b.raw[f"produce_{client}"] = {"replay": replay, "bare": bare}
        note = cpu_note(replay, bare, data.rows)
        if client == "kafka-python":
            note += (
                f"; measured on {data.rows:,} records, not 1M: kafka-python does ~11k msg/s here, "
                "so a 1M run would take minutes"
            )
        b.add(
            Row(
                "produce",
                f"stockpipe produce, {client} ({data.rows / 1e6:.2g}M)",
                replay["rate"],
                "rec/s",
                bare["rate"],
                f"bare {client} loop",
                target_ratio=0.8,
                note=note,
            )
        )
    # The 250k run: the memory section compares its RSS with the 1M run's, the sink reads its topic.
    log(f"produce: stockpipe produce --client confluent ({small.rows:,} records, for memory flatness)")
    b.raw["produce_confluent_small"] = stockpipe_produce(b, small, "confluent", "bench-replay-small")

    log(f"produce: the seed's pattern, {SEED_ROWS} rows (one send per row, sleep(1))")
    ensure_topic(b.bootstrap, "bench-seed", 1)
    res = run_child(
        child_cmd(
            "seed-produce", bootstrap=b.bootstrap, topic="bench-seed", messages=kp.messages, rows=SEED_ROWS
        ),
        timeout_s=SEED_ROWS * 2 + 60,
    )
    seed = res.json()
    seed_rate = seed["sent"] / seed["elapsed_s"]
    replay_rate = b.raw["produce_confluent"]["replay"]["rate"]
    b.raw["produce_seed"] = seed | {"rate": seed_rate, "extrapolated_1m_s": 1e6 / seed_rate}
    b.add(
        Row(
            "produce",
            "seed pattern (send + sleep(1) per row)",
            seed_rate,
            "rec/s",
            replay_rate,
            "stockpipe produce, confluent",
            note=(
                f"measured on {seed['sent']} rows and extrapolated: 1M rows would take "
                f"{1e6 / seed_rate / 86400:.1f} days vs {1e6 / replay_rate:.0f} s for stockpipe produce"
            ),
        )
    )


def cpu_note(measured: dict[str, Any], bare: dict[str, Any], records: int) -> str:
    """Records per CPU second of each whole process (start-up included): steadier than wall time when
    other work competes for the two cores."""
    mine, theirs = records / measured["cpu_s"], records / bare["cpu_s"]
    return f"per CPU second: {mine:,.0f} vs {theirs:,.0f} rec (ratio {mine / theirs:.2f}x)"


# -- sink ----------------------------------------------------------------------------------------
def run_sink(b: Bench, topic: str, records: int, lake: str, endpoint: str = "") -> dict[str, Any]:
    res = run_child(
        child_cmd(
            "sink",
            bootstrap=b.bootstrap,
            topic=topic,
            group=f"bench-sink-{uuid.uuid4().hex[:8]}",
            lake=lake,
            endpoint=endpoint,
            records=records,
            dead_letters=b.work / "deadletters.jsonl",
            max_s=min(600, b.remaining_s()),
        ),
        timeout_s=min(660, b.remaining_s() + 60),
        env=AWS_ENV if endpoint else None,
    )
    out = res.json()
    if out["rows_written"] != records:
        raise RuntimeError(f"sink wrote {out['rows_written']:,} of {records:,} rows: {out}")
    out |= {
        "rate": out["rows_written"] / out["elapsed_s"],
        "peak_rss_mb": res.peak_rss_mb,
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
    }
    return out


def section_sink(b: Bench, big: DataSet, small: DataSet) -> None:
    import boto3

    n = big.rows
    log(f"sink: bare consume loop ({n:,} records)")
    res = run_child(
        child_cmd(
            "bare-consume",
            bootstrap=b.bootstrap,
            topic="bench-replay-1m",
            group=f"bench-bare-{uuid.uuid4().hex[:8]}",
            records=n,
            max_s=min(300, b.remaining_s()),
        ),
        timeout_s=min(360, b.remaining_s() + 60),
    )
    bare = res.json()
    bare |= {"rate": bare["consumed"] / bare["elapsed_s"], "peak_rss_mb": res.peak_rss_mb, "cpu_s": res.cpu_s}
    b.raw["consume_bare"] = bare

    log(f"sink: to a local lake ({n:,} records)")
    local = run_sink(b, "bench-replay-1m", n, str(b.work / "lake"))
    b.raw["sink_local"] = local
    b.add(
        Row(
            "sink",
            "sink -> local lake (Parquet)",
            local["rate"],
            "rec/s",
            bare["rate"],
            "bare consume loop",
            note=cpu_note(local, bare, n),
        )
    )
    b.add(
        Row(
            "sink",
            "sink -> local lake, absolute",
            local["rate"],
            "rec/s",
            target_value=100_000,
            note=f"group join before the first record took {local['join_s']:.1f} s (not in the rate)",
        )
    )

    log(f"sink: to S3 (moto_server) ({n:,} records)")
    boto3.client("s3", endpoint_url=b.moto, region_name="us-east-1", **_creds()).create_bucket(
        Bucket="bench-lake"
    )
    s3 = run_sink(b, "bench-replay-1m", n, "s3://bench-lake/lake", endpoint=b.moto)
    b.raw["sink_s3"] = s3
    b.add(
        Row(
            "sink",
            "sink -> S3 (moto_server, Parquet)",
            s3["rate"],
            "rec/s",
            bare["rate"],
            "bare consume loop",
            note=cpu_note(s3, bare, n),
        )
    )

    per_m = local["objects_written"] / n * 1e6
    b.add(
        Row(
            "sink",
            "objects written per 1M records",
            per_m,
            "obj",
            1e6,
            "seed: one object per record",
            better="lower",
            target_value=100,
            note=(
                f"{local['objects_written']} objects for {n:,} rows; data: {TICKERS} tickers, one object per "
                "(Kafka partition, month) at least, more when a batch reaches 50,000 records"
            ),
        )
    )

    log(f"sink: local lake, {small.rows:,} records (for memory flatness)")
    b.raw["sink_local_small"] = run_sink(b, "bench-replay-small", small.rows, str(b.work / "lake-small"))


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


# -- query ---------------------------------------------------------------------------------------
GROUP_BY = (
    "SELECT symbol, count(*) AS n, sum(volume) AS volume, avg(close) AS avg_close, min(low) AS low, "
    "max(high) AS high FROM {table} {where} GROUP BY symbol ORDER BY symbol"
)


def timed(fn: Any, repeat: int) -> tuple[float, list[float]]:
    """Median seconds of `repeat` runs after one warm-up run."""
    from common import median

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


# -- freshness -----------------------------------------------------------------------------------
def section_freshness(b: Bench) -> None:
    """Records produced at a steady rate; time until each is visible to SQL over the lake."""
    import signal
    import subprocess
    from datetime import date

    from pipeline.catalog import crawl
    from pipeline.config import Settings
    from pipeline.kafka import make_producer
    from pipeline.kafka.topics import ensure_topic
    from pipeline.query import open_engine
    from pipeline.records import StockBar

    rate, seconds = b.args.fresh_rate, b.args.fresh_seconds
    topic = "bench-fresh"
    ensure_topic(b.bootstrap, topic, 3)
    lake = b.work / "lake-fresh"
    settings = Settings(
        lake=str(lake), state_dir=str(b.work / "state-fresh"), database="bench", catalog="local"
    )
    cmd = [str(BIN / "stockpipe"), "sink", "--no-progress", "--batch-age", str(BATCH_AGE_S)]
    cmd += ["--bootstrap", b.bootstrap, "--topic", topic, "--group", f"bench-fresh-{uuid.uuid4().hex[:8]}"]
    cmd += ["--lake", str(lake)]
    log_path = b.work / "freshness-sink.log"
    with log_path.open("wb") as sink_log:
        sink = subprocess.Popen(
            cmd, stdout=sink_log, stderr=sink_log, env={**os.environ, "STOCKPIPE_STATE_DIR": str(b.work)}
        )
    producer = make_producer("confluent", b.bootstrap)
    day = date(2017, 11, 10)
    sent: dict[int, float] = {}

    def send(line: int) -> None:
        bar = StockBar(f"F{line % 50:02d}", day, 10.0, 11.0, 9.0, 10.5, 1000 + line, "fresh", line)
        sent[line] = time.time()
        producer.send(topic, bar.key(), bar.to_json(), lambda _err: None)
        producer.poll()

    engine: Any = None
    try:
        # Warm-up: one record, visible once the sink has joined and rotated its first object.
        send(0)
        producer.flush(10)
        deadline = time.monotonic() + 60
        while not any(lake.rglob("*.parquet")):
            if time.monotonic() > deadline or sink.poll() is not None:
                raise RuntimeError(f"the sink wrote nothing within 60 s; see {log_path}")
            time.sleep(0.1)
        crawl(settings)
        engine = open_engine(settings)
        seen: dict[int, float] = {}

        def poll_sql() -> None:
            now = time.time()
            for (line,) in engine.execute("SELECT source_line FROM prices").rows:
                if line not in seen:
                    seen[line] = now

        # Steady rate for `seconds`, polling SQL in between (sends are paced by the clock, not the poll).
        start = time.monotonic()
        n_total = int(rate * seconds)
        next_poll = start
        for i in range(1, n_total + 1):
            due = start + i / rate
            while (now := time.monotonic()) < due:
                if now >= next_poll:
                    poll_sql()
                    next_poll = now + b.args.fresh_poll_s
                else:
                    time.sleep(min(due - now, 0.005))
            send(i)
        producer.flush(10)
        deadline = time.monotonic() + BATCH_AGE_S + 15
        while len([k for k in seen if k > 0]) < n_total and time.monotonic() < deadline:
            poll_sql()
            time.sleep(b.args.fresh_poll_s)
    finally:
        producer.close()
        if engine is not None:
            engine.close()
        if sink.poll() is None:
            sink.send_signal(signal.SIGTERM)
            try:
                sink.wait(30)
            except subprocess.TimeoutExpired:
                sink.kill()
                sink.wait(10)
    from common import percentile

    lat = [seen[k] - sent[k] for k in seen if k > 0 and k in sent]
    missing = n_total - len(lat)
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    b.raw["freshness"] = {
        "rate": rate,
        "seconds": seconds,
        "records": n_total,
        "visible": len(lat),
        "missing": missing,
        "batch_age_s": BATCH_AGE_S,
        "poll_s": b.args.fresh_poll_s,
        "p50_s": p50,
        "p99_s": p99,
        "max_s": max(lat) if lat else None,
    }
    note = (
        f"{n_total:,} records at {rate:g}/s for {seconds:g} s; sink --batch-age {BATCH_AGE_S:g}; SQL polled "
        f"every {b.args.fresh_poll_s:g} s (adds up to that); {missing} records never became visible"
    )
    b.add(
        Row(
            "freshness",
            "produce -> visible in SQL, p50",
            p50,
            "s",
            BATCH_AGE_S,
            "rotate interval",
            better="lower",
        )
    )
    b.add(
        Row(
            "freshness",
            "produce -> visible in SQL, p99",
            p99,
            "s",
            BATCH_AGE_S,
            "rotate interval",
            better="lower",
            target_value=BATCH_AGE_S + 2,
            note=note,
        )
    )


# -- memory --------------------------------------------------------------------------------------
MEMORY_SCALE = 4  # the memory rows compare the big set (1M) with one MEMORY_SCALE times larger (4M)
GENERATE_S_PER_M = 15.0  # generating the synthetic set, seconds per 1M rows (for the time budget)


def section_memory(b: Bench, big: DataSet, small: DataSet) -> None:
    """Peak RSS of `stockpipe produce` and of the sink as their input grows 4x: 1M vs 4M records, the
    4M set being the same tickers with 4x the days each (files 4x as long). A 4M run is made only when
    its estimate (from the 1M run's wall time or rate) fits the time budget; otherwise the row compares
    250k vs 1M, as its note says."""
    produced = b.raw.get("produce_confluent", {}).get("replay")
    tickers, rows = tickers_for(b.args.records), big.rows * MEMORY_SCALE
    huge = None
    if produced is not None:
        cached = (data_path("huge", tickers, rows) / "source" / "manifest.json").exists()
        generating = 0.0 if cached else GENERATE_S_PER_M * rows / 1e6
        if generating + MEMORY_SCALE * produced["wall_s"] + 30 < b.remaining_s():
            huge = dataset("huge", tickers, rows, messages=False)
            log(f"memory: stockpipe produce --client confluent ({huge.rows:,} records)")
            b.raw["produce_confluent_huge"] = stockpipe_produce(b, huge, "confluent", "bench-replay-huge")
    sunk = b.raw.get("sink_local")
    if (
        huge is not None
        and sunk is not None
        and huge.rows / sunk["rate"] + sunk["join_s"] + 60 < b.remaining_s()
    ):
        log(f"memory: sink to a local lake ({huge.rows:,} records)")
        b.raw["sink_local_huge"] = run_sink(b, "bench-replay-huge", huge.rows, str(b.work / "lake-huge"))

    pairs = [
        ("producer (stockpipe produce, confluent)", ("produce_confluent", "replay"), "produce_confluent"),
        ("sink (local lake)", ("sink_local", None), "sink_local"),
    ]
    for label, (key_big, sub), prefix in pairs:
        if key_big not in b.raw:
            continue
        rss_big = (b.raw[key_big][sub] if sub else b.raw[key_big])["peak_rss_mb"]
        if f"{prefix}_huge" in b.raw:
            value, baseline = b.raw[f"{prefix}_huge"]["peak_rss_mb"], rss_big
            sizes, note = (big.rows, huge.rows if huge else rows), "4x the days per ticker"
        elif f"{prefix}_small" in b.raw:
            value, baseline = rss_big, b.raw[f"{prefix}_small"]["peak_rss_mb"]
            sizes, note = (
                (small.rows, big.rows),
                "fewer days per ticker; a 4M run would not fit the time budget",
            )
        else:
            continue
        b.add(
            Row(
                "memory",
                f"peak RSS {label}, {_size(sizes[1])}",
                value,
                "MB",
                baseline,
                f"same at {_size(sizes[0])}",
                better="lower",
                target_ratio=1.25,
                note=f"{sizes[0]:,} vs {sizes[1]:,} records (4x; the same {tickers} tickers, {note})",
            )
        )
    if "produce_confluent" in b.raw:
        bare_rss = b.raw["produce_confluent"]["bare"]["peak_rss_mb"]
        b.add(
            Row(
                "memory",
                "peak RSS bare producer loop (all messages in memory)",
                bare_rss,
                "MB",
                note="for scale: a loop that loads everything first grows with the input",
            )
        )


def _size(rows: int) -> str:
    return f"{rows / 1e6:.2g}M" if rows >= 1e6 else f"{rows / 1e3:.0f}k"


# -- main ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the big runs (default 1M)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per query (median)")
    parser.add_argument("--fresh-rate", type=float, default=1000.0, help="freshness: records per second")
    parser.add_argument("--fresh-seconds", type=float, default=20.0, help="freshness: seconds of traffic")
    parser.add_argument("--fresh-poll-s", type=float, default=0.1, help="freshness: SQL poll interval")
    parser.add_argument("--budget-s", type=float, default=840.0, help="stop starting new work after this")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--kafka-tarball", type=Path, default=None, help="ansible: Kafka tarball [default: the test stand-in]"
    )
    args = parser.parse_args()
    args.out = args.out.resolve()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if "memory" in only:
        only |= {"produce", "sink"}  # it compares the RSS those runs measured
    if "sink" in only:
        only.add("produce")  # the sink reads what the produce runs wrote
    if {"query"} & only:
        only |= {"produce", "sink"}

    RESULTS.mkdir(parents=True, exist_ok=True)
    work = RESULTS / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    b = Bench(args, work)
    os.chdir(work)  # anything a command writes by default (.stockpipe/) lands in the scratch dir

    tickers = tickers_for(args.records)
    log(f"data sets ({tickers} tickers)")
    big = dataset("big", tickers, args.records)
    small = dataset("small", tickers, args.records // 4)
    kp = dataset("kafka-python", tickers, min(KAFKA_PYTHON_RECORDS, max(1_000, args.records // 10)))
    b.raw["data"] = {d.name: {"rows": d.rows, "path": str(d.path)} for d in (big, small, kp)}

    broker, b.bootstrap = start_tansu(work / "tansu.log")
    moto, b.moto = start_moto(work / "moto.log")
    log(f"tansu on {b.bootstrap}, moto_server on {b.moto}")
    steps: list[tuple[str, Any]] = [
        ("produce", lambda: section_produce(b, big, small, kp)),
        ("sink", lambda: section_sink(b, big, small)),
        ("query", lambda: section_query(b, big)),
        ("freshness", lambda: section_freshness(b)),
        ("memory", lambda: section_memory(b, big, small)),
    ]
    try:
        for name, step in steps:
            if name not in only:
                continue
            if b.remaining_s() <= 0:
                b.errors.append(f"{name}: skipped, the time budget ({args.budget_s:g} s) is used up")
                continue
            log(f"== {name}")
            t = time.monotonic()
            try:
                step()
            except Exception as exc:  # one failed section must not hide the others' numbers
                traceback.print_exc()
                b.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            b.raw.setdefault("section_seconds", {})[name] = time.monotonic() - t
    finally:
        stop_process(moto)
        stop_process(broker)
    if "ansible" in only:
        log("== ansible")
        try:
            section_ansible(b)
        except Exception as exc:
            traceback.print_exc()
            b.errors.append(f"ansible: {type(exc).__name__}: {exc}")

    table = render_table(b.rows)
    elapsed = time.monotonic() - b.started
    header = (
        f"stockpipe bench: {big.rows:,} records, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{elapsed:.0f} s; ratios are value / baseline measured in this run"
    )
    print("\n" + header + "\n\n" + table)
    if b.errors:
        print("\nerrors:\n" + "\n".join(f"  {e}" for e in b.errors))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load": os.getloadavg(),
                },
                "elapsed_s": elapsed,
                "rows": rows_json(b.rows),
                "raw": b.raw,
                "errors": b.errors,
            },
            indent=1,
            default=str,
        )
        + "\n"
    )
    print(f"\nraw numbers: {args.out}")
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
