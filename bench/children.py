"""The measured programs, each run as its own process so its peak RSS is its own.

`python bench/children.py MODE --option value ...`; the last stdout line is a JSON result. Rates
are taken from the first record to the last, so group joins and client start-up are reported apart.

Modes:
- bare-produce: the ceiling of a client: pre-encoded messages from a file, sent in a tight loop with
  the same client and configuration the pipeline uses (the backend's own producer object).
- seed-produce: the origin tutorial's pattern: kafka-python, one send per row, then sleep(1).
- sink: the pipeline's sink (pipeline.sink.run.Sink) from the topic into a lake, until N records.
- bare-consume: the ceiling of the consumer: the raw client's batch consume loop, values untouched.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_LEN = struct.Struct(">II")


def write_messages(path: Path, pairs: Iterator[tuple[bytes, bytes]]) -> int:
    """Store (key, value) pairs as length-prefixed records; returns the count."""
    count = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for key, value in pairs:
            fh.write(_LEN.pack(len(key), len(value)))
            fh.write(key)
            fh.write(value)
            count += 1
    tmp.replace(path)
    return count


def read_messages(path: Path, limit: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for pair in iter_messages(path):
        if len(out) >= limit:
            break
        out.append(pair)
    return out


def iter_messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs `write_messages` stored, in order."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        klen, vlen = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        yield data[pos : pos + klen], data[pos + klen : pos + klen + vlen]
        pos += klen + vlen


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


# -- produce -------------------------------------------------------------------------------------
def bare_produce(args: argparse.Namespace) -> None:
    from pipeline.kafka import make_producer

    messages = read_messages(Path(args.messages), args.limit)
    wrapper = make_producer(args.client, args.bootstrap)
    raw: Any = wrapper._producer  # type: ignore[attr-defined]  # the backend's client, same configuration
    delivered = [0]
    topic = args.topic
    deadline = time.monotonic() + args.max_s
    start = time.perf_counter()
    if args.client == "confluent":

        def on_delivery(err: object, _msg: object) -> None:
            if err is None:
                delivered[0] += 1

        for i, (key, value) in enumerate(messages):
            while True:
                try:
                    raw.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:
                    raw.poll(0.05)
            if i % 1000 == 0:
                raw.poll(0)
                if time.monotonic() > deadline:
                    break
        raw.flush(120)
    else:
        lock = threading.Lock()

        def done(_meta: object) -> None:
            with lock:
                delivered[0] += 1

        for i, (key, value) in enumerate(messages):
            raw.send(topic, key=key, value=value).add_callback(done)
            if i % 1000 == 0 and time.monotonic() > deadline:
                break
        raw.flush(timeout=120)
    elapsed = time.perf_counter() - start
    wrapper.close()
    emit({"sent": len(messages), "delivered": delivered[0], "elapsed_s": elapsed})


def seed_produce(args: argparse.Namespace) -> None:
    """The origin tutorial: `producer.send(topic, value=dict_stock); sleep(1)` per row (kafka-python)."""
    from kafka import KafkaProducer

    messages = read_messages(Path(args.messages), args.rows)
    producer = KafkaProducer(
        bootstrap_servers=[args.bootstrap], value_serializer=lambda x: json.dumps(x).encode("utf-8")
    )
    start = time.perf_counter()
    for _key, value in messages:
        producer.send(args.topic, value=json.loads(value))
        time.sleep(1)
    producer.flush(timeout=30)
    elapsed = time.perf_counter() - start
    producer.close(timeout=5)
    emit({"sent": len(messages), "elapsed_s": elapsed})


# -- consume -------------------------------------------------------------------------------------
class _Timed:
    """A ConsumerClient proxy that notes when the first record arrived (after the group join)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first_at: float | None = None

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Any]:
        out = self.inner.poll_batch(max_records, timeout_s)
        if out and self.first_at is None:
            self.first_at = time.perf_counter()
        return list(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("inner", "first_at"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)


def sink(args: argparse.Namespace) -> None:
    from pipeline.kafka import make_consumer
    from pipeline.lake import open_lake
    from pipeline.progress import ProgressReporter
    from pipeline.sink.deadletter import DeadLetters
    from pipeline.sink.run import Sink, SinkOptions

    lake = open_lake(args.lake, args.endpoint or None, "us-east-1")
    inner = make_consumer(
        "confluent",
        args.bootstrap,
        args.group,
        args.topic,
        session_timeout_ms=args.session_timeout_ms,
        config=json.loads(args.consumer_config),
    )
    consumer = _Timed(inner)
    options = SinkOptions(max_records=args.records, idle_timeout_s=args.idle_timeout_s)
    stop = threading.Event()
    timer = threading.Timer(args.max_s, stop.set)  # bounded in time whatever happens
    timer.daemon = True
    timer.start()
    start = time.perf_counter()
    try:
        with ProgressReporter("sink", args.records, enabled=False) as progress:
            report = Sink(
                consumer,  # type: ignore[arg-type]
                lake,
                DeadLetters(Path(args.dead_letters)),
                options,
                stop,
                progress,
            ).run()
    finally:
        timer.cancel()
        inner.close()
    end = time.perf_counter()
    first = consumer.first_at or end
    emit(
        {
            "consumed": report.consumed,
            "rows_written": report.rows_written,
            "objects_written": report.objects_written,
            "poison": report.poison,
            "elapsed_s": end - first,
            "join_s": first - start,
            "stopped_by_timer": stop.is_set(),
        }
    )


def bare_consume(args: argparse.Namespace) -> None:
    from pipeline.kafka import make_consumer

    wrapper = make_consumer(
        "confluent",
        args.bootstrap,
        args.group,
        args.topic,
        session_timeout_ms=args.session_timeout_ms,
        config=json.loads(args.consumer_config),
    )
    raw: Any = wrapper._consumer  # type: ignore[attr-defined]  # the backend's client, same configuration
    count = 0
    value_bytes = 0
    first: float | None = None
    start = time.perf_counter()
    deadline = time.monotonic() + args.max_s
    while count < args.records and time.monotonic() < deadline:
        batch = raw.consume(num_messages=10_000, timeout=0.5)
        if batch and first is None:
            first = time.perf_counter()
        for msg in batch:
            if msg.error() is None:
                count += 1
                value_bytes += len(msg.value() or b"")
    end = time.perf_counter()
    wrapper.close()
    first = first or end
    emit({"consumed": count, "bytes": value_bytes, "elapsed_s": end - first, "join_s": first - start})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["bare-produce", "seed-produce", "sink", "bare-consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client", default="confluent")
    parser.add_argument("--messages", default="")
    parser.add_argument("--limit", type=int, default=sys.maxsize)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--group", default="")
    parser.add_argument("--lake", default="")
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--dead-letters", default="/tmp/stockpipe-bench-deadletters.jsonl")
    parser.add_argument("--records", type=int, default=0)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--consumer-config", default="{}", help="JSON: librdkafka settings to add")
    parser.add_argument("--idle-timeout-s", type=float, default=60.0)
    parser.add_argument("--max-s", type=float, default=300.0)
    args = parser.parse_args()
    {"bare-produce": bare_produce, "seed-produce": seed_produce, "sink": sink, "bare-consume": bare_consume}[
        args.mode
    ](args)


if __name__ == "__main__":
    main()
