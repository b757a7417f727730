"""The interface both Kafka backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

TopicPartition = tuple[str, int]

#: Called once per record with None on success or the error text on failure.
DeliveryCallback = Callable[[str | None], None]


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class ProducerClient(ABC):
    """acks=all, retries and compression are the backends' defaults; see each backend."""

    @abstractmethod
    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        """Queue one record; `on_delivery` fires exactly once, from `poll` or `flush`."""

    @abstractmethod
    def poll(self) -> None:
        """Serve delivery reports that are ready without blocking."""

    @abstractmethod
    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding records; return how many are still without a delivery report."""

    @abstractmethod
    def topic_partitions(self, topic: str, timeout_s: float) -> int:
        """Number of partitions of `topic`; 0 if it does not exist. Raises on an unreachable broker."""

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

    @abstractmethod
    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Synchronously commit: `offsets[tp]` is the next offset to read (last written + 1)."""

    @abstractmethod
    def close(self) -> None: ...
