"""The SQL engine interface: run SQL (or a named query) over the tables the catalog describes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pipeline.catalog import Catalog
from pipeline.config import Settings
from pipeline.layout import PARTITION_KEYS


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Engine(ABC):
    """A small SQL engine interface; backends: DuckDB (embedded, local) and Athena (AWS)."""

    settings: Settings
    catalog: Catalog | None

    @abstractmethod
    def execute(self, sql: str) -> QueryResult: ...

    def close(self) -> None:  # noqa: B027  (backends with resources override it)
        """Release what the engine holds."""

    def partition_keys(self, table: str) -> list[str]:
        """The table's partition key names from the catalog (the layout the settings give otherwise)."""
        if self.catalog is not None:
            return [k.name for k in self.catalog.require_table(table).partition_keys]
        return list(PARTITION_KEYS[self.settings.partition_by])  # the layout the settings give

    def columns(self, table: str) -> list[str] | None:
        """The table's columns from the catalog (None without one: every column the sink writes)."""
        if self.catalog is not None:
            return [c.name for c in self.catalog.require_table(table).columns]
        return None

    def run_named(self, name: str, **params: Any) -> QueryResult:
        """Render the named query (pipeline/queries/<name>.sql.j2) for this table and run it."""
        from pipeline.query.named import render

        params.setdefault("table", self.settings.table)
        params.setdefault("partition_keys", self.partition_keys(params["table"]))
        params.setdefault("columns", self.columns(params["table"]))
        return self.execute(render(name, **params))

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
