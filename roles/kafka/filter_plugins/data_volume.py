"""Where a broker's data volume shows up on the host (tests/test_kafka_data_volume.py checks the rule).

On EC2 an EBS volume is attached under a device name (`/dev/sdf`), but the device the kernel creates
depends on the instance type: Nitro instances expose it as NVMe (`/dev/nvme1n1`, numbered in the order
the kernel finds the disks) with the volume id in its serial, which udev publishes as
`/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc...` (the id without its dash); Xen instances
rename `sdf` to `xvdf`. The role tries the paths in the order returned here and takes the first block
device it finds: the volume id first (it names the one volume, whatever the kernel called it), then
the device name.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"


def kafka_volume_paths(volume_id: str | None, device: str | None) -> list[str]:
    """The paths under which the volume `volume_id` attached as `device` may appear, most specific first."""
    vid = (volume_id or "").strip()
    dev = (device or "").strip()
    if vid and not VOLUME_ID.match(vid):
        raise AnsibleFilterError(f"kafka_data_volume_id must look like vol-0123456789abcdef0, not {vid!r}")
    if dev and not dev.startswith("/dev/"):
        raise AnsibleFilterError(f"kafka_data_volume_device must be a path under /dev/, not {dev!r}")
    paths = [BY_ID + vid.replace("-", "")] if vid else []
    if dev:
        paths.append(dev)
        xen = re.match(r"^/dev/sd([a-z]+)$", dev)
        if xen:
            paths.append(f"/dev/xvd{xen.group(1)}")
    return paths


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kafka_volume_paths": kafka_volume_paths}
