"""The catalog interface: where table definitions are registered and read back."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pipeline.catalog.model import RegisterResult, TableDefinition
from pipeline.errors import PipelineError


class Catalog(ABC):
    """A small store of table definitions; backends: a local JSON file or the AWS Glue Data Catalog."""

    #: Human-readable description of where the catalog lives, for reports and messages.
    description: str

    @abstractmethod
    def list_tables(self) -> list[str]: ...

    @abstractmethod
    def get_table(self, name: str) -> TableDefinition | None:
        """The table with all of its partitions, or None when it is not registered."""

    @abstractmethod
    def register(self, table: TableDefinition) -> RegisterResult:
        """Create the table or update its schema/location/format, and add the partitions it lacks.

        Idempotent: registering the same definition twice changes nothing the second time. Partitions
        already registered are kept even when they are not in `table.partitions`.
        """

    def require_table(self, name: str) -> TableDefinition:
        table = self.get_table(name)
        if table is None:
            known = ", ".join(self.list_tables()) or "none"
            raise PipelineError(
                f"table {name!r} is not in the catalog ({self.description}; tables: {known})",
                "run `stockpipe crawl` after the sink has written data, or fix --table",
            )
        return table


def same_shape(a: TableDefinition, b: TableDefinition) -> bool:
    """True when a and b agree on everything but their partition lists."""
    return (a.location, a.format, a.columns, a.partition_keys) == (
        b.location,
        b.format,
        b.columns,
        b.partition_keys,
    )
