"""Fixtures and helpers for the fault and bad-input tests (docs/guarantees.md says what they prove).

Registered as a pytest plugin by conftest.py.
- `sample_200k` (session): a `stockpipe sample` data set of 204,106 rows (250 tickers x 850 days).
- `s3rver_bin` (session): path of the pinned, disk-backed s3rver (tests/s3rver/install.sh installs it).
Plain helpers (import them by name): `S3rver` (start/stop/restart on one port and one data directory),
`cli`, `spawn_cli`, `cli_env`, `lake_counts`, `parse_summary`, `consume_values` (`consume_records`),
`wait_until`,
`GroupStream` (the sink fault tests' producer, sinks of one group and fault moments).
Every process is a real subprocess on 127.0.0.1; every wait polls with a deadline.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from fixtures_kafka import free_port, stop_process, wait_for_port

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.query import open_engine
from pipeline.status import read_status, status_path

ROOT = Path(__file__).resolve().parent.parent
STOCKPIPE = [sys.executable, "-m", "pipeline"]
S3RVER_DIR = Path(__file__).resolve().parent / "s3rver"
#: s3rver needs both (docs: /work/shared/ENVIRONMENT.md): listings over 1,000 keys, and whole bodies.
S3RVER_ENV = {
    "NODE_OPTIONS": "--openssl-legacy-provider",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}
SAMPLE_TICKERS, SAMPLE_DAYS = 250, 850


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> None:
    """Poll `check` until it is true; fail the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def cli_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `stockpipe` subprocess: own state dir, no terminal progress bars."""
    env = {**os.environ, "STOCKPIPE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    env.pop("STOCKPIPE_CONFIG", None)
    env.update(extra)
    return env


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


def cli(args: list[str], env: dict[str, str], timeout_s: float = 120) -> CliResult:
    """Run `stockpipe ARGS` to completion (the timeout is a hang guard)."""
    start = time.monotonic()
    done = subprocess.run(
        [*STOCKPIPE, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def drain_sink(
    bootstrap: str,
    topic: str,
    group_id: str,
    lake: Path,
    env: dict[str, str],
    *extra: str,
    idle_timeout_s: int = 5,
    timeout_s: float = 240,
) -> CliResult:
    """A one-shot `stockpipe sink` that stops once the topic has been idle (extra args as given)."""
    return cli(
        [
            *("sink", "--bootstrap", bootstrap, "--topic", topic, "--group", group_id, "--lake", str(lake)),
            # Test broker: group join takes about half the session timeout (ENVIRONMENT.md).
            *("--session-timeout-ms", "6000", *extra, "--idle-timeout", str(idle_timeout_s), "--no-progress"),
        ],
        env,
        timeout_s=timeout_s,
    )


def spawn_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `stockpipe ARGS` in the background, stdout and stderr appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*STOCKPIPE, *args], env=env, cwd=ROOT, stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


_SUMMARY = re.compile(r"produced: sent ([\d,]+), delivered ([\d,]+), failed ([\d,]+), unconfirmed ([\d,]+)")


def parse_summary(text: str) -> dict[str, int]:
    """The counts of `stockpipe produce`'s summary line (fails the test when there is none)."""
    match = _SUMMARY.search(text)
    if match is None:
        pytest.fail(f"no produce summary in output:\n{text[-3000:]}")
    names = ("sent", "delivered", "failed", "unconfirmed")
    counts = {n: int(v.replace(",", "")) for n, v in zip(names, match.groups(), strict=True)}
    skipped = re.search(r"skipped ([\d,]+) rows delivered by an earlier run", text)
    counts["skipped"] = int(skipped.group(1).replace(",", "")) if skipped else 0
    return counts


def lake_counts(lake: str, state_dir: Path, endpoint: str | None = None) -> tuple[int, int]:
    """(rows, distinct (symbol, date)) in the `prices` table, by SQL after a crawl (the user's path)."""
    settings = Settings(
        lake=lake, state_dir=str(state_dir), database="faults", aws_endpoint_url=endpoint
    ).validate()
    crawl(settings)
    with open_engine(settings) as engine:
        rows, distinct = engine.execute('SELECT count(*), count(DISTINCT (symbol, "date")) FROM prices').rows[
            0
        ]
    return int(rows), int(distinct)


def consume_values(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> list[bytes]:
    """The values of `consume_records`."""
    return [value for _, _, value in consume_records(bootstrap, topic, expected, timeout_s)]


def consume_records(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 60
) -> list[tuple[int, bytes | None, bytes]]:
    """Read `expected` records from every partition of `topic` from offset 0 (no group: no join wait),
    as (partition, key, value) in the order read (each partition's in offset order).

    The test broker's end offsets are unreliable (ENVIRONMENT.md), so this counts records instead.
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused-assign-only", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        records: list[tuple[int, bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error() is None:
                    records.append((msg.partition(), msg.key(), msg.value()))
        return records
    finally:
        consumer.close()


class S3rver:
    """A disk-backed S3 server on 127.0.0.1: `stop()` and `start()` keep its port and its data."""

    def __init__(self, binary: Path, directory: Path, log: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, bucket: str | None = None) -> S3rver:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [str(self.binary), "-d", str(self.directory), "-a", "127.0.0.1", "-p", str(self.port), "-s"]
        if bucket:
            args += ["--configure-bucket", bucket]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **S3RVER_ENV},
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port, 30, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture(scope="session")
def s3rver_bin() -> Path:
    binary = S3RVER_DIR / "node_modules" / ".bin" / "s3rver"
    if not binary.exists():
        done = subprocess.run(
            ["bash", str(S3RVER_DIR / "install.sh")], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0 or not binary.exists():
            pytest.fail(f"s3rver is not installed and tests/s3rver/install.sh failed:\n{done.stderr[-2000:]}")
    return binary


@dataclass(frozen=True)
class SampleData:
    path: Path
    rows: int


@pytest.fixture(scope="session")
def sample_200k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleData]:
    out = tmp_path_factory.mktemp("sample") / "kaggle"
    env = cli_env(out.parent / "state")
    done = cli(
        ["sample", "--out", str(out), "--tickers", str(SAMPLE_TICKERS), "--days", str(SAMPLE_DAYS)], env
    )
    assert done.returncode == 0, done.stderr
    rows = int(re.search(r"wrote ([\d,]+) rows", done.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert rows >= 200_000
    yield SampleData(out, rows)
    shutil.rmtree(out, ignore_errors=True)


def settings_for(lake: str, state_dir: Path, **overrides: object) -> Settings:
    return replace(Settings(lake=lake, state_dir=str(state_dir)), **overrides)


class GroupStream:
    """The setting of the sink fault tests: a paced `stockpipe produce` of `sample` into `topic`, the
    command line of the sinks that share `group_id` and one lake, and a seeded random source of the
    fault moments (STOCKPIPE_FAULT_SEED varies it). Each sink's state and log are `sink_state(name)`
    and `sink_log(name)`; the test starts, faults and ends them."""

    def __init__(
        self, broker: str, topic: str, group_id: str, sample: SampleData, tmp_path: Path, *,
        rate: str, session_timeout_ms: int, batch_records: int, batch_age_s: int, moments: str,
    ) -> None:  # fmt: skip
        seed = int(os.environ.get("STOCKPIPE_FAULT_SEED", "20261122"))
        print(f"{moments} moments: random.Random({seed}) (set STOCKPIPE_FAULT_SEED to vary)")
        self.rng = random.Random(seed)
        self.tmp_path = tmp_path
        self.sample = sample
        self.topic = topic
        self.lake = tmp_path / "lake"
        common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
        self.sink_args = [
            *("sink", *common, "--group", group_id, "--lake", str(self.lake)),
            *("--session-timeout-ms", str(session_timeout_ms)),
            *("--batch-records", str(batch_records), "--batch-age", str(batch_age_s)),
        ]
        self.producer_log = tmp_path / "produce.log"
        self.producer = spawn_cli(
            ["produce", "--source", str(sample.path), "--rate", rate, *common],
            cli_env(tmp_path / "state-producer"),
            self.producer_log,
        )

    def sink_state(self, name: str) -> Path:
        return self.tmp_path / f"state-{name}"

    def sink_log(self, name: str) -> Path:
        return self.tmp_path / f"sink-{name}.log"

    def objects_written(self, name: str, since: float = 0.0) -> int:
        """Objects the sink `name` has written, by its status file; 0 while its incarnation is not one
        started at `since` or later."""
        doc = read_status(status_path(self.sink_state(name), "sink", self.topic))
        if not doc or float(doc.get("started_at", 0)) < since:
            return 0
        return int(doc.get("objects_written", 0))

    def start_sink(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        return spawn_cli([*self.sink_args, *extra], cli_env(self.sink_state(name)), self.sink_log(name))

    def producer_delivered(self) -> int:
        """Waits for the producer to end; it must have delivered every row of the sample."""
        self.producer.wait(600)
        assert self.producer.returncode == 0, self.producer_log.read_text()[-3000:]
        produced = parse_summary(self.producer_log.read_text())
        assert produced["delivered"] == self.sample.rows
        return produced["delivered"]

    def drain(self, sinks: dict[str, subprocess.Popen[bytes]]) -> None:
        """Replaces every sink with one that drains what is left until the topic has been idle, then
        stops gracefully (exit 0)."""
        for name, proc in sinks.items():
            kill_hard(proc)
            sinks[name] = self.start_sink(name, "--idle-timeout", "8")
        for name, proc in sinks.items():
            assert proc.wait(300) == 0, self.sink_log(name).read_text()[-3000:]

    def check_lake(self, delivered: int) -> None:
        """The lake holds every delivered row once, by SQL."""
        rows, distinct = lake_counts(str(self.lake), self.tmp_path / "state")
        assert (rows, distinct) == (delivered, delivered)
