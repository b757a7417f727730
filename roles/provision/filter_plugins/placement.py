"""Where the provision role puts things: the CIDRs of the subnets it creates, and which subnet each
instance it launches goes into (one rule, here; tests/test_aws_topology.py checks it without AWS).

- Brokers are placed by their broker id (the KafkaNodeId tag): broker n goes to subnet (n - 1) mod k of
  the cluster's k subnets, so ids 1, 2, 3 land in three zones, and a replacement broker (which takes the
  id of the one it replaces) lands in that broker's zone. A broker whose data volume already exists goes
  to the zone of that volume, whatever the rule says: an EBS volume attaches only in its own zone.
- Dedicated KRaft controllers have the ids first_id, first_id + 1, ... (the KafkaNodeId tag, set at
  launch) and controller i goes to subnet i mod k: three controllers, three zones.
- ZooKeeper hosts (the controller group of a ZooKeeper cluster) are spread round-robin: subnet i gets
  count // k hosts, plus one for the first count % k subnets.
- The other roles (pipeline, monitoring) go into the first subnet.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

# Roles spread over the zones by count (brokers are placed by id instead).
SPREAD_ROLES = ("zookeeper",)


def provision_free_cidrs(vpc_cidr: str, taken: list[str], count: int, prefix: int = 24) -> list[str]:
    """The first `count` blocks of size /prefix inside vpc_cidr that overlap none of `taken`, from the
    top of the range down (a default VPC's own subnets sit at the bottom)."""
    vpc = ipaddress.ip_network(vpc_cidr)
    used = [ipaddress.ip_network(c) for c in taken]
    if prefix < vpc.prefixlen:
        raise AnsibleFilterError(f"a /{prefix} subnet does not fit in the VPC's {vpc_cidr}")
    free: list[str] = []
    for block in reversed(list(vpc.subnets(new_prefix=prefix))):
        if len(free) == int(count):
            break
        if not any(block.overlaps(u) for u in used):
            free.append(str(block))
    if len(free) < int(count):
        raise AnsibleFilterError(
            f"the VPC {vpc_cidr} has only {len(free)} free /{prefix} blocks, {count} needed: "
            "set provision_subnet_cidrs or provision_subnet_ids"
        )
    return free


def provision_broker_ids(live_ids: list[Any], count: int) -> dict[str, list[int]]:
    """Which broker ids to launch and which to terminate so that `count` brokers run: the lowest
    `count` live ids stay, the highest beyond them go, and the missing ones are the lowest ids no live
    broker carries (a replacement takes the id of the broker it replaces)."""
    live = sorted(int(i) for i in live_ids)
    want = int(count)
    free = (i for i in range(1, want + len(live) + 1) if i not in live)
    return {"new": [next(free) for _ in range(max(want - len(live), 0))], "extra": live[want:]}


def provision_spread(count: int, subnets: list[str]) -> list[int]:
    """How many of `count` hosts go into each subnet, round-robin."""
    k = len(subnets)
    return [int(count) // k + (1 if i < int(count) % k else 0) for i in range(k)]


def provision_broker_subnet(node_id: int, subnets: list[str], zones: list[str], volume_zone: str = "") -> str:
    """The subnet of broker `node_id`: the zone of its existing data volume, else round-robin by id."""
    if volume_zone:
        if volume_zone not in zones:
            raise AnsibleFilterError(
                f"the data volume of broker {node_id} is in {volume_zone}, where the cluster has no subnet "
                f"({', '.join(zones)}): add a subnet there (provision_zones or provision_subnet_ids) "
                "or delete that volume"
            )
        return subnets[zones.index(volume_zone)]
    return subnets[(int(node_id) - 1) % len(subnets)]


def provision_launch_plan(
    roles: list[dict[str, Any]],
    subnets: list[str],
    zones: list[str],
    new_broker_ids: list[int],
    volume_zones: dict[str, str],
) -> list[dict[str, Any]]:
    """One entry per ec2_instance call: the role's settings plus `subnet`, `count` and the extra
    `filters` (which instances this call counts) and `tags` (what a new instance carries).

    Brokers: one call per new broker id (count 1, tagged and filtered by KafkaNodeId); existing brokers
    are left alone. Dedicated controllers: one call per id (count 1, filtered by it: a rerun finds it,
    and a lower count terminates none). Spread roles: one call per subnet (filtered by subnet, a count
    of 0 terminates the role's hosts in that subnet). Other roles: one call in the first subnet."""
    if not subnets or len(subnets) != len(zones):
        raise AnsibleFilterError(f"subnets {subnets} and zones {zones} must be two lists of the same length")
    plan: list[dict[str, Any]] = []
    for role in roles:
        name = role["role"]
        if name == "kafka":
            for node_id in new_broker_ids:
                subnet = provision_broker_subnet(node_id, subnets, zones, volume_zones.get(str(node_id), ""))
                plan.append(
                    role
                    | {
                        "count": 1,
                        "subnet": subnet,
                        "filters": {"tag:KafkaNodeId": str(node_id)},
                        "tags": {"KafkaNodeId": str(node_id)},
                        "label": f"kafka {node_id} in {zones[subnets.index(subnet)]}",
                    }
                )
        elif name == "kafka_controller":
            for i in range(int(role["count"])):
                node_id = int(role["first_id"]) + i
                plan.append(
                    role
                    | {
                        "count": 1,
                        "subnet": subnets[i % len(subnets)],
                        "filters": {"tag:KafkaNodeId": str(node_id)},
                        "tags": {"KafkaNodeId": str(node_id)},
                        "label": f"kafka_controller {node_id} in {zones[i % len(subnets)]}",
                    }
                )
        elif name in SPREAD_ROLES:
            for subnet, zone, count in zip(
                subnets, zones, provision_spread(int(role["count"]), subnets), strict=True
            ):
                plan.append(
                    role
                    | {
                        "count": count,
                        "subnet": subnet,
                        "filters": {"subnet-id": subnet},
                        "tags": {},
                        "label": f"{name} x{count} in {zone}",
                    }
                )
        else:
            plan.append(
                role
                | {
                    "count": int(role["count"]),
                    "subnet": subnets[0],
                    "filters": {},
                    "tags": {},
                    "label": f"{name} x{role['count']} in {zones[0]}",
                }
            )
    return plan


class FilterModule:
    """The placement rules of roles/provision."""

    def filters(self) -> dict[str, Any]:
        return {
            "provision_free_cidrs": provision_free_cidrs,
            "provision_broker_ids": provision_broker_ids,
            "provision_spread": provision_spread,
            "provision_broker_subnet": provision_broker_subnet,
            "provision_launch_plan": provision_launch_plan,
        }
