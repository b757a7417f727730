"""The lake layout has one owner (pipeline/layout.py); every other place that must agree with it is
pinned to it here: the roles' copies of the naming rules and the Glue crawler's exclusions, the
catalog's and engines' formats, and the settings check."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipeline import layout
from pipeline.catalog import glue
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka.names import TOPIC_PATTERN, topic_problem

ROOT = Path(__file__).resolve().parent.parent


def _yaml(path: str) -> object:
    return yaml.safe_load((ROOT / path).read_text())


def test_the_pipeline_roles_naming_rules_are_the_packages():
    role_vars = _yaml("roles/pipeline/vars/main.yml")
    assert role_vars["__pipeline_table_pattern"] == layout.TABLE_NAME_PATTERN
    assert role_vars["__pipeline_topic_pattern"] == TOPIC_PATTERN


def test_the_glue_crawlers_exclusions_in_the_role_are_the_packages():
    tasks = _yaml("roles/aws_analytics/tasks/present.yml")
    (crawler,) = [t for t in tasks if "community.aws.glue_crawler" in t]  # type: ignore[union-attr]
    (target,) = crawler["community.aws.glue_crawler"]["targets"]["S3Targets"]
    assert tuple(target["Exclusions"]) == layout.GLUE_EXCLUSIONS


def test_every_lake_format_has_a_glue_serde_and_partitioning_has_known_keys():
    assert set(glue._FORMATS) == set(layout.EXTENSIONS)
    assert set(layout.PARTITION_KEYS) == {"month", "year", "date"}
    for by, keys in layout.PARTITION_KEYS.items():
        path = layout.partition_path(date(2024, 2, 3), by)
        assert [part.split("=")[0] for part in path.split("/")] == list(keys)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("prices", True),
        ("_x", True),
        ("P2024", True),
        ("2024p", False),
        ("a-b", False),
        ("", False),
        ("x" * 129, False),
    ],
)
def test_one_table_rule_for_settings_sql_and_the_crawler(name: str, ok: bool) -> None:
    assert (layout.table_problem(name) is None) is ok
    assert bool(re.match(layout.TABLE_NAME_PATTERN, name)) is ok
    if ok:
        Settings(table=name).validate()
    else:
        with pytest.raises(PipelineError, match="table name"):
            Settings(table=name).validate()


@pytest.mark.parametrize(
    ("name", "ok"),
    [("stock-prices", True), ("my.topic_v2", True), ("..", False), ("a b", False), ("x" * 250, False)],
)
def test_topic_names_follow_kafkas_rule(name: str, ok: bool) -> None:
    assert (topic_problem(name) is None) is ok


def test_hidden_names_are_not_data_in_every_form():
    assert layout.is_data_key("year=2024/month=01/t-0-1.parquet", 2, "parquet")
    for hidden in (
        "year=2024/month=01/_t.parquet",
        "year=2024/.tmp/t.parquet",
        "year=2024/month=01/.x.parquet",
    ):
        assert not layout.is_data_key(hidden, 2, "parquet")
    assert not layout.is_data_key("t-0-1.parquet", 2, "parquet")  # not at the partition depth
    assert layout.DATA_NAME_GLOB == "[!_.]*"


def test_settings_choices_and_query_defaults_are_the_layouts():
    from pipeline.canary.find import canary_sql
    from pipeline.config import CHOICES
    from pipeline.query.named import render

    assert CHOICES["lake_format"] == tuple(layout.EXTENSIONS)
    assert CHOICES["partition_by"] == tuple(layout.PARTITION_KEYS)
    sql = render("daily_summary", start="2024-02-01", end="2024-02-29")
    assert all(key in sql for key in layout.PARTITION_KEYS["month"])
    by_date = canary_sql("prices", "date", "CANARY", date(2024, 2, 3), 7)
    assert "trade_date = DATE '2024-02-03'" in by_date
    assert "year = 2024 AND month = 2" in canary_sql("prices", "month", "CANARY", date(2024, 2, 3), 7)


def test_one_server_list_rule_for_the_settings_check_the_clients_and_the_hints():
    from pipeline.kafka.names import bootstrap_problem, servers, unreachable_hint

    assert servers(" a:1, b:2 ") == ["a:1", "b:2"]
    assert bootstrap_problem("a:1, b:2") is None
    assert bootstrap_problem("a:1,,b:2") == "bootstrap 'a:1,,b:2' has an empty entry between commas"
    assert bootstrap_problem("a:1,") == "bootstrap 'a:1,' has an empty entry between commas"
    assert bootstrap_problem("a:0") == "bootstrap server 'a:0' is not HOST:PORT with a port 1-65535"
    assert "`stockpipe local up --port 9093`" in unreachable_hint(" 127.0.0.1:9093 ")
    assert "check the address" in unreachable_hint("127.0.0.1:9093,127.0.0.1:9094")
