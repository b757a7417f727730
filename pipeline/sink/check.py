"""`stockpipe check`: does the lake still hold every record the sink committed, each exactly once?

The sink's promise (docs/guarantees.md, G1) is about offsets: every offset below the group's committed
offset is in the lake, in exactly one object. Something outside the sink can still break it afterwards:
an in-memory S3 server restarted, a bucket prefix emptied by hand, an object deleted by a lifecycle
rule. This check lists the lake's objects for the topic, reads each object's extent of offsets (the
Parquet footer, no data; JSON lines: its rows), and compares them with the group's committed offsets and
the topic's first retained offset. Offsets the sink set aside as poison (dead letters) cover no object:
they are subtracted when the dead-letter file is at hand (the sink's state directory).

Repair: objects are never replaced and a sink that finds an object adopts it, so replaying the topic
into the same lake with a new consumer group writes exactly the missing objects
(`stockpipe sink --group <new group> --idle-timeout 30`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.kafka import Unreachable
from pipeline.kafka.security import PLAINTEXT, ClientSecurity
from pipeline.kafka.topics import open_admin
from pipeline.lake import Lake
from pipeline.layout import extension_of, parse_object_name
from pipeline.sink.encode import UnreadableObject, footer_last_offset, object_extent


@dataclass
class PartitionCheck:
    partition: int
    committed: int | None  # the group's next offset to read; None: the group never committed
    retained_from: int  # the topic's first offset still on the brokers
    objects: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges
    twice: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges in two objects

    @property
    def ok(self) -> bool:
        return not self.missing and not self.twice

    def line(self) -> str:
        committed = "never committed" if self.committed is None else f"committed up to {self.committed - 1:,}"
        text = f"partition {self.partition}: {committed}, {self.objects:,} objects"
        if self.ok:
            return text + ": every offset in exactly one object"
        parts = []
        if self.missing:
            expired = [r for r in self.missing if r[1] < self.retained_from]
            parts.append(f"MISSING offsets {_ranges(self.missing)}")
            if expired:
                parts.append(f"(of them {_ranges(expired)} are no longer on the brokers: lost for good)")
        if self.twice:
            parts.append(f"IN TWO OBJECTS {_ranges(self.twice)}")
        return text + ": " + " ".join(parts)


@dataclass
class CheckReport:
    topic: str
    group: str
    partitions: list[PartitionCheck]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.partitions)

    def text(self) -> str:
        lines = [f"lake check of topic {self.topic}, group {self.group}:"]
        lines += ["  " + p.line() for p in self.partitions]
        if not self.ok:
            lines.append(
                "repair: replay the topic into the same lake with a new consumer group "
                f"(`stockpipe sink --topic {self.topic} --group {self.group}-repair --idle-timeout 30`): "
                "objects already there are kept, the missing ones are written"
            )
        return "\n".join(lines)


def _ranges(ranges: list[tuple[int, int]]) -> str:
    shown = [f"{a:,}" if a == b else f"{a:,}..{b:,}" for a, b in ranges[:5]]
    more = f" and {len(ranges) - 5} more ranges" if len(ranges) > 5 else ""
    return ", ".join(shown) + more


def object_extents(lake: Lake, table: str, topic: str) -> dict[int, list[tuple[int, int, str]]]:
    """(first, last offset, key) of every data object of `topic`, per Kafka partition, sorted."""
    out: dict[int, list[tuple[int, int, str]]] = {}
    fs, root = lake.arrow_filesystem()
    for obj in lake.list(f"{table}/"):
        parsed = parse_object_name(obj.key)
        fmt = extension_of(obj.key)
        if parsed is None or parsed[0] != topic or fmt is None:
            continue
        first = parsed[2]
        try:
            last = None
            if fmt == "parquet":
                with fs.open_input_file(f"{root}/{obj.key}") as fh:  # the footer only, not the data
                    last = footer_last_offset(fh, obj.size)
            if last is None:
                last = object_extent(lake.get(obj.key), fmt)
        except UnreadableObject as exc:
            raise PipelineError(
                f"{lake.location(obj.key)} is {exc.problem}", "move it out of the lake, then check again"
            ) from None
        except OSError as exc:  # gone or denied since it was listed
            fix = "check access to the lake, then check again"
            raise PipelineError(f"{lake.location(obj.key)} cannot be read ({exc})", fix) from None
        out.setdefault(parsed[1], []).append((first, last, obj.key))
    for extents in out.values():
        extents.sort()
    return out


def dead_letter_offsets(path: Path, topic: str) -> dict[int, set[int]]:
    """Offsets the sink set aside as poison, per partition (empty when the file is not here)."""
    out: dict[int, set[int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            letter = json.loads(line)
        except ValueError:
            continue
        if letter.get("topic") == topic:
            out.setdefault(int(letter["partition"]), set()).add(int(letter["offset"]))
    return out


def compare(
    partition: int,
    extents: list[tuple[int, int, str]],
    committed: int | None,
    retained_from: int,
    poison: set[int],
) -> PartitionCheck:
    """Every offset in [start, committed) in exactly one extent, poison offsets excepted."""
    result = PartitionCheck(partition, committed, retained_from, objects=len(extents))
    end = committed if committed is not None else (max((e[1] for e in extents), default=-1) + 1)
    expected_from = min([retained_from, *(e[0] for e in extents)]) if extents else retained_from
    covered_to = expected_from - 1
    for first, last, _key in extents:
        if first > covered_to + 1:
            result.missing += _without(covered_to + 1, min(first - 1, end - 1), poison)
        if first <= covered_to:
            result.twice.append((first, min(last, covered_to)))
        covered_to = max(covered_to, last)
    if covered_to < end - 1:
        result.missing += _without(covered_to + 1, end - 1, poison)
    return result


def _without(a: int, b: int, poison: set[int]) -> list[tuple[int, int]]:
    """[a, b] minus the poison offsets, as ranges."""
    if a > b:
        return []
    ranges: list[tuple[int, int]] = []
    start = a
    for offset in sorted(o for o in poison if a <= o <= b):
        if offset > start:
            ranges.append((start, offset - 1))
        start = offset + 1
    if start <= b:
        ranges.append((start, b))
    return ranges


def check_lake(
    bootstrap: str,
    topic: str,
    group: str,
    lake: Lake,
    table: str,
    dead_letters: Path,
    client: str = "confluent",
    security: ClientSecurity = PLAINTEXT,
) -> CheckReport:
    admin = open_admin(bootstrap, 10, client, security)
    try:
        offsets = admin.offsets(topic, 10)
        if not offsets:
            raise PipelineError(f"topic {topic!r} does not exist on {bootstrap}", "fix --topic")
        committed = admin.committed(group, topic, 10)
    except Unreachable as exc:
        raise PipelineError(
            f"cannot read group {group!r} of topic {topic!r} from {bootstrap} ({exc})",
            "check --bootstrap and that the brokers are up",
        ) from None
    finally:
        admin.close()
    extents = object_extents(lake, table, topic)
    poison = dead_letter_offsets(dead_letters, topic)
    checks = [
        compare(p, extents.get(p, []), committed.get(p), first, poison.get(p, set()))
        for p, (first, _end) in sorted(offsets.items())
    ]
    return CheckReport(topic, group, checks)
