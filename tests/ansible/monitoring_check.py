"""Prometheus on the lab watches what site.yml deployed, and its alerts fire on real faults and clear
(tests/ansible/run.sh, site scenario, after site_test.py's phases; it leaves every service running).

    monitoring_check.py --log FILE

The site test's extra variables (site-vars.yml) make Prometheus scrape and evaluate every 5 s and alert
after 15 s, with a sink lag threshold of 200 records. Prometheus is read over its HTTP API only
(/api/v1/targets, /api/v1/alerts, /api/v1/query), each wait a poll with a deadline.

1. Private addresses only: Prometheus, every node exporter and every broker's JMX exporter listen on
   their host's private address; the same port on its "public" address refuses connections.
2. A paced replay: the pipeline stage again with another sample (other symbols) at 12 rows/s, so the
   producer serves /metrics while the faults below happen.
3. Targets: every broker's JMX exporter, every node exporter, the producer and the sink are up, each
   scraped on its host's private address.
4. The sink stops while the producer runs: StockpipeSinkLag fires (the lag estimate grows from the sink's
   last position) with StockpipeSinkDown; the sink starts again: both clear.
5. A broker stops: KafkaBrokerDown and KafkaUnderReplicatedPartitions fire; it starts again: both clear
   once it is back in every ISR.
6. Reconciliation, after the replay ended and the sink caught up: the producer's last delivered count
   (Prometheus), the rows the sink wrote during the replay (Prometheus, across its restarts), the rows
   SQL counts for the replay's symbols and the sample's manifest are one number.
7. Nothing fires on the healthy lab at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hostlib import REPO, Checks, Failed, main_guard, run_ansible, ssh
from site_test import EXTRA_VARS, LAB, SOURCE, lab_roles, query
from site_test import MONITORING_RATE as RATE
from site_test import MONITORING_REPLAY as REPLAY

T = TypeVar("T")
PROMETHEUS_PORT = 9090
NODE_PORT = 9100
JMX_PORT = 7071
# The replay: 5 tickers x 250 days (1,150 rows, symbols disjoint from the site sample's seed 42) at
# 12/s, about 95 s: it must outlast step 4 (the sink stopped until the lag passes 200 records and the
# alert's 15 s, about 35 s at this rate); step 6 waits for its end, so every row beyond that is CI time.


def prometheus(path: str, **params: str) -> Any:
    """GET /api/v1/PATH on the lab's Prometheus; its `data`, or Failed."""
    url = f"http://{monitor()}:{PROMETHEUS_PORT}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    except (OSError, ValueError) as exc:
        raise Failed(f"Prometheus {url}: {exc}") from None
    if body.get("status") != "success":
        raise Failed(f"Prometheus {url}: {body}")
    return body["data"]


def monitor() -> str:
    """The monitoring host's private address (the lab's pipeline host doubles as it)."""
    return lab_roles()[1].private


def instant(expr: str) -> list[dict[str, Any]]:
    return prometheus("query", query=expr)["result"]


def scalar(expr: str) -> float | None:
    result = instant(expr)
    return float(result[0]["value"][1]) if result else None


def alerts() -> dict[str, set[str]]:
    """Alert name -> the states (pending, firing) of its alerts right now."""
    out: dict[str, set[str]] = {}
    for alert in prometheus("alerts")["alerts"]:
        out.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
    return out


def poll(what: str, probe: Callable[[], tuple[bool, T]], deadline_s: float, every: float = 2.0) -> T:
    """Calls probe() until it returns (True, value); Failed with the last value after the deadline."""
    start = time.monotonic()
    while True:
        ok, value = probe()
        if ok:
            print(f"     {what}: after {time.monotonic() - start:.0f} s", flush=True)
            return value
        if time.monotonic() - start > deadline_s:
            raise Failed(f"{what}: not within {deadline_s:.0f} s (last: {value})")
        time.sleep(every)


def firing(*names: str) -> Callable[[], tuple[bool, dict[str, set[str]]]]:
    def probe() -> tuple[bool, dict[str, set[str]]]:
        now = alerts()
        return all("firing" in now.get(n, set()) for n in names), now

    return probe


def cleared(*names: str) -> Callable[[], tuple[bool, dict[str, set[str]]]]:
    def probe() -> tuple[bool, dict[str, set[str]]]:
        now = alerts()
        return not any(n in now for n in names), now

    return probe


def refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((address, port)) != 0


def listeners(address: str) -> set[tuple[str, int]]:
    """(local address, port) of every listening TCP socket on the host; IPv4-mapped IPv6 as IPv4."""
    out = ssh(address, "ss -ltnH | awk '{print $4}'")
    found = set()
    for local in out.split():
        host, _, port = local.rpartition(":")
        found.add((host.strip("[]").removeprefix("::ffff:"), int(port)))
    return found


def unit_pid(address: str, unit: str) -> int:
    return int(ssh(address, f"systemctl show -p MainPID --value {unit}"))


def replay(log: Path) -> None:
    extra = {"pipeline_source_dir": SOURCE, "pipeline_produce_rate": RATE, **REPLAY}
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(LAB), "site.yml", "--tags", "pipeline",
           "-e", f"@{EXTRA_VARS}", *[a for k, v in extra.items() for a in ("-e", f"{k}={v}")]]  # fmt: skip
    run = run_ansible(cmd, log, cwd=REPO)
    if run.rc != 0 or any(n < 0 for n in run.changed.values()):
        tail = "\n".join(line for line in run.output.splitlines() if "fatal:" in line or "FAILED" in line)
        raise Failed(f"the pipeline stage with the replay sample exited {run.rc}:\n{tail[-1500:]}")


@dataclass
class Run:
    """One sink process as Prometheus saw it: its start time and its counter's (time, value) samples."""

    started: float
    samples: list[tuple[float, float]]


def process_runs(counter: list[list[Any]], starts: list[list[Any]]) -> list[Run]:
    """A counter's samples split by process: each scrape also carries the process's start time
    (process_start_time_seconds), so a restart is seen however soon or late its first scrape came."""
    started_at = {float(t): float(v) for t, v in starts}
    runs: list[Run] = []
    for t, v in counter:
        when = started_at.get(float(t))
        if when is None:
            continue  # a scrape without its start time cannot be placed; it carries no new rows alone
        if not runs or runs[-1].started != when:
            runs.append(Run(when, []))
        runs[-1].samples.append((float(t), float(v)))
    return runs


def sink_exits(address: str, since: float) -> list[tuple[float, int]]:
    """(time, rows) for each sink process that stopped since `since`, from its exit summary: a process
    writes its last batch as it stops, after Prometheus's last scrape of it, so only its summary counts
    those rows."""
    journal = ssh(address, f"journalctl -u stockpipe-sink --since @{int(since)} -o short-unix --no-pager")
    found = re.findall(r"^([\d.]+) \S+ \S+: sink: consumed [\d,]+, wrote ([\d,]+) rows", journal, re.M)
    return [(float(t), int(n.replace(",", ""))) for t, n in found]


def rows_written(runs: list[Run], exits: list[tuple[float, int]], since: float) -> tuple[int | None, str]:
    """Rows the sink wrote after `since`: for each process, what Prometheus saw it count after `since`
    (from 0 if it started later), and for each process that stopped, the rows its exit summary counts
    past its last scrape; a process that started and stopped between two scrapes adds its whole count.
    None, with what is missing, when a process that stopped has no summary (it crashed)."""
    total = 0.0
    unpaired = sorted((t, n) for t, n in exits if t > since)
    for i, run in enumerate(runs):
        first, last = run.samples[0], run.samples[-1]
        total += last[1] - (first[1] if run.started <= since else 0.0)
        if i == len(runs) - 1:
            break
        following = runs[i + 1].started
        mine = [(t, n) for t, n in unpaired if last[0] <= t <= following + 1]
        if not mine:
            return (
                None,
                f"the sink started at {run.started:.0f} stopped by {following:.0f} without its summary",
            )
        total += mine[0][1] - last[1]
        total += sum(n for _, n in mine[1:])  # processes never scraped between the two
        unpaired = [e for e in unpaired if e not in mine]
    if unpaired:
        return None, f"exit summaries no scraped process accounts for: {unpaired}"
    return int(total), f"{int(total)} rows by {len(runs)} processes, {len(exits)} exit summaries"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True, help="where the playbook run's output goes")
    args = parser.parse_args()
    brokers, pipeline, _spares = lab_roles()  # the spares join the pipeline group later (site_test scaleout)
    hosts = [*brokers, pipeline]
    check = Checks()

    print("1. every exporter and Prometheus listen on private addresses only")
    for host in hosts:
        ports = (
            [NODE_PORT]
            + ([JMX_PORT] if host in brokers else [])
            + ([PROMETHEUS_PORT] if host == pipeline else [])
        )
        listening = listeners(host.private)
        for port in ports:
            on = sorted(a for a, p in listening if p == port)
            check(
                on == [host.private] and refused(host.public, port),
                f"{host.name}: port {port} listens on {on} (expected [{host.private}]); "
                f"public {host.public} refuses",
            )

    print(f"2. a replay at {RATE} ({REPLAY}), so the producer serves /metrics during the faults")
    started = time.time()
    replay(Path(args.log))
    sample = "sample-{pipeline_sample_tickers}x{pipeline_sample_days}-seed{pipeline_sample_seed}".format(
        **REPLAY
    )
    manifest = json.loads(ssh(pipeline.private, f"cat /var/lib/stockpipe/{sample}/manifest.json"))
    rows, symbols = int(manifest["rows"]), sorted(manifest["symbols"])
    check(
        unit_pid(pipeline.private, "stockpipe-producer") > 0,
        f"the producer replays {rows:,} rows of {symbols}",
    )

    print("3. every target is up, on its host's private address")
    expected = {("kafka", b.name) for b in brokers} | {("node", h.name) for h in hosts}
    expected |= {(job, pipeline.name) for job in ("stockpipe-producer", "stockpipe-sink", "prometheus")}
    private = {h.name: h.private for h in hosts}

    def targets() -> tuple[bool, dict[tuple[str, str], str]]:
        active = prometheus("targets", state="active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t for t in active}
        health = {
            key: t["health"] + (f" ({t['lastError']})" if t["lastError"] else "") for key, t in seen.items()
        }
        return set(seen) == expected and all(t["health"] == "up" for t in seen.values()), health

    health = poll("every target up", targets, 60)
    check(True, f"{len(health)} targets up: {sorted(health)}")
    active = prometheus("targets", state="active")["activeTargets"]
    wrong = [t["scrapeUrl"] for t in active if urllib.parse.urlparse(t["scrapeUrl"]).hostname
             != private[t["labels"]["instance"]]]  # fmt: skip
    check(not wrong, f"each scraped on its host's private address (not: {wrong})")

    print("4. the sink stops while the producer runs: the lag alert fires, and clears after its restart")
    ssh(pipeline.private, "systemctl stop stockpipe-sink")
    try:
        now = poll("StockpipeSinkLag firing", firing("StockpipeSinkLag"), 180)
        lag = scalar("sum(stockpipe:sink_lag_estimate)")
        producing = unit_pid(pipeline.private, "stockpipe-producer") > 0
        check(producing, "the producer was still replaying while the lag grew")
        check(now.get("StockpipeSinkDown") == {"firing"}, f"StockpipeSinkDown fires too ({now})")
        check(lag is not None and lag > 200, f"the lag estimate is {lag} records (> 200, the threshold)")
    finally:
        ssh(pipeline.private, "systemctl start stockpipe-sink")
    poll(
        "StockpipeSinkLag and StockpipeSinkDown cleared",
        cleared("StockpipeSinkLag", "StockpipeSinkDown"),
        180,
    )
    check(True, "StockpipeSinkLag and StockpipeSinkDown cleared after the sink's restart")

    victim = brokers[-1]
    print(f"5. broker {victim.name} stops: the broker-down and under-replication alerts fire, then clear")
    ssh(victim.private, "systemctl stop kafka", timeout=300)
    try:
        now = poll("KafkaBrokerDown and KafkaUnderReplicatedPartitions firing",
                   firing("KafkaBrokerDown", "KafkaUnderReplicatedPartitions"), 180)  # fmt: skip
        check(True, f"KafkaBrokerDown and KafkaUnderReplicatedPartitions fire ({sorted(now)})")
        down = instant('ALERTS{alertname="KafkaBrokerDown",alertstate="firing"}')
        check(
            [a["metric"].get("instance") for a in down] == [victim.name],
            f"KafkaBrokerDown names {victim.name}",
        )
    finally:
        ssh(victim.private, "systemctl start kafka")
    poll("both cleared", cleared("KafkaBrokerDown", "KafkaUnderReplicatedPartitions"), 300)
    check(True, f"KafkaBrokerDown and KafkaUnderReplicatedPartitions cleared once {victim.name} rejoined")

    print("6. reconciliation: producer delivered = sink written (Prometheus) = SQL = the sample's rows")
    poll(
        "the replay's end",
        lambda: (unit_pid(pipeline.private, "stockpipe-producer") == 0, "replaying"),
        400,
        5,
    )
    status = ssh(pipeline.private, "systemctl show -p ExecMainStatus --value stockpipe-producer")
    check(status == "0", f"the producer ended with status {status}")
    in_sql = f"SELECT count(*) AS n FROM prices WHERE symbol IN ({', '.join(repr(s) for s in symbols)})"
    counted = poll("SQL to count the replay's rows",
                   lambda: ((n := int(query(in_sql)[0]["n"])) == rows, n), 240, 5)  # fmt: skip
    window = f"{int(time.time() - started) + 60}s"
    scraped = scalar(f"last_over_time(stockpipe_producer_records_delivered_total[{window}])")
    # The producer's last deliveries (its final flush) can come after Prometheus's last scrape of it, as
    # a stopped sink's last batch does: its exit summary counts them.
    journal = ssh(pipeline.private, f"journalctl -u stockpipe-producer --since @{int(started)} --no-pager")
    summaries = re.findall(r"produced: sent [\d,]+, delivered ([\d,]+), failed", journal)
    delivered = int(summaries[-1].replace(",", "")) if summaries else scraped

    def written() -> tuple[bool, int | str]:
        # From the replay's start on, the same instant at every poll: rows the sink wrote before it (the
        # site run's last canary, a minute earlier) are not the replay's.
        span = f"{int(time.time() - started)}s"
        counter = instant(f"stockpipe_sink_rows_written_total[{span}]")
        starts = instant(f'process_start_time_seconds{{job="stockpipe-sink"}}[{span}]')
        if len(counter) != 1 or len(starts) != 1:
            return False, f"{len(counter)} counter and {len(starts)} start-time series (expected one each)"
        runs = process_runs(counter[0]["values"], starts[0]["values"])
        if not runs:
            return False, "no sample"
        exits = sink_exits(pipeline.private, started - 300)
        total, seen = rows_written(runs, exits, runs[0].samples[0][0])
        return total == rows, seen if total is None else total

    what = "the sink's written rows (Prometheus; a stopped process's summary for rows after its last scrape)"
    sink_rows = poll(f"{what} to reach the sample's", written, 60, 3)
    check(
        delivered == rows and scraped <= delivered and len(summaries) == 1,
        f"the producer delivered {delivered} rows by its exit summary (sample: {rows:,}; Prometheus's last "
        f"scrape of it saw {scraped}; {len(summaries)} summary)",
    )
    check(
        sink_rows == delivered,
        f"the sink wrote {sink_rows} rows during the replay (Prometheus and exit summaries) = delivered",
    )
    check(counted == rows, f"SQL counts {counted:,} rows of the replay's symbols = delivered")

    print("7. the healthy lab: no alert pending or firing")
    quiet = poll("no alert", lambda: ((now := alerts()) == {}, now), 120, 5)
    check(quiet == {}, "no alert pending or firing")
    return check.done()


if __name__ == "__main__":
    main_guard(main)
