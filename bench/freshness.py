"""The `freshness` rows of `make bench`: records produced at a steady rate, and the time until SQL over
the lake sees each one, with `stockpipe sink` running as a process."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from common import BIN, Bench, Row, percentile

BATCH_AGE_S = 5.0  # the sink's rotate interval in the freshness run


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
