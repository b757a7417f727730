"""The interface both Kafka backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat, starmap

TopicPartition = tuple[str, int]

#: Called once per record with None on success or the error text on failure.
DeliveryCallback = Callable[[str | None], None]


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    """A third of the session timeout (Kafka's advice), so a live member never misses its session."""
    return max(session_timeout_ms // 3, 500)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class DeliveryReports:
    """Where `ProducerClient.send_many` files the delivery report of each record, by record number.

    Backends append (from `poll`/`flush`, or a client's I/O thread); the caller `drain`s. Deques, so
    an append never races a drain.
    """

    delivered: deque[int] = field(default_factory=deque)
    failed: deque[tuple[int, str]] = field(default_factory=deque)

    def drain(self) -> tuple[list[int], list[tuple[int, str]]]:
        """The reports filed since the last drain: (delivered numbers, [(number, error), ...])."""
        # popleft len() times, not copy-and-clear: an append may come in meanwhile (kafka-python)
        ok, bad = self.delivered, self.failed
        return list(starmap(ok.popleft, repeat((), len(ok)))), list(
            starmap(bad.popleft, repeat((), len(bad)))
        )

    def callback(self, seq: int) -> DeliveryCallback:
        """A `send` callback that files record `seq`'s report here."""
        return partial(_file_report, self.delivered.append, self.failed.append, seq)


def _file_report(
    delivered: Callable[[int], None], failed: Callable[[tuple[int, str]], None], seq: int, error: str | None
) -> None:
    if error is None:
        delivered(seq)
    else:
        failed((seq, error))


class ProducerClient(ABC):
    """acks=all, retries and compression are the backends' defaults; see each backend."""

    @abstractmethod
    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        """Queue one record; `on_delivery` fires exactly once, from `poll` or `flush`."""

    def send_many(
        self, topic: str, keys: Sequence[bytes], values: Sequence[bytes], first: int, reports: DeliveryReports
    ) -> None:
        """Queue records numbered `first`, `first + 1`, ...; each one's delivery report is filed in
        `reports` exactly once, from `poll` or `flush`. Backends may override it with a cheaper loop."""
        for seq, key, value in zip(range(first, first + len(values)), keys, values, strict=True):
            self.send(topic, key, value, reports.callback(seq))

    @abstractmethod
    def poll(self) -> None:
        """Serve delivery reports that are ready without blocking."""

    @abstractmethod
    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding records; return how many are still without a delivery report."""

    @abstractmethod
    def close(self) -> None: ...


class Unreachable(Exception):
    """No broker answered (the detail is the client's own reason)."""


class NotDelivered(Exception):
    """The record got no successful delivery report (the detail says why)."""


@dataclass(frozen=True, order=True)
class BrokerInfo:
    """A broker as metadata names it; brokers sort by id (both clients list them so)."""

    node_id: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PartitionInfo:
    """One partition as the cluster's metadata describes it (leader -1: none)."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class ReadBack:
    offset: int
    key: bytes | None
    value: bytes | None


class AdminClient(ABC):
    """Topic administration and single-record probes (the canary), one backend per client library.

    Every call takes its own timeout in seconds; the caller owns any overall deadline. Reading back
    assigns one partition at one offset: no group join, no commit, nothing a sink's group could notice.
    """

    #: The client's most recent error text (connection refused, ...), for error messages.
    last_error: str | None = None

    @abstractmethod
    def partitions(self, topic: str, timeout_s: float) -> int:
        """Partitions of `topic`, 0 when it does not exist; raises Unreachable."""

    @abstractmethod
    def create_topic(self, topic: str, partitions: int, replication: int, timeout_s: float) -> bool:
        """Create `topic` (replication -1: the cluster's default); False when it exists already."""

    @abstractmethod
    def send_one(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        """Send one record and wait for its acks=all delivery report: (partition, offset)."""

    @abstractmethod
    def read_at(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        """The first record at or after `offset` in `partition`; None when none arrives in time."""

    # Inspection (`stockpipe status`, `stockpipe topics`, the dashboard): metadata, offsets, records.
    # None of these joins a group or commits: reading a group's offsets never disturbs the group.

    @abstractmethod
    def brokers(self, timeout_s: float) -> list[BrokerInfo]:
        """The brokers the cluster's metadata lists, by node id; raises Unreachable."""

    @abstractmethod
    def describe(self, timeout_s: float, topic: str | None = None) -> dict[str, list[PartitionInfo]]:
        """Partitions of every topic (or only `topic`; empty when it does not exist), internal topics
        (`__consumer_offsets`, ...) left out, partitions sorted; raises Unreachable."""

    @abstractmethod
    def offsets(self, topic: str, timeout_s: float) -> dict[int, tuple[int, int]]:
        """Per partition (first retained offset, end offset = the offset the next record will get)."""

    @abstractmethod
    def committed(self, group: str, topic: str, timeout_s: float) -> dict[int, int | None]:
        """Per partition of `topic` the group's committed offset (the next one it reads), None when
        the group never committed one for it."""

    @abstractmethod
    def read_range(
        self, topic: str, partition: int, start: int, count: int, timeout_s: float
    ) -> list[Message]:
        """Up to `count` records of `partition` from offset `start` on, stopping early at the end of
        the partition (as it was when called) or at the timeout."""

    @abstractmethod
    def close(self) -> None: ...


class ConsumerClient(ABC):
    """A group member with manual commits; starts from the earliest offset when none is committed."""

    #: Set by the sink: called with the partitions taken away from this member on a rebalance.
    on_revoke: Callable[[list[TopicPartition]], None] | None = None

    @abstractmethod
    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]: ...

    @abstractmethod
    def assigned(self) -> bool:
        """True once the group has given this member at least one partition."""

    def lag(self) -> dict[int, int]:
        """Records between this member's position and the end of each assigned partition, from what the
        client already knows (no broker round trip); empty when it cannot tell."""
        return {}

    @abstractmethod
    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Synchronously commit: `offsets[tp]` is the next offset to read (last written + 1).

        Raises `pipeline.errors.CommitRejected` when the group refuses it because this member lost the
        partition or is being rebalanced; other failures raise `PipelineError`.
        """

    @abstractmethod
    def close(self) -> None: ...
