"""`make bench`: how fast the pipeline is, as ratios against baselines measured in the same run.

    .venv/bin/python bench/run.py [--records 1000000] [--only produce,sink,kafka,query,freshness]

Starts its own tansu broker and moto_server on 127.0.0.1 (free ports), generates the synthetic data
set once (cached under bench/results/data/), prints one table and writes every raw number to
bench/results/latest.json. The `kafka` section runs produce and sink on a real Apache Kafka broker of
its own beside Apache's perf tools. See bench/README.md for how to read the table. Goals are printed
as met / MISSED (by how much); they are never assertions, and a missed goal does not fail the run.
The exit code is non-zero only when a measurement could not be taken.

One module per section: produce.py, sink.py, kafka_real.py, query.py, freshness.py, memory.py,
converge.py (ansible); the measured runs are in runs.py, the programs they start in children.py.
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Bench, log, render_table, rows_json, start_moto, start_tansu, stop_process
from converge import section_ansible
from freshness import section_freshness
from kafka_real import KAFKA_VERSION, section_kafka
from memory import section_memory
from produce import KAFKA_PYTHON_RECORDS, section_produce
from query import section_query
from sink import section_sink
from synthetic import dataset, tickers_for

SECTIONS = ("produce", "sink", "kafka", "query", "freshness", "memory", "ansible")


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
    parser.add_argument(
        "--kafka-rounds", type=int, default=2, help="kafka: interleaved rounds of each program (best counts)"
    )
    parser.add_argument("--budget-s", type=float, default=840.0, help="stop starting new work after this")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--kafka-tarball", type=Path, default=None, help="ansible: Kafka tarball [default: converge.py's]"
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
        ("kafka", lambda: section_kafka(b, big)),
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
        f"{elapsed:.0f} s; ratios are value / baseline measured in this run; the broker is tansu except in "
        f"the kafka rows (Apache Kafka {KAFKA_VERSION}, one KRaft node)"
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
