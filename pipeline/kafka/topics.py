"""Topic administration for the commands (sink, produce, local up, topics create), through either client.

One-line errors: an unreachable broker names the address and how to start or point at one.
"""

from __future__ import annotations

from pipeline.errors import PipelineError
from pipeline.kafka import AdminClient, Unreachable, make_admin
from pipeline.kafka.names import unreachable_hint
from pipeline.kafka.security import PLAINTEXT, ClientSecurity, explain


def _unreachable(
    bootstrap: str, timeout_s: float, detail: object, security: ClientSecurity = PLAINTEXT
) -> PipelineError:
    """The one line for a broker that did not answer; an authentication or TLS failure says so instead."""
    explained = explain(str(detail), bootstrap, security)
    if explained is not None:
        return explained
    return PipelineError(
        f"cannot reach Kafka at {bootstrap} within {timeout_s:g} s ({detail})", unreachable_hint(bootstrap)
    )


def open_admin(
    bootstrap: str, timeout_s: float = 10, client: str = "confluent", security: ClientSecurity = PLAINTEXT
) -> AdminClient:
    """An admin client whose broker answered its first metadata request (the one-line error otherwise);
    the caller closes it."""
    try:
        admin = make_admin(client, bootstrap, timeout_s, security)
    except Unreachable as exc:
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    try:
        admin.brokers(timeout_s)
    except Unreachable as exc:
        admin.close()
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    return admin


def topic_partitions(
    bootstrap: str,
    topic: str,
    timeout_s: float = 10,
    client: str = "confluent",
    security: ClientSecurity = PLAINTEXT,
) -> int:
    """Partitions of `topic` (0 when it does not exist); a clear error when the broker is unreachable."""
    try:
        admin = make_admin(client, bootstrap, timeout_s, security)
    except Unreachable as exc:
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    try:
        return admin.partitions(topic, timeout_s)
    except Unreachable as exc:
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    finally:
        admin.close()


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    replication: int = -1,
    timeout_s: float = 10,
    client: str = "confluent",
    security: ClientSecurity = PLAINTEXT,
) -> bool:
    """Create `topic` if it does not exist; return True when it was created.

    `replication` -1 takes the cluster's `default.replication.factor` (3 on a cluster the role built).
    """
    try:
        admin = make_admin(client, bootstrap, timeout_s, security)
    except Unreachable as exc:
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    try:
        if admin.partitions(topic, timeout_s) > 0:
            return False
        return admin.create_topic(topic, partitions, replication, timeout_s)
    except Unreachable as exc:
        raise _unreachable(bootstrap, timeout_s, exc, security) from None
    finally:
        admin.close()
