"""What a catalog holds: typed table definitions, the same shape for the local catalog and Glue.

Types are Hive/Glue type names (`string`, `date`, `double`, `bigint`, `int`, ...): the names Glue
stores and Athena reads. The DuckDB engine maps them to its own types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.layout import EXTENSIONS


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a Hive type name: string, date, double, bigint, int, boolean, timestamp, decimal(p,s)...


@dataclass(frozen=True)
class Partition:
    values: tuple[str, ...]  # one string per partition key, as written in the path (`"2024"`, `"01"`)
    location: str  # a directory path or an s3:// URL, without a trailing slash


@dataclass(frozen=True)
class TableDefinition:
    name: str
    location: str  # the table's root: a directory path or an s3:// URL, without a trailing slash
    format: str  # a lake_format: a key of pipeline.layout.EXTENSIONS
    columns: list[Column]
    partition_keys: list[Column] = field(default_factory=list)
    partitions: list[Partition] = field(default_factory=list)

    @property
    def extension(self) -> str:
        """The data objects' extension, with its dot."""
        return f".{EXTENSIONS[self.format]}"

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns] + [k.name for k in self.partition_keys]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "location": self.location,
            "format": self.format,
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
            "partition_keys": [{"name": c.name, "type": c.type} for c in self.partition_keys],
            "partitions": [{"values": list(p.values), "location": p.location} for p in self.partitions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableDefinition:
        return cls(
            name=data["name"],
            location=data["location"],
            format=data["format"],
            columns=[Column(c["name"], c["type"]) for c in data["columns"]],
            partition_keys=[Column(c["name"], c["type"]) for c in data.get("partition_keys", [])],
            partitions=[Partition(tuple(p["values"]), p["location"]) for p in data.get("partitions", [])],
        )


@dataclass(frozen=True)
class RegisterResult:
    """What registering one table changed in a catalog."""

    created: bool  # the table did not exist before
    updated: bool  # the table existed with a different schema, location or format
    partitions_added: int


@dataclass(frozen=True)
class TableReport:
    name: str
    format: str
    columns: list[Column]
    partition_keys: list[str]
    objects_scanned: int
    partitions_found: int
    partitions_added: int
    created: bool
    updated: bool


@dataclass(frozen=True)
class CrawlReport:
    lake: str
    catalog: str  # e.g. "local /path/stockpipe.json" or "glue database stockpipe"
    tables: list[TableReport]
    skipped: list[str]  # "key: reason" for objects that look like data but could not be used

    @property
    def objects_scanned(self) -> int:
        return sum(t.objects_scanned for t in self.tables)

    @property
    def partitions_found(self) -> int:
        return sum(t.partitions_found for t in self.tables)

    @property
    def partitions_added(self) -> int:
        return sum(t.partitions_added for t in self.tables)

    def summary(self) -> str:
        """A few lines for people: one per table, then totals and anything skipped."""
        if not self.tables:
            lines = [f"no tables found in {self.lake} (nothing to catalog yet: run the sink first)"]
        else:
            lines = []
            for t in self.tables:
                change = "created" if t.created else "updated" if t.updated else "unchanged"
                keys = "/".join(t.partition_keys) or "none"
                lines.append(
                    f"table {t.name} ({t.format}, {len(t.columns)} columns, partitioned by {keys}): "
                    f"{change}; "
                    f"{t.objects_scanned} objects, {t.partitions_found} partitions, {t.partitions_added} new"
                )
            lines.append(
                f"crawled {self.lake} into {self.catalog}: {len(self.tables)} table(s), "
                f"{self.objects_scanned} objects, {self.partitions_found} partitions, "
                f"{self.partitions_added} added"
            )
        if self.skipped:
            shown = "; ".join(self.skipped[:5]) + (
                f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            )
            lines.append(f"skipped {len(self.skipped)} object(s) that are not table data: {shown}")
        return "\n".join(lines)
