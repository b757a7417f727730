"""The measured runs, each a child process against a given broker: `stockpipe produce` as a user runs
it, the bare producer and consumer loops, the sink (bench/children.py holds the programs).

Each returns its own numbers (records, elapsed seconds, rate) with the process's wall time, CPU
seconds and peak RSS; the sections turn them into rows.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from common import AWS_ENV, BIN, Bench, child_cmd, grab, parse_int, run_child
from synthetic import DataSet


def stockpipe_produce(b: Bench, bootstrap: str, data: DataSet, client: str, topic: str) -> dict[str, Any]:
    """`stockpipe produce` as a user runs it; the rate is its own (replay) elapsed time."""
    cmd = [str(BIN / "stockpipe"), "produce", "--source", str(data.path), "--no-progress"]
    cmd += ["--bootstrap", bootstrap, "--topic", topic, "--client", client, "--partitions", "3"]
    res = run_child(cmd, timeout_s=min(600, b.remaining_s()), env={"STOCKPIPE_STATE_DIR": str(b.work)})
    if res.returncode != 0:
        raise RuntimeError(f"stockpipe produce failed ({res.returncode}): {res.stderr[-1500:]}")
    text = res.stdout
    delivered = parse_int(grab(r"delivered ([\d,]+)", text) or "0")
    # The summary's rate has more digits than its elapsed time (0.1 s): the rate decides.
    rate = parse_int(grab(r"\(([\d,]+) rows/s\)", text) or "0")
    shown = grab(r"unconfirmed [\d,]+ in ([\d.]+) s", text)
    elapsed = delivered / rate if rate else float(shown or res.wall_s)
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


def bare_produce(
    b: Bench, bootstrap: str, data: DataSet, client: str, topic: str, limit: int | None = None
) -> dict[str, Any]:
    """The bare loop: the pre-encoded messages (the first `limit`), sent with the backend's own producer."""
    from pipeline.kafka.topics import ensure_topic

    ensure_topic(bootstrap, topic, 3)
    args: dict[str, object] = {"bootstrap": bootstrap, "topic": topic, "client": client}
    args["messages"] = data.messages
    if limit is not None:
        args["limit"] = limit
    res = run_child(child_cmd("bare-produce", **args), timeout_s=min(600, b.remaining_s()))
    out = res.json()
    out |= {
        "rate": out["delivered"] / out["elapsed_s"],
        "peak_rss_mb": res.peak_rss_mb,
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
    }
    return out


def bare_consume(
    b: Bench, bootstrap: str, topic: str, records: int, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The raw confluent consumer's batch `consume` in a new group, values untouched, until `records`;
    `config`: librdkafka settings over the backend's."""
    res = run_child(
        child_cmd(
            "bare-consume",
            bootstrap=bootstrap,
            topic=topic,
            group=f"bench-bare-{uuid.uuid4().hex[:8]}",
            records=records,
            max_s=min(300, b.remaining_s()),
            consumer_config=json.dumps(config or {}),
        ),
        timeout_s=min(360, b.remaining_s() + 60),
    )
    out = res.json()
    if out["consumed"] != records:
        raise RuntimeError(f"the bare consume loop read {out['consumed']:,} of {records:,} records: {out}")
    out |= {
        "rate": out["consumed"] / out["elapsed_s"],
        "peak_rss_mb": res.peak_rss_mb,
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
    }
    return out


def run_sink(
    b: Bench,
    bootstrap: str,
    topic: str,
    records: int,
    lake: str,
    endpoint: str = "",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`pipeline.sink.run.Sink` as the service wires it, in a new group, until `records` are committed;
    `config`: librdkafka settings over the backend's (none: the sink as shipped)."""
    res = run_child(
        child_cmd(
            "sink",
            bootstrap=bootstrap,
            topic=topic,
            group=f"bench-sink-{uuid.uuid4().hex[:8]}",
            lake=lake,
            endpoint=endpoint,
            records=records,
            dead_letters=b.work / "deadletters.jsonl",
            max_s=min(600, b.remaining_s()),
            consumer_config=json.dumps(config or {}),
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


def cpu_note(measured: dict[str, Any], bare: dict[str, Any], records: int) -> str:
    """Records per CPU second of each whole process (start-up included): steadier than wall time when
    other work competes for the two cores."""
    mine, theirs = records / measured["cpu_s"], records / bare["cpu_s"]
    return f"per CPU second: {mine:,.0f} vs {theirs:,.0f} rec (ratio {mine / theirs:.2f}x)"
