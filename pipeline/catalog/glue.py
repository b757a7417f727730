"""The AWS Glue Data Catalog backend (AWS itself or any Glue-API endpoint via endpoint_url)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pipeline.aws import AWS_ERRORS, aws_client, aws_error, error_code
from pipeline.catalog.base import Catalog, same_shape
from pipeline.catalog.model import Column, Partition, RegisterResult, TableDefinition
from pipeline.config import Settings
from pipeline.errors import PipelineError

#: batch_create_partition takes at most 100 partitions per call.
PARTITION_BATCH = 100

_FORMATS: dict[str, dict[str, Any]] = {
    "parquet": {
        "classification": "parquet",
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "Parameters": {"serialization.format": "1"},
        },
    },
    "jsonl": {
        "classification": "json",
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hive.hcatalog.data.JsonSerDe",
            "Parameters": {"serialization.format": "1"},
        },
    },
}

T = TypeVar("T")


def _dir(location: str) -> str:
    """Glue and Athena expect S3 folder locations to end with a slash."""
    return location if not location.startswith("s3://") or location.endswith("/") else location + "/"


class GlueCatalog(Catalog):
    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.database = settings.database
        self.endpoint = settings.aws_endpoint_url
        self.client = client or aws_client("glue", settings)
        self.description = f"Glue database {self.database} at {self.endpoint or 'AWS'}"
        self._database_ready = False

    def _call(self, action: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except AWS_ERRORS as exc:
            raise aws_error(exc, "Glue", action, self.endpoint) from None

    def ensure_database(self) -> bool:
        """Create the database when it is missing; True when it was created."""
        if self._database_ready:
            return False
        created = False
        try:
            self.client.get_database(Name=self.database)
        except AWS_ERRORS as exc:
            if error_code(exc) != "EntityNotFoundException":
                raise aws_error(exc, "Glue", f"read database {self.database}", self.endpoint) from None
            try:
                self.client.create_database(
                    DatabaseInput={"Name": self.database, "Description": "stockpipe lake tables"}
                )
                created = True
            except AWS_ERRORS as exc2:
                if error_code(exc2) != "AlreadyExistsException":  # created concurrently: fine
                    raise aws_error(exc2, "Glue", f"create database {self.database}", self.endpoint) from None
        self._database_ready = True
        return created

    def list_tables(self) -> list[str]:
        names: list[str] = []
        try:
            for page in self.client.get_paginator("get_tables").paginate(DatabaseName=self.database):
                names.extend(t["Name"] for t in page.get("TableList", []))
        except AWS_ERRORS as exc:
            if error_code(exc) == "EntityNotFoundException":
                return []
            raise aws_error(exc, "Glue", f"list tables in {self.database}", self.endpoint) from None
        return sorted(names)

    def _glue_table(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_table(DatabaseName=self.database, Name=name)["Table"]
        except AWS_ERRORS as exc:
            if error_code(exc) == "EntityNotFoundException":
                return None
            raise aws_error(exc, "Glue", f"read table {self.database}.{name}", self.endpoint) from None

    def _partitions(self, name: str) -> Iterator[dict[str, Any]]:
        try:
            pages = self.client.get_paginator("get_partitions").paginate(
                DatabaseName=self.database, TableName=name
            )
            for page in pages:
                yield from page.get("Partitions", [])
        except AWS_ERRORS as exc:
            action = f"list partitions of {self.database}.{name}"
            raise aws_error(exc, "Glue", action, self.endpoint) from None

    def get_table(self, name: str) -> TableDefinition | None:
        raw = self._glue_table(name)
        if raw is None:
            return None
        table = from_glue(raw)
        partitions = sorted(
            (
                Partition(tuple(p["Values"]), p["StorageDescriptor"]["Location"].rstrip("/"))
                for p in self._partitions(name)
            ),
            key=lambda p: p.values,
        )
        return TableDefinition(
            table.name, table.location, table.format, table.columns, table.partition_keys, partitions
        )

    def register(self, table: TableDefinition) -> RegisterResult:
        self.ensure_database()
        raw = self._glue_table(table.name)
        old = from_glue(raw) if raw is not None else None
        created = updated = replaced = False
        table_input = to_table_input(table)
        if old is None:
            self._call(
                f"create table {self.database}.{table.name}",
                self.client.create_table,
                DatabaseName=self.database,
                TableInput=table_input,
            )
            created = True
        elif old.partition_keys != table.partition_keys:
            # Glue keeps partitions of the old layout otherwise: start the table over.
            action = f"replace table {self.database}.{table.name} (partition keys changed)"
            self._call(action, self.client.delete_table, DatabaseName=self.database, Name=table.name)
            self._call(action, self.client.create_table, DatabaseName=self.database, TableInput=table_input)
            updated = replaced = True
        elif not same_shape(old, table):
            self._call(
                f"update table {self.database}.{table.name}",
                self.client.update_table,
                DatabaseName=self.database,
                TableInput=table_input,
            )
            updated = True
        known = set() if created or replaced else {tuple(p["Values"]) for p in self._partitions(table.name)}
        new = [p for p in table.partitions if p.values not in known]
        for start in range(0, len(new), PARTITION_BATCH):
            self._create_partitions(table, new[start : start + PARTITION_BATCH])
        return RegisterResult(created, updated, len(new))

    def _create_partitions(self, table: TableDefinition, batch: list[Partition]) -> None:
        descriptor = to_table_input(table)["StorageDescriptor"]
        inputs = [
            {"Values": list(p.values), "StorageDescriptor": {**descriptor, "Location": _dir(p.location)}}
            for p in batch
        ]
        response = self._call(
            f"add partitions to {self.database}.{table.name}",
            self.client.batch_create_partition,
            DatabaseName=self.database,
            TableName=table.name,
            PartitionInputList=inputs,
        )
        errors = [
            e for e in response.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
        ]
        if errors:
            first = errors[0]
            raise PipelineError(
                f"Glue refused {len(errors)} of {len(batch)} partitions of {self.database}.{table.name}; "
                f"first: {first.get('PartitionValues')}: {first['ErrorDetail'].get('ErrorCode')}: "
                f"{first['ErrorDetail'].get('ErrorMessage')}",
                "fix the cause and run `stockpipe crawl` again (it adds only missing partitions)",
            )


def to_table_input(table: TableDefinition) -> dict[str, Any]:
    fmt = _FORMATS[table.format]
    return {
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": fmt["classification"],
            "EXTERNAL": "TRUE",
            "stockpipe.format": table.format,
        },
        "PartitionKeys": [{"Name": k.name, "Type": k.type} for k in table.partition_keys],
        "StorageDescriptor": {
            "Columns": [{"Name": c.name, "Type": c.type} for c in table.columns],
            "Location": _dir(table.location),
            "InputFormat": fmt["InputFormat"],
            "OutputFormat": fmt["OutputFormat"],
            "SerdeInfo": fmt["SerdeInfo"],
            "Compressed": False,
            "StoredAsSubDirectories": False,
        },
    }


def from_glue(raw: dict[str, Any]) -> TableDefinition:
    """A Glue table (without its partitions), whoever created it (stockpipe or a Glue crawler)."""
    sd = raw.get("StorageDescriptor", {})
    params = raw.get("Parameters", {})
    fmt = params.get("stockpipe.format")
    if fmt not in _FORMATS:
        serde = sd.get("SerdeInfo", {}).get("SerializationLibrary", "").lower()
        classification = params.get("classification", "").lower()
        fmt = "parquet" if "parquet" in serde or classification == "parquet" else "jsonl"
    return TableDefinition(
        name=raw["Name"],
        location=sd.get("Location", "").rstrip("/"),
        format=fmt,
        columns=[Column(c["Name"], c["Type"]) for c in sd.get("Columns", [])],
        partition_keys=[Column(c["Name"], c["Type"]) for c in raw.get("PartitionKeys", [])],
    )
