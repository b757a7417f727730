"""Settings layers: defaults < file < environment < options, and clear errors."""

from __future__ import annotations

import re
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


def test_producer_and_sink_sections_layer_like_every_other_setting(tmp_path, monkeypatch):
    import pytest

    from pipeline.config import load_settings
    from pipeline.errors import PipelineError

    path = tmp_path / "s.toml"
    path.write_text('[stockpipe]\ntopic = "t"\n[stockpipe.sink]\nbatch_records = 100\nbatch_age = 3\n'
                    '[stockpipe.producer]\nrate = "20/s"\n')  # fmt: skip
    monkeypatch.setenv("STOCKPIPE_SINK_BATCH_AGE", "4.5")
    s = load_settings(path, sink={"batch_records": 7, "session_timeout_ms": None})
    assert (s.sink.batch_records, s.sink.batch_age, s.sink.session_timeout_ms) == (7, 4.5, 10_000)
    assert s.producer.rate == "20/s"
    for text, message in [
        ("[stockpipe.sink]\nbatch_records = 0\n", "sink.batch_records = 0 must be at least 1"),
        ('[stockpipe.sink]\nbatch_records = "x"\n', "sink.batch_records = 'x' is not an integer"),
        ("[stockpipe.sink]\nbatch_size = 5\n", "unknown sink settings: batch_size"),
        ('[stockpipe.producer]\nrate = "fast"\n', "--rate 'fast' is not a rate"),
        ("[stockpipe.producer]\nspeed = 0\n", "--speed 0.0 must be a finite number > 0"),
        (
            '[stockpipe]\nclient = "kafka-python"\n[stockpipe.sink]\nclient_rack = "zone-b"\n',
            "sink.client_rack = 'zone-b' needs the confluent client",
        ),
    ]:
        path.write_text(text)
        with pytest.raises(PipelineError, match=re.escape(message)):
            load_settings(path)
