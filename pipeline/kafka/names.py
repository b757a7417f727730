"""Kafka's own naming rule for topics (kafka.common.internals.Topic): checked before anything connects."""

from __future__ import annotations

import re

TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
_TOPIC = re.compile(TOPIC_PATTERN)


def topic_problem(name: object) -> str | None:
    """Why Kafka would refuse `name` as a topic, or None."""
    if not isinstance(name, str) or not _TOPIC.match(name) or name in (".", ".."):
        return f"topic {name!r} must be 1-249 of the characters A-Z a-z 0-9 . _ - (and not '.' or '..')"
    return None


def servers(bootstrap: str) -> list[str]:
    """The HOST:PORT entries of a bootstrap list, as every client and check reads it."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def bootstrap_problem(bootstrap: object) -> str | None:
    """Why `bootstrap` is not a list of HOST:PORT (PORT 1-65535), or None."""
    if not isinstance(bootstrap, str) or not bootstrap.strip():
        return f"bootstrap {bootstrap!r} must be HOST:PORT[,HOST:PORT...]"
    if "," in bootstrap and len(servers(bootstrap)) != bootstrap.count(",") + 1:
        return f"bootstrap {bootstrap!r} has an empty entry between commas"
    for server in servers(bootstrap):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            return f"bootstrap server {server!r} is not HOST:PORT with a port 1-65535"
    return None


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def unreachable_hint(bootstrap: str) -> str:
    """What to do when no broker answered at `bootstrap`: start the local broker on that port (its
    address is then every command's default) or point at a running one."""
    listed = servers(bootstrap)
    host, _, port = (listed[0] if listed else "").rpartition(":")
    if host in _LOCAL_HOSTS and len(listed) == 1:
        local = "`stockpipe local up`" if port == "9092" else f"`stockpipe local up --port {port}`"
        return f"start it with {local}, or pass --bootstrap HOST:PORT of a running broker"
    return "check the address and that the brokers are up, or pass --bootstrap HOST:PORT of a running broker"
