"""The `produce` rows of `make bench`, on the default broker (tansu): `stockpipe produce` with each client
vs the bare loop of the same client, and the seed's pattern vs `stockpipe produce`."""

from __future__ import annotations

from common import Bench, Row, child_cmd, log, run_child
from runs import bare_produce, cpu_note, stockpipe_produce
from synthetic import DataSet

KAFKA_PYTHON_RECORDS = 100_000  # kafka-python does ~11k msg/s here: a 1M run would take minutes
SEED_ROWS = 3  # the seed's producer sleeps 1 s per row: a short run, extrapolated


def section_produce(b: Bench, big: DataSet, small: DataSet, kp: DataSet) -> None:
    from pipeline.kafka.topics import ensure_topic

    for client, data in (("confluent", big), ("kafka-python", kp)):
        log(f"produce: stockpipe produce --client {client} ({data.rows:,} records)")
        topic = "bench-replay-1m" if client == "confluent" else f"bench-replay-{client}"
        replay = stockpipe_produce(b, b.bootstrap, data, client, topic)
        log(f"produce: bare {client} loop ({data.rows:,} records)")
        bare = bare_produce(b, b.bootstrap, data, client, f"bench-bare-{client}")
        b.raw[f"produce_{client}"] = {"replay": replay, "bare": bare}
        note = cpu_note(replay, bare, data.rows)
        if client == "kafka-python":
            note += (
                f"; measured on {data.rows:,} records, not 1M: kafka-python does ~11k msg/s here, "
                "so a 1M run would take minutes"
            )
        b.add(
            Row(
                "produce",
                f"stockpipe produce, {client} ({data.rows / 1e6:.2g}M)",
                replay["rate"],
                "rec/s",
                bare["rate"],
                f"bare {client} loop",
                target_ratio=0.8,
                note=note,
            )
        )
    # The 250k run: the memory section compares its RSS with the 1M run's, the sink reads its topic.
    log(f"produce: stockpipe produce --client confluent ({small.rows:,} records, for memory flatness)")
    b.raw["produce_confluent_small"] = stockpipe_produce(
        b, b.bootstrap, small, "confluent", "bench-replay-small"
    )

    log(f"produce: the seed's pattern, {SEED_ROWS} rows (one send per row, sleep(1))")
    ensure_topic(b.bootstrap, "bench-seed", 1)
    res = run_child(
        child_cmd(
            "seed-produce", bootstrap=b.bootstrap, topic="bench-seed", messages=kp.messages, rows=SEED_ROWS
        ),
        timeout_s=SEED_ROWS * 2 + 60,
    )
    seed = res.json()
    seed_rate = seed["sent"] / seed["elapsed_s"]
    replay_rate = b.raw["produce_confluent"]["replay"]["rate"]
    b.raw["produce_seed"] = seed | {"rate": seed_rate, "extrapolated_1m_s": 1e6 / seed_rate}
    b.add(
        Row(
            "produce",
            "seed pattern (send + sleep(1) per row)",
            seed_rate,
            "rec/s",
            replay_rate,
            "stockpipe produce, confluent",
            note=(
                f"measured on {seed['sent']} rows and extrapolated: 1M rows would take "
                f"{1e6 / seed_rate / 86400:.1f} days vs {1e6 / replay_rate:.0f} s for stockpipe produce"
            ),
        )
    )
