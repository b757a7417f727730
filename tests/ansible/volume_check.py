"""Data volume checks on the kraft scenario's brokers (tests/ansible/run.sh, after verify).

Each host has a data volume (scripts/lab-hosts.sh: a sparse image on a loop device, /dev/sdf inside the
host; the scenario names it kafka_data_volume_id vol-0123456789abcdef0, which has no NVMe by-id path
there, so the role falls back to the device name). Checked per broker:
- the data directory is the volume's XFS filesystem, mounted with noatime, listed in /etc/fstab by UUID,
  owned by kafka, holding the broker's meta.properties, on another filesystem than / (the OS volume);
- the broker's unit requires the mount (RequiresMountsFor), so a missing volume never starts it empty;
- a rerun of the role changes nothing and reformats nothing: the filesystem UUID stays and a marker file
  written before the rerun is still there, the broker was not restarted;
- a volume that is not attached (kafka_data_volume_device=/dev/sdz) fails in one line per broker naming
  the host, the volume id and the paths tried, with changed=0 and the mounts untouched.
First, on this machine (the lab's volumes are the brokers' own: no foreign filesystem is made there), the
role's preflight checks (tasks/data-volume-check.yml) run against loop devices on image files: a device
holding ext4 or a partition table, or a data directory holding files, is refused in one line, and the
device keeps its signature; a blank device and an empty directory pass.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from hostlib import REPO, Checks, broker, converge, main_guard, read_hosts, run_ansible, ssh

DATA_DIR = "/var/lib/kafka/data"
DEVICE = "/dev/sdf"
VOLUME_ID = "vol-0123456789abcdef0"
MOUNT_OPTIONS = "noatime,nofail"


def volume_uuid(address: str) -> str:
    return ssh(address, f"blkid -p -s UUID -o value {DEVICE}")


def mount_of(address: str, path: str) -> tuple[str, str, str]:
    """(FSTYPE, OPTIONS, SOURCE) of the filesystem mounted exactly at `path` ('' when none)."""
    out = ssh(address, f"findmnt -n -o FSTYPE,OPTIONS,SOURCE --mountpoint {path} || true")
    parts = out.split()
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


CHECK_PLAY = """
- name: Run the kafka role's data volume checks on this machine
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Include tasks/data-volume-check.yml
      ansible.builtin.include_role:
        name: kafka
        tasks_from: data-volume-check
"""


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _dos_partition_table(image: Path) -> None:
    """One Linux partition in an MBR (what sfdisk would write), without needing sfdisk."""
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0x83, b"\xff\xff\xff", 2048, 129024)
    mbr[510:512] = b"\x55\xaa"
    with image.open("r+b") as fh:
        fh.write(mbr)


def refusals_on_this_machine(check: Checks, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="volume-check-") as tmp:
        root = Path(tmp)
        (root / "play.yml").write_text(CHECK_PLAY)
        images = {name: root / f"{name}.img" for name in ("ext4", "dos", "blank")}
        for image in images.values():
            image.write_bytes(b"")
            os.truncate(image, 64 << 20)
        _sh("mkfs.ext4", "-q", str(images["ext4"]))
        _dos_partition_table(images["dos"])
        loops = {name: _sh("losetup", "-f", "--show", str(image)) for name, image in images.items()}
        os.environ["ANSIBLE_ROLES_PATH"] = str(REPO / "roles")
        try:
            (root / "empty").mkdir()
            (root / "used").mkdir()
            (root / "used" / "00000000000000000000.log").write_text("")
            before = {
                name: _sh("blkid", "-p", "-o", "export", dev)
                for name, dev in loops.items()
                if name != "blank"
            }

            def run(device: str, data_dir: str) -> tuple[int, str]:
                extra = (
                    f'{{"kafka_data_volume_device": "{device}", "kafka_data_dirs": ["{root / data_dir}"]}}'
                )
                cmd = ["ansible-playbook", "-i", "localhost,", str(root / "play.yml"), "-e", extra,
                       "-e", f"ansible_python_interpreter={sys.executable}"]  # fmt: skip
                result = run_ansible(cmd, log, cwd=root)
                return result.rc, result.output

            cases = [
                (
                    "ext4",
                    "empty",
                    f"localhost: data volume at {loops['ext4']} holds a filesystem of type ext4, not XFS",
                ),
                (
                    "dos",
                    "empty",
                    f"localhost: data volume at {loops['dos']} holds a partition table (dos), not XFS",
                ),
                ("blank", "used", f"localhost: {root / 'used'} holds files on the OS volume"),
            ]
            for name, data_dir, message in cases:
                rc, output = run(loops[name], data_dir)
                check(
                    rc != 0 and message in output,
                    f"this machine: {name} device, {data_dir} directory: refused ('{message}')",
                )
            for name, signature in before.items():
                after = _sh("blkid", "-p", "-o", "export", loops[name])
                check(after == signature, f"this machine: the {name} device keeps its signature")
            rc, output = run(loops["blank"], "empty")
            check(rc == 0, f"this machine: a blank device and an empty directory pass the checks (rc={rc})")
        finally:
            os.environ.pop("ANSIBLE_ROLES_PATH", None)
            for dev in loops.values():
                subprocess.run(["losetup", "-d", dev], check=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = read_hosts()
    check = Checks()
    refusals_on_this_machine(check, log)

    uuids: dict[str, str] = {}
    for h in hosts:
        fstype, options, source = mount_of(h.private, DATA_DIR)
        check(fstype == "xfs", f"{h.name}: {DATA_DIR} is an XFS mount (got {fstype or 'no mount'!r})")
        check("noatime" in options.split(","), f"{h.name}: mounted with noatime ({options})")
        uuids[h.name] = volume_uuid(h.private)
        mounted_uuid = ssh(h.private, f"blkid -p -s UUID -o value {source}") if source else ""
        check(
            bool(uuids[h.name]) and mounted_uuid == uuids[h.name],
            f"{h.name}: it is the volume's filesystem ({source} {mounted_uuid}, {DEVICE} {uuids[h.name]})",
        )
        root_source = mount_of(h.private, "/")[2]
        check(
            root_source != source, f"{h.name}: / is another filesystem ({root_source!r}, data on {source!r})"
        )
        fstab = ssh(h.private, f"awk '$2 == \"{DATA_DIR}\"' /etc/fstab")
        want = f"UUID={uuids[h.name]} {DATA_DIR} xfs {MOUNT_OPTIONS}"
        check(
            fstab.startswith(want) and len(fstab.splitlines()) == 1,
            f"{h.name}: /etc/fstab has '{want} ...' ({fstab!r})",
        )
        owner = ssh(h.private, f"stat -c %U:%G {DATA_DIR}")
        check(owner == "kafka:kafka", f"{h.name}: {DATA_DIR} belongs to kafka:kafka ({owner})")
        meta = ssh(h.private, f"grep -E '^node.id=' {DATA_DIR}/meta.properties || true")
        check(
            meta.startswith("node.id="), f"{h.name}: the broker's meta.properties is on the volume ({meta!r})"
        )
        requires = ssh(h.private, "systemctl show -p RequiresMountsFor --value kafka")
        check(DATA_DIR in requires.split(), f"{h.name}: kafka.service requires the mount ({requires!r})")

    marker = f".volume-check-{uuid.uuid4().hex}"
    pids = {h.name: broker(h.private).pid for h in hosts}
    for h in hosts:
        ssh(h.private, f"echo kept >{DATA_DIR}/{marker}")
    run = converge(args.scenario, log)
    check(
        run.rc == 0 and set(run.changed) == {h.name for h in hosts},
        f"rerun succeeds on every host (rc={run.rc})",
    )
    check(all(v == 0 for v in run.changed.values()), f"rerun: changed=0 on every host ({run.changed})")
    for h in hosts:
        check(
            volume_uuid(h.private) == uuids[h.name],
            f"{h.name}: rerun kept the filesystem (UUID {uuids[h.name]})",
        )
        kept = ssh(h.private, f"cat {DATA_DIR}/{marker} 2>/dev/null || true")
        check(kept == "kept", f"{h.name}: the file written before the rerun is still there")
        check(broker(h.private).pid == pids[h.name], f"{h.name}: the broker was not restarted")
        ssh(h.private, f"rm -f {DATA_DIR}/{marker}")

    run = converge(args.scenario, log, "-e", "kafka_data_volume_device=/dev/sdz")
    check(run.rc != 0, f"a volume that is not attached: the run fails (rc={run.rc})")
    tried = (
        f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{VOLUME_ID.replace('-', '')}, /dev/sdz, /dev/xvdz"
    )
    for h in hosts:
        line = f"{h.name}: data volume {VOLUME_ID} is not attached: no block device at {tried}"
        check(line in run.output, f"not attached: the message says '{line}'")
        check(mount_of(h.private, DATA_DIR)[0] == "xfs", f"{h.name}: not attached: the mount is untouched")
    check(
        all(v in (0, -1) for v in run.changed.values()),
        f"not attached: changed=0 on every host ({run.changed})",
    )
    return check.done()


if __name__ == "__main__":
    main_guard(main)
