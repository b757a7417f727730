"""SQL over the lake: DuckDB locally (the embedded default) or Athena on AWS, behind one interface.

`open_engine(settings)` picks the backend once from settings.engine; `engine.execute(sql)` and
`engine.run_named(name, start=..., end=..., limit=...)` return a QueryResult, which
`pipeline.query.format.render(result, fmt)` turns into a table, CSV or JSON.
"""

from __future__ import annotations

from pipeline.catalog import Catalog, open_catalog
from pipeline.config import Settings
from pipeline.query.base import Engine, QueryResult


def open_engine(settings: Settings, catalog: Catalog | None = None) -> Engine:
    """DuckDB over the tables in the catalog (settings.catalog), or Athena over the Glue database."""
    catalog = catalog or open_catalog(settings)
    if settings.engine == "athena":
        from pipeline.query.athena import AthenaEngine

        return AthenaEngine(settings, catalog)
    from pipeline.query.duck import DuckDBEngine

    return DuckDBEngine(settings, catalog)


__all__ = ["Engine", "QueryResult", "open_engine"]
