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


def role_entries(grants: tuple[Grant, ...]) -> list[dict[str, str]]:
    """The grants as roles/kafka's `kafka_acls` entries (what the role gives kafka-acls.sh to add)."""
    return [
        {"principal": g.principal, "resource": g.kind, "name": g.name, "operation": g.operation}
        for g in grants
    ]


def main(argv: list[str] | None = None) -> None:
    """`python -m pipeline.kafka.acls TOPIC GROUP [CANARY]`: the pipeline's grants as JSON for the kafka
    role (playbooks/vars/kafka-acls.yml), so the role applies this rule rather than a copy of it."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m pipeline.kafka.acls")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("canary", nargs="?", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(role_entries(pipeline_grants(args.topic, args.group, canary=args.canary))))


if __name__ == "__main__":
    main()
