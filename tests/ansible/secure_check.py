"""The secure scenario's checks, on the cluster roles/kafka secured (SASL_SSL outside, TLS with the brokers'
certificates inside, the standard authorizer with the pipeline's ACLs), through stockpipe's own clients:

- an anonymous client, a wrong password and a CA the brokers' certificates do not chain to are refused
  on the external listener, each with one line from stockpipe; a client without a certificate is
  refused on the internal listener;
- rows flow as the producer and sink principals, every row once;
- the producer cannot read the topic or write another; the sink cannot write or use another group;
- no password in the converge output, on the nodes' process lists or in /etc/kafka; the key
  and the tools' settings readable by their owners only.

Run by tests/ansible/run.sh after converge: STOCKPIPE_LAB_PKI holds the CA the role made,
STOCKPIPE_LAB_SECRETS the SCRAM passwords.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from confluent_kafka.admin import AdminClient
from hostlib import REPO, Checks, Failed, main_guard, read_hosts, ssh
from quorum import read_layout

sys.path.insert(0, str(REPO / "tests"))
from tls import make_ca

TOPIC, GROUP = "stock-prices", "stockpipe-sink"
EXTERNAL_PORT, INTERNAL_PORT = 9092, 9091
KEYSTORE, ADMIN = "/etc/kafka/tls/keystore.pem", "/etc/kafka/admin.properties"


def stockpipe(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def login_as(
    bootstrap: str, ca: Path, user: str, password: str, topic: str = TOPIC
) -> subprocess.CompletedProcess[str]:
    """`stockpipe topics describe` as `user` with `password` (in a 0600 file, never an argument) through
    the SASL_SSL listener at `bootstrap`: exit 0 when the login is accepted and the user may describe."""
    with tempfile.TemporaryDirectory(prefix="stockpipe-login-") as work:
        password_file = Path(work) / "password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")} | {
            "STOCKPIPE_BOOTSTRAP": bootstrap, "STOCKPIPE_TOPIC": topic,
            "STOCKPIPE_STATE_DIR": f"{work}/state",
            "STOCKPIPE_SECURITY_PROTOCOL": "SASL_SSL", "STOCKPIPE_SASL_MECHANISM": "SCRAM-SHA-512",
            "STOCKPIPE_SSL_CA_FILE": str(ca), "STOCKPIPE_SASL_USERNAME": user,
            "STOCKPIPE_SASL_PASSWORD_FILE": str(password_file), "COLUMNS": "200",
        }  # fmt: skip
        return stockpipe(["topics", "describe", topic], env, 120)


def one_line(done: subprocess.CompletedProcess[str], *phrases: str) -> tuple[bool, str]:
    lines = done.stderr.strip().splitlines()
    ok = done.returncode == 2 and len(lines) == 1 and all(p in lines[0] for p in phrases)
    return ok, (lines[0] if len(lines) == 1 else f"rc={done.returncode}: {done.stderr.strip()[-400:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="secure")
    args = parser.parse_args()
    hosts = read_hosts()
    brokers = read_layout(hosts).brokers  # the secure scenario has dedicated controllers too
    pki = Path(os.environ["STOCKPIPE_LAB_PKI"])
    passwords: dict[str, str] = yaml.safe_load(Path(os.environ["STOCKPIPE_LAB_SECRETS"]).read_text())
    artifacts = REPO / "test-artifacts" / "ansible"
    work = Path(tempfile.mkdtemp(prefix="stockpipe-secure-check-"))
    (work / "secrets").mkdir(mode=0o700)
    password_files = {}
    for user, password in passwords.items():
        path = work / "secrets" / user
        path.write_text(password + "\n")
        path.chmod(0o600)
        password_files[user] = path
    external = ",".join(f"{h.public}:{EXTERNAL_PORT}" for h in brokers)
    check = Checks()

    def env(user: str | None, **extra: str) -> dict[str, str]:
        settings = {
            "STOCKPIPE_STATE_DIR": str(work / "state"), "STOCKPIPE_BOOTSTRAP": external,
            "STOCKPIPE_TOPIC": TOPIC, "STOCKPIPE_GROUP_ID": GROUP, "STOCKPIPE_SECURITY_PROTOCOL": "SASL_SSL",
            "STOCKPIPE_SSL_CA_FILE": str(pki / "ca.pem"), "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
        }  # fmt: skip
        if user:
            settings |= {"STOCKPIPE_SASL_MECHANISM": "SCRAM-SHA-512", "STOCKPIPE_SASL_USERNAME": user,
                         "STOCKPIPE_SASL_PASSWORD_FILE": str(password_files[user])}  # fmt: skip
        base = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPIPE_")}
        return base | settings | extra

    print("1. refusals on the external listener, one line each; the internal listener wants a certificate")
    describe = ["topics", "describe", TOPIC]
    ok, line = one_line(stockpipe(describe, env(None, STOCKPIPE_SECURITY_PROTOCOL="PLAINTEXT"), 90), external)
    check(ok, f"anonymous (PLAINTEXT) refused: {line}")
    wrong = work / "secrets" / "wrong"
    wrong.write_text("not-the-password-at-all\n")
    ok, line = one_line(stockpipe(describe, env("producer", STOCKPIPE_SASL_PASSWORD_FILE=str(wrong)), 90),
                        "refused the login of user 'producer'")  # fmt: skip
    check(ok, f"wrong password refused: {line}")
    other = make_ca(work / "other-ca", "someone else's CA")
    ok, line = one_line(stockpipe(describe, env("producer", STOCKPIPE_SSL_CA_FILE=str(other.pem)), 90),
                        "TLS to Kafka at", "ssl_ca_file")  # fmt: skip
    check(ok, f"a CA the brokers' certificates do not chain to refused: {line}")
    internal = f"{brokers[0].private}:{INTERNAL_PORT}"
    admin = AdminClient({"bootstrap.servers": internal, "security.protocol": "SSL",
                         "ssl.ca.location": str(pki / "ca.pem"), "log_level": 0})  # fmt: skip
    try:
        admin.list_topics(timeout=10)
        check(False, f"the internal listener {internal} answered a client without a certificate")
    except Exception as exc:  # any failure is the refusal; it is printed
        check(True, f"the internal listener {internal} refuses a client without a certificate ({exc})")
    del admin  # its handle would keep retrying the handshake in the background

    racks = {}
    ca = str(pki / "ca.pem")
    admin = AdminClient({"bootstrap.servers": external, "security.protocol": "SASL_SSL",
                         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
                         "sasl.password": passwords["admin"], "ssl.ca.location": ca})  # fmt: skip
    for node in admin.describe_cluster(request_timeout=30).result(timeout=60).nodes:
        racks[node.id] = node.rack
    del admin
    wanted_racks = {i: f"lab-zone-{z}" for i, z in zip((1, 2, 3), "abc", strict=True)}
    check(racks == wanted_racks, f"each broker in its zone (broker.rack from kafka_rack): {racks}")

    print("2. rows flow as the producer and sink principals, each once")
    source = work / "source"
    made = stockpipe(["sample", "--out", str(source), "--tickers", "5", "--days", "40"], env(None))
    if made.returncode != 0:
        raise Failed(f"stockpipe sample: {made.stderr.strip()[-400:]}")
    rows = int(made.stdout.split()[1].replace(",", ""))
    produced = stockpipe(["produce", "--source", str(source), "--no-progress"], env("producer"), 180)
    check(produced.returncode == 0, f"the producer produced {rows} rows ({produced.stderr.strip()[-300:]})")
    lake = work / "lake"
    sunk = stockpipe(["sink", "--idle-timeout", "10", "--no-progress", "--lake", str(lake)], env("sink"), 240)
    wrote = sunk.stdout + sunk.stderr
    check(sunk.returncode == 0 and f"wrote {rows:,} rows" in wrote,
          f"the sink principal wrote every row once ({rows:,}): {wrote.strip()[-300:]}")  # fmt: skip

    print("3. each principal does its job and nothing else")
    sink = ["sink", "--idle-timeout", "5", "--no-progress", "--lake"]
    produce = ["produce", "--source", str(source), "--no-progress", "--force"]
    denied = [
        ("the producer cannot read the topic", [*sink, str(work / "l2")], env("producer"), "producer"),
        ("the sink cannot write", produce, env("sink"), "sink"),
        ("the producer cannot write another topic", produce,
         env("producer", STOCKPIPE_TOPIC="someone-elses-topic"), "someone-elses-topic"),
        ("the sink cannot use another group", [*sink, str(work / "l3")],
         env("sink", STOCKPIPE_GROUP_ID="someone-elses"), "someone-elses"),
    ]  # fmt: skip
    for what, command, settings, named in denied:
        ok, line = one_line(stockpipe(command, settings), "not authorized", named)
        check(ok, f"{what}: {line}")

    print("4. no password in the play output, the process lists or /etc/kafka; files readable by owners only")
    name = f"{args.scenario}-converge.log"
    text = (artifacts / name).read_text(errors="replace")
    leaked = sorted(u for u, p in passwords.items() if p in text)
    check(not leaked, f"{name}: no password in the play's output (found: {leaked})")
    for host in hosts:
        processes = ssh(host.private, "ps -eo args")
        leaked = sorted(u for u, p in passwords.items() if p in processes)
        check(not leaked, f"{host.name}: no password in any process's arguments (found: {leaked})")
        found = ssh(host.private, "cat /etc/kafka/* /etc/kafka/tls/ca.pem 2>/dev/null || true")
        leaked = sorted(u for u, p in passwords.items() if p in found)
        check(not leaked, f"{host.name}: no password in /etc/kafka (found: {leaked})")
        modes = ssh(host.private, f"stat -c '%n %a %U %G' {KEYSTORE} {ADMIN}").splitlines()
        wanted = [f"{KEYSTORE} 640 root kafka", f"{ADMIN} 600 root root"]
        check(modes == wanted, f"{host.name}: key 0640 root:kafka, the tools' settings 0600 root ({modes})")
    return check.done()


if __name__ == "__main__":
    main_guard(main)
