"""The producer's and the sink's Prometheus metrics (/metrics, prometheus-client's text format): scraped
from the running processes, they agree with what the processes did and with what Kafka holds."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env, kill_hard, parse_summary, spawn_cli, wait_until
from fixtures_kafka import free_port
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration
LAG = "stockpipe_sink_consumer_lag{"


def _scrape(address: str) -> dict[str, float]:
    """Every sample of /metrics, by name and labels (`name{label="v"}`); {} while nothing answers."""
    try:
        text = urllib.request.urlopen(f"http://{address}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_producer_and_sink_metrics_agree_with_the_run(broker: str, topic: str, group_id: str, tmp_path: Path):
    source = tmp_path / "src"
    made = cli(["sample", "--out", str(source), "--tickers", "10", "--days", "300"], cli_env(tmp_path / "s"))
    rows = json.loads((source / "manifest.json").read_text())["rows"]
    producer_at, sink_at = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = cli_env(
        tmp_path / "state",
        STOCKPIPE_PRODUCER_METRICS=producer_at,
        STOCKPIPE_SINK_METRICS=sink_at,
        STOCKPIPE_SINK_BATCH_AGE="1",
    )
    assert made.returncode == 0, made.stderr
    common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
    producer = spawn_cli(
        ["produce", "--source", str(source), "--rate", "400/s", *common], env, tmp_path / "p.log"
    )
    sink = spawn_cli(
        [
            "sink",
            *common,
            "--group",
            group_id,
            "--lake",
            str(tmp_path / "lake"),
            "--session-timeout-ms",
            "6000",
        ],
        env,
        tmp_path / "s.log",
    )
    try:
        wait_until("the producer's metrics to show deliveries", lambda: _scrape(producer_at).get(
            "stockpipe_producer_records_delivered_total", 0) > 0, 60)  # fmt: skip
        mid = _scrape(producer_at)
        assert mid["stockpipe_producer_rows_read_total"] >= mid["stockpipe_producer_records_sent_total"]
        assert (
            mid["stockpipe_producer_records_sent_total"] >= mid["stockpipe_producer_records_delivered_total"]
        )
        assert mid["stockpipe_producer_records_failed_total"] == 0
        assert producer.wait(120) == 0, (tmp_path / "p.log").read_text()[-2000:]
        assert parse_summary((tmp_path / "p.log").read_text())["delivered"] == rows

        wait_until("the sink's metrics to count every row", lambda: _scrape(sink_at).get(
            "stockpipe_sink_rows_written_total") == rows, 90)  # fmt: skip
        seen = _scrape(sink_at)
        assert seen["stockpipe_sink_records_consumed_total"] == rows
        assert (
            seen["stockpipe_sink_objects_written_total"]
            == seen["stockpipe_sink_object_write_seconds_count"]
            > 0
        )
        assert seen["stockpipe_sink_bytes_written_total"] > 0
        assert seen["stockpipe_sink_dead_letters_total"] == 0
        lag = {k: v for k, v in seen.items() if k.startswith(LAG)}

        def lag_drained() -> bool:
            now = _scrape(sink_at)
            return all(v == 0 for k, v in now.items() if k.startswith(LAG))

        wait_until("the lag gauge to reach 0 on every partition", lag_drained, 30)
        assert set(lag) == {f'stockpipe_sink_consumer_lag{{partition="{p}"}}' for p in range(3)}
        assert 0 <= seen["stockpipe_sink_seconds_since_last_object"] < 60
    finally:
        kill_hard(producer)
        kill_hard(sink)


def test_a_taken_metrics_port_is_one_line(broker: str, topic: str, tmp_path: Path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = cli_env(tmp_path, STOCKPIPE_SINK_METRICS=f"127.0.0.1:{port}")
        done = cli(["sink", "--bootstrap", broker, "--topic", topic, "--lake", str(tmp_path / "l"),
                    "--idle-timeout", "1", "--no-progress"], env)  # fmt: skip
    assert done.returncode == 2 and "cannot serve metrics on" in done.stderr, done.stderr
