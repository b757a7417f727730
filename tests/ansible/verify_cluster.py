"""Client-side checks of a role-provisioned Kafka cluster (molecule verify; rolling.py after its rolls).

Brokers are given as ID=PRIVATE=PUBLIC (the configured kafka_node_id, internal and advertised address):
- metadata through each broker's external listener (PUBLIC:9092) lists every broker, each with exactly
  its configured id and PUBLIC:9092; through each internal listener (PRIVATE:9091), each with PRIVATE:9091;
- the topic has the configured partitions, each with --replication-factor replicas, all in sync, and
  its effective min.insync.replicas is --min-isr (DescribeConfigs);
- a record produced (acks=all) through each external listener is consumed back through another broker;
- ZooKeeper mode (--zookeeper): one leader and the rest followers (`srvr`), and /brokers/ids holds
  exactly the configured ids, each registered with its configured INTERNAL and EXTERNAL endpoints.
With --secured NAME (a SASL_SSL cluster, the role's default), the external clients log in as admin with
the lab's CA, the internal ones present broker NAME's certificate, and ZooKeeper also lists each broker's
CLIENT endpoint (PRIVATE:9094). Exits non-zero with one line per failed check.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from hostlib import Checks, lab_broker_identity, lab_login

EXTERNAL_PORT = 9092
INTERNAL_PORT = 9091
CLIENT_PORT = 9094
DEADLINE_S = 30.0
#: Extra client settings per listener port (--secured): the logins of a SASL_SSL cluster.
LOGINS: dict[int, dict[str, object]] = {}


def client(bootstrap: str, **settings: object) -> dict[str, object]:
    """The client settings for `bootstrap`, with the login of its listener when the cluster is secured."""
    port = int(bootstrap.rsplit(":", 1)[1])
    return {"bootstrap.servers": bootstrap, **LOGINS.get(port, {}), **settings}


def metadata(bootstrap: str, topic: str) -> tuple[dict[int, str], dict[int, tuple[list[int], list[int]]]]:
    """({broker id: host:port}, {partition: (replicas, isr)}) as the broker at `bootstrap` reports them."""
    consumer = Consumer(client(bootstrap, **{"group.id": f"verify-{uuid.uuid4().hex}"}))
    try:
        md = consumer.list_topics(timeout=10)
        brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
        parts = md.topics[topic].partitions if topic in md.topics else {}
        return brokers, {p.id: (sorted(p.replicas), sorted(p.isrs)) for p in parts.values()}
    finally:
        consumer.close()


def topic_config(bootstrap: str, topic: str, name: str) -> str | None:
    admin = AdminClient(client(bootstrap))
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=15)
    config = next(iter(futures.values())).result(timeout=20)
    entry = config.get(name)
    return entry.value if entry is not None else None


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    errors: list[str] = []
    producer = Producer(client(bootstrap, acks="all", **{"message.timeout.ms": 15000}))
    producer.produce(topic, value=value, key=b"verify", on_delivery=lambda e, _m: e and errors.append(str(e)))
    if producer.flush(20) != 0 or errors:
        raise KafkaException(f"delivery through {bootstrap} failed: {errors or 'timeout'}")


def consume_all(bootstrap: str, topic: str, partitions: int, wanted: set[bytes]) -> set[bytes]:
    consumer = Consumer(
        client(bootstrap, **{"group.id": f"verify-{uuid.uuid4().hex}", "enable.auto.commit": False})
    )
    found: set[bytes] = set()
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + DEADLINE_S
        while found != wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.value() in wanted:
                found.add(msg.value())
    finally:
        consumer.close()
    return found


def zookeeper_mode(host: str) -> str:
    try:
        with socket.create_connection((host, 2181), timeout=5) as sock:
            sock.sendall(b"srvr")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError as exc:
        return f"unreachable ({exc})"
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line.removeprefix("Mode: ").strip()
    return "no mode in reply"


def zookeeper_registrations(hosts: list[str]) -> dict[int, list[str]]:
    """{broker id: endpoints} from /brokers/ids, read with kazoo."""
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=",".join(f"{h}:2181" for h in hosts), timeout=10, read_only=True)
    zk.start(timeout=15)
    try:
        registered = {}
        for child in zk.get_children("/brokers/ids"):
            data, _stat = zk.get(f"/brokers/ids/{child}")
            registered[int(child)] = sorted(json.loads(data)["endpoints"])
        return registered
    finally:
        zk.stop()
        zk.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", action="append", default=[], help="ID=PRIVATE=PUBLIC")
    parser.add_argument("--zookeeper", action="append", default=[])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--replication-factor", type=int, required=True)
    parser.add_argument("--min-isr", type=int, required=True)
    parser.add_argument(
        "--secured", metavar="NAME", help="SASL_SSL cluster; internal clients present NAME's cert"
    )
    args = parser.parse_args()
    check = Checks()
    if args.secured:
        LOGINS.update({EXTERNAL_PORT: lab_login("admin"), INTERNAL_PORT: lab_broker_identity(args.secured)})

    brokers = {int(i): (private, public) for i, private, public in (b.split("=", 2) for b in args.broker)}
    if not brokers:
        check(False, "at least one --broker given")
    expected = {
        "EXTERNAL": {i: f"{public}:{EXTERNAL_PORT}" for i, (_private, public) in brokers.items()},
        "INTERNAL": {i: f"{private}:{INTERNAL_PORT}" for i, (private, _public) in brokers.items()},
    }
    partitions: dict[int, tuple[list[int], list[int]]] = {}
    for node_id in sorted(brokers):
        for listener, addresses in expected.items():
            bootstrap = addresses[node_id]
            try:
                seen, partitions = metadata(bootstrap, args.topic)
            except KafkaException as exc:
                check(False, f"{listener} {bootstrap} answers metadata ({exc})")
                continue
            check(
                seen == addresses,
                f"{listener} {bootstrap} lists all {len(addresses)} brokers with their ids and advertised "
                f"{listener} address (got {dict(sorted(seen.items()))})",
            )
            check(
                len(partitions) == args.partitions,
                f"{listener} {bootstrap} has topic {args.topic} with {args.partitions} partitions "
                f"(got {len(partitions)})",
            )
    rf, ids = args.replication_factor, sorted(brokers)
    check(
        bool(partitions)
        and all(len(replicas) == rf and set(replicas) <= set(ids) for replicas, _isr in partitions.values()),
        f"every partition of {args.topic} has {rf} replicas on configured brokers "
        f"(got {sorted((p, r) for p, (r, _i) in partitions.items())})",
    )
    check(
        bool(partitions) and all(isr == replicas for replicas, isr in partitions.values()),
        f"every replica of {args.topic} is in sync "
        f"(got {sorted((p, i) for p, (_r, i) in partitions.items())})",
    )
    first = expected["EXTERNAL"][ids[0]] if ids else ""
    try:
        min_isr = topic_config(first, args.topic, "min.insync.replicas")
    except KafkaException as exc:
        min_isr = f"error: {exc}"
    check(
        min_isr == str(args.min_isr), f"{args.topic} has min.insync.replicas={args.min_isr} (got {min_isr})"
    )

    run = uuid.uuid4().hex
    sent: dict[str, bytes] = {}
    publics = [public for _private, public in brokers.values()]
    for public in publics:
        value = f"verify {run} via {public}".encode()
        try:
            produce(f"{public}:{EXTERNAL_PORT}", args.topic, value)
            sent[public] = value
            check(True, f"produced a record (acks=all) through {public}:{EXTERNAL_PORT}")
        except KafkaException as exc:
            check(False, f"produce through {public}:{EXTERNAL_PORT} ({exc})")
    if sent:
        for i in range(len(publics)):
            reader = publics[(i + 1) % len(publics)]
            found = consume_all(f"{reader}:{EXTERNAL_PORT}", args.topic, args.partitions, set(sent.values()))
            check(
                found == set(sent.values()),
                f"all {len(sent)} records consumed back through {reader}:{EXTERNAL_PORT} (got {len(found)})",
            )
    if args.zookeeper:
        modes = {host: zookeeper_mode(host) for host in args.zookeeper}
        leaders = [h for h, m in modes.items() if m == "leader"]
        followers = [h for h, m in modes.items() if m == "follower"]
        check(
            len(leaders) == 1 and len(followers) == len(modes) - 1,
            f"ZooKeeper has one leader and {len(modes) - 1} followers ({modes})",
        )
        wanted = {
            i: sorted(
                [f"EXTERNAL://{public}:{EXTERNAL_PORT}", f"INTERNAL://{private}:{INTERNAL_PORT}"]
                + ([f"CLIENT://{private}:{CLIENT_PORT}"] if args.secured else [])
            )
            for i, (private, public) in brokers.items()
        }
        try:
            registered: dict[int, list[str]] | str = zookeeper_registrations(args.zookeeper)
        except Exception as exc:
            registered = f"error: {exc}"
        check(
            registered == wanted,
            "/brokers/ids in ZooKeeper holds exactly the configured ids with their endpoints "
            f"(got {registered})",
        )
    return check.done()


if __name__ == "__main__":
    sys.exit(main())
