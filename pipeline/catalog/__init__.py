"""The catalog: what tables the lake holds, their schema and partitions.

`crawl(settings)` scans the lake and registers every table into the catalog picked by
settings.catalog (a local JSON file, the embedded default, or the AWS Glue Data Catalog);
`run_glue_crawler(...)` runs a real Glue crawler over an S3 lake instead.
"""

from __future__ import annotations

from pipeline.catalog.base import Catalog
from pipeline.catalog.crawler import GlueCrawlerRun, crawl, open_catalog, run_glue_crawler
from pipeline.catalog.glue import GlueCatalog
from pipeline.catalog.local import LocalCatalog
from pipeline.catalog.model import (
    Column,
    CrawlReport,
    Partition,
    RegisterResult,
    TableDefinition,
    TableReport,
)

__all__ = [
    "Catalog",
    "Column",
    "CrawlReport",
    "GlueCatalog",
    "GlueCrawlerRun",
    "LocalCatalog",
    "Partition",
    "RegisterResult",
    "TableDefinition",
    "TableReport",
    "crawl",
    "open_catalog",
    "run_glue_crawler",
]
