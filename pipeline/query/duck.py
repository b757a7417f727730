"""DuckDB over the lake: one view per catalogued table.

- Local lake: `read_parquet`/`read_json` over a glob of the table directory that follows the
  partition layout (`year=*/month=*/[!_.]*.parquet`), with hive partitioning and explicit hive
  types, so DuckDB prunes files on partition predicates before it opens them.
- S3 lake: a pyarrow dataset (hive partitioning, explicit schema, files listed once when the engine
  opens) registered in DuckDB; DuckDB pushes filters into it, so pyarrow skips files of other partitions.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from pipeline.catalog import Catalog, TableDefinition
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import S3Lake
from pipeline.layout import DATA_NAME_GLOB, EXTENSIONS, is_data_key
from pipeline.query.base import Engine, QueryResult
from pipeline.query.types import arrow_type, duckdb_type, quote


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDBEngine(Engine):
    def __init__(self, settings: Settings, catalog: Catalog, tables: list[str] | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.con = duckdb.connect(":memory:")
        self._s3: dict[str, pafs.FileSystem] = {}
        self._datasets: dict[str, Any] = {}  # keeps registered Arrow datasets alive
        self.tables: list[str] = []
        for name in tables if tables is not None else catalog.list_tables():
            self.add_table(catalog.require_table(name))

    def close(self) -> None:
        self.con.close()

    # -- views ------------------------------------------------------------------------------------
    def add_table(self, table: TableDefinition) -> None:
        """Create (or replace) the view named after the table."""
        if table.partition_keys and not table.partitions:
            source = self._empty(table)
        elif table.location.startswith("s3://"):
            source = self._s3_source(table)
        else:
            source = self._local_source(table)
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(table.name)} AS {source}")
        self.tables.append(table.name)

    def _empty(self, table: TableDefinition) -> str:
        cols = [*table.columns, *table.partition_keys]
        select = ", ".join(f"CAST(NULL AS {duckdb_type(c.type)}) AS {quote(c.name)}" for c in cols)
        return f"SELECT {select} WHERE FALSE"

    def _glob(self, table: TableDefinition, root: str) -> str:
        dirs = "".join(f"{k.name}=*/" for k in table.partition_keys)
        return f"{root.rstrip('/')}/{dirs}{DATA_NAME_GLOB}{table.extension}"

    def _local_source(self, table: TableDefinition) -> str:
        hive_types = ", ".join(
            f"{_sql_string(k.name)}: {_sql_string(duckdb_type(k.type))}" for k in table.partition_keys
        )
        hive = f", hive_partitioning = true, hive_types = {{{hive_types}}}" if table.partition_keys else ""
        pattern = _sql_string(self._glob(table, table.location))
        if table.format == "parquet":
            reader = f"read_parquet({pattern}{hive})"
        else:
            columns = ", ".join(
                f"{_sql_string(c.name)}: {_sql_string(duckdb_type(c.type))}" for c in table.columns
            )
            reader = f"read_json({pattern}, format = 'newline_delimited', columns = {{{columns}}}{hive})"
        names = ", ".join(quote(n) for n in table.column_names())
        return f"SELECT {names} FROM {reader}"

    def _filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        bucket = location.removeprefix("s3://").split("/", 1)[0]
        if bucket not in self._s3:
            self._s3[bucket] = S3Lake(
                f"s3://{bucket}", self.settings.aws_endpoint_url, self.settings.region
            ).arrow_filesystem()[0]
        return self._s3[bucket], location.removeprefix("s3://").rstrip("/")

    def _s3_source(self, table: TableDefinition) -> str:
        fs, root = self._filesystem(table.location)
        depth = len(table.partition_keys)
        try:
            infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise PipelineError(
                f"cannot list table {table.name} at {table.location} ({exc})",
                "check --aws-endpoint-url, the credentials and that the bucket exists",
            ) from None
        files = sorted(
            info.path
            for info in infos
            if info.type == pafs.FileType.File
            and is_data_key(info.path[len(root) + 1 :], depth, EXTENSIONS[table.format])
        )
        if not files:
            return self._empty(table)
        # JSON dates arrive as strings: read them as strings and cast in the view.
        file_type = {"date": pa.string()} if table.format == "jsonl" else {}
        schema = pa.schema(
            [pa.field(c.name, file_type.get(c.type, arrow_type(c.type))) for c in table.columns]
            + [pa.field(k.name, arrow_type(k.type)) for k in table.partition_keys]
        )
        partitioning = ds.partitioning(
            pa.schema([pa.field(k.name, arrow_type(k.type)) for k in table.partition_keys]), flavor="hive"
        )
        dataset = ds.dataset(
            files,
            filesystem=fs,
            format="parquet" if table.format == "parquet" else "json",
            schema=schema,
            partitioning=partitioning,
            partition_base_dir=root,
        )
        arrow_name = f"__arrow_{table.name}"
        self.con.register(arrow_name, dataset)
        self._datasets[table.name] = dataset
        select = ", ".join(
            f"CAST({quote(c.name)} AS DATE) AS {quote(c.name)}"
            if table.format == "jsonl" and c.type == "date"
            else quote(c.name)
            for c in [*table.columns, *table.partition_keys]
        )
        return f"SELECT {select} FROM {quote(arrow_name)}"

    # -- queries ----------------------------------------------------------------------------------
    def execute(self, sql: str) -> QueryResult:
        try:
            cursor = self.con.execute(sql)
            description = cursor.description
            rows = cursor.fetchall() if description else []
        except duckdb.CatalogException as exc:
            raise PipelineError(
                f"DuckDB: {_first_line(exc)}",
                f"tables in the catalog: {', '.join(self.tables) or 'none'}; "
                "run `stockpipe crawl` after new data, or fix the query",
            ) from None
        except (duckdb.ParserException, duckdb.BinderException) as exc:
            raise PipelineError(f"DuckDB: {_first_line(exc)}", "fix the query") from None
        except duckdb.IOException as exc:
            raise PipelineError(
                f"DuckDB cannot read the lake: {_first_line(exc)}",
                "run `stockpipe crawl` again if objects were removed or rewritten",
            ) from None
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise PipelineError(f"DuckDB query failed: {type(exc).__name__}: {_first_line(exc)}") from None
        return QueryResult([d[0] for d in description or []], rows)

    def explain_analyze(self, sql: str) -> str:
        """DuckDB's profile of the query (shows files scanned per table scan)."""
        return "\n".join(str(row[1]) for row in self.con.execute(f"EXPLAIN ANALYZE {sql}").fetchall())


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
