"""Where the kafka role looks for a broker's data volume (roles/kafka/filter_plugins/data_volume.py),
without a host: the NVMe by-id path of the EBS volume first, then the device name (and its Xen name).
The lab (tests/ansible/molecule/kraft, tests/ansible/volume_check.py) mounts a real loop device through
the same rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

PLUGIN = Path(__file__).resolve().parent.parent / "roles/kafka/filter_plugins/data_volume.py"


@pytest.fixture(scope="module")
def volume() -> ModuleType:
    pytest.importorskip("ansible")
    spec = importlib.util.spec_from_file_location("kafka_data_volume", PLUGIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_nitro_volume_is_found_by_its_id_before_its_device_name(volume: ModuleType) -> None:
    assert volume.kafka_volume_paths("vol-0abc123def4567890", "/dev/sdf") == [
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123def4567890",
        "/dev/sdf",
        "/dev/xvdf",
    ]


def test_without_an_id_only_the_device_name_and_its_xen_name_are_tried(volume: ModuleType) -> None:
    assert volume.kafka_volume_paths("", "/dev/sdg") == ["/dev/sdg", "/dev/xvdg"]
    assert volume.kafka_volume_paths(None, "/dev/nvme1n1") == ["/dev/nvme1n1"]


def test_an_id_without_a_device_name_is_looked_up_by_id_alone(volume: ModuleType) -> None:
    assert volume.kafka_volume_paths("vol-01234567", "") == [
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol01234567"
    ]


def test_no_volume_gives_no_path(volume: ModuleType) -> None:
    assert volume.kafka_volume_paths("", "") == []


@pytest.mark.parametrize(
    ("volume_id", "device", "message"),
    [
        ("vol0abc123def4567890", "/dev/sdf", "kafka_data_volume_id must look like vol-"),
        ("vol-0ABC", "/dev/sdf", "kafka_data_volume_id must look like vol-"),
        ("vol-0abc123def4567890", "sdf", "kafka_data_volume_device must be a path under /dev/"),
    ],
)
def test_a_malformed_id_or_device_is_refused_by_name(
    volume: ModuleType, volume_id: str, device: str, message: str
) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=message):
        volume.kafka_volume_paths(volume_id, device)
