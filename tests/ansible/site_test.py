"""site.yml end to end on the local lab (scripts/lab.sh) and its moto AWS endpoint (tests/ansible/run.sh).

    site_test.py PHASE   (converge | verify | idempotence | secrets | tutorial | rotate | scaleout)

- converge: `ansible-playbook -i inventory/lab site.yml` succeeds; its smoke stage found the canary by SQL.
- verify: each broker's broker.rack is its lab zone, the sink's client_rack is the pipeline host's; the
  services run as their own user; the generated sample streamed through the brokers into the
  lake bucket; SQL on the pipeline host counts exactly the sample's rows, each (symbol, date) once.
- idempotence: a second run reports changed=0 on every host.
- secrets: the cluster is secured by default (SASL_SSL with the SCRAM passwords the kafka_credentials
  role generated into the lab's SSM, moto). No password is in either play's output, in any process's
  arguments on any host, or in the pipeline host's configuration outside its root-only credentials
  directory; each service logs in as its own user, its password handed over by systemd.
- tutorial: the origin tutorial's kafka-python code (KafkaProducer with a JSON value serializer pointed at
  <public host>:9092, a KafkaConsumer on the same topic) works unchanged against the brokers.
- rotate: new passwords for the producer and the sink in the lab's SSM and a configuration change (the
  sink's batch age in stockpipe.toml), and site.yml again (kafka, pipeline, smoke): the brokers take the
  new passwords, the services restart with theirs and the new setting, the producer resumes from its
  checkpoint, the old password is refused, the smoke canary still reaches SQL through the sink, and the
  lake still holds every row exactly once. (monitoring_check.py's replay, next, then goes through the
  producer on its new password.)
- scaleout: the lab's spare host joins the pipeline group (an extra inventory file) and the pipeline stage
  runs again: the first pipeline host keeps its services (no restart) and stays the only producer and the
  only one that crawls the Glue catalog, the new one runs a sink in the same consumer group, and the two
  share the partitions. During a paced replay of
  another sample the new host's sink is killed (SIGKILL, then stopped, as when a host dies): the other
  sink takes over every partition, and SQL counts every row of the replay exactly once.

The pipeline host installs a wheel built from a snapshot of the package sources taken by `converge`
(pipeline_source_dir): the checkout may change while the phases run (other work in the same tree),
and a changed source is a changed input, which the idempotence phase would rightly report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from json import dumps, loads
from pathlib import Path
from secrets import token_hex

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from hostlib import HERE, REPO, Failed, Host, read_hosts, run_ansible, ssh
from secure_check import login_as, one_line

LAB = REPO / "inventory" / "lab"
ARTIFACTS = REPO / "test-artifacts" / "ansible"
EXTRA_VARS = HERE / "site-vars.yml"
STOCKPIPE = "/opt/stockpipe/venv/bin/stockpipe"
# Run a command as the services do: the pipeline user with the services' environment file.
AS_SERVICE = "sudo -u stockpipe env $(grep -v '^#' /etc/stockpipe/environment | xargs)"
TUTORIAL_TOPIC = "demo_test"
SOURCE = ARTIFACTS / "site-source"
# The replay monitoring_check.py runs (its producer serves /metrics during the faults); scaleout, the phase
# after it, adds a pipeline host with the same settings, so the first host has nothing to change.
MONITORING_REPLAY = {"pipeline_sample_tickers": 5, "pipeline_sample_days": 250, "pipeline_sample_seed": 4242}
MONITORING_RATE = "12/s"


def lab_roles() -> tuple[list[Host], Host, list[Host]]:
    """The brokers, the pipeline host and the spare hosts (in no inventory group) of the lab."""
    import yaml

    groups = yaml.safe_load((LAB / "hosts.yml").read_text())["all"]["children"]
    hosts = read_hosts()
    brokers = [h for h in hosts if h.name in groups["kafka"]["hosts"]]
    (pipeline,) = (h for h in hosts if h.name in groups["pipeline"]["hosts"])
    in_groups = {*brokers, pipeline}
    return brokers, pipeline, [h for h in hosts if h not in in_groups]


def pipeline_host() -> str:
    return lab_roles()[1].private


def public_addresses() -> list[str]:
    return [h.public for h in lab_roles()[0]]


def playbook(log_name: str, *extra: str) -> tuple[dict[str, int], str]:
    """site.yml on the lab; fails unless every host ran it without a failure."""
    log = ARTIFACTS / f"site-{log_name}-run.log"
    log.unlink(missing_ok=True)
    cmd = [
        str(REPO / ".venv/bin/ansible-playbook"),
        "-i",
        str(LAB),
        "site.yml",
        "-e",
        f"@{EXTRA_VARS}",
        "-e",
        f"pipeline_source_dir={SOURCE}",
        *extra,
    ]
    run = run_ansible(cmd, log, cwd=REPO)
    broken = [host for host, n in run.changed.items() if n < 0]
    if run.rc != 0 or not run.changed or broken:
        tail = "\n".join(line for line in run.output.splitlines() if "fatal:" in line or "FAILED" in line)
        raise Failed(f"ansible-playbook site.yml exited {run.rc} (failed: {broken}):\n{tail[-1500:]}")
    return run.changed, run.output


def query(sql: str) -> list[dict[str, object]]:
    """SQL on the pipeline host, as the pipeline user with its configuration (DuckDB over the lab's S3)."""
    out = ssh(
        pipeline_host(),
        f"cd /var/lib/stockpipe && {AS_SERVICE} {STOCKPIPE} crawl >/dev/null && "
        f'{AS_SERVICE} {STOCKPIPE} query --format json "{sql}"',
    )
    return [json.loads(line) for line in out.splitlines() if line.strip()]  # JSON Lines


def sample_rows() -> int:
    manifest = ssh(pipeline_host(), "cat /var/lib/stockpipe/sample-*/manifest.json")
    return int(json.loads(manifest)["rows"])


def wait_for_rows(expected: int, deadline_s: float) -> dict[str, object]:
    sql = (
        "SELECT count(*) AS n, count(DISTINCT symbol || '/' || CAST(date AS VARCHAR)) AS distinct_bars "
        "FROM prices WHERE symbol <> 'ZZCANARY'"
    )
    deadline = time.monotonic() + deadline_s
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        rows = query(sql)
        last = rows[0] if rows else {}
        if last.get("n") == expected:
            return last
        time.sleep(3)
    raise Failed(f"SQL counted {last} rows of the sample after {deadline_s:.0f} s, expected {expected}")


def snapshot_sources() -> None:
    """What the pipeline role builds its wheel from (roles/pipeline/files/build_wheelhouse.py SOURCES)."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, SOURCE / name)
    shutil.copytree(
        REPO / "pipeline", SOURCE / "pipeline", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )


def canary_found(output: str) -> bool:
    """Whether a site.yml run's smoke stage found its canary by SQL: its last task prints `stockpipe canary
    find`'s result (YAML callback: "found: 1")."""
    shown = output.split("TASK [Show how long the canary took to reach SQL]")[-1]
    return re.search(r"^\s*found: 1\s*$", shown, re.MULTILINE) is not None


def converge() -> None:
    snapshot_sources()
    _changed, output = playbook("converge")
    if not canary_found(output):
        raise Failed("the smoke stage did not report the canary found by SQL")
    print("site.yml converged; the smoke stage found the canary through SQL")


def verify() -> None:
    host = pipeline_host()
    states = ssh(host, "systemctl is-active stockpipe-sink stockpipe-producer stockpipe-crawl.timer").split()
    if states != ["active", "active", "active"]:
        raise Failed(f"services on the pipeline host: sink/producer/crawl.timer = {states}")
    user = ssh(host, "ps -o user= -p $(systemctl show -p MainPID --value stockpipe-sink)")
    if user != "stockpipe":
        raise Failed(f"the sink runs as {user!r}, not the stockpipe user")
    mode = ssh(host, "stat -c '%U:%G %a' /etc/stockpipe/stockpipe.toml")
    if mode != "root:stockpipe 640":
        raise Failed(f"/etc/stockpipe/stockpipe.toml is {mode}, expected root:stockpipe 640")
    racks = check_racks(host)
    expected = sample_rows()
    counts = wait_for_rows(expected, 240)
    if counts["distinct_bars"] != expected:
        raise Failed(f"{counts} : some (symbol, date) is in the lake twice")
    objects = lake_objects()
    if not objects:
        raise Failed("no Parquet objects under s3://stockpipe-lab/lake/prices/ on the lab's S3 endpoint")
    print(
        f"services active as stockpipe; SQL counts {expected:,} sample rows once each "
        f"in {len(objects)} objects; {racks}"
    )


def check_racks(pipeline: str) -> str:
    """Each broker's broker.rack is its zone from the inventory (scripts/lab.sh: three zones) with the
    rack-aware replica selector, and the sink's client_rack is the pipeline host's zone."""
    import yaml

    hosts = yaml.safe_load((LAB / "hosts.yml").read_text())["all"]["children"]
    zones = {name: v["kafka_rack"] for name, v in hosts["kafka"]["hosts"].items()}
    for h in lab_roles()[0]:
        props = ssh(
            h.private, "grep -E '^(broker.rack|replica.selector.class)=' /etc/kafka/server.properties"
        )
        wanted = f"broker.rack={zones[h.name]}\nreplica.selector.class="
        if not props.startswith(wanted) or not props.endswith("RackAwareReplicaSelector"):
            raise Failed(
                f"{h.name}: server.properties has {props!r}, expected broker.rack={zones[h.name]} "
                "and the RackAwareReplicaSelector"
            )
    (pipeline_vars,) = hosts["pipeline"]["hosts"].values()
    zone = pipeline_vars["kafka_rack"]
    toml = ssh(pipeline, "grep '^client_rack' /etc/stockpipe/stockpipe.toml || true")
    if toml != f'client_rack = "{zone}"':
        raise Failed(f"the sink's settings have {toml!r}, expected client_rack = its zone {zone}")
    return f"brokers in zones {sorted(set(zones.values()))}, the sink reads in {zone}"


def lab_aws(service: str):  # type: ignore[no-untyped-def]
    """A boto3 client of the lab's AWS endpoint (moto; inventory/lab/settings.yml)."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="lab", aws_secret_access_key="lab")
    return session.client(service, endpoint_url="http://10.77.0.1:9000", region_name="us-east-1")


def lake_objects() -> list[str]:
    s3 = lab_aws("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="stockpipe-lab", Prefix="lake/prices/")
    return [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]


def idempotence() -> None:
    changed, _ = playbook("idempotence")
    moved = {host: n for host, n in changed.items() if n}
    if moved:
        raise Failed(
            f"second run changed something: {moved} (see test-artifacts/ansible/site-idempotence-run.log)"
        )
    print(f"second run: changed=0 on {', '.join(sorted(changed))}")


def scram_parameter(user: str) -> str:
    """The SSM parameter of a user's SCRAM password (roles/kafka_credentials' default prefix)."""
    import yaml

    cluster = yaml.safe_load((LAB / "settings.yml").read_text())["stockpipe_cluster"]
    return f"/{cluster}/kafka/scram/{user}"


def scram_passwords() -> dict[str, str]:
    """user -> password, as roles/kafka_credentials generated them into the lab's SSM (its default source)."""
    ssm = lab_aws("ssm")
    names = [scram_parameter(user) for user in ("admin", "producer", "sink", "canary")]
    found = ssm.get_parameters(Names=names, WithDecryption=True)
    if found["InvalidParameters"]:
        raise Failed(f"no SCRAM password in the lab's SSM for {found['InvalidParameters']}")
    return {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in found["Parameters"]}


def lab_ca() -> Path:
    """The CA the kit made for the lab's brokers (the run's private directory, tests/ansible/run.sh)."""
    return Path(os.environ["STOCKPIPE_LAB_PKI"]) / "ca.pem"


def secured_listener() -> dict[str, str]:
    """The settings the README gives the tutorial's kafka-python clients for the secured listener: the
    admin's login and the CA the kit made."""
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "admin",
        "sasl_plain_password": scram_passwords()["admin"],
        "ssl_cafile": str(lab_ca()),
    }


def no_leaks() -> None:
    passwords = scram_passwords()
    problems = []
    for log_name in ("converge", "idempotence"):
        text = (ARTIFACTS / f"site-{log_name}-run.log").read_text(errors="replace")
        problems += [
            f"{user}'s password in the {log_name} run's output"
            for user, pw in passwords.items()
            if pw in text
        ]
    for host in read_hosts():
        args = ssh(host.private, "ps -eo args")
        problems += [
            f"{user}'s password in a process's arguments on {host.name}"
            for user, pw in passwords.items()
            if pw in args
        ]
    pipeline = pipeline_host()
    for user, pw in passwords.items():
        hits = ssh(
            pipeline,
            f"grep -rlF -e '{pw}' /etc/stockpipe /var/lib/stockpipe /opt/stockpipe 2>/dev/null || true",
        )
        problems += [
            f"{user}'s password in {path} on the pipeline host"
            for path in hits.split()
            if not path.startswith("/etc/stockpipe/credentials/")
        ]
    modes = ssh(
        pipeline, "stat -c '%n %U:%G %a' /etc/stockpipe/credentials /etc/stockpipe/credentials/*"
    ).splitlines()
    problems += [
        f"{line}: expected root:root 700/600"
        for line in modes
        if line.split()[1:] not in (["root:root", "700"], ["root:root", "600"])
    ]
    logins = {
        unit: ssh(pipeline, f"systemctl show -p Environment --value stockpipe-{unit}")
        for unit in ("producer", "sink")
    }
    for unit, env in logins.items():
        if f"STOCKPIPE_SASL_USERNAME={unit}" not in env or "STOCKPIPE_SECURITY_PROTOCOL=SASL_SSL" not in env:
            problems.append(f"stockpipe-{unit} does not log in as {unit} over SASL_SSL: {env}")
    if problems:
        raise Failed("; ".join(problems))
    print(
        f"SASL_SSL by default; {len(passwords)} passwords (from the lab's SSM) in no play output, process "
        f"argument or configuration file; credentials root-only; producer and sink log in as themselves"
    )


def tutorial() -> None:
    """The origin tutorial's client code, unchanged but for the address, a bounded loop and, on a secured
    listener, the README's extra settings."""
    from kafka import KafkaConsumer, KafkaProducer

    bootstrap = [f"{public_addresses()[0]}:9092"]
    extra = secured_listener()
    received: list[dict[str, object]] = []
    ready = threading.Event()

    def consume() -> None:
        consumer = KafkaConsumer(
            TUTORIAL_TOPIC,
            bootstrap_servers=bootstrap,
            value_deserializer=lambda x: loads(x.decode("utf-8")),
            consumer_timeout_ms=20_000,
            **extra,
        )
        # The tutorial starts its consumer first; it reads from the topic's end (auto_offset_reset latest).
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=500)
        for tp in consumer.assignment():
            consumer.position(tp)
        ready.set()
        for c in consumer:
            received.append(c.value)
            if len(received) == 3:
                break
        consumer.close()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    if not ready.wait(90):
        raise Failed(f"the tutorial's KafkaConsumer got no partition of {TUTORIAL_TOPIC} from {bootstrap}")
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, value_serializer=lambda x: dumps(x).encode("utf-8"), **extra
    )
    rows = [
        {
            "Index": "NYA",
            "Date": "1965-12-31",
            "Open": 528.69,
            "High": 528.69,
            "Low": 528.69,
            "Close": 528.69,
        },
        {
            "Index": "NYA",
            "Date": "1966-01-03",
            "Open": 527.21,
            "High": 527.21,
            "Low": 527.21,
            "Close": 527.21,
        },
        {"Index": "IXIC", "Date": "1971-02-05", "Open": 100.0, "High": 100.0, "Low": 100.0, "Close": 100.0},
    ]
    for dict_stock in rows:
        producer.send(TUTORIAL_TOPIC, value=dict_stock)
        time.sleep(1)
    producer.flush()
    thread.join(60)
    if received != rows:
        raise Failed(f"the tutorial's consumer read {received!r}, expected the 3 rows sent")
    print(f"tutorial KafkaProducer/KafkaConsumer round trip through {bootstrap[0]}: 3 of 3 rows")


def rotate() -> None:
    host = pipeline_host()
    units = ("producer", "sink")
    old = scram_passwords()
    # When each unit last started (the producer exits once its replay is done, so no pid to compare).
    started = "systemctl show -p ExecMainStartTimestampMonotonic --value stockpipe-{}"
    before = {u: ssh(host, started.format(u)) for u in units}
    ssm = lab_aws("ssm")
    new = {u: token_hex(16) for u in units}
    for user, password in new.items():
        ssm.put_parameter(Name=scram_parameter(user), Value=password, Type="SecureString", Overwrite=True)
    # One run, two reasons to restart: the new passwords and a changed setting (the sink's batch age, in
    # stockpipe.toml).
    _changed, output = playbook(
        "rotate", "--diff", "--tags", "kafka,pipeline,smoke", "-e", "pipeline_sink_batch_age=7"
    )
    problems = [f"{u}'s {age} password in the run's output" for u in units
                for age, pw in (("old", old[u]), ("new", new[u])) if pw in output]  # fmt: skip
    after = {u: ssh(host, started.format(u)) for u in units}
    problems += [f"stockpipe-{u} was not restarted (started at {before[u]} -> {after[u]} us)" for u in units
                 if before[u] == after[u]]  # fmt: skip
    setting = ssh(host, "grep -E '^batch_age *=' /etc/stockpipe/stockpipe.toml || true")
    if not re.fullmatch(r"batch_age *= *7(\.0)?", setting):
        problems.append(f"the sink's new batch age is not in stockpipe.toml: {setting!r}")
    log = ssh(host, "journalctl -u stockpipe-producer --no-pager | tail -n 20")
    if "resumed" not in log:
        problems.append(f"the restarted producer did not resume from its checkpoint: {log[-600:]}")
    failed = ssh(host, "systemctl is-failed stockpipe-producer stockpipe-sink || true").split()
    problems += [f"stockpipe-{u} failed after the rotation" for u, state in zip(units, failed, strict=False)
                 if state == "failed"]  # fmt: skip
    if not canary_found(output):
        problems.append("the smoke canary did not reach SQL through the sink on its new password")
    bootstrap, ca = ",".join(f"{a}:9092" for a in public_addresses()), lab_ca()
    refused, refusal = one_line(
        login_as(bootstrap, ca, "producer", old["producer"]), "refused the login of user 'producer'"
    )
    if not refused:
        problems.append(f"the producer's old password: {refusal}")
    done = login_as(bootstrap, ca, "producer", new["producer"])
    if done.returncode != 0:
        problems.append(
            f"the producer's new password is refused (rc={done.returncode}): {done.stderr[-300:]}"
        )
    if problems:
        raise Failed("; ".join(problems))
    counts = wait_for_rows(sample_rows(), 120)
    if counts["distinct_bars"] != sample_rows():
        raise Failed(f"after the rotation: {counts}, expected {sample_rows()} rows once each")
    print(
        f"rotated the producer's and sink's passwords with a new batch age: both services restarted, the "
        f"producer resumed, the canary reached SQL through the sink, the old password is refused "
        f"({refusal[:80]}), rows once each"
    )


def poll_sql(sql: str, done: Callable[[int], bool], deadline_s: float) -> dict[str, object]:
    """Run `sql` (its first column `n`) on the pipeline host until done(n), within deadline_s."""
    deadline = time.monotonic() + deadline_s
    row: dict[str, object] = {}
    while time.monotonic() < deadline:
        row = query(sql)[0]
        if done(int(row["n"])):  # type: ignore[call-overload]
            return row
        time.sleep(3)
    raise Failed(f"SQL on the pipeline host: {row} after {deadline_s:.0f} s ({sql[:120]})")


COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}


def sink_members(admin_config: dict[str, str], group: str) -> dict[str, int] | str:
    """{client host: partitions assigned} of the sinks' consumer group, or why the coordinator cannot say.

    A group's coordinator moves with the leader of its __consumer_offsets partition (the brokers' own
    preferred-leader balancing, ~5 minutes after the monitoring phase's broker stop): an admin client that
    looked the coordinator up before keeps asking the old one and is told NOT_COORDINATOR on every call
    (seen for 60 s running), so each describe is a new client, as a new `stockpipe` command would be.
    """
    admin = AdminClient(admin_config)
    (future,) = admin.describe_consumer_groups([group], request_timeout=20).values()
    try:
        described = future.result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() in COORDINATOR_MOVING:
            return exc.args[0].name()
        raise
    return {m.host.lstrip("/"): len(m.assignment.topic_partitions) for m in described.members}


def wait_members(
    admin_config: dict[str, str], group: str, wanted: set[str], deadline_s: float
) -> dict[str, int]:
    """Poll the group until exactly the `wanted` hosts are members, each with a partition."""
    deadline = time.monotonic() + deadline_s
    members: dict[str, int] | str = {}
    while time.monotonic() < deadline:
        members = sink_members(admin_config, group)
        if isinstance(members, dict) and set(members) == wanted and all(members.values()):
            return members
        time.sleep(2)
    raise Failed(f"the sink group {group} has members {members} after {deadline_s:.0f} s, expected {wanted}")


def scaleout() -> None:
    _brokers, first, spares = lab_roles()
    if not spares:
        raise Failed("the lab has no spare host (scripts/lab.sh up --spare-hosts 1)")
    second = spares[0]
    extra = ARTIFACTS / "site-scaleout-inventory.yml"
    extra.write_text(dumps({"all": {"children": {"pipeline": {"hosts": {
        second.name: {"ansible_host": second.private, "kafka_rack": "lab-zone-b"}}}}}}))  # fmt: skip
    pid = "systemctl show -p MainPID --value stockpipe-sink"
    before = ssh(first.private, pid)
    as_monitoring = {**MONITORING_REPLAY, "pipeline_produce_rate": MONITORING_RATE}
    same = [a for k, v in as_monitoring.items() for a in ("-e", f"{k}={v}")]
    changed, _ = playbook("scaleout", "-i", str(extra), "--tags", "pipeline", *same)
    problems = []
    if changed.get(first.name):
        problems.append(f"adding a pipeline host changed {changed[first.name]} things on {first.name}")
    if ssh(first.private, pid) != before:
        problems.append(f"adding a pipeline host restarted the sink on {first.name}")
    units = "stockpipe-sink stockpipe-producer stockpipe-crawl.timer"
    states = ssh(second.private, f"systemctl is-active {units} || true").split()
    if states != ["active", "inactive", "inactive"]:
        problems.append(
            f"{second.name}: sink/producer/crawl timer {states}, expected a sink, no producer and no crawl "
            "timer (the Glue catalog is crawled from the first host only)"
        )
    if problems:
        raise Failed("; ".join(problems))
    admin = {
        "bootstrap.servers": ",".join(f"{a}:9092" for a in public_addresses()),
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "ssl.ca.location": str(lab_ca()),
        "sasl.username": "admin", "sasl.password": scram_passwords()["admin"],
    }  # fmt: skip
    group = "stockpipe-sink"
    shared = wait_members(admin, group, {first.private, second.private}, 120)

    replay = {"pipeline_sample_tickers": 6, "pipeline_sample_days": 300, "pipeline_sample_seed": 777}
    sample = "sample-{pipeline_sample_tickers}x{pipeline_sample_days}-seed{pipeline_sample_seed}".format(
        **replay
    )
    # 1,755 rows at 30/s, about 60 s: the kill below comes once rows reach SQL (the sinks' 10 s batch age),
    # well before the end; every second the replay runs beyond that is CI time.
    settings = [a for k, v in {**replay, "pipeline_produce_rate": "30/s"}.items() for a in ("-e", f"{k}={v}")]
    playbook("scaleout-replay", "-i", str(extra), "--tags", "pipeline", *settings)
    manifest = json.loads(ssh(first.private, f"cat /var/lib/stockpipe/{sample}/manifest.json"))
    rows, symbols = int(manifest["rows"]), sorted(manifest["symbols"])
    count = (
        "SELECT count(*) AS n, count(DISTINCT symbol || '/' || CAST(date AS VARCHAR)) AS d FROM prices "
        f"WHERE symbol IN ({', '.join(repr(s) for s in symbols)})"
    )
    flowing = poll_sql(count, lambda n: n > 0, 120)
    wait_members(admin, group, {first.private, second.private}, 60)
    ssh(second.private, "systemctl kill -s KILL stockpipe-sink; systemctl stop stockpipe-sink")
    killed_at = int(query(count)[0]["n"])
    # The producer stays "active (exited)" after its replay: a main process means it still sends.
    if killed_at >= rows or ssh(first.private, "systemctl show -p MainPID --value stockpipe-producer") == "0":
        raise Failed(f"the replay was over ({killed_at}/{rows} rows in SQL) when the sink was killed")
    alone = wait_members(admin, group, {first.private}, 120)
    counts = poll_sql(count, lambda n: n == rows, 400)
    producer = ssh(first.private, "systemctl show -p ExecMainStatus,ActiveState --value stockpipe-producer")
    if counts.get("n") != rows or counts.get("d") != rows:
        raise Failed(f"after the kill SQL counts {counts} rows of the replay, expected {rows} once each")
    print(
        f"{second.name} joined the pipeline group: no change on {first.name}, sinks share the partitions "
        f"{shared}; rows flowing ({flowing['n']}); its sink killed mid-replay at {killed_at}/{rows} rows in "
        f"SQL, {first.name} took every partition {alone}; SQL counts all {rows} rows once each (producer: "
        f"{producer.split()})"
    )


PHASES = {"converge": converge, "verify": verify, "idempotence": idempotence, "secrets": no_leaks,
          "tutorial": tutorial, "rotate": rotate, "scaleout": scaleout}  # fmt: skip


def main() -> int:
    phase = sys.argv[1] if len(sys.argv) > 1 else ""
    if phase not in PHASES:
        print(f"usage: site_test.py {' | '.join(PHASES)}", file=sys.stderr)
        return 2
    try:
        PHASES[phase]()
    except Failed as exc:
        print(f"FAIL {phase}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
