"""The everyday commands against real Kafka: --json summaries, `status` numbers against what a consumer
reads, the replay guard, an honest interrupted produce, `topics` through both clients, query tables
through a pseudo-terminal at the terminal's width, and progress lines off a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from fixtures_faults import ROOT, cli, cli_env, consume_values, spawn_cli, wait_until

pytestmark = pytest.mark.integration


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_in_pty(args: list[str], env: dict[str, str], columns: int) -> str:
    """`stockpipe ARGS` with stdout on a pseudo-terminal `columns` wide (no COLUMNS variable)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, stdout=slave, stderr=subprocess.PIPE
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(master)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_json_summaries_status_offsets_replay_guard_and_tables(
    broker: str, topic: str, group_id: str, tmp_path: Path
) -> None:
    env = cli_env(
        tmp_path / "state",
        STOCKPIPE_BOOTSTRAP=broker,
        STOCKPIPE_TOPIC=topic,
        STOCKPIPE_GROUP_ID=group_id,
        STOCKPIPE_LAKE=str(tmp_path / "lake"),
    )
    data = tmp_path / "data"
    assert cli(["sample", "--out", str(data), "--tickers", "6", "--days", "60"], env).returncode == 0
    rows = json.loads((data / "manifest.json").read_text())["rows"]

    # produce --json off a terminal: one JSON line on stdout, periodic progress lines on stderr
    done = cli(
        ["produce", "--source", str(data), "--rate", "400/s", "--progress-every", "0.2", "--json"], env
    )
    assert done.returncode == 0, done.stderr
    (summary,) = json_lines(done.stdout)
    assert (summary["delivered"], summary["failed"], summary["not_sent"], summary["ok"]) == (rows, 0, 0, True)
    assert re.search(rf"produce {topic}: [\d,]+/{rows:,} rows", done.stderr)

    # the same rows again are refused; --resume sends nothing; the topic still holds each row once
    again = cli(["produce", "--source", str(data)], env)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert f"{rows:,} rows of {data} were already delivered to topic {topic}" in again.stderr
    assert "--resume" in again.stderr and "--force" in again.stderr
    resumed = json_lines(cli(["produce", "--source", str(data), "--resume", "--json"], env).stdout)[0]
    assert (resumed["sent"], resumed["skipped"]) == (0, rows)
    assert len(consume_values(broker, topic, rows + 1, timeout_s=8)) == rows

    # status before the sink: every record lags; the numbers are what a consumer reads
    before = json_lines(cli(["status", "--json"], env).stdout)[0]["kafka"]
    assert (before["end"], before["records"], before["committed"], before["lag"]) == (rows, rows, 0, rows)
    assert [p["committed"] for p in before["partitions"]] == [None, None, None]

    sunk = cli(["sink", "--max-records", str(rows), "--idle-timeout", "60", "--session-timeout-ms", "6000",
                "--json", "--no-progress"], env)  # fmt: skip
    assert sunk.returncode == 0, sunk.stderr
    (sink_summary,) = json_lines(sunk.stdout)
    assert (sink_summary["rows_written"], sink_summary["group"]) == (rows, group_id)

    after = cli(["status", "--json"], env)
    assert after.returncode == 0, after.stdout + after.stderr
    st = json_lines(after.stdout)[0]
    assert (st["kafka"]["end"], st["kafka"]["committed"], st["kafka"]["lag"]) == (rows, rows, 0)
    assert st["lake"]["objects"] == sink_summary["objects_written"] and st["lake"]["last_object"]
    assert st["services"]["sink"]["state"] == st["services"]["producer"]["state"] == "finished"
    text = cli(["status"], env).stdout
    assert f"group    {group_id}: committed {rows:,}, lag 0" in text

    crawled = json_lines(cli(["crawl", "--json"], env).stdout)[0]
    assert crawled["tables"][0]["name"] == "prices" and crawled["partitions_found"] >= 2
    assert json_lines(cli(["status", "--json"], env).stdout)[0]["catalog"]["tables"]["prices"] >= 2

    # query: JSON Lines, and a table through a real terminal of 80 and 200 columns
    sql = 'SELECT symbol, "date", open, high, low, close, volume, source_file FROM prices ORDER BY 1, 2'
    lines = json_lines(cli(["query", sql, "--format", "json"], env).stdout)
    assert len(lines) == rows and set(lines[0]) == {"symbol", "date", "open", "high", "low", "close",
                                                   "volume", "source_file"}  # fmt: skip
    first = lines[0]
    for columns in (80, 200):
        shown = run_in_pty(["query", sql, "--max-rows", "7"], env, columns)
        assert all(len(line) <= columns for line in shown.splitlines() if "source_file" not in line)
        assert "…" not in shown and str(first["date"]) in shown and f"{first['close']}" in shown
        assert f"7 of {rows:,} rows shown; {rows - 7:,} more rows" in " ".join(shown.split())

    # -q: nothing but the result
    quiet = cli(["-q", "produce", "--source", str(data), "--topic", f"{topic}-q", "--progress-every", "0.1",
                 "--rate", "2000/s"], env)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_an_interrupted_produce_says_how_many_rows_were_not_sent(
    broker: str, topic: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "state", STOCKPIPE_BOOTSTRAP=broker, STOCKPIPE_TOPIC=topic)
    data = tmp_path / "data"
    assert cli(["sample", "--out", str(data), "--tickers", "10", "--days", "100"], env).returncode == 0
    rows = json.loads((data / "manifest.json").read_text())["rows"]
    log = tmp_path / "produce.log"
    proc = spawn_cli(
        ["produce", "--source", str(data), "--rate", "300/s", "--progress-every", "0.2"], env, log
    )
    wait_until("the first progress line", lambda: f"produce {topic}: " in log.read_text(), 30)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 1
    out = log.read_text()
    match = re.search(
        r"interrupted: only ([\d,]+) of the ([\d,]+) good rows read were sent; ([\d,]+) were not", out
    )
    assert match, out[-2000:]
    sent, good, missing = (int(g.replace(",", "")) for g in match.groups())
    assert 0 < sent < rows and sent + missing == good
    assert f"delivered {sent:,}, failed 0" in out


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_topics_list_describe_and_peek_through_either_client(
    broker: str, topic: str, tmp_path: Path, client: str
) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    for i in range(12):
        producer.produce(topic, json.dumps({"i": i}).encode(), f"K{i}".encode(), partition=i % 3)
    assert producer.flush(30) == 0
    env = cli_env(tmp_path / "state", STOCKPIPE_BOOTSTRAP=broker, STOCKPIPE_CLIENT=client)

    listed = {t["topic"]: t for t in json_lines(cli(["topics", "list", "--json"], env).stdout)}
    assert listed[topic]["records"] == 12
    described = json_lines(cli(["topics", "describe", topic, "--json"], env).stdout)[0]
    assert [(p["partition"], p["first"], p["end"]) for p in described["partitions"]] == [
        (0, 0, 4),
        (1, 0, 4),
        (2, 0, 4),
    ]
    last = json_lines(cli(["topics", "peek", topic, "-n", "2", "--json"], env).stdout)
    assert [(m["partition"], m["offset"], m["key"], m["value"]["i"]) for m in last] == [
        (0, 2, "K6", 6), (0, 3, "K9", 9), (1, 2, "K7", 7), (1, 3, "K10", 10), (2, 2, "K8", 8),
        (2, 3, "K11", 11),
    ]  # fmt: skip
    first = cli(["topics", "peek", topic, "-n", "1", "-p", "2", "--from-start"], env).stdout.splitlines()
    assert first == ['2:0  K2  {"i": 2}']
    missing = cli(["topics", "describe", "no-such-topic"], env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
