"""Athena: run SQL against the Glue database with boto3, poll with backoff and a deadline."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipeline.aws import AWS_ERRORS, aws_client, aws_error
from pipeline.catalog import Catalog
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.query.base import Engine, QueryResult

_INTS = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOATS = {"double", "float", "real"}
_DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}


def convert(value: str | None, athena_type: str) -> Any:
    """An Athena result cell (always text, or absent for NULL) as the Python value of its column type."""
    if value is None:
        return None
    t = athena_type.lower().split("(")[0].strip()
    if t in _INTS:
        return int(value)
    if t in _FLOATS:
        return float(value)
    if t == "decimal":
        return Decimal(value)
    if t == "boolean":
        return value.lower() == "true"
    if t == "date":
        return date.fromisoformat(value)
    if t == "timestamp":
        return datetime.fromisoformat(value)
    return value  # varchar, char, json, arrays, maps, rows: the text Athena gives


class AthenaEngine(Engine):
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        *,
        client: Any | None = None,
        timeout_s: float = 600.0,
        poll_s: float = 0.25,
        max_poll_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.client = client or aws_client("athena", settings)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.sleep = sleep

    def _call(self, action: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except AWS_ERRORS as exc:
            raise aws_error(exc, "Athena", action, self.settings.aws_endpoint_url) from None

    def start(self, sql: str) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.settings.athena_workgroup,
            "QueryExecutionContext": {"Database": self.settings.database},
        }
        if self.settings.athena_output:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.settings.athena_output}
        return str(
            self._call("start a query", self.client.start_query_execution, **kwargs)["QueryExecutionId"]
        )

    def wait(self, query_id: str) -> dict[str, Any]:
        """Poll until the query ends; its QueryExecution when it SUCCEEDED, PipelineError otherwise."""
        deadline = time.monotonic() + self.timeout_s
        interval = self.poll_s
        while True:
            execution = self._call(
                f"poll query {query_id}", self.client.get_query_execution, QueryExecutionId=query_id
            )["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State", "UNKNOWN")
            if state == "SUCCEEDED":
                return dict(execution)
            if state in _DONE:
                reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage")
                raise PipelineError(
                    f"Athena query {query_id} {state}: {reason or 'no reason given'}",
                    "fix the query (table names come from the Glue database "
                    f"{self.settings.database}; run `stockpipe crawl` after new data)",
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with contextlib.suppress(*AWS_ERRORS):  # best effort: the message below matters
                    self.client.stop_query_execution(QueryExecutionId=query_id)
                raise PipelineError(
                    f"Athena query {query_id} still {state} after {self.timeout_s:g}s; it was cancelled",
                    "narrow the date range (partitions prune the scan) or raise the query timeout",
                )
            self.sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.max_poll_s)

    def results(self, query_id: str, statement_type: str | None = None) -> QueryResult:
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        first_page = True
        try:
            pages = self.client.get_paginator("get_query_results").paginate(
                QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                result_set = page["ResultSet"]
                if first_page:
                    info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                    columns = [c.get("Label") or c["Name"] for c in info]
                    types = [c["Type"] for c in info]
                page_rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result_set["Rows"]]
                # SELECT results start with a header row holding the column names (first page only).
                if first_page and page_rows and _is_header(page_rows[0], columns, statement_type):
                    page_rows = page_rows[1:]
                first_page = False
                rows.extend(
                    tuple(convert(v, t) for v, t in zip(row, types, strict=False)) for row in page_rows
                )
        except AWS_ERRORS as exc:
            raise aws_error(
                exc, "Athena", f"read results of query {query_id}", self.settings.aws_endpoint_url
            ) from None
        return QueryResult(columns, rows)

    def execute(self, sql: str) -> QueryResult:
        query_id = self.start(sql)
        execution = self.wait(query_id)
        return self.results(query_id, execution.get("StatementType"))


def _is_header(row: list[str | None], columns: list[str], statement_type: str | None) -> bool:
    if statement_type == "DML":
        return True
    return row == columns
