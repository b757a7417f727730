"""The embedded catalog: one JSON file per database (`settings.catalog_path`), same shape as Glue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.atomic import write_atomic
from pipeline.catalog.base import Catalog, same_shape
from pipeline.catalog.model import RegisterResult, TableDefinition
from pipeline.errors import PipelineError

_VERSION = 1


class LocalCatalog(Catalog):
    def __init__(self, path: str | Path, database: str = "stockpipe") -> None:
        self.path = Path(path)
        self.database = database
        self.description = f"local catalog {self.path}"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"version": _VERSION, "database": self.database, "tables": {}}
        except (OSError, json.JSONDecodeError) as exc:
            raise PipelineError(
                f"cannot read the local catalog {self.path} ({exc})",
                "delete the file and run `stockpipe crawl` again (it is rebuilt from the lake)",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
            raise PipelineError(
                f"the local catalog {self.path} is not a stockpipe catalog",
                "delete the file and run `stockpipe crawl` again (it is rebuilt from the lake)",
            )
        return data

    def _save(self, data: dict[str, Any]) -> None:
        try:
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())
        except OSError as exc:
            raise PipelineError(
                f"cannot write the local catalog {self.path} ({exc.strerror or exc})",
                "choose a writable --state-dir",
            ) from None

    def list_tables(self) -> list[str]:
        return sorted(self._load()["tables"])

    def get_table(self, name: str) -> TableDefinition | None:
        raw = self._load()["tables"].get(name)
        return TableDefinition.from_dict(raw) if raw else None

    def register(self, table: TableDefinition) -> RegisterResult:
        data = self._load()
        raw = data["tables"].get(table.name)
        old = TableDefinition.from_dict(raw) if raw else None
        keep = old is not None and old.partition_keys == table.partition_keys
        known = {p.values: p for p in old.partitions} if old and keep else {}
        added = [p for p in table.partitions if p.values not in known]
        created, updated = old is None, old is not None and not same_shape(old, table)
        if not (created or updated or added):
            return RegisterResult(False, False, 0)
        partitions = sorted([*known.values(), *added], key=lambda p: p.values)
        merged = TableDefinition(
            table.name, table.location, table.format, table.columns, table.partition_keys, partitions
        )
        data["tables"][table.name] = merged.to_dict()
        data["database"] = self.database
        data["version"] = _VERSION
        self._save(data)
        return RegisterResult(created, updated, len(added))
