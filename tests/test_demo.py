"""`stockpipe demo` ends with commands that query and chart what it made, and they work as printed."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from fixtures_faults import ROOT, STOCKPIPE, cli, cli_env, wait_until
from fixtures_kafka import free_port

from pipeline.local.broker import port_free

pytestmark = pytest.mark.integration


def test_demo_on_a_chosen_port_prints_commands_that_work_as_printed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = cli_env(state)
    env.pop("STOCKPIPE_STATE_DIR")  # the demo's commands must carry what they need themselves
    port = free_port()
    done = cli(
        ["demo", "--tickers", "4", "--days", "40", "--port", str(port), "--state-dir", str(state)], env, 300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"on 127.0.0.1:{port} (started)" in done.stdout and "OK rows read" in done.stdout
    commands = [line.strip() for line in done.stdout.splitlines() if line.startswith("  stockpipe ")]
    assert [c.split()[1] for c in commands] == ["query", "query", "report", "dashboard"]

    for command in commands[:3]:
        res = cli(shlex.split(command)[1:], env)
        assert res.returncode == 0, f"{command}\n{res.stderr}"
        assert "no tables" not in res.stdout
    assert "top_movers" not in commands[0] or "pct_change" in cli(shlex.split(commands[0])[1:], env).stdout
    assert re.search(r"^[A-Z]+\s+\d+\s+[\d.]+$", cli(shlex.split(commands[1])[1:], env).stdout, re.MULTILINE)
    assert (state / "demo" / "report.html").stat().st_size > 1_000_000

    args = shlex.split(commands[3])[1:]
    if not port_free("127.0.0.1", 8050):  # the printed default port is taken on this machine
        args += ["--port", "0"]
    log = tmp_path / "dashboard.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([*STOCKPIPE, *args], env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_until("the dashboard's address", lambda: "http://127.0.0.1:" in log.read_text(), 60)
        url = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())[0]  # type: ignore[index]
        with urllib.request.urlopen(url + "api/meta", timeout=30) as resp:
            meta = json.loads(resp.read())
        assert len(meta["symbols"]) == 4 and meta["table"] == "prices"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
