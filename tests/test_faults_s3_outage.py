"""The S3 endpoint (a disk-backed s3rver, so its objects survive) is stopped for 30 s in the middle
of a stream and started again: the sink backs off and retries with a visible message, resumes, and
loses nothing. The outage is three times the sink's max.poll.interval.ms, so the group drops the
sink meanwhile; once the lake is back its commits are refused, it says so, rejoins and goes on.

Guarantee checked: docs/guarantees.md, "G3 - an unavailable lake stalls the sink, never loses data"
(G1's commit-after-durable-write rule: nothing is committed while the write fails), for an outage
longer than the group waits for a member.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import boto3
import pytest
from fixtures_faults import (
    S3RVER_ENV,
    S3rver,
    SampleData,
    cli_env,
    kill_hard,
    lake_counts,
    parse_summary,
    spawn_cli,
    wait_until,
)

pytestmark = pytest.mark.integration

OUTAGE_S = 30
MAX_POLL_INTERVAL_MS = 10_000  # a third of the outage (Kafka's default is 300 s)
RETRY_MESSAGE = "sink: lake unavailable, retrying"
#: s3rver's built-in credentials.
S3RVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


def test_s3_stopped_for_30_s_mid_stream_sink_retries_visibly_and_loses_nothing(
    broker: str,
    topic: str,
    group_id: str,
    sample_200k: SampleData,
    s3rver_bin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**S3RVER_ENV, **S3RVER_CREDENTIALS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = S3rver(s3rver_bin, tmp_path / "s3data", tmp_path / "s3rver.log").start(bucket=bucket)
    env = cli_env(tmp_path / "state", STOCKPIPE_AWS_ENDPOINT_URL=s3.endpoint)
    env.pop("AWS_SESSION_TOKEN", None)
    # A session of its own: boto3's default session caches the credentials an earlier test resolved.
    client = boto3.session.Session(
        aws_access_key_id=S3RVER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3RVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    lake = f"s3://{bucket}/lake"
    common = ["--bootstrap", broker, "--topic", topic, "--no-progress"]
    # Paced so the stream is still flowing when the endpoint goes down and when it comes back.
    producer_log = tmp_path / "produce.log"
    producer = spawn_cli(
        ["produce", "--source", str(sample_200k.path), "--rate", "5000/s", *common], env, producer_log
    )
    sink_log = tmp_path / "sink.log"
    sink = spawn_cli(
        [
            "sink",
            *common,
            "--group",
            group_id,
            "--lake",
            lake,
            "--session-timeout-ms",
            "6000",
            "--max-poll-interval-ms",
            str(MAX_POLL_INTERVAL_MS),
            "--batch-records",
            "10000",
            "--batch-age",
            "2",
            "--idle-timeout",
            "8",
        ],
        env,
        sink_log,
    )
    try:
        wait_until(
            "the sink's first objects in S3",
            lambda: client.list_objects_v2(Bucket=bucket, Prefix="lake/prices/").get("KeyCount", 0) >= 2,
            timeout_s=90,
        )
        s3.stop()
        down_at = time.monotonic()
        wait_until("the sink's retry message", lambda: RETRY_MESSAGE in sink_log.read_text(), OUTAGE_S)
        assert producer.poll() is None, "the stream ended before the outage; it must span it"
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself, not a wait
        s3.start()
        producer.wait(300)
        assert producer.returncode == 0, producer_log.read_text()[-2000:]
        sink.wait(300)
        assert sink.returncode == 0, sink_log.read_text()[-3000:]
    finally:
        kill_hard(producer)
        kill_hard(sink)
        s3.stop()
    s3.start()
    try:
        log = sink_log.read_text()
        retries = [line for line in log.splitlines() if line.startswith(RETRY_MESSAGE)]
        assert len(retries) >= 3, log[-3000:]  # it backed off several times during 30 s
        assert "cannot reach S3" in retries[0] and s3.endpoint in retries[0]
        # The group dropped the sink during the outage; it said so instead of dying, and went on.
        assert "the partition's new owner continues from the last commit" in log, log[-3000:]
        assert "ignores conditional writes" in log  # s3rver does; the sink warns once, naming it
        assert log.count("ignores conditional writes") == 1
        delivered = parse_summary(producer_log.read_text())["delivered"]
        assert delivered == sample_200k.rows
        assert lake_counts(lake, tmp_path / "state", endpoint=s3.endpoint) == (delivered, delivered)
    finally:
        s3.stop()
