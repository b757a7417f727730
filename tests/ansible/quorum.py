"""A KRaft cluster's node layout and controller quorum, as the role-test checkers see it: which hosts are
brokers and which dedicated controllers (their server.properties), the quorum as a controller reports it
(kafka-metadata-quorum.sh over the controller listener, with the node's own certificate), and the order a
roll must keep with dedicated controllers: the brokers first, the controllers after them, the one that led
the quorum before the roll last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hostlib import Checks, Host, ssh

CONTROLLER_PORT = 9093


@dataclass(frozen=True)
class Layout:
    brokers: list[Host]
    controllers: list[Host]  # dedicated (process.roles=controller); empty in combined mode
    ids: dict[str, int]  # host name -> node.id
    listeners: dict[str, str]  # host name -> listeners=


def read_layout(hosts: list[Host]) -> Layout:
    """Each host's role from its server.properties (combined broker,controller counts as a broker)."""
    props = {h.name: ssh(h.private, "cat /etc/kafka/server.properties") for h in hosts}

    def setting(name: str, key: str) -> str:
        found = re.findall(rf"(?m)^{re.escape(key)}=(.*)$", props[name])
        return found[0] if found else ""

    controllers = [h for h in hosts if setting(h.name, "process.roles") == "controller"]
    return Layout(
        brokers=[h for h in hosts if h not in controllers],
        controllers=controllers,
        ids={h.name: int(setting(h.name, "node.id") or -1) for h in hosts},
        listeners={h.name: setting(h.name, "listeners") for h in hosts},
    )


def quorum_status(controller: Host) -> dict[str, str]:
    """`kafka-metadata-quorum.sh describe --status` on a controller, as {field: value}."""
    out = ssh(
        controller.private,
        "KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/kafka-metadata-quorum.sh "
        f"--bootstrap-controller {controller.private}:{CONTROLLER_PORT} "
        "--command-config /etc/kafka/admin.properties describe --status 2>/dev/null",
    )
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def node_ids(value: str) -> set[int]:
    """The ids in a CurrentVoters/CurrentObservers value: [{"id": 1, ...}, ...] (Kafka 4) or [1, 2] (3.x)."""
    found = re.findall(r'"id":\s*(\d+)', value) or re.findall(r"\d+", value)
    return {int(i) for i in found}


def leader_id(status: dict[str, str]) -> int:
    return int(status.get("LeaderId", "-1").strip() or -1)


def check_layout(check: Checks, layout: Layout, brokers: int = 3, controllers: int = 3) -> None:
    """Dedicated controllers on the CONTROLLER listener only, brokers off it; the quorum's voters are the
    controllers, its observers the brokers, and it has a leader."""
    roles = {h.name: "controller" for h in layout.controllers} | {h.name: "broker" for h in layout.brokers}
    check(
        len(layout.brokers) == brokers and len(layout.controllers) == controllers,
        f"{brokers} brokers and {controllers} dedicated controllers (process.roles: {roles})",
    )
    check(
        all(re.fullmatch(rf"CONTROLLER://[\d.]+:{CONTROLLER_PORT}", layout.listeners[h.name]) for h in
            layout.controllers)
        and all("CONTROLLER://" not in layout.listeners[h.name] for h in layout.brokers),
        f"controllers listen on CONTROLLER only, brokers not on it ({layout.listeners})",
    )  # fmt: skip
    status = quorum_status(layout.controllers[0])
    controller_ids = {layout.ids[h.name] for h in layout.controllers}
    voters, leader = node_ids(status.get("CurrentVoters", "")), leader_id(status)
    check(
        voters == controller_ids and leader in controller_ids,
        f"the quorum's voters are the controllers {sorted(controller_ids)} (got {sorted(voters)}), "
        f"its leader one of them ({leader})",
    )
    observers = node_ids(status.get("CurrentObservers", ""))
    check(
        observers == {layout.ids[h.name] for h in layout.brokers},
        f"the brokers are the quorum's observers (got {sorted(observers)})",
    )


def leader_host(layout: Layout) -> str:
    """The name of the controller that leads the quorum now ("?" when none does)."""
    leader = leader_id(quorum_status(layout.controllers[0]))
    return next((h.name for h in layout.controllers if layout.ids[h.name] == leader), "?")


def leader_not_last(check: Checks, layout: Layout) -> str:
    """The name of the quorum's leader, made not the last controller in inventory order first: a leader
    last in that order too would not show that a roll restarts the leader last on purpose. Restarting it
    moves the leadership (its health check waits until it follows the new leader)."""
    leader, last = leader_host(layout), layout.controllers[-1]
    if leader == last.name:
        ssh(last.private, "systemctl restart kafka && /usr/local/sbin/kafka-health-check 120", timeout=180)
        moved = leader_host(layout)
        check.info(f"leader {leader} restarted before the roll: now {moved} leads")
        leader = moved
    check(leader not in ("?", last.name), f"the quorum's leader ({leader}) is not {last.name}")
    return leader


def check_roll_order(check: Checks, layout: Layout, order: list[str], leader_before: str, phase: str) -> None:
    """A roll's restarts (host names, in the order they began): the brokers first, the controllers after,
    the controller that led before the roll last; afterwards the quorum has the same voters and a leader."""
    brokers = {h.name for h in layout.brokers}
    check(
        len(order) == len(layout.brokers) + len(layout.controllers)
        and set(order[: len(brokers)]) == brokers
        and order[-1] == leader_before,
        f"{phase}: the brokers restarted first, the controllers after them, the leader before the roll "
        f"({leader_before}) last ({order})",
    )
    status = quorum_status(layout.controllers[-1])
    controller_ids = {layout.ids[h.name] for h in layout.controllers}
    check(
        node_ids(status.get("CurrentVoters", "")) == controller_ids and leader_id(status) in controller_ids,
        f"{phase}: after the roll the quorum has the same voters and a leader ({leader_id(status)})",
    )
