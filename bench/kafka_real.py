"""The `kafka` rows of `make bench`: produce and sink on real Apache Kafka, beside Apache's own perf tools.

The broker is one KRaft node (broker + controller) of Kafka 4.1.1, the version the tests run, from the
distribution pipeline/local/kafka_dist.py assembles from Maven Central (cached under .cache/kafka-dist,
or STOCKPIPE_KAFKA_DIST_DIR), with a 1 GB heap on free ports of 127.0.0.1. It runs only during this
section, so no other section of the run shares the cores with it.

On that broker, with the big data set (1M records) and 3-partition topics:
- produce: `stockpipe produce --client confluent`, the bare confluent loop, and Apache's
  `kafka-producer-perf-test` (ProducerPerformance, `--throughput -1`) with the same record count and
  the pipeline's own records as payloads (see `payload_file`) and the pipeline's producer settings
  (`PERF_PRODUCER_PROPS`);
- consume, all from the topic `stockpipe produce` wrote: the bare consume loop, the sink into a local
  lake, and Apache's `kafka-consumer-perf-test` (ConsumerPerformance); then the bare loop and the sink
  again with one librdkafka setting added (`WHAT_IF_CONSUMER`), to show what the consumer waits for.
Every program runs once per round (--kafka-rounds, 2), interleaved; the rows take each one's best.
A short warm-up (produce and consume) runs first, so no measured run pays for the broker's JIT. The
broker's own CPU seconds during each run are read from /proc: on two cores, the broker's work is part
of every client's wall time.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import REPO, Bench, Row, log, run_child
from runs import bare_consume, bare_produce, cpu_note, run_sink, stockpipe_produce
from synthetic import DataSet

KAFKA_VERSION = "4.1.1"  # the version the tests run (tests/fixtures_kafka.py)
#: Apache's own default (kafka-server-start.sh: -Xmx1G -Xms1G); the tests' 384m is sized for small topics.
BROKER_HEAP = "1g"
#: What Apache's kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh set when KAFKA_HEAP_OPTS is
#: unset (the distribution's own scripts leave the launcher's 256M default).
TOOL_HEAP_OPTS = "-Xmx512M"
PARTITIONS = 3  # as `stockpipe produce --partitions 3` creates its topic
WARMUP_RECORDS = 100_000
#: Payload lines for kafka-producer-perf-test: every Nth of the set's records, up to this many.
PAYLOAD_SAMPLE = 100_000
#: The pipeline's producer settings (pipeline/kafka/confluent.py) in the Java client's names. batch.size
#: is librdkafka's default (1,000,000 bytes); the pipeline caps batches at 10,000 messages instead,
#: which the Java client cannot express (~1.8 MB of these records, so the byte cap binds first in both).
PERF_PRODUCER_PROPS = {
    "acks": "all",
    "enable.idempotence": "true",
    "compression.type": "lz4",
    "linger.ms": "20",
    "batch.size": "1000000",
}
#: A consumer setting the pipeline does not (yet) make, measured beside the shipped one: librdkafka (2.4+)
#: stops fetching a partition for fetch.queue.backoff.ms (1,000 ms by default) whenever its prefetch
#: queue is past queued.min.messages (100,000), so a fast reader drains the queue and then waits. 0 is
#: worse than 10 for the sink: its fetcher thread then spins while the sink works (twice the CPU).
WHAT_IF_CONSUMER = {"fetch.queue.backoff.ms": 10}
_PERF_TOTAL = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb_s>[\d.]+) MB/sec\), "
    r"(?P<avg_ms>[\d.]+) ms avg latency, (?P<max_ms>[\d.]+) ms max latency, (?P<p50_ms>\d+) ms 50th, "
    r"(?P<p95_ms>\d+) ms 95th, (?P<p99_ms>\d+) ms 99th"
)


def kafka_home() -> Path:
    """The unpacked distribution (built from Maven Central on first use, then cached)."""
    from pipeline.local import kafka_dist

    dist_dir = Path(os.environ.get("STOCKPIPE_KAFKA_DIST_DIR", REPO / ".cache" / "kafka-dist"))
    if kafka_dist.cached(KAFKA_VERSION, dist_dir) is None:
        log(f"kafka: building the {KAFKA_VERSION} distribution from Maven Central into {dist_dir} (once)")
    dist = kafka_dist.build(KAFKA_VERSION, dist_dir)
    return kafka_dist.unpack(dist, dist_dir / "unpacked")


def section_kafka(b: Bench, big: DataSet) -> None:
    from pipeline.local.kafka import KafkaCluster

    home = kafka_home()
    payloads = payload_file(big)
    n = big.rows
    with KafkaCluster(home, b.work / "kafka", nodes=1, heap=BROKER_HEAP, die_with_parent=True) as cluster:
        cluster.start(timeout_s=180)
        bootstrap = cluster.bootstrap
        broker_pid = cluster.nodes[0].proc.pid if cluster.nodes[0].proc else 0
        log(f"kafka: Apache Kafka {KAFKA_VERSION} (one KRaft node, heap {BROKER_HEAP}) on {bootstrap}")

        def measure(what: str, run: Callable[..., dict[str, Any]], *args: Any, **kw: Any) -> dict[str, Any]:
            log(f"kafka: {what}")
            before = _cpu_s(broker_pid)
            out = run(*args, **kw)
            out["broker_cpu_s"] = _cpu_s(broker_pid) - before
            return out

        warm = min(WARMUP_RECORDS, n)
        warm_produce = measure(
            f"warm-up, bare loop ({warm:,} records)",
            bare_produce,
            *(b, bootstrap, big, "confluent", "bench-warmup"),
            limit=warm,
        )
        warm_consume = measure(
            f"warm-up, bare consume ({warm:,} records)",
            bare_consume,
            *(b, bootstrap, "bench-warmup", warm_produce["delivered"]),
        )
        b.raw["kafka_warmup"] = {"produce": warm_produce, "consume": warm_consume}
        rounds: list[dict[str, dict[str, Any]]] = []
        for r in range(1, max(1, b.args.kafka_rounds) + 1):
            topic = f"bench-replay-1m-r{r}"  # what stockpipe produce writes and the consumers read
            rounds.append(
                {
                    "replay": measure(
                        f"round {r}: stockpipe produce --client confluent ({n:,} records)",
                        stockpipe_produce,
                        *(b, bootstrap, big, "confluent", topic),
                    ),
                    "bare": measure(
                        f"round {r}: bare confluent loop ({n:,} records)",
                        bare_produce,
                        *(b, bootstrap, big, "confluent", f"bench-bare-r{r}"),
                    ),
                    "perf_test": measure(
                        f"round {r}: kafka-producer-perf-test ({n:,} records, --throughput -1)",
                        producer_perf_test,
                        *(b, home, bootstrap, f"bench-perf-r{r}", n, payloads),
                    ),
                    "consume": measure(
                        f"round {r}: bare consume loop ({n:,} records)",
                        bare_consume,
                        *(b, bootstrap, topic, n),
                    ),
                    "sink": measure(
                        f"round {r}: sink to a local lake ({n:,} records)",
                        run_sink,
                        *(b, bootstrap, topic, n, str(b.work / f"lake-kafka-r{r}")),
                    ),
                    "consumer_perf_test": measure(
                        f"round {r}: kafka-consumer-perf-test ({n:,} records)",
                        consumer_perf_test,
                        *(b, home, bootstrap, topic, n),
                    ),
                    "consume_whatif": measure(
                        f"round {r}: bare consume loop, {_settings(WHAT_IF_CONSUMER)} ({n:,} records)",
                        bare_consume,
                        *(b, bootstrap, topic, n, WHAT_IF_CONSUMER),
                    ),
                    "sink_whatif": measure(
                        f"round {r}: sink, {_settings(WHAT_IF_CONSUMER)} ({n:,} records)",
                        run_sink,
                        *(b, bootstrap, topic, n, str(b.work / f"lake-kafka-whatif-r{r}")),
                        config=WHAT_IF_CONSUMER,
                    ),
                }
            )
        # What each producer left in the broker's log (lz4 batches): the same bytes, or not.
        logs = {
            name: _topic_log(cluster.nodes[0].data_dir, topic)
            for name, topic in (
                ("replay", "bench-replay-1m-r1"),
                ("bare", "bench-bare-r1"),
                ("perf_test", "bench-perf-r1"),
            )
        }
    # Each program's best round: the one least disturbed by whatever else ran on the two cores.
    best = {name: max((got[name] for got in rounds), key=lambda res: res["rate"]) for name in rounds[0]}
    b.raw["kafka"] = {
        "version": KAFKA_VERSION,
        "broker_heap": BROKER_HEAP,
        "payload_file": payloads,
        "broker_log_r1": logs,
        "rounds": rounds,
        "best": best,
    }
    add_rows(b, n)


def add_rows(b: Bench, n: int) -> None:
    k = b.raw["kafka"]
    replay, bare, perf = (k["best"][x] for x in ("replay", "bare", "perf_test"))
    consume, sink, cperf = (k["best"][x] for x in ("consume", "sink", "consumer_perf_test"))
    size = f"{n / 1e6:.2g}M"
    pay = k["payload_file"]
    perf_name, cperf_name = "kafka-producer-perf-test", "kafka-consumer-perf-test"
    b.add(
        Row(
            "kafka",
            f"stockpipe produce, confluent ({size})",
            replay["rate"],
            "rec/s",
            bare["rate"],
            "bare confluent loop",
            target_ratio=0.8,
            note=(
                f"Apache Kafka {k['version']}, one KRaft node, heap {k['broker_heap']}; every kafka row is "
                f"{_rounds(len(k['rounds']))}; {cpu_note(replay, bare, n)}; "
                f"{_broker_note(replay, bare)}; {_log_note(k, 'replay', 'bare', n)}"
            ),
        )
    )
    b.add(
        Row(
            "kafka",
            "stockpipe produce vs Apache's producer",
            replay["rate"],
            "rec/s",
            perf["rate"],
            perf_name,
            note=(
                f"{perf_name}: --throughput -1, {n:,} records, payloads drawn at random from "
                f"{pay['lines']:,} of the set's own JSON values (avg {pay['avg_bytes']:.0f} bytes; the set's "
                f"{pay['set_avg_bytes']:.0f}), no keys; {_settings(PERF_PRODUCER_PROPS)}; latency p50/p99 "
                f"{perf['p50_ms']:.0f}/{perf['p99_ms']:.0f} ms; {cpu_note(replay, perf, n)} (the JVM's "
                f"start-up and JIT included); {_broker_note(replay, perf)}; "
                f"{_log_note(k, 'replay', 'perf_test', n)}"
            ),
        )
    )
    b.add(
        Row(
            "kafka",
            "bare confluent loop vs Apache's producer",
            bare["rate"],
            "rec/s",
            perf["rate"],
            perf_name,
            note=(
                f"{cpu_note(bare, perf, n)}; {_broker_note(bare, perf)}; "
                f"{_log_note(k, 'bare', 'perf_test', n)}"
            ),
        )
    )
    tansu = b.raw.get("produce_confluent", {}).get("replay")
    if tansu is not None and tansu["records"] == replay["records"]:
        b.add(
            Row(
                "kafka",
                "stockpipe produce: Kafka vs tansu",
                replay["rate"],
                "rec/s",
                tansu["rate"],
                "same on tansu (produce rows)",
                note=f"tansu: one run; {cpu_note(replay, tansu, n)} (the client process, not the brokers)",
            )
        )
    b.add(
        Row(
            "kafka",
            "sink -> local lake (Parquet)",
            sink["rate"],
            "rec/s",
            consume["rate"],
            "bare consume loop",
            note=(
                f"{cpu_note(sink, consume, n)}; group join {sink['join_s']:.1f} s vs "
                f"{consume['join_s']:.1f} s (not in the rates); {_broker_note(sink, consume)}"
            ),
        )
    )
    b.add(
        Row(
            "kafka",
            "sink vs Apache's consumer",
            sink["rate"],
            "rec/s",
            cperf["rate"],
            cperf_name,
            note=(
                f"{cperf_name}: its fetch rate (fetch.nMsg.sec: the group join, "
                f"{cperf['rebalance_s']:.1f} s, left out as in the other rates), Java client defaults; "
                f"{cpu_note(sink, cperf, n)} (the JVM's start-up and JIT included); "
                f"{_broker_note(sink, cperf)}"
            ),
        )
    )
    b.add(
        Row(
            "kafka",
            "bare consume loop vs Apache's consumer",
            consume["rate"],
            "rec/s",
            cperf["rate"],
            cperf_name,
            note=f"{cpu_note(consume, cperf, n)}; {_broker_note(consume, cperf)}",
        )
    )
    whatif, sink_whatif = k["best"]["consume_whatif"], k["best"]["sink_whatif"]
    setting = _settings(WHAT_IF_CONSUMER)
    b.add(
        Row(
            "kafka",
            f"what-if: bare consume loop, {setting}",
            whatif["rate"],
            "rec/s",
            cperf["rate"],
            cperf_name,
            note=(
                f"not the pipeline's setting: {whatif['rate'] / consume['rate']:.2f}x the shipped bare loop "
                f"({consume['rate']:,.0f} rec/s); {cpu_note(whatif, cperf, n)}; {_broker_note(whatif, cperf)}"
            ),
        )
    )
    b.add(
        Row(
            "kafka",
            f"what-if: sink -> local lake, {setting}",
            sink_whatif["rate"],
            "rec/s",
            whatif["rate"],
            "bare consume loop, same setting",
            note=(
                f"not the pipeline's setting: {sink_whatif['rate'] / sink['rate']:.2f}x the shipped sink "
                f"({sink['rate']:,.0f} rec/s); {cpu_note(sink_whatif, whatif, n)}"
            ),
        )
    )
    tansu_sink = b.raw.get("sink_local")
    if tansu_sink is not None and tansu_sink["rows_written"] == sink["rows_written"]:
        b.add(
            Row(
                "kafka",
                "sink -> local lake: Kafka vs tansu",
                sink["rate"],
                "rec/s",
                tansu_sink["rate"],
                "same on tansu (sink rows)",
                note=f"tansu: one run; {cpu_note(sink, tansu_sink, n)} (the sink process only)",
            )
        )


# -- Apache's tools ------------------------------------------------------------------------------
def payload_file(data: DataSet) -> dict[str, Any]:
    """The set's own JSON values, one per line, for `kafka-producer-perf-test --payload-file`.

    Not `--record-size`: that fills every record with fresh random letters A-Z, which lz4 (the
    pipeline's compression) cannot shrink and which the tool spends a random draw per byte on, so the
    broker and the wire would carry other bytes than the pipeline's. The tool draws a line at random per
    record, so a sample of every Nth record (PAYLOAD_SAMPLE lines) gives the same sizes and content as
    all of them, without holding 1M strings in the tool's 512 MB heap.
    """
    from children import iter_messages

    path = data.messages.with_name("perf-payloads.txt")
    step = -(-data.rows // PAYLOAD_SAMPLE)  # ceil: at most PAYLOAD_SAMPLE lines
    total_bytes = lines = sample_bytes = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for i, (_key, value) in enumerate(iter_messages(data.messages)):
            total_bytes += len(value)
            if i % step == 0:
                if b"\n" in value:
                    raise RuntimeError(f"record {i} holds a newline: it cannot be a payload line")
                fh.write(value + b"\n")
                lines += 1
                sample_bytes += len(value)
    tmp.replace(path)
    return {
        "path": str(path),
        "lines": lines,
        "avg_bytes": sample_bytes / lines,
        "set_avg_bytes": total_bytes / data.rows,
    }


def _tool_env(b: Bench) -> dict[str, str]:
    return {"KAFKA_HEAP_OPTS": TOOL_HEAP_OPTS, "LOG_DIR": str(b.work / "kafka" / "tools")}


def producer_perf_test(
    b: Bench, home: Path, bootstrap: str, topic: str, records: int, payloads: dict[str, Any]
) -> dict[str, Any]:
    from pipeline.kafka.topics import ensure_topic

    ensure_topic(bootstrap, topic, PARTITIONS)
    cmd = [str(home / "bin" / "kafka-producer-perf-test.sh"), "--topic", topic]
    cmd += ["--num-records", str(records), "--throughput", "-1", "--payload-file", payloads["path"]]
    props = {"bootstrap.servers": bootstrap, **PERF_PRODUCER_PROPS}
    cmd += ["--producer-props", *(f"{k}={v}" for k, v in props.items())]
    res = run_child(cmd, timeout_s=min(600, b.remaining_s()), env=_tool_env(b))
    totals = [m for line in res.stdout.splitlines() if (m := _PERF_TOTAL.search(line))]
    if res.returncode != 0 or not totals:
        raise RuntimeError(f"kafka-producer-perf-test failed ({res.returncode}): {res.stderr[-1500:]}")
    got = totals[-1].groupdict()
    sent, rate = int(got["records"]), float(got["rate"])
    if sent != records:
        raise RuntimeError(
            f"kafka-producer-perf-test acknowledged {sent:,} of {records:,}: {res.stderr[-800:]}"
        )
    return {
        "records": sent,
        "rate": rate,
        "elapsed_s": sent / rate,
        "mb_s": float(got["mb_s"]),
        **{k: float(got[k]) for k in ("avg_ms", "max_ms", "p50_ms", "p95_ms", "p99_ms")},
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
        "peak_rss_mb": res.peak_rss_mb,
        "summary": totals[-1].group(0),
    }


def consumer_perf_test(b: Bench, home: Path, bootstrap: str, topic: str, records: int) -> dict[str, Any]:
    cmd = [str(home / "bin" / "kafka-consumer-perf-test.sh"), "--bootstrap-server", bootstrap]
    cmd += ["--topic", topic, "--messages", str(records), "--group", f"bench-perf-{uuid.uuid4().hex[:8]}"]
    cmd += ["--timeout", "60000"]
    res = run_child(cmd, timeout_s=min(300, b.remaining_s()), env=_tool_env(b))
    lines = [ln for ln in res.stdout.splitlines() if ln.count(",") >= 9]
    if res.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"kafka-consumer-perf-test failed ({res.returncode}): {res.stderr[-1500:]}")
    stats = dict(
        zip([h.strip() for h in lines[0].split(",")], [v.strip() for v in lines[-1].split(",")], strict=True)
    )
    consumed = int(stats["data.consumed.in.nMsg"])
    if consumed < records:
        raise RuntimeError(f"kafka-consumer-perf-test read {consumed:,} of {records:,}: {res.stdout[-800:]}")
    fetch_s = float(stats["fetch.time.ms"]) / 1000
    return {
        "consumed": consumed,
        "rate": consumed / fetch_s,
        "elapsed_s": fetch_s,
        "rebalance_s": float(stats["rebalance.time.ms"]) / 1000,
        "mb": float(stats["data.consumed.in.MB"]),
        "wall_s": res.wall_s,
        "cpu_s": res.cpu_s,
        "peak_rss_mb": res.peak_rss_mb,
        "stats": stats,
    }


# -- the broker's share --------------------------------------------------------------------------
def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far; 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _topic_log(data_dir: Path, topic: str) -> dict[str, float]:
    """The topic's log segments on the broker's disk, all partitions: MB and record batches (each batch
    is one producer batch, so records / batches is how full the producer's batches were)."""
    size = batches = 0
    for segment in data_dir.glob(f"{topic}-*/*.log"):
        data = segment.read_bytes()
        size += len(data)
        pos = 0
        while pos + 12 <= len(data):  # baseOffset int64, batchLength int32, then batchLength bytes
            pos += 12 + int.from_bytes(data[pos + 8 : pos + 12], "big")
            batches += 1
    return {"mb": size / 1e6, "batches": batches}


def _broker_note(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    return f"broker CPU {mine['broker_cpu_s']:.1f} s vs {theirs['broker_cpu_s']:.1f} s"


def _settings(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def _rounds(count: int) -> str:
    return "one run of each program" if count == 1 else f"each program's best of {count} interleaved rounds"


def _log_note(k: dict[str, Any], mine: str, theirs: str, records: int) -> str:
    a, b = k["broker_log_r1"][mine], k["broker_log_r1"][theirs]
    per = [records / x["batches"] if x["batches"] else float("nan") for x in (a, b)]
    return (
        f"broker log (round 1, lz4) {a['mb']:.0f} vs {b['mb']:.0f} MB in {a['batches']:,} vs "
        f"{b['batches']:,} batches ({per[0]:,.0f} vs {per[1]:,.0f} records a batch)"
    )
