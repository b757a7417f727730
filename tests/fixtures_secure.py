"""A secured Kafka listener for integration tests: SASL_SSL with SCRAM-SHA-512, a private CA, the standard
authorizer and the pipeline's least-privilege ACLs (pipeline/kafka/acls.py).

Registered as a pytest plugin by conftest.py.
- `secured` (session): one real KRaft node on 127.0.0.1 with a SASL_SSL listener (`cluster.secure_bootstrap`)
  beside its PLAINTEXT one; SCRAM users admin, producer, sink and canary whose passwords sit in 0600 files;
  the topic `SECURE_TOPIC` (3 partitions) and the ACLs of `pipeline_grants(SECURE_TOPIC, SECURE_GROUP,
  canary="canary")`. `other_ca` is a CA the broker's certificate does not chain to.
"""

from __future__ import annotations

import secrets
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
from fixtures_faults import cli_env
from fixtures_kafka import start_cluster
from tls import make_ca

from pipeline.kafka.acls import Grant, pipeline_grants
from pipeline.local.kafka import KafkaCluster, SecureListener

SECURE_TOPIC = "secure-prices"
SECURE_GROUP = "secure-sink"
USERS = ("admin", "producer", "sink", "canary")


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
            "STOCKPIPE_TOPIC": SECURE_TOPIC,
            "STOCKPIPE_CLIENT": client,
            "STOCKPIPE_SECURITY_PROTOCOL": "SASL_SSL",
            "STOCKPIPE_SASL_MECHANISM": "SCRAM-SHA-512",
            "STOCKPIPE_SASL_USERNAME": user,
            "STOCKPIPE_SASL_PASSWORD_FILE": str(self.passwords[user]),
            "STOCKPIPE_SSL_CA_FILE": str(self.ca),
        }
        return cli_env(state, **(settings | extra))


def _binding(grant: Grant) -> AclBinding:
    kind = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}[grant.kind]
    operation = AclOperation[grant.operation.upper()]
    allow = AclPermissionType.ALLOW
    return AclBinding(kind, grant.name, ResourcePatternType.LITERAL, grant.principal, "*", operation, allow)


@pytest.fixture(scope="session")
def secured(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("secure-kafka")
    ca = make_ca(work / "pki")
    other = make_ca(work / "other-pki", "someone else's CA")
    keystore = ca.server(work / "pki", "node-1", ["127.0.0.1", "localhost"])
    cluster = start_cluster(
        kafka_home, work / "kafka", nodes=1, secure=SecureListener(lambda _node: keystore)
    )
    passwords: dict[str, Path] = {}
    for user in USERS:
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
    admin.create_topics([NewTopic(SECURE_TOPIC, 3, 1)])[SECURE_TOPIC].result(30)
    grants = pipeline_grants(SECURE_TOPIC, SECURE_GROUP, canary="canary")
    for future in admin.create_acls([_binding(g) for g in grants]).values():
        future.result(30)
    yield Secured(cluster, ca.pem, other.pem, passwords)
    cluster.close()
