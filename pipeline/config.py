"""Settings: defaults < config file (TOML) < environment (STOCKPIPE_*) < command-line options.

The embedded local default needs no settings at all: a broker on 127.0.0.1:9092 started by
`stockpipe local up`, a lake and a catalog under `.stockpipe/`, DuckDB for SQL. On AWS the pipeline
role renders a config file (`/etc/stockpipe/stockpipe.toml`) with the brokers, bucket and database,
and the producer's and the sink's tuning in its `[stockpipe.producer]` and `[stockpipe.sink]` tables
(environment: `STOCKPIPE_PRODUCER_RATE`, `STOCKPIPE_SINK_BATCH_RECORDS`, ...), so a service's whole
configuration is one file and its unit runs the bare command.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.kafka.names import bootstrap_problem, topic_problem
from pipeline.kafka.security import security_problem
from pipeline.layout import EXTENSIONS, PARTITION_KEYS, table_problem

CHOICES: dict[str, tuple[str, ...]] = {
    "client": ("confluent", "kafka-python"),
    "lake_format": tuple(EXTENSIONS),
    "partition_by": tuple(PARTITION_KEYS),
    "catalog": ("local", "glue"),
    "engine": ("duckdb", "athena"),
}


@dataclass(frozen=True)
class ProducerSettings:
    """`stockpipe produce` tuning: pacing (at most one of rate and speed) and the topic it creates."""

    rate: str | None = None  # records per time unit: "500/s", "30/min"
    speed: float | None = None  # trading days of data per wall-clock second
    partitions: int = 3  # partitions of the topic when the producer has to create it
    metrics: str = ""  # HOST:PORT of its Prometheus /metrics; empty = off (pipeline/metrics.py)


@dataclass(frozen=True)
class SinkSettings:
    """`stockpipe sink` tuning: batch cuts and the consumer group's timers."""

    batch_records: int = 50_000
    batch_age: float = 10.0  # seconds
    session_timeout_ms: int = 10_000
    max_poll_interval_ms: int = 300_000
    metrics: str = ""  # HOST:PORT of its Prometheus /metrics; empty = off (pipeline/metrics.py)
    # The sink host's rack (its availability zone): brokers with a rack-aware replica selector then serve
    # its fetches from the replica in the same zone (KIP-392), not across zones. Empty = the leader.
    client_rack: str = ""


#: Each section's fields and the Python type a file or the environment must give for it.
SECTIONS: dict[str, type] = {"producer": ProducerSettings, "sink": SinkSettings}


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
    # Kafka client security (pipeline/kafka/security.py): the password from one source, never an argument
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password_file: str | None = None
    sasl_password_env: str | None = None
    sasl_password_ssm: str | None = None
    ssl_ca_file: str | None = None
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
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
        problem = bootstrap_problem(self.bootstrap)
        if problem is not None:
            raise PipelineError(problem, "fix --bootstrap, STOCKPIPE_BOOTSTRAP or the bootstrap setting")
        problem = security_problem({f.name: getattr(self, f.name) for f in fields(self)})
        if problem is not None:
            raise PipelineError(problem, "fix the security settings (see pipeline/kafka/security.py)")
        if self.engine == "athena" and not self.athena_output:
            raise PipelineError("Athena needs a result location", "set athena_output = 's3://BUCKET/athena/'")
        _check_sections(self)
        return self


_FIELD_NAMES = {f.name for f in fields(Settings)} - {"extra", *SECTIONS}


def _check_sections(settings: Settings) -> None:
    from pipeline.produce.pacing import check_speed, parse_rate

    p, k = settings.producer, settings.sink
    if p.rate is not None:
        parse_rate(p.rate)
    if p.speed is not None:
        check_speed(p.speed)
    if k.client_rack and settings.client != "confluent":
        raise PipelineError(
            f"setting sink.client_rack = {k.client_rack!r} needs the confluent client: kafka-python cannot "
            "fetch from the nearest replica",
            'set client = "confluent", or leave client_rack empty',
        )
    if p.rate is not None and p.speed is not None:
        raise PipelineError("producer rate and speed are both set", "choose one way to pace the replay")
    for where, ok, rule in (
        ("producer.partitions", p.partitions >= 1, "at least 1"),
        ("sink.batch_records", k.batch_records >= 1, "at least 1"),
        ("sink.batch_age", 0 < k.batch_age < float("inf"), "a number of seconds > 0"),
        ("sink.session_timeout_ms", k.session_timeout_ms >= 1000, "at least 1000"),
        ("sink.max_poll_interval_ms", k.max_poll_interval_ms >= 1000, "at least 1000"),
    ):
        if not ok:
            section, name = where.split(".")
            value = getattr(getattr(settings, section), name)
            raise PipelineError(
                f"setting {where} = {value!r} must be {rule}",
                f"fix --{name.replace('_', '-')}, STOCKPIPE_{section.upper()}_{name.upper()} "
                f"or [stockpipe.{section}]",
            )


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string"}


def _section_value(section: str, name: str, value: object, where: str) -> object:
    """`value` as the type the section's field declares (files give TOML types, the environment text)."""
    kind = next(f.type for f in fields(SECTIONS[section]) if f.name == name)
    wanted = int if "int" in str(kind) else float if "float" in str(kind) else str
    try:
        if wanted is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if isinstance(value, bool) or (wanted is int and isinstance(value, float)):
            raise ValueError
        return wanted(value)  # type: ignore[operator]
    except (TypeError, ValueError):
        raise PipelineError(
            f"{where}: setting {section}.{name} = {value!r} is not {_KIND_NAMES[wanted]}",
            f"fix [stockpipe.{section}] {name}",
        ) from None


def _sections_from(table: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        values = table.get(section, {})
        if not isinstance(values, dict):
            raise PipelineError(f"{where}: [stockpipe.{section}] must be a table of settings", "fix the file")
        known = {f.name for f in fields(SECTIONS[section])}
        unknown = set(values) - known
        if unknown:
            raise PipelineError(
                f"{where} has unknown {section} settings: {', '.join(sorted(unknown))}",
                f"known [stockpipe.{section}] settings are: {', '.join(sorted(known))}",
            )
        out[section] = {name: _section_value(section, name, v, where) for name, v in values.items()}
    return out


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
    sections = _sections_from(table, f"config file {path}")
    table = {k: v for k, v in table.items() if k not in SECTIONS}
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
    return {**table, **sections}


def _from_env() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = os.environ.get(f"STOCKPIPE_{name.upper()}")
        if value is not None:
            out[name] = value
    for section, kind in SECTIONS.items():
        for f in fields(kind):
            env = f"STOCKPIPE_{section.upper()}_{f.name.upper()}"
            if env in os.environ:
                out.setdefault(section, {})[f.name] = _section_value(section, f.name, os.environ[env], env)
    if "aws_endpoint_url" not in out and os.environ.get("AWS_ENDPOINT_URL"):
        out["aws_endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    return out


def configured(config: Path | None = None) -> set[str]:
    """The flat settings a config file (`config`, or STOCKPIPE_CONFIG) or the environment sets: what
    is not left at its default before command-line options (e.g. whether the bootstrap was chosen)."""
    config = config or (Path(os.environ["STOCKPIPE_CONFIG"]) if os.environ.get("STOCKPIPE_CONFIG") else None)
    names = set(_from_file(config)) if config is not None else set()
    return (names | set(_from_env())) - set(SECTIONS)


def load_settings(
    config: Path | None = None,
    producer: dict[str, Any] | None = None,
    sink: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Merge every layer; `None` overrides are ignored (an option the user did not give). `producer`
    and `sink` override fields of those sections the same way."""
    values: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    config = config or (Path(os.environ["STOCKPIPE_CONFIG"]) if os.environ.get("STOCKPIPE_CONFIG") else None)
    layers = [_from_file(config)] if config is not None else []
    layers.append(_from_env())
    layers.append(
        {
            **{k: v for k, v in overrides.items() if v is not None},
            "producer": producer or {},
            "sink": sink or {},
        }
    )
    for layer in layers:
        for name in SECTIONS:
            sections[name].update({k: v for k, v in (layer.pop(name, None) or {}).items() if v is not None})
        values.update(layer)
    base = Settings()
    values["producer"] = replace(base.producer, **sections["producer"])
    values["sink"] = replace(base.sink, **sections["sink"])
    return replace(base, **values).validate()
