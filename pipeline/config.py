"""Settings: defaults < config file (TOML) < environment (STOCKPIPE_*) < command-line options.

The embedded local default needs no settings at all: a broker on 127.0.0.1:9092 started by
`stockpipe local up`, a lake and a catalog under `.stockpipe/`, DuckDB for SQL. On AWS the pipeline
role renders a config file (`/etc/stockpipe/stockpipe.toml`) with the brokers, bucket and database.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.kafka.names import topic_problem
from pipeline.layout import table_problem

CHOICES: dict[str, tuple[str, ...]] = {
    "client": ("confluent", "kafka-python"),
    "lake_format": ("parquet", "jsonl"),
    "partition_by": ("month", "year", "date"),
    "catalog": ("local", "glue"),
    "engine": ("duckdb", "athena"),
}


@dataclass(frozen=True)
class Settings:
    # Kafka
    bootstrap: str = "127.0.0.1:9092"
    topic: str = "stock-prices"
    client: str = "confluent"
    group_id: str = "stockpipe-sink"
    # Lake: a directory or s3://bucket/prefix; tables live under <lake>/<table>/
    lake: str = ".stockpipe/lake"
    table: str = "prices"
    lake_format: str = "parquet"
    partition_by: str = "month"
    # AWS (any of them may point at an S3/Glue/Athena-compatible endpoint)
    aws_endpoint_url: str | None = None
    region: str | None = None
    # Catalog and SQL
    catalog: str = "local"
    database: str = "stockpipe"
    engine: str = "duckdb"
    athena_workgroup: str = "primary"
    athena_output: str | None = None
    # Where local state lives (broker data and pid, local catalog)
    state_dir: str = ".stockpipe"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def catalog_path(self) -> Path:
        return Path(self.state_dir) / "catalog" / f"{self.database}.json"

    def validate(self) -> Settings:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise PipelineError(
                    f"setting {name}={value!r} is not one of {', '.join(allowed)}",
                    f"fix --{name.replace('_', '-')} or STOCKPIPE_{name.upper()}",
                )
        problem = table_problem(self.table)
        if problem is not None:
            raise PipelineError(problem, "fix --table or the table setting")
        problem = topic_problem(self.topic)
        if problem is not None:
            raise PipelineError(problem, "fix --topic or the topic setting")
        if self.engine == "athena" and not self.athena_output:
            raise PipelineError("Athena needs a result location", "set athena_output = 's3://BUCKET/athena/'")
        return self


_FIELD_NAMES = {f.name for f in fields(Settings)} - {"extra"}


def _from_file(path: Path) -> dict[str, Any]:
    fix = "fix --config or STOCKPIPE_CONFIG"
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"config file {path} not found", fix) from None
    except IsADirectoryError:
        raise PipelineError(f"config file {path} is a directory", f"{fix}: name the TOML file") from None
    except PermissionError:
        raise PipelineError(f"config file {path} cannot be read (permission denied)", fix) from None
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"config file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at {exc.start})",
            "save it as UTF-8",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"config file {path} is not valid TOML ({exc})", "fix the file") from None
    table = data.get("stockpipe", data)
    if not isinstance(table, dict):
        raise PipelineError(f"config file {path}: [stockpipe] must be a table of settings", "fix the file")
    unknown = set(table) - _FIELD_NAMES
    if unknown:
        raise PipelineError(
            f"config file {path} has unknown settings: {', '.join(sorted(unknown))}",
            f"known settings are: {', '.join(sorted(_FIELD_NAMES))}",
        )
    for name, value in table.items():
        if not isinstance(value, str):  # every setting is text (quote numbers: table = "2024")
            raise PipelineError(
                f"config file {path}: setting {name} = {value!r} is a {type(value).__name__}, not a string",
                f'quote it: {name} = "{value}"',
            )
    return dict(table)


def _from_env() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = os.environ.get(f"STOCKPIPE_{name.upper()}")
        if value is not None:
            out[name] = value
    if "aws_endpoint_url" not in out and os.environ.get("AWS_ENDPOINT_URL"):
        out["aws_endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    return out


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Merge every layer; `None` overrides are ignored (an option the user did not give)."""
    values: dict[str, Any] = {}
    config = config or (Path(os.environ["STOCKPIPE_CONFIG"]) if os.environ.get("STOCKPIPE_CONFIG") else None)
    if config is not None:
        values.update(_from_file(config))
    values.update(_from_env())
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **values).validate()
