"""`stockpipe status`: the whole pipeline on one screen, from the real sources.

- Kafka (through the admin interface, either client): the brokers that answer, the topic's partitions
  (leader, in-sync replicas, first and end offsets) and the sink group's committed offsets, so
  lag = end offset - committed offset per partition (a partition the group never committed lags by
  everything retained). Nothing joins the group or commits.
- The services: systemd units where they exist (a pipeline host), and the producer's and sink's status
  files under the state directory (what they last reported, and whether they still report).
- The lake: data objects of the table, their bytes and the one written last (by modification time).
- The catalog: its tables and partitions.
- The local broker, when one was started under this state directory.

Each section that fails (a broker down, a missing bucket) says why in its own line; the others still
show. The dashboard's stream panel reads `kafka_status` too, so both show the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka import BrokerInfo, Unreachable, make_admin
from pipeline.kafka.names import unreachable_hint
from pipeline.kafka.security import client_security
from pipeline.ops.services import UnitState, local_units
from pipeline.status import STALE_AFTER_S, read_status, status_path


@dataclass
class PartitionLag:
    partition: int
    leader: int
    replicas: int
    in_sync: int
    first: int
    end: int
    committed: int | None  # the group's next offset to read; None: never committed
    lag: int


@dataclass
class KafkaStatus:
    bootstrap: str
    topic: str
    group: str
    brokers: list[BrokerInfo] = field(default_factory=list)
    partitions: list[PartitionLag] = field(default_factory=list)
    error: str | None = None

    @property
    def end(self) -> int:
        return sum(p.end for p in self.partitions)

    @property
    def records(self) -> int:
        return sum(p.end - p.first for p in self.partitions)

    @property
    def lag(self) -> int | None:
        return sum(p.lag for p in self.partitions) if self.partitions else None

    @property
    def committed(self) -> int:
        return sum(p.committed or 0 for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(records=self.records, end=self.end, committed=self.committed, lag=self.lag)
        return out


def kafka_status(settings: Settings, timeout_s: float = 5.0, group: str | None = None) -> KafkaStatus:
    """Brokers, partitions, offsets and the group's lag; `error` set (not raised) when unreachable."""
    group = group or settings.group_id
    st = KafkaStatus(settings.bootstrap, settings.topic, group)
    try:
        admin = make_admin(settings.client, settings.bootstrap, timeout_s, client_security(settings))
    except Unreachable as exc:
        st.error = (
            f"cannot reach Kafka at {settings.bootstrap} ({exc}); {unreachable_hint(settings.bootstrap)}"
        )
        return st
    try:
        st.brokers = admin.brokers(timeout_s)
        described = admin.describe(timeout_s, settings.topic).get(settings.topic)
        if not described:
            st.error = f"topic {settings.topic} does not exist on {settings.bootstrap}"
            return st
        offsets = admin.offsets(settings.topic, timeout_s)
        committed = admin.committed(group, settings.topic, timeout_s)
        for p in described:
            first, end = offsets.get(p.partition, (0, 0))
            done = committed.get(p.partition)
            lag = max(end - (done if done is not None else first), 0)
            st.partitions.append(
                PartitionLag(p.partition, p.leader, len(p.replicas), len(p.isr), first, end, done, lag)
            )
    except Unreachable as exc:
        st.error = (
            f"cannot reach Kafka at {settings.bootstrap} ({exc}); {unreachable_hint(settings.bootstrap)}"
        )
    except PipelineError as exc:
        st.error = exc.one_line()
    finally:
        admin.close()
    return st


def service_files(state_dir: str, topic: str, now: float | None = None) -> dict[str, dict[str, Any] | None]:
    """The producer's and the sink's status files for `topic`, each with a `state`: running (reported
    within STALE_AFTER_S), finished, or stale (stopped reporting without finishing: killed or hung)."""
    now = time.time() if now is None else now
    out: dict[str, dict[str, Any] | None] = {}
    for role in ("producer", "sink"):
        doc = read_status(status_path(state_dir, role, topic))
        if doc is not None:
            age = now - float(doc.get("updated_at", now))
            doc["age_s"] = round(age, 1)
            doc["state"] = "finished" if doc.get("done") else "running" if age <= STALE_AFTER_S else "stale"
        out[role] = doc
    return out


@dataclass
class LakeStatus:
    url: str
    objects: int = 0
    bytes: int = 0
    last_object: str | None = None
    last_written: str | None = None  # ISO time, UTC
    error: str | None = None


def lake_status(settings: Settings) -> LakeStatus:
    import pyarrow.fs as pafs

    from pipeline.lake import open_lake
    from pipeline.layout import parse_object_name

    st = LakeStatus(f"{settings.lake.rstrip('/')}/{settings.table}")
    try:
        lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
        fs, root = lake.arrow_filesystem()
        base = f"{root.rstrip('/')}/{settings.table}" if root else settings.table
        newest: tuple[float, str] | None = None
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
            if info.type != pafs.FileType.File:
                continue
            key = f"{settings.table}/{info.path[len(base) + 1 :]}"
            if parse_object_name(key) is None:
                continue
            st.objects += 1
            st.bytes += info.size or 0
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            if newest is None or mtime > newest[0]:
                newest = (mtime, key)
        if newest is not None:
            st.last_object = newest[1]
            st.last_written = datetime.fromtimestamp(newest[0], UTC).isoformat(timespec="seconds")
    except PipelineError as exc:
        st.error = exc.one_line()
    except OSError as exc:
        st.error = f"cannot list {st.url} ({exc})"
    return st


@dataclass
class CatalogStatus:
    description: str = ""
    tables: dict[str, int] = field(default_factory=dict)  # table -> partitions
    error: str | None = None


def catalog_status(settings: Settings) -> CatalogStatus:
    from pipeline.catalog import open_catalog

    st = CatalogStatus()
    try:
        catalog = open_catalog(settings)
        st.description = catalog.description
        for name in catalog.list_tables():
            table = catalog.get_table(name)
            st.tables[name] = len(table.partitions) if table is not None else 0
    except PipelineError as exc:
        st.error = exc.one_line()
    return st


@dataclass
class PipelineStatus:
    kafka: KafkaStatus
    services: dict[str, dict[str, Any] | None]
    units: list[UnitState]
    lake: LakeStatus
    catalog: CatalogStatus
    local_broker: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return not (self.kafka.error or self.lake.error or self.catalog.error)

    def to_json(self) -> dict[str, Any]:
        return {
            "kafka": self.kafka.to_json(),
            "services": self.services,
            "units": [asdict(u) for u in self.units],
            "lake": asdict(self.lake),
            "catalog": asdict(self.catalog),
            "local_broker": self.local_broker,
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        k = self.kafka
        out: list[str] = []
        if k.brokers:
            names = ", ".join(f"{b.node_id}={b.address}" for b in k.brokers)
            out.append(
                f"kafka    {len(k.brokers)} broker{'s' if len(k.brokers) != 1 else ''} answering ({names})"
            )
        if k.error:
            out.append(f"kafka    ERROR {k.error}")
        if k.partitions:
            lag = k.lag or 0
            out.append(
                f"topic    {k.topic}: {len(k.partitions)} partitions, {k.records:,} records retained, "
                f"end offsets sum {k.end:,}"
            )
            out.append(f"group    {k.group}: committed {k.committed:,}, lag {lag:,}")
            out.append("  partition  leader  in-sync  first          end    committed          lag")
            for p in k.partitions:
                done = "never" if p.committed is None else f"{p.committed:,}"
                out.append(
                    f"  {p.partition:>9}  {p.leader:>6}  {p.in_sync:>3}/{p.replicas:<3}  {p.first:>5,}  "
                    f"{p.end:>11,}  {done:>11}  {p.lag:>11,}"
                )
        for unit in self.units:
            out.append(f"service  {unit.text()}")
        for role, doc in self.services.items():
            if doc is None:
                out.append(f"{role:<8} no status file for topic {k.topic} (not run here)")
                continue
            if role == "producer":
                what = (
                    f"sent {doc.get('sent', 0):,}, delivered {doc.get('delivered', 0):,}, "
                    f"failed {doc.get('failed', 0):,}"
                )
            else:
                what = (
                    f"consumed {doc.get('consumed', 0):,}, wrote {doc.get('rows_written', 0):,} rows "
                    f"in {doc.get('objects_written', 0):,} objects"
                )
            out.append(f"{role:<8} {doc['state']} (reported {doc['age_s']:,.0f} s ago): {what}")
        lake = self.lake
        if lake.error:
            out.append(f"lake     ERROR {lake.error}")
        else:
            last = f"; last written {lake.last_written}: {lake.last_object}" if lake.last_object else ""
            out.append(f"lake     {lake.url}: {lake.objects:,} objects, {lake.bytes / 1e6:,.1f} MB{last}")
        cat = self.catalog
        if cat.error:
            out.append(f"catalog  ERROR {cat.error}")
        elif not cat.tables:
            out.append(f"catalog  {cat.description}: no tables (run `stockpipe crawl`)")
        else:
            tables = ", ".join(f"{name} ({n:,} partitions)" for name, n in cat.tables.items())
            out.append(f"catalog  {cat.description}: {tables}")
        if self.local_broker is not None:
            b = self.local_broker
            state = ("answering" if b["answering"] else "NOT answering") if b["running"] else "not running"
            out.append(f"local    {b['kind']} broker at {b['address']}: {state}")
            if b["kind"] == "tansu" and b["running"] and b["address"] == k.bootstrap:
                out.append(
                    "         (tansu's end offsets are approximate, so is the lag: docs/guarantees.md)"
                )
        return out


def pipeline_status(settings: Settings, timeout_s: float = 5.0, group: str | None = None) -> PipelineStatus:
    from pipeline.local.broker import LocalBroker

    broker = LocalBroker(settings.state_dir)
    local = None
    if broker.remembered_address() is not None:
        st = broker.status()
        local = {"kind": st.kind, "running": st.running, "address": st.address, "answering": st.answering}
    return PipelineStatus(
        kafka=kafka_status(settings, timeout_s, group),
        services=service_files(settings.state_dir, settings.topic),
        units=local_units(),
        lake=lake_status(settings),
        catalog=catalog_status(settings),
        local_broker=local,
    )
