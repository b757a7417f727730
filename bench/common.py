"""Shared pieces of the benchmarks: the run's state, servers on 127.0.0.1, child processes with peak
RSS, the table.

Every server the benchmarks start binds 127.0.0.1 on a free port and is stopped by the process that
started it. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.local.ports import free_port, stop_process, wait_for_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_DIR = Path(__file__).resolve().parent
RESULTS = REPO / "bench" / "results"

#: Dummy credentials: the benchmarks only ever talk to a moto_server on 127.0.0.1.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass
class Bench:
    """One run: its options, scratch directory, servers, and what it measured so far."""

    args: argparse.Namespace
    work: Path
    #: The default broker (tansu) and moto_server; the real-Kafka section starts its own broker.
    bootstrap: str = ""
    moto: str = ""
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"  {row.section}/{row.name}: {row.value if row.value is not None else '-'} {row.unit}",
            flush=True,
        )

    def remaining_s(self) -> float:
        return self.args.budget_s - (time.monotonic() - self.started)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- servers -------------------------------------------------------------------------------------
def start_tansu(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """tansu with in-memory storage on a free port of 127.0.0.1; returns (process, bootstrap)."""
    from pipeline.local.broker import spawn_tansu

    port = free_port()
    proc = spawn_tansu("127.0.0.1", port, "memory://tansu/", log_path)
    wait_for_port("127.0.0.1", port, 15, proc)
    return proc, f"127.0.0.1:{port}"


def start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto_server (S3) on a free port of 127.0.0.1; returns (process, endpoint URL)."""
    exe = BIN / "moto_server"
    if not exe.exists():
        raise RuntimeError("moto_server is not installed: run ./scripts/setup.sh local,dev")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, **AWS_ENV},
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            raise TimeoutError(f"moto_server not ready on {url} within 30 s; see {log_path}")
        time.sleep(0.05)


@dataclass
class ChildResult:
    """A finished child process: its exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float
    #: CPU seconds (user + system, all threads): a rate per CPU second is steadier on a busy machine.
    cpu_s: float = float("nan")

    def json(self) -> dict[str, Any]:
        """The last stdout line of a bench child is its JSON result."""
        lines = [ln for ln in self.stdout.strip().splitlines() if ln.startswith("{")]
        if self.returncode != 0 or not lines:
            raise RuntimeError(f"child failed ({self.returncode}): {self.stderr.strip()[-1500:]}")
        return dict(json.loads(lines[-1]))


def run_child(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> ChildResult:
    """Run `cmd` to completion (killed at `timeout_s`); peak RSS is the kernel's VmHWM of the child
    (plus that of the processes it starts)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"stockpipe-bench-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env={**os.environ, **(env or {})}
        )
        deadline = start + timeout_s
        status, rusage = 0, None
        hwm_kb: dict[int, int] = {}  # pid -> peak, of the child and its descendants
        while True:
            for pid in _tree(proc.pid):
                hwm_kb[pid] = max(hwm_kb.get(pid, 0), _vm_hwm_kb(pid))
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    if time.monotonic() > deadline and wall >= timeout_s:
        stderr += f"\n(killed after {timeout_s:g} s)"
    # Not ru_maxrss: Linux carries the parent's RSS at fork/exec into the child's ru_maxrss, so it
    # would report the bench process's own size for any child smaller than it. The processes a
    # child starts count too (`stockpipe produce` reads its source in a process of its own): the sum
    # of their peaks, an upper bound of the tree's peak (shared library pages count in each).
    total_kb = sum(hwm_kb.values())
    rss_mb = total_kb / 1024 if total_kb else float("nan")
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else float("nan")
    return ChildResult(proc.returncode, stdout, stderr, wall, rss_mb, cpu)


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants (from /proc/PID/task/PID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children", "rb") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            pass
    return out


def _vm_hwm_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM, KiB); 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def child_cmd(mode: str, **args: object) -> list[str]:
    """`python bench/children.py MODE --key value ...`"""
    cmd = [sys.executable, str(BENCH_DIR / "children.py"), mode]
    for key, value in args.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- the results table ---------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: a measurement, its baseline from the same run, and the goal."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    #: "higher" when bigger is better (rates), "lower" when smaller is better (times, sizes).
    better: str = "higher"
    #: Goal on the ratio value/baseline (target_ratio) or on the value itself (target_value).
    target_ratio: float | None = None
    target_value: float | None = None
    note: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def verdict(self) -> str:
        """`met`, `MISSED (...)` with how far off, or blank when the row has no goal."""
        if self.value is None:
            return "n/a"
        if self.target_ratio is not None:
            got, goal, what = self.ratio, self.target_ratio, "x of baseline"
        elif self.target_value is not None:
            got, goal, what = self.value, self.target_value, f" {self.unit}"
        else:
            return ""
        if got is None:
            return "n/a"
        ok = got >= goal if self.better == "higher" else got <= goal
        if ok:
            return "met"
        factor = goal / got if self.better == "higher" else got / goal
        return f"MISSED by {factor:.1f}x (goal {'>=' if self.better == 'higher' else '<='} {goal:g}{what})"


def fmt_num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100_000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}" if value == int(value) or abs(value) >= 1000 else f"{value:,.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip()


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 1000 or ratio < 0.001:
        return f"{ratio:.1e}x"
    return f"{ratio:.3g}x"


def render_table(rows: list[Row]) -> str:
    header = ("section", "measurement", "value", "baseline (same run)", "ratio", "goal")
    body = [
        (
            r.section,
            r.name,
            fmt_num(r.value, r.unit),
            f"{fmt_num(r.baseline, r.unit)} {r.baseline_name}".strip() if r.baseline is not None else "-",
            fmt_ratio(r.ratio),
            r.verdict(),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    widths[3] = min(widths[3], 48)
    out = []
    last_section = None
    for i, line in enumerate([header, *body]):
        cells = list(line)
        if i > 0 and cells[0] == last_section:
            cells[0] = ""
        elif i > 0:
            last_section = cells[0]
            out.append("")
        out.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = [f"  [{r.section}/{r.name}] {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [{**asdict(r), "ratio": r.ratio, "verdict": r.verdict()} for r in rows]


def parse_int(text: str) -> int:
    return int(text.replace(",", ""))


def grab(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1) if m else None
