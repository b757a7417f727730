"""Real AWS-API servers on 127.0.0.1 for catalog and query tests.

Registered as a pytest plugin by conftest.py.
- `aws_env` (session): dummy credentials and region in the environment, so nothing reaches AWS.
- `moto_endpoint` (session): URL of a `moto_server` process (S3 + Glue) on a free port.
- `s3_bucket`: a new, uniquely named bucket on it.
- `athena_endpoint`: a FakeAthena (tests/athena_endpoint.py) server with scripted answers.
Plain helpers (import them by name): `unique_name`, `make_bars`, `write_lake` (objects laid out as
the sink writes them, docs/lake-layout.md).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from athena_endpoint import FakeAthena

from pipeline.layout import object_key, partition_path
from pipeline.local.ports import free_port
from pipeline.sink.encode import SCHEMA

_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL")


def unique_name(prefix: str = "stockpipe-test") -> str:
    """A name no other test uses (bucket names: lowercase, digits and dashes)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in (*_DUMMY_ENV, *_UNSET)}
    os.environ.update(_DUMMY_ENV)
    for key in _UNSET:
        os.environ.pop(key, None)
    yield dict(_DUMMY_ENV)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def running_moto_server(log: Path) -> Iterator[str]:
    """A `moto_server` process on a free 127.0.0.1 port, ready (polled with a deadline); yields its URL."""
    exe = Path(sys.executable).parent / "moto_server"
    binary = str(exe) if exe.exists() else shutil.which("moto_server")
    if binary is None:
        pytest.fail("moto_server is not installed: run ./scripts/setup.sh local,dev")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"moto_server not ready on {url} after 30s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log") as url:
        yield url


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    name = unique_name()
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def athena_endpoint(aws_env: dict[str, str]) -> Iterator[FakeAthena]:
    server = FakeAthena().start()
    try:
        yield server
    finally:
        server.stop()


# -- lake data as the sink writes it ---------------------------------------------------------------
# The sink's own schema and naming rules, so these objects are exactly what `stockpipe sink` writes.
PARQUET_SCHEMA = SCHEMA


def make_bars(
    start: date, end: date, symbols: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD"), seed: int = 7
) -> list[dict[str, object]]:
    """Daily bars for every weekday in [start, end], random but reproducible."""
    rng = random.Random(seed)
    bars: list[dict[str, object]] = []
    price = {s: 50.0 + 25 * i for i, s in enumerate(symbols)}
    day, line = start, 1
    while day <= end:
        if day.weekday() < 5:
            for symbol in symbols:
                open_ = round(price[symbol], 2)
                close = round(max(1.0, open_ * (1 + rng.uniform(-0.05, 0.05))), 2)
                price[symbol] = close
                bars.append(
                    {
                        "symbol": symbol,
                        "date": day,
                        "open": open_,
                        "high": round(max(open_, close) * 1.01, 2),
                        "low": round(min(open_, close) * 0.99, 2),
                        "close": close,
                        "volume": rng.randint(1_000, 1_000_000),
                        "source_file": f"{symbol}.csv",
                        "source_line": line,
                    }
                )
                line += 1
        day += timedelta(days=1)
    return bars


def write_lake(
    lake: object,
    bars: list[dict[str, object]],
    table: str = "prices",
    partition_by: str = "month",
    fmt: str = "parquet",
    topic: str = "stock-prices",
    kafka_partitions: int = 2,
) -> dict[str, list[str]]:
    """Write bars into `lake` (a pipeline.lake.Lake); returns partition dir -> object keys written."""
    groups: dict[tuple[str, int], list[dict[str, object]]] = defaultdict(list)
    for bar in bars:
        kp = sum(map(ord, str(bar["symbol"]))) % kafka_partitions
        groups[(partition_path(bar["date"], partition_by), kp)].append(bar)  # type: ignore[arg-type]
    offsets = [0] * kafka_partitions
    written: dict[str, list[str]] = defaultdict(list)
    for (pdir, kp), rows in sorted(groups.items()):
        rows = [{**r, "kafka_partition": kp, "kafka_offset": offsets[kp] + i} for i, r in enumerate(rows)]
        key = object_key(table, pdir, topic, kp, offsets[kp], fmt)
        offsets[kp] += len(rows)
        if fmt == "parquet":
            buf = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), buf)
            data = buf.getvalue()
        else:
            data = "".join(json.dumps({**r, "date": r["date"].isoformat()}) + "\n" for r in rows).encode()
        lake.put(key, data)  # type: ignore[attr-defined]
        written[pdir].append(key)
    return dict(written)
