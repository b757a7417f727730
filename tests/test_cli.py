"""The `stockpipe` command as a user runs it: real subprocesses against the test broker."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def stockpipe(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sample_produce_sink_crawl_query_through_the_cli(
    broker: str, topic: str, group_id: str, tmp_path: Path
):
    env = {
        "STOCKPIPE_BOOTSTRAP": broker,
        "STOCKPIPE_TOPIC": topic,
        "STOCKPIPE_GROUP_ID": group_id,
        "STOCKPIPE_LAKE": str(tmp_path / "lake"),
        "STOCKPIPE_STATE_DIR": str(tmp_path / "state"),
    }
    out = tmp_path / "data"
    res = stockpipe("sample", "--out", str(out), "--tickers", "8", "--days", "40", env=env)
    assert res.returncode == 0, res.stderr
    rows = json.loads((out / "manifest.json").read_text())["rows"]

    res = stockpipe("produce", "--source", str(out), "--rate", "2000/s", env=env)
    assert res.returncode == 0, res.stderr
    assert f"delivered {rows:,}, failed 0, unconfirmed 0" in res.stdout

    res = stockpipe("sink", "--max-records", str(rows), "--idle-timeout", "60", "--no-progress", env=env)
    assert res.returncode == 0, res.stderr
    assert f"wrote {rows:,} rows" in res.stdout

    res = stockpipe("crawl", env=env)
    assert res.returncode == 0, res.stderr
    assert "table prices" in res.stdout

    res = stockpipe("query", "SELECT count(*) AS n FROM prices", "--format", "csv", env=env)
    assert res.returncode == 0, res.stderr
    assert list(csv.DictReader(io.StringIO(res.stdout))) == [{"n": str(rows)}]

    res = stockpipe("query", "--named", "latest_price", "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    latest = [json.loads(line) for line in res.stdout.splitlines()]  # JSON Lines: one object per row
    assert len(latest) == 8 and {"symbol", "date", "close"} <= set(latest[0])

    res = stockpipe("query", "--list", env=env)
    assert {"latest_price", "daily_summary", "vwap", "top_movers"} <= {
        line.split()[0] for line in res.stdout.splitlines() if line.strip()
    }


def test_errors_are_one_line_with_a_fix(tmp_path: Path):
    res = stockpipe("produce", "--source", str(tmp_path / "missing"), env={})
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert res.stderr.startswith("stockpipe: error: source") and "pass a directory" in res.stderr


# -- help, errors and settings: no broker needed ------------------------------------------------------

HELP_PAGES = [
    ["-h"],
    ["produce", "--help"],
    ["sink", "-h"],
    ["query", "-h"],
    ["config", "-h"],
    ["status", "-h"],
    ["demo", "-h"],
    ["local", "up", "-h"],
    ["topics", "peek", "-h"],
    ["report", "-h"],
]


@pytest.mark.parametrize("args", HELP_PAGES, ids=lambda a: " ".join(a))
def test_help_fits_80_columns_with_whole_option_names_and_defaults(args: list[str]) -> None:
    from pipeline.cli import _leaf_command

    res = stockpipe(*args, env={"COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "<bool>" not in res.stdout and "╭" not in res.stdout
    assert not [line for line in lines if line.rstrip().endswith(" .")]  # no "[default: …]" eaten
    command = _leaf_command(args)
    if command is not None:  # every option of the command appears whole
        words = set(res.stdout.replace(",", " ").replace("/", " ").split())
        for param in command.params:
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if opt.startswith("-"):
                    assert opt in words, opt


def test_help_states_defaults_precedence_version_and_completion() -> None:
    flat = " ".join(stockpipe("produce", "-h", env={"COLUMNS": "80"}).stdout.split())
    assert "[default: a file under <state_dir>/checkpoints/]" in flat
    config_help = " ".join(stockpipe("config", "--help", env={}).stdout.split())
    order = ["defaults", "config file", "environment", "options"]
    positions = [config_help.index(word) for word in order]
    assert positions == sorted(positions) and "defaults < config file" in config_help
    from importlib.metadata import version

    assert stockpipe("--version", env={}).stdout.strip() == f"stockpipe {version('stockpipe')}"
    root = stockpipe("-h", env={}).stdout
    assert "--install-completion" in root and "--verbose" in root and "--quiet" in root


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["query", "--nope"], "stockpipe: error: No such option: --nope"),
        (["nope"], "stockpipe: error: No such command 'nope'"),
        (["query", "--max-rows", "x"], "stockpipe: error: Invalid value for '--max-rows'"),
        (["produce"], "stockpipe: error: Missing option '--source'"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], starts: str) -> None:
    res = stockpipe(*args, env={})
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(starts), res.stderr
    assert f"see `stockpipe {args[0]} --help`" in res.stderr or "see `stockpipe --help`" in res.stderr


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[stockpipe]\nbootstrap = 5\n", {}, "setting bootstrap = 5 is a int, not a string"),
        ('[stockpipe.sink]\nbatch_records = "many"\n', {}, "is not an integer"),
        ("", {"STOCKPIPE_BOOTSTRAP": "nonsense"}, "bootstrap server 'nonsense' is not HOST:PORT"),
        ("", {"STOCKPIPE_BOOTSTRAP": "127.0.0.1:99999"}, "with a port 1-65535"),
    ],
)
def test_settings_of_the_wrong_type_fail_in_one_line(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "s.toml"
    config.write_text(toml)
    res = stockpipe("status", "--config", str(config), env={"STOCKPIPE_STATE_DIR": str(tmp_path), **env})
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_hints_name_only_options_the_command_has(tmp_path: Path) -> None:
    env = {"STOCKPIPE_STATE_DIR": str(tmp_path)}
    res = stockpipe("query", "SELECT 1", env={**env, "STOCKPIPE_CLIENT": "bad"})
    assert res.returncode == 2 and "--client" not in res.stderr and "the client setting" in res.stderr
    res = stockpipe("sink", env={**env, "STOCKPIPE_LAKE_FORMAT": "xml"})
    assert "--lake-format" in res.stderr  # sink has it
    import socket

    with socket.socket() as taken:  # the demo's port is in use by another program
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = stockpipe("demo", "--port", str(port), "--tickers", "1", "--days", "1", env=env)
    assert res.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in res.stderr
    assert "--bootstrap" not in res.stderr and "choose another port with --port N" in res.stderr


def test_every_option_a_message_names_exists() -> None:
    """Each `--option` in the package's messages is an option of some command (fit_hint rewrites the
    ones a particular command lacks into their setting's name)."""
    import re as _re

    import typer

    from pipeline.cli import app

    options: set[str] = set()
    stack = [typer.main.get_command(app)]
    while stack:
        command = stack.pop()
        stack += list(getattr(command, "commands", {}).values())
        for param in command.params:
            options |= {*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])}
    named: dict[str, str] = {}
    root = Path(__file__).resolve().parent.parent / "pipeline"
    for path in root.rglob("*.py"):
        for text in _re.findall(r'"([^"\n]*--[a-z][^"\n]*)"', path.read_text()):
            if "help=" in text or "stockpipe sink --topic" in text:
                continue
            for option in _re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text):
                named.setdefault(option, str(path.relative_to(root)))
    # other programs' options the package runs with (Kafka's scripts, tansu, aws, journalctl)
    not_options = {
        *("--override", "--ignore-formatted", "--listener-url", "--advertised-listener-url"),
        *("--storage-engine", "--cluster-id", "--out", "--name", "--standalone", "--initial-controllers"),
        *("--no-pager", "--help"),
    }
    missing = {o: where for o, where in named.items() if o not in options and o not in not_options}
    assert not missing, missing


def test_fit_hint_rewrites_missing_options_into_settings() -> None:
    from pipeline.cli import _leaf_command, fit_hint

    query = _leaf_command(["query"])
    assert (
        fit_hint("x; fix --client or STOCKPIPE_CLIENT", query)
        == "x; fix the client setting or STOCKPIPE_CLIENT"
    )
    assert fit_hint("x; fix --table or the table setting", query) == "x; fix --table or the table setting"
    assert fit_hint("x; fix --topic or the topic setting", query) == "x; fix the topic setting"
    assert fit_hint("x; pass --resume", query) == "x; pass --resume"  # not a setting: left as it is
    quoted = "x; run `stockpipe sink --topic t --group g`"
    assert fit_hint(quoted, _leaf_command(["crawl"])) == quoted  # another command's options, quoted


# -- the local broker's remembered address -----------------------------------------------------------


def test_local_up_port_is_remembered_and_another_port_is_refused(tmp_path: Path) -> None:
    from fixtures_kafka import free_port

    env = {"STOCKPIPE_STATE_DIR": str(tmp_path / "state"), "STOCKPIPE_LAKE": str(tmp_path / "lake")}
    port, other = free_port(), free_port()
    try:
        res = stockpipe("local", "up", "--port", str(port), env=env)
        assert res.returncode == 0, res.stderr
        assert f"started on 127.0.0.1:{port}" in res.stdout and "commands now default" in res.stdout
        assert f'bootstrap = "127.0.0.1:{port}"' in stockpipe("config", env=env).stdout
        listed = stockpipe("topics", "list", env=env)  # no --bootstrap anywhere
        assert listed.returncode == 0 and "stock-prices" in listed.stdout, listed.stderr
        again = stockpipe("local", "up", "--port", str(other), env=env)
        assert again.returncode == 2 and again.stderr.count("\n") == 1
        assert f"already runs on 127.0.0.1:{port}" in again.stderr and "stockpipe local down" in again.stderr
        same = stockpipe("local", "up", env=env)
        assert same.returncode == 0 and "already running" in same.stdout
        explicit = stockpipe("config", env={**env, "STOCKPIPE_BOOTSTRAP": "10.1.2.3:9092"})
        assert 'bootstrap = "10.1.2.3:9092"' in explicit.stdout  # a set bootstrap wins
    finally:
        assert stockpipe("local", "down", env=env).returncode == 0
    down = stockpipe("topics", "list", "--timeout", "2", env=env)
    assert down.returncode == 2 and f"`stockpipe local up --port {port}`" in down.stderr
    status = stockpipe("local", "status", env=env)
    assert status.returncode == 3 and f"port {port}, remembered" in status.stdout


def test_verbose_logs_where_the_settings_come_from_and_quiet_hides_warnings(tmp_path: Path) -> None:
    env = {"STOCKPIPE_STATE_DIR": str(tmp_path)}
    assert stockpipe("config", env=env).stderr == ""
    verbose = stockpipe("-v", "config", env=env)
    assert "INFO stockpipe: bootstrap 127.0.0.1:9092 (the default)" in verbose.stderr
    assert "DEBUG" not in verbose.stderr or stockpipe("-vv", "config", env=env).returncode == 0
    assert stockpipe("-q", "-v", "config", env=env).stderr == ""  # -q wins: errors only


def test_summaries_wrap_at_words_on_a_narrow_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    env = {**os.environ, "STOCKPIPE_STATE_DIR": str(tmp_path), "STOCKPIPE_LAKE": str(tmp_path / "lake")}
    env.pop("COLUMNS", None)
    plain = subprocess.run(
        [sys.executable, "-m", "pipeline", "sample", "--out", str(tmp_path / "a-rather-long-directory-name"),
         "--tickers", "2", "--days", "5"], env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "sample", "--out", str(tmp_path / "a-rather-long-directory-name"),
         "--tickers", "2", "--days", "5"], env=env, stdout=slave,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(master)
    shown = b"".join(chunks).decode().replace("\r\n", "\n")
    lines = shown.splitlines()
    assert len(lines) > 1 and all(len(line) <= 40 for line in lines if " " in line.strip())
    assert shown.split() == plain.split()  # the same words, none cut in two
