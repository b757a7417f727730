"""`stockpipe crawl`: register what is in the lake into the catalog; or run a real Glue crawler."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.aws import AWS_ERRORS, aws_error, error_code
from pipeline.catalog.base import Catalog
from pipeline.catalog.glue import GlueCatalog
from pipeline.catalog.infer import scan_lake
from pipeline.catalog.local import LocalCatalog
from pipeline.catalog.model import CrawlReport, TableReport
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import open_lake
from pipeline.layout import GLUE_EXCLUSIONS


def open_catalog(settings: Settings) -> Catalog:
    """The catalog backend chosen by settings.catalog: `local` (a JSON file) or `glue`."""
    if settings.catalog == "glue":
        return GlueCatalog(settings)
    return LocalCatalog(settings.catalog_path, settings.database)


def crawl(settings: Settings, catalog: Catalog | None = None) -> CrawlReport:
    """Infer every table in the lake and register it (schema + new partitions). Safe to rerun."""
    lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
    scan = scan_lake(lake)
    catalog = catalog or open_catalog(settings)
    reports = []
    for table in scan.tables:
        result = catalog.register(table)
        reports.append(
            TableReport(
                name=table.name,
                format=table.format,
                columns=table.columns,
                partition_keys=[k.name for k in table.partition_keys],
                objects_scanned=scan.objects[table.name],
                partitions_found=len(table.partitions),
                partitions_added=result.partitions_added,
                created=result.created,
                updated=result.updated,
            )
        )
    return CrawlReport(lake.url, catalog.description, reports, scan.skipped)


@dataclass(frozen=True)
class GlueCrawlerRun:
    name: str
    status: str  # LastCrawl.Status: SUCCEEDED
    elapsed_s: float
    polls: int
    tables: list[str]  # tables in the database after the crawl

    def __str__(self) -> str:
        return (
            f"Glue crawler {self.name} {self.status} in {self.elapsed_s:.0f}s; "
            f"tables: {', '.join(self.tables) or 'none'}"
        )


#: Crawler states in which a crawl is under way.
_BUSY = {"RUNNING", "STOPPING"}


def run_glue_crawler(
    settings: Settings,
    name: str,
    role_arn: str,
    timeout_s: float = 900.0,
    *,
    client: Any | None = None,
    poll_s: float = 5.0,
    max_poll_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> GlueCrawlerRun:
    """Create (or update) a Glue crawler over the S3 lake, start it and wait for it to finish.

    Polls get_crawler with exponential backoff (poll_s, x1.5, at most max_poll_s) until the crawl
    ends or `timeout_s` passes; a FAILED/CANCELLED crawl or the deadline raise PipelineError. On
    timeout the crawler keeps running in AWS.
    """
    if not settings.lake.startswith("s3://"):
        raise PipelineError(
            f"a Glue crawler reads S3, but the lake is {settings.lake}",
            "use --lake s3://BUCKET/PREFIX, or `stockpipe crawl` (the built-in crawler) for a local lake",
        )
    catalog = GlueCatalog(settings, client)
    glue = catalog.client
    endpoint = settings.aws_endpoint_url

    def call(action: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except AWS_ERRORS as exc:
            raise aws_error(exc, "Glue", f"{action} crawler {name}", endpoint) from None

    catalog.ensure_database()
    desired = {
        "Role": role_arn,
        "DatabaseName": settings.database,
        "Description": f"stockpipe: tables under {settings.lake}",
        "Targets": {
            "S3Targets": [{"Path": settings.lake.rstrip("/") + "/", "Exclusions": list(GLUE_EXCLUSIONS)}]
        },
        "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"},
        "Configuration": json.dumps(
            {
                "Version": 1.0,
                "Grouping": {"TableLevelConfiguration": 2},
                "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
            }
        ),
    }
    try:
        current = glue.get_crawler(Name=name)["Crawler"]
    except AWS_ERRORS as exc:
        if error_code(exc) != "EntityNotFoundException":
            raise aws_error(exc, "Glue", f"read crawler {name}", endpoint) from None
        current = None
    if current is None:
        call("create", glue.create_crawler, Name=name, **desired)
    elif current.get("State") not in _BUSY and _differs(current, desired):
        call("update", glue.update_crawler, Name=name, **desired)

    started = time.monotonic()
    started_wall = datetime.now(UTC)
    try:
        glue.start_crawler(Name=name)
    except AWS_ERRORS as exc:
        if error_code(exc) != "CrawlerRunningException":  # already crawling: wait for that crawl
            raise aws_error(exc, "Glue", f"start crawler {name}", endpoint) from None

    deadline = started + timeout_s
    interval, polls, seen_busy, state = poll_s, 0, False, "unknown"
    while True:
        crawler = call("poll", glue.get_crawler, Name=name)["Crawler"]
        polls += 1
        state = crawler.get("State", "unknown")
        last = crawler.get("LastCrawl") or {}
        seen_busy = seen_busy or state in _BUSY
        if state == "READY" and (seen_busy or _started_since(last, started_wall)):
            status = last.get("Status", "SUCCEEDED")
            if status != "SUCCEEDED":
                log = f"{last.get('LogGroup', '?')}/{last.get('LogStream', '?')}"
                raise PipelineError(
                    f"Glue crawler {name} ended {status}: {last.get('ErrorMessage') or 'no reason given'}",
                    f"see the CloudWatch log {log}; check that role {role_arn} can read {settings.lake}",
                )
            return GlueCrawlerRun(name, status, time.monotonic() - started, polls, catalog.list_tables())
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PipelineError(
                f"Glue crawler {name} is still {state} after {timeout_s:g}s (polled {polls} times)",
                f"it keeps running in AWS: wait and check `aws glue get-crawler --name {name}`, "
                "or give a longer timeout",
            )
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_poll_s)


def _started_since(last: dict[str, Any], since: datetime) -> bool:
    start = last.get("StartTime")
    # AWS and this machine's clocks may differ a little: allow a minute of skew.
    return isinstance(start, datetime) and start >= since - timedelta(minutes=1)


def _differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    return any(current.get(k) != v for k, v in desired.items() if k != "Configuration")
