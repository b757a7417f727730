"""roles/pipeline/templates/stockpipe.toml.j2 renders into a config file that pipeline/config.py accepts.

The full site.yml test renders it through Ansible on a lab host; this one pins the mapping from role
variables to settings in a second, with jinja2 and the few Ansible filters the role uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from pipeline.config import load_settings

ROLE = Path(__file__).resolve().parent.parent / "roles" / "pipeline"


def _ansible_like_env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(
        pattern, repl.replace("\\1", r"\1"), value
    )
    env.filters["extract"] = lambda name, mapping, key: mapping[name][key]
    env.filters["to_json"] = json.dumps
    env.filters["basename"] = lambda p: Path(p).name
    return env


def _render(**variables: Any) -> str:
    env = _ansible_like_env()
    context = dict(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    context.update(variables, ansible_managed="Ansible managed", role_path=str(ROLE))
    for name, expr in yaml.safe_load((ROLE / "vars" / "main.yml").read_text()).items():
        context[name] = env.from_string(expr).render(context).strip()
    return env.from_string((ROLE / "templates" / "stockpipe.toml.j2").read_text()).render(context)


def test_pipeline_host_config_renders_and_loads(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            groups={"kafka": ["k1", "k2", "k3"]},
            hostvars={f"k{i}": {"kafka_internal_address": f"10.0.1.{i}"} for i in (1, 2, 3)},
            pipeline_lake="s3://stockpipe-lake-123-eu-west-1/lake",
            pipeline_region="eu-west-1",
        )
    )
    settings = load_settings(path)
    assert settings.bootstrap == "10.0.1.1:9091,10.0.1.2:9091,10.0.1.3:9091"
    assert settings.lake == "s3://stockpipe-lake-123-eu-west-1/lake"
    assert (settings.catalog, settings.engine, settings.region) == ("glue", "athena", "eu-west-1")
    assert settings.athena_output == "s3://stockpipe-lake-123-eu-west-1/athena-results/"
    assert settings.aws_endpoint_url is None
    assert settings.state_dir == "/var/lib/stockpipe"


def test_lab_settings_render_an_endpoint_and_duckdb(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            groups={"kafka": []},
            hostvars={},
            pipeline_bootstrap="10.77.0.11:9091",
            pipeline_lake="s3://stockpipe-lab/lake",
            pipeline_aws_endpoint_url="http://10.77.0.1:9000",
            pipeline_engine="duckdb",
            pipeline_table='odd"name',
        )
    )
    # A quote in a value cannot break out of its TOML string; the settings check then names it.
    text = path.read_text()
    assert 'table = "odd\\"name"' in text
    path.write_text(text.replace('odd\\"name', "prices"))
    settings = load_settings(path)
    assert (settings.bootstrap, settings.engine) == ("10.77.0.11:9091", "duckdb")
    assert settings.aws_endpoint_url == "http://10.77.0.1:9000"


def test_service_tuning_lives_in_the_config_file_not_in_the_units(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    common = {
        "groups": {"kafka": []},
        "hostvars": {},
        "pipeline_bootstrap": "b:9091",
        "pipeline_lake": "s3://b/l",
    }
    path.write_text(
        _render(
            **common,
            pipeline_produce_rate="500/s",
            pipeline_sink_batch_records=1234,
            pipeline_sink_batch_age=7,
        )
    )
    settings = load_settings(path)
    assert (settings.producer.rate, settings.producer.speed) == ("500/s", None)
    assert (settings.sink.batch_records, settings.sink.batch_age) == (1234, 7.0)
    path.write_text(_render(**common, pipeline_produce_speed=2.5))
    assert load_settings(path).producer.speed == 2.5
    for unit in ("stockpipe-sink.service.j2", "stockpipe-producer.service.j2"):
        exec_start = next(
            line
            for line in (ROLE / "templates" / unit).read_text().splitlines()
            if line.startswith("ExecStart=")
        )
        assert not any(flag in exec_start for flag in ("--rate", "--speed", "--batch-records", "--batch-age"))
