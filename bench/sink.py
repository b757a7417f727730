"""The `sink` rows of `make bench`, on the default broker (tansu): the sink into a local lake and into S3
(moto_server) vs the bare consume loop, and the objects it writes per 1M records."""

from __future__ import annotations

from common import AWS_ENV, Bench, Row, log
from runs import bare_consume, cpu_note, run_sink
from synthetic import TICKERS, DataSet


def section_sink(b: Bench, big: DataSet, small: DataSet) -> None:
    import boto3

    n = big.rows
    log(f"sink: bare consume loop ({n:,} records)")
    bare = bare_consume(b, b.bootstrap, "bench-replay-1m", n)
    b.raw["consume_bare"] = bare

    log(f"sink: to a local lake ({n:,} records)")
    local = run_sink(b, b.bootstrap, "bench-replay-1m", n, str(b.work / "lake"))
    b.raw["sink_local"] = local
    b.add(
        Row(
            "sink",
            "sink -> local lake (Parquet)",
            local["rate"],
            "rec/s",
            bare["rate"],
            "bare consume loop",
            note=cpu_note(local, bare, n),
        )
    )
    b.add(
        Row(
            "sink",
            "sink -> local lake, absolute",
            local["rate"],
            "rec/s",
            target_value=100_000,
            note=f"group join before the first record took {local['join_s']:.1f} s (not in the rate)",
        )
    )

    log(f"sink: to S3 (moto_server) ({n:,} records)")
    boto3.client("s3", endpoint_url=b.moto, region_name="us-east-1", **_creds()).create_bucket(
        Bucket="bench-lake"
    )
    s3 = run_sink(b, b.bootstrap, "bench-replay-1m", n, "s3://bench-lake/lake", endpoint=b.moto)
    b.raw["sink_s3"] = s3
    b.add(
        Row(
            "sink",
            "sink -> S3 (moto_server, Parquet)",
            s3["rate"],
            "rec/s",
            bare["rate"],
            "bare consume loop",
            note=cpu_note(s3, bare, n),
        )
    )

    per_m = local["objects_written"] / n * 1e6
    b.add(
        Row(
            "sink",
            "objects written per 1M records",
            per_m,
            "obj",
            1e6,
            "seed: one object per record",
            better="lower",
            target_value=100,
            note=(
                f"{local['objects_written']} objects for {n:,} rows; data: {TICKERS} tickers, one object per "
                "(Kafka partition, month) at least, more when a batch reaches 50,000 records"
            ),
        )
    )

    log(f"sink: local lake, {small.rows:,} records (for memory flatness)")
    b.raw["sink_local_small"] = run_sink(
        b, b.bootstrap, "bench-replay-small", small.rows, str(b.work / "lake-small")
    )


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }
