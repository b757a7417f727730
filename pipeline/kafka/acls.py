"""Least privilege for the pipeline's principals: what each one may do on the cluster, as data.

The rule lives here once; the tests apply it to a real broker with the standard authorizer and check
that each principal can do its job and nothing else:

- the producer writes (and describes) the pipeline topic; nothing else;
- the sink reads (and describes) the topic and uses its own consumer group; it cannot write;
- the canary writes a record to the topic and reads it back from its exact partition and offset
  (no consumer group).

Everything not granted is denied once an authorizer runs (`allow.everyone.if.no.acl.found=false`,
Kafka's default); the admin is a super user and needs no grant.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Operations as Kafka names them (`kafka-acls.sh --operation`, AclOperation in the admin APIs).
WRITE, READ, DESCRIBE = "Write", "Read", "Describe"


@dataclass(frozen=True)
class Grant:
    """One ALLOW entry: `principal` may do `operation` on the literal resource `kind` `name`."""

    user: str
    kind: str  # "topic" or "group"
    name: str
    operation: str

    @property
    def principal(self) -> str:
        return f"User:{self.user}"


def pipeline_grants(
    topic: str, group: str, producer: str = "producer", sink: str = "sink", canary: str | None = None
) -> tuple[Grant, ...]:
    """Every grant the pipeline needs on `topic` with the sink's consumer `group`; none beyond them."""
    grants = [
        Grant(producer, "topic", topic, WRITE),
        Grant(producer, "topic", topic, DESCRIBE),
        Grant(sink, "topic", topic, READ),
        Grant(sink, "topic", topic, DESCRIBE),
        Grant(sink, "group", group, READ),
    ]
    if canary:
        grants += [Grant(canary, "topic", topic, op) for op in (WRITE, READ, DESCRIBE)]
    return tuple(grants)
