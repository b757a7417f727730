"""Client-side checks of a role-provisioned Kafka cluster (run by the molecule verify playbook).

For every broker given as PRIVATE=PUBLIC:
- its external listener (PUBLIC:9092) answers and the metadata lists exactly PUBLIC:9092;
- its internal listener (PRIVATE:9091) answers and the metadata lists exactly PRIVATE:9091;
- the topic exists with the configured partition count;
- a record produced through its external listener is consumed back through another broker.
For every ZooKeeper server given: `srvr` answers; the ensemble has exactly one leader, the rest followers.
Exits non-zero with one line per failed check.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

EXTERNAL_PORT = 9092
INTERNAL_PORT = 9091
DEADLINE_S = 30.0


def metadata_brokers(bootstrap: str, topic: str) -> tuple[set[str], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"verify-{uuid.uuid4().hex}"})
    try:
        md = consumer.list_topics(timeout=10)
        brokers = {f"{b.host}:{b.port}" for b in md.brokers.values()}
        partitions = len(md.topics[topic].partitions) if topic in md.topics else -1
        return brokers, partitions
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 15000})
    producer.produce(topic, value=value, key=b"verify", on_delivery=lambda e, _m: e and errors.append(str(e)))
    if producer.flush(20) != 0 or errors:
        raise KafkaException(f"delivery through {bootstrap} failed: {errors or 'timeout'}")


def consume_all(bootstrap: str, topic: str, partitions: int, wanted: set[bytes]) -> set[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"verify-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", action="append", default=[], help="PRIVATE=PUBLIC address pair")
    parser.add_argument("--zookeeper", action="append", default=[])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    args = parser.parse_args()
    failures: list[str] = []
    passed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal passed
        if ok:
            passed += 1
            print(f"ok   {what}")
        else:
            failures.append(what)
            print(f"FAIL {what}")

    pairs = [b.split("=", 1) for b in args.broker]
    if not pairs:
        check(False, "at least one --broker given")
    for private, public in pairs:
        for address, port in ((public, EXTERNAL_PORT), (private, INTERNAL_PORT)):
            bootstrap = f"{address}:{port}"
            try:
                brokers, partitions = metadata_brokers(bootstrap, args.topic)
            except KafkaException as exc:
                check(False, f"{bootstrap} answers metadata ({exc})")
                continue
            check(
                brokers == {bootstrap}, f"{bootstrap} advertises exactly {bootstrap} (got {sorted(brokers)})"
            )
            check(
                partitions == args.partitions,
                f"{bootstrap} has topic {args.topic} with {args.partitions} partitions (got {partitions})",
            )
    run = uuid.uuid4().hex
    sent: dict[str, bytes] = {}
    for _private, public in pairs:
        value = f"verify {run} via {public}".encode()
        try:
            produce(f"{public}:{EXTERNAL_PORT}", args.topic, value)
            sent[public] = value
            check(True, f"produced a record through {public}:{EXTERNAL_PORT}")
        except KafkaException as exc:
            check(False, f"produce through {public}:{EXTERNAL_PORT} ({exc})")
    if sent:
        publics = [p for _, p in pairs]
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
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
