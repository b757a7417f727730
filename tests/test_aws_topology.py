"""The placement rules of roles/provision (filter_plugins/placement.py), without AWS: which subnet each
broker and host goes into, which broker ids are launched or terminated, which CIDRs new subnets take.
tests/test_aws_provisioning.py checks the same rules end to end against moto."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from role_plugins import load_role_plugin

SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.fixture(scope="module")
def placement() -> ModuleType:
    return load_role_plugin("provision/filter_plugins/placement.py")


def _roles(
    kafka: int = 3, zookeeper: int = 0, pipeline: int = 1, monitoring: int = 0
) -> list[dict[str, Any]]:
    counts = {"kafka": kafka, "zookeeper": zookeeper, "pipeline": pipeline, "monitoring": monitoring}
    return [{"role": r, "count": c, "type": "t3.small", "profile": ""} for r, c in counts.items()]


def test_dedicated_controllers_take_their_ids_and_one_zone_each(placement: ModuleType) -> None:
    roles = [
        *_roles(),
        {"role": "kafka_controller", "count": 3, "type": "t3.medium", "profile": "", "first_id": 9001},
    ]
    plan = placement.provision_launch_plan(roles, SUBNETS, ZONES, [], {})
    controllers = [p for p in plan if p["role"] == "kafka_controller"]
    assert [(c["tags"]["KafkaNodeId"], c["subnet"], c["count"], c["label"]) for c in controllers] == [
        ("9001", "subnet-a", 1, "kafka_controller 9001 in eu-west-1a"),
        ("9002", "subnet-b", 1, "kafka_controller 9002 in eu-west-1b"),
        ("9003", "subnet-c", 1, "kafka_controller 9003 in eu-west-1c"),
    ]
    # Each call counts only its own id: a rerun finds it, and no call terminates another controller.
    assert all(c["filters"] == {"tag:KafkaNodeId": c["tags"]["KafkaNodeId"]} for c in controllers)
    no_controllers = [{**r, "count": 0} if r["role"] == "kafka_controller" else r for r in roles]
    assert not [p for p in placement.provision_launch_plan(no_controllers, SUBNETS, ZONES, [], {})
                if p["role"] == "kafka_controller"]  # fmt: skip


def test_brokers_one_two_three_land_in_three_zones_and_the_fourth_wraps_around(placement: ModuleType) -> None:
    plan = placement.provision_launch_plan(_roles(kafka=4), SUBNETS, ZONES, [1, 2, 3, 4], {})
    brokers = [p for p in plan if p["role"] == "kafka"]
    assert [(b["tags"]["KafkaNodeId"], b["subnet"], b["count"]) for b in brokers] == [
        ("1", "subnet-a", 1),
        ("2", "subnet-b", 1),
        ("3", "subnet-c", 1),
        ("4", "subnet-a", 1),
    ]
    assert all(b["filters"] == {"tag:KafkaNodeId": b["tags"]["KafkaNodeId"]} for b in brokers)


def test_a_replacement_broker_goes_where_its_data_volume_is(placement: ModuleType) -> None:
    """Broker 2's volume is in zone c (the subnets were reordered since): broker 2 follows its volume."""
    plan = placement.provision_launch_plan(
        _roles(), SUBNETS, ZONES, [2], {"2": "eu-west-1c", "1": "eu-west-1a"}
    )
    (broker,) = [p for p in plan if p["role"] == "kafka"]
    assert (broker["subnet"], broker["label"]) == ("subnet-c", "kafka 2 in eu-west-1c")


def test_a_broker_whose_volume_is_in_a_zone_without_subnet_is_refused_naming_the_fix(
    placement: ModuleType,
) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=r"volume of broker 2 is in eu-west-1d.*provision_zones"):
        placement.provision_launch_plan(_roles(), SUBNETS, ZONES, [2], {"2": "eu-west-1d"})


def test_zookeeper_hosts_spread_round_robin_and_other_hosts_go_to_the_first_subnet(
    placement: ModuleType,
) -> None:
    plan = placement.provision_launch_plan(_roles(zookeeper=5, monitoring=1), SUBNETS, ZONES, [], {})
    zookeeper = [(p["subnet"], p["count"], p["filters"]) for p in plan if p["role"] == "zookeeper"]
    assert zookeeper == [
        ("subnet-a", 2, {"subnet-id": "subnet-a"}),
        ("subnet-b", 2, {"subnet-id": "subnet-b"}),
        ("subnet-c", 1, {"subnet-id": "subnet-c"}),
    ]
    others = [(p["role"], p["subnet"], p["count"]) for p in plan if p["role"] in ("pipeline", "monitoring")]
    assert others == [("pipeline", "subnet-a", 1), ("monitoring", "subnet-a", 1)]
    assert not [p for p in plan if p["role"] == "kafka"], "no new broker id, no broker launch"


def test_new_broker_ids_fill_the_lowest_gaps_and_the_highest_ids_go_first(placement: ModuleType) -> None:
    assert placement.provision_broker_ids([], 3) == {"new": [1, 2, 3], "extra": []}
    assert placement.provision_broker_ids(["1", "3"], 3) == {"new": [2], "extra": []}
    assert placement.provision_broker_ids(["3", "1", "2"], 3) == {"new": [], "extra": []}
    assert placement.provision_broker_ids(["1", "2", "5"], 4) == {"new": [3], "extra": []}
    assert placement.provision_broker_ids(["4", "1", "2", "3"], 2) == {"new": [], "extra": [3, 4]}


def test_new_subnets_take_free_blocks_from_the_top_of_the_vpc(placement: ModuleType) -> None:
    default_subnets = [f"172.31.{16 * i}.0/20" for i in range(6)]  # a default VPC's, us-east-1
    assert placement.provision_free_cidrs("172.31.0.0/16", default_subnets, 3) == [
        "172.31.255.0/24",
        "172.31.254.0/24",
        "172.31.253.0/24",
    ]
    # a second cluster in the same VPC skips the first one's subnets
    taken = [*default_subnets, "172.31.255.0/24", "172.31.254.0/24", "172.31.253.0/24"]
    assert placement.provision_free_cidrs("172.31.0.0/16", taken, 2) == ["172.31.252.0/24", "172.31.251.0/24"]


def test_a_vpc_without_room_for_the_subnets_is_refused_naming_the_settings(placement: ModuleType) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=r"only 1 free /24 blocks, 3 needed.*provision_subnet_cidrs"):
        placement.provision_free_cidrs("10.0.0.0/23", ["10.0.0.0/24"], 3)
