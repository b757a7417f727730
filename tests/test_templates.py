"""templates/stockpipe.toml.j2 renders into a config file that pipeline/config.py accepts."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from pipeline.config import load_settings

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "stockpipe.toml.j2"


def _ansible_like_env() -> jinja2.Environment:
    """jinja2 with the two Ansible filters the template uses, so it renders as Ansible would."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)
    env.filters["extract"] = lambda name, mapping, key: mapping[name][key]
    return env


def test_pipeline_host_config_renders_and_loads(tmp_path: Path):
    text = (
        _ansible_like_env()
        .from_string(TEMPLATE.read_text())
        .render(
            groups={"kafka": ["k1", "k2", "k3"]},
            hostvars={f"k{i}": {"kafka_internal_address": f"10.0.1.{i}"} for i in (1, 2, 3)},
            stockpipe_lake_bucket="stockpipe-lake-123-eu-west-1",
            stockpipe_glue_database="stockpipe",
            stockpipe_athena_workgroup="stockpipe",
            aws_region="eu-west-1",
        )
    )
    path = tmp_path / "stockpipe.toml"
    path.write_text(text)
    settings = load_settings(path)
    assert settings.bootstrap == "10.0.1.1:9091,10.0.1.2:9091,10.0.1.3:9091"
    assert settings.lake == "s3://stockpipe-lake-123-eu-west-1/lake"
    assert (settings.catalog, settings.engine, settings.region) == ("glue", "athena", "eu-west-1")
    assert settings.athena_output == "s3://stockpipe-lake-123-eu-west-1/athena-results/"
