"""The options several `stockpipe` commands share, each declared once, and how a command takes a set.

A command names the shared options it takes with `@shared_options(...)` (the groups below, or single
names); they are added to its signature after its own options, in one order for every command, and
the command receives them as one `Shared` value, whose `settings()` layers them over the config file
and the environment. So `--bootstrap` or `--lake` has one declaration, one help text and one mapping to
its setting, whichever command shows it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError

log = logging.getLogger("stockpipe")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", metavar="FILE", help="TOML settings file (or STOCKPIPE_CONFIG).")
]
GroupOpt = Annotated[
    str | None, typer.Option(metavar="ID", help="The sink's consumer group [default: stockpipe-sink].")
]
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        metavar="HOST:PORT", help="Kafka bootstrap servers HOST:PORT[,...] [default: the local broker's]."
    ),
]
TopicOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Kafka topic [default: stock-prices].")]
ClientOpt = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="Kafka client: confluent | kafka-python [default: confluent]."),
]
EngineOpt = Annotated[str | None, typer.Option(metavar="NAME", help="SQL engine: duckdb | athena.")]
LakeOpt = Annotated[
    str | None, typer.Option(metavar="DIR|S3URL", help="Lake: a directory or s3://bucket/prefix.")
]
TableOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Table name (directory under the lake).")]
CatalogOpt = Annotated[str | None, typer.Option(metavar="KIND", help="Catalog: local | glue.")]
DatabaseOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="Catalog database [default: stockpipe].")
]
StateDirOpt = Annotated[
    str | None,
    typer.Option(metavar="DIR", help="Local state: broker, catalog, checkpoints [default: .stockpipe]."),
]
RegionOpt = Annotated[str | None, typer.Option(metavar="NAME", help="AWS region [default: boto3's].")]
EndpointOpt = Annotated[
    str | None, typer.Option(metavar="URL", help="S3/Glue/Athena-compatible endpoint (or AWS_ENDPOINT_URL).")
]

#: Every shared option, in the order help pages list them: (its declaration, the setting it overrides).
OPTIONS: dict[str, tuple[Any, str | None]] = {
    "group": (GroupOpt, "group_id"),
    "bootstrap": (BootstrapOpt, "bootstrap"),
    "topic": (TopicOpt, "topic"),
    "client": (ClientOpt, "client"),
    "engine": (EngineOpt, "engine"),
    "lake": (LakeOpt, "lake"),
    "table": (TableOpt, "table"),
    "catalog": (CatalogOpt, "catalog"),
    "database": (DatabaseOpt, "database"),
    "state_dir": (StateDirOpt, "state_dir"),
    "region": (RegionOpt, "region"),
    "aws_endpoint_url": (EndpointOpt, "aws_endpoint_url"),
    "config": (ConfigOpt, None),  # the file the other settings come from; every command takes it
}

# The groups commands take together.
KAFKA = ("bootstrap", "topic", "client")  # where the records are
BROKER = ("bootstrap", "client")  # the cluster, for commands that name their topic themselves
LAKE = ("lake", "table")
CATALOG = ("catalog", "database")
AWS = ("region", "aws_endpoint_url")
SQL = ("engine", *LAKE, *CATALOG, *AWS)  # what a query needs
STATE = ("state_dir",)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Shared:
    """The shared options one command was given (None where not given)."""

    values: dict[str, Any]

    def settings(self, **overrides: Any) -> Settings:
        """The effective settings: these options (and `overrides`, the command's own) over the config
        file and the environment; a bootstrap set nowhere is the local broker's remembered address."""
        given = {OPTIONS[name][1]: value for name, value in self.values.items() if name != "config"}
        return effective_settings(self.values.get("config"), **(given | overrides))


def shared_options(*groups: str | tuple[str, ...]) -> Callable[[F], F]:
    """Give the decorated command these shared options (and --config), after its own; it receives
    them as its `shared: Shared` parameter."""
    wanted = {name for group in groups for name in ((group,) if isinstance(group, str) else group)}
    unknown = wanted - OPTIONS.keys()
    if unknown:
        raise ValueError(f"no shared options {sorted(unknown)}")
    names = [name for name in OPTIONS if name in wanted or name == "config"]

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "shared"]
        clash = {p.name for p in own} & set(names)
        if clash or "shared" not in signature.parameters:
            raise TypeError(f"{command.__name__}: needs a `shared` parameter and none of {sorted(clash)}")
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=OPTIONS[name][0], default=None)
            for name in names
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, None) for name in names}
            return command(*args, **kwargs, shared=Shared(values))

        parameters = own + added
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper  # type: ignore[return-value]

    return decorate


def effective_settings(config: Path | None, **overrides: Any) -> Settings:
    """`load_settings`, with a bootstrap set nowhere taken from the local broker `stockpipe local up`
    remembered; the bootstrap is checked before any command uses it."""
    from pipeline.config import configured
    from pipeline.kafka.names import bootstrap_problem
    from pipeline.local.broker import LocalBroker

    settings = load_settings(config, **overrides)
    where = "set"
    if overrides.get("bootstrap") is None and "bootstrap" not in configured(config):
        where = "the default"
        remembered = LocalBroker(settings.state_dir).remembered_address()
        if remembered is not None:
            settings = replace(settings, bootstrap=remembered)
            where = f"the local broker's, remembered in {LocalBroker(settings.state_dir).dir}"
    log.info("bootstrap %s (%s); topic %s; lake %s; state dir %s", settings.bootstrap, where,
             settings.topic, settings.lake, settings.state_dir)  # fmt: skip
    problem = bootstrap_problem(settings.bootstrap)
    if problem is not None:
        raise PipelineError(problem, "fix --bootstrap, STOCKPIPE_BOOTSTRAP or the bootstrap setting")
    return settings
