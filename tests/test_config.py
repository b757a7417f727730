"""Settings layers: defaults < file < environment < options, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import PipelineError


def test_defaults_are_the_embedded_local_setup(monkeypatch):
    for var in ("STOCKPIPE_CONFIG", "STOCKPIPE_BOOTSTRAP", "STOCKPIPE_LAKE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.bootstrap, s.catalog, s.engine, s.lake) == (
        "127.0.0.1:9092",
        "local",
        "duckdb",
        ".stockpipe/lake",
    )


def test_options_beat_environment_beat_file(tmp_path: Path, monkeypatch):
    cfg = tmp_path / "stockpipe.toml"
    cfg.write_text('[stockpipe]\ntopic = "from-file"\nbootstrap = "file:9092"\ntable = "filetable"\n')
    monkeypatch.setenv("STOCKPIPE_BOOTSTRAP", "env:9092")
    monkeypatch.setenv("STOCKPIPE_TABLE", "envtable")
    s = load_settings(cfg, table="opttable", topic=None)
    assert (s.topic, s.bootstrap, s.table) == ("from-file", "env:9092", "opttable")


def test_unknown_setting_in_file_names_it(tmp_path: Path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('bootstrapp = "x"\n')
    with pytest.raises(PipelineError, match="bootstrapp"):
        load_settings(cfg)


def test_bad_choice_names_the_setting_and_the_choices():
    with pytest.raises(PipelineError, match=r"client='kafka' is not one of confluent, kafka-python"):
        load_settings(client="kafka")


def test_athena_without_result_location_is_refused():
    with pytest.raises(PipelineError, match="result location"):
        load_settings(engine="athena")
