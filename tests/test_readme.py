"""The README's "Using it" block runs as pasted: every line exits 0, the rows produced are the rows the
SQL counts, and everything it writes stays under `.stockpipe/` of the directory it runs in.

It runs in a fresh directory holding only `.venv` (a link to this checkout's), with no STOCKPIPE_*
variables. The one thing set up beforehand is the remembered local broker address
(`.stockpipe/broker/address`, what an earlier `stockpipe local up --port N` leaves), pointing at a free
port, so the block's `stockpipe local up` does not collide with other brokers on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from fixtures_kafka import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def using_it_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no ```sh block in the README's Using it section"
    return match.group(1)


def test_the_using_it_block_runs_as_pasted(tmp_path: Path) -> None:
    block = using_it_block()
    assert block.startswith(". .venv/bin/activate\n") and "stockpipe local down" in block
    assert len(re.findall(r"^stockpipe produce", block, re.MULTILINE)) == 1  # no replay of the same rows
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / ".stockpipe" / "broker").mkdir(parents=True)
    (tmp_path / ".stockpipe" / "broker" / "address").write_text(f"127.0.0.1:{free_port()}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")}
    env["COLUMNS"] = "100"
    script = "set -e\nset -x\n" + block
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        subprocess.run(
            ["bash", "-c", ". .venv/bin/activate && stockpipe local down"], cwd=tmp_path, env=env, timeout=60
        )
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
    out = done.stdout
    rows = int(re.search(r"wrote ([\d,]+) rows for", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert f"delivered {rows:,}, failed 0, unconfirmed 0" in out
    assert f"wrote {rows:,} rows" in out  # the sink stopped by itself with every row in the lake
    assert "group    stockpipe-sink: committed" in out and "lake     .stockpipe/lake/prices:" in out
    csv_lines = out.split("symbol,high\n", 1)[1].splitlines()[:5]
    assert len(csv_lines) == 5 and all(re.fullmatch(r"[A-Z]+,[\d.]+", line) for line in csv_lines)
    assert (tmp_path / ".stockpipe" / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stockpipe", ".venv"]  # nothing else written
