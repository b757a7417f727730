"""`stockpipe topics list | describe | peek` over the admin interface (either client).

`peek` reads the last (or first) N records of each partition, like `kcat -C -o -N -e`: it assigns
partitions at explicit offsets, so it never joins a group or commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import PipelineError
from pipeline.kafka import AdminClient, Message, PartitionInfo


@dataclass(frozen=True)
class TopicSummary:
    name: str
    partitions: list[PartitionInfo]
    offsets: dict[int, tuple[int, int]]

    @property
    def records(self) -> int:
        return sum(end - first for first, end in self.offsets.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.name,
            "partitions": [
                {
                    "partition": p.partition,
                    "leader": p.leader,
                    "replicas": list(p.replicas),
                    "isr": list(p.isr),
                    "first": self.offsets.get(p.partition, (0, 0))[0],
                    "end": self.offsets.get(p.partition, (0, 0))[1],
                }
                for p in self.partitions
            ],
            "records": self.records,
        }


def list_topics(admin: AdminClient, timeout_s: float) -> list[TopicSummary]:
    return [
        TopicSummary(name, parts, admin.offsets(name, timeout_s))
        for name, parts in admin.describe(timeout_s).items()
    ]


def describe_topic(admin: AdminClient, topic: str, timeout_s: float, bootstrap: str) -> TopicSummary:
    parts = admin.describe(timeout_s, topic).get(topic)
    if not parts:
        raise PipelineError(
            f"topic {topic!r} does not exist on {bootstrap}",
            "see `stockpipe topics list` for the topics there",
        )
    return TopicSummary(topic, parts, admin.offsets(topic, timeout_s))


def list_lines(topics: list[TopicSummary]) -> list[str]:
    if not topics:
        return ["no topics"]
    width = max(len(t.name) for t in topics)
    lines = [f"{'topic'.ljust(width)}  partitions  replicas      records"]
    for t in topics:
        replicas = max((len(p.replicas) for p in t.partitions), default=0)
        lines.append(f"{t.name.ljust(width)}  {len(t.partitions):>10}  {replicas:>8}  {t.records:>11,}")
    return lines


def describe_lines(t: TopicSummary) -> list[str]:
    lines = [
        f"topic {t.name}: {len(t.partitions)} partitions, {t.records:,} records retained",
        "  partition  leader  replicas        in-sync              first          end",
    ]
    for p in t.partitions:
        first, end = t.offsets.get(p.partition, (0, 0))
        lines.append(
            f"  {p.partition:>9}  {p.leader:>6}  {','.join(map(str, p.replicas)):<14}  "
            f"{','.join(map(str, p.isr)):<14}  {first:>11,}  {end:>11,}"
        )
    return lines


def peek(
    admin: AdminClient,
    t: TopicSummary,
    count: int,
    partitions: list[int] | None = None,
    from_start: bool = False,
    timeout_s: float = 10.0,
) -> list[Message]:
    """The last `count` records of each partition (the first `count` with `from_start`), partition by
    partition in offset order."""
    known = [p.partition for p in t.partitions]
    chosen = partitions if partitions is not None else known
    bad = [p for p in chosen if p not in known]
    if bad:
        raise PipelineError(
            f"topic {t.name} has no partition {', '.join(map(str, bad))}",
            f"pick from {', '.join(map(str, known))} with --partition",
        )
    out: list[Message] = []
    for p in chosen:
        first, end = t.offsets.get(p, (0, 0))
        start = first if from_start else max(end - count, first)
        out.extend(admin.read_range(t.name, p, start, count, timeout_s))
    return out


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()


def message_json(m: Message) -> str:
    value = _text(m.value)
    try:  # the pipeline's values are JSON: keep them as objects, not strings
        decoded: Any = json.loads(value) if value is not None else None
    except ValueError:
        decoded = value
    return json.dumps(
        {"partition": m.partition, "offset": m.offset, "key": _text(m.key), "value": decoded},
        separators=(",", ":"),
    )


def message_line(m: Message) -> str:
    return f"{m.partition}:{m.offset}  {_text(m.key)}  {_text(m.value)}"
