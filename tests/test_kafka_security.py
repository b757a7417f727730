"""The pipeline's clients on a secured listener: SASL_SSL with SCRAM-SHA-512, a private CA, the standard
authorizer and least-privilege ACLs (producer: write the topic; sink: read the topic with its group).

Real Kafka on 127.0.0.1 (pipeline/local/kafka.py SecureListener); both client libraries. Checked: rows
flow end to end as the two principals; anonymous clients, wrong passwords and untrusted CAs are refused
with one line each; each principal can do its job and nothing else; the password never shows in a
process's arguments or in the commands' output. (The cluster side of issue 13, the kafka role's TLS and
ACLs, is tested on the lab hosts.)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from fixtures_faults import cli, cli_env, lake_counts, spawn_cli, wait_until
from fixtures_kafka import start_cluster
from tls import make_ca

from pipeline.local.kafka import KafkaCluster, SecureListener

pytestmark = pytest.mark.integration

TOPIC = "secure-prices"
GROUP = "secure-sink"
CLIENTS = ["confluent", "kafka-python"]


@dataclass(frozen=True)
class Secured:
    cluster: KafkaCluster
    ca: Path
    other_ca: Path
    passwords: dict[str, Path]  # user -> password file (0600)

    def password(self, user: str) -> str:
        return self.passwords[user].read_text().strip()

    def env(self, state: Path, user: str, client: str = "confluent", **extra: str) -> dict[str, str]:
        """A stockpipe command's environment as `user`: the password from a file, never an argument."""
        settings = {
            "STOCKPIPE_BOOTSTRAP": self.cluster.secure_bootstrap,
            "STOCKPIPE_TOPIC": TOPIC,
            "STOCKPIPE_CLIENT": client,
            "STOCKPIPE_SECURITY_PROTOCOL": "SASL_SSL",
            "STOCKPIPE_SASL_MECHANISM": "SCRAM-SHA-512",
            "STOCKPIPE_SASL_USERNAME": user,
            "STOCKPIPE_SASL_PASSWORD_FILE": str(self.passwords[user]),
            "STOCKPIPE_SSL_CA_FILE": str(self.ca),
        }
        return cli_env(state, **(settings | extra))


def _acl(user: str, kind: ResourceType, name: str, op: AclOperation) -> AclBinding:
    return AclBinding(
        kind, name, ResourcePatternType.LITERAL, f"User:{user}", "*", op, AclPermissionType.ALLOW
    )


@pytest.fixture(scope="module")
def secured(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("secure-kafka")
    ca = make_ca(work / "pki")
    other = make_ca(work / "other-pki", "someone else's CA")
    keystore = ca.server(work / "pki", "node-1", ["127.0.0.1", "localhost"])
    cluster = start_cluster(
        kafka_home, work / "kafka", nodes=1, secure=SecureListener(lambda _node: keystore)
    )
    passwords: dict[str, Path] = {}
    for user in ("admin", "producer", "sink"):
        path = work / f"{user}.password"
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
        passwords[user] = path
    # Set up through the PLAINTEXT listener, whose principal is a super user (test cluster only).
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upserts = [
        UserScramCredentialUpsertion(u, info, p.read_text().strip().encode()) for u, p in passwords.items()
    ]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(30)
    admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(30)
    acls = [
        _acl("producer", ResourceType.TOPIC, TOPIC, AclOperation.WRITE),
        _acl("producer", ResourceType.TOPIC, TOPIC, AclOperation.DESCRIBE),
        _acl("sink", ResourceType.TOPIC, TOPIC, AclOperation.READ),
        _acl("sink", ResourceType.TOPIC, TOPIC, AclOperation.DESCRIBE),
        _acl("sink", ResourceType.GROUP, GROUP, AclOperation.READ),
    ]
    for future in admin.create_acls(acls).values():
        future.result(30)
    yield Secured(cluster, ca.pem, other.pem, passwords)
    cluster.close()


def _source(tmp_path: Path, rows: int) -> tuple[Path, int]:
    out = tmp_path / f"src-{uuid.uuid4().hex[:6]}"
    made = cli(
        ["sample", "--out", str(out), "--tickers", "5", "--days", str(rows // 5)], cli_env(tmp_path / "s")
    )
    assert made.returncode == 0, made.stderr
    return out, int(made.stdout.split()[1].replace(",", ""))


def _one_line(done, *phrases: str) -> str:  # type: ignore[no-untyped-def]
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    for phrase in phrases:
        assert phrase in line, line
    return line


@pytest.mark.parametrize("client", CLIENTS)
def test_rows_flow_through_the_secured_listener_as_the_producer_and_sink_principals(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    source, rows = _source(tmp_path, 200)
    state = tmp_path / "state"
    produced = cli(
        ["produce", "--source", str(source), "--no-progress", "--force"],
        secured.env(state, "producer", client),
    )
    assert produced.returncode == 0, produced.stderr
    lake = tmp_path / "lake"
    sink = spawn_cli(
        [
            "sink",
            "--group",
            GROUP,
            "--lake",
            str(lake),
            "--idle-timeout",
            "6",
            "--no-progress",
            "--session-timeout-ms",
            "6000",
        ],
        secured.env(state, "sink", client),
        tmp_path / "sink.log",
    )
    try:
        wait_until("the sink to run", lambda: sink.poll() is not None or (tmp_path / "sink.log").exists(), 30)
        args = Path(f"/proc/{sink.pid}/cmdline").read_bytes() if sink.poll() is None else b""
        assert secured.password("sink").encode() not in args
        assert sink.wait(180) == 0, (tmp_path / "sink.log").read_text()[-3000:]
    finally:
        if sink.poll() is None:
            sink.kill()
    output = produced.stdout + produced.stderr + (tmp_path / "sink.log").read_text()
    assert not any(secured.password(u) in output for u in ("producer", "sink"))
    counted, distinct = lake_counts(str(lake), state)
    assert counted == distinct and counted >= rows  # the topic is shared by both client runs


@pytest.mark.parametrize("client", CLIENTS)
def test_anonymous_wrong_password_and_untrusted_ca_are_each_one_clear_line(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    list_topic = ["topics", "describe", TOPIC]
    anonymous = secured.env(state, "producer", client, STOCKPIPE_SECURITY_PROTOCOL="PLAINTEXT")
    for key in ("STOCKPIPE_SASL_USERNAME", "STOCKPIPE_SASL_PASSWORD_FILE", "STOCKPIPE_SASL_MECHANISM"):
        anonymous.pop(key)
    _one_line(cli(list_topic, anonymous, timeout_s=60), secured.cluster.secure_bootstrap)

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    bad_login = cli(
        list_topic, secured.env(state, "producer", client, STOCKPIPE_SASL_PASSWORD_FILE=str(wrong)), 60
    )
    _one_line(bad_login, "refused the login of user 'producer'")

    untrusted = cli(
        list_topic, secured.env(state, "producer", client, STOCKPIPE_SSL_CA_FILE=str(secured.other_ca)), 60
    )
    _one_line(untrusted, "TLS to Kafka at", "ssl_ca_file")


@pytest.mark.parametrize("client", CLIENTS)
def test_each_principal_can_do_its_job_and_nothing_else(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    source, _rows = _source(tmp_path, 50)
    state = tmp_path / "state"
    # The producer may not read the topic, the sink may not write it nor use another group.
    sink = ["sink", "--idle-timeout", "5", "--no-progress"]
    reads = cli(
        [*sink, "--group", GROUP, "--lake", str(tmp_path / "l1")], secured.env(state, "producer", client), 120
    )
    _one_line(reads, "not authorized", "producer")
    writes = cli(
        ["produce", "--source", str(source), "--no-progress", "--force"],
        secured.env(state, "sink", client),
        120,
    )
    _one_line(writes, "not authorized", "sink")
    other_group = cli(
        [*sink, "--group", "someone-elses", "--lake", str(tmp_path / "l2")],
        secured.env(state, "sink", client),
        120,
    )
    _one_line(other_group, "not authorized", "someone-elses")
