"""Upgrade test for a converged molecule scenario (run by tests/ansible/run.sh after the drift test).

Changing kafka_version (here to a second stand-in tarball) must unpack the new version beside the
old one, move the stable symlink, restart every broker one at a time (each after the previous one
is healthy), leave the cluster passing verify, and be changed=0 on the next run.
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
from pathlib import Path

from drift import HERE, converge, ssh


def start_time(address: str, key: str) -> int:
    """Start of the broker's main process, in microseconds of the (shared) kernel monotonic clock."""
    return int(ssh(address, key, "systemctl show -p ExecMainStartTimestampMonotonic --value kafka"))


def healthy_times(address: str, key: str) -> list[int]:
    """When kafka-health-check reported this broker healthy (journal, monotonic microseconds)."""
    out = ssh(address, key, "journalctl -t kafka-health-check -o short-monotonic --no-pager -q || true")
    return [int(float(m.group(1)) * 1_000_000) for m in re.finditer(r"^\[\s*([0-9.]+)\]", out, re.M)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--sha512", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = {line.split()[0]: line.split()[1] for line in Path(args.hosts).read_text().splitlines() if line}
    failures: list[str] = []
    passed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal passed
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if ok:
            passed += 1
        else:
            failures.append(what)

    old_target = {h: ssh(a, args.key, "readlink /opt/kafka") for h, a in hosts.items()}
    before = {h: start_time(a, args.key) for h, a in hosts.items()}
    extra = [
        "-e",
        f"kafka_version={args.version} kafka_tarball_url={args.url} kafka_tarball_checksum={args.sha512}",
    ]
    rc, changed, _ = converge(args.scenario, log, *extra)
    check(rc == 0, f"upgrade run succeeds (rc={rc})")
    check(
        set(changed) == set(hosts) and all(v > 0 for v in changed.values()), f"every host changed ({changed})"
    )
    new_dir = f"/opt/kafka_2.13-{args.version}"
    for host, address in hosts.items():
        target = ssh(address, args.key, "readlink /opt/kafka")
        kept = ssh(address, args.key, f"test -d {old_target[host]} && echo kept || echo gone")
        check(
            target == new_dir and kept == "kept", f"{host}: /opt/kafka -> {target}, previous version {kept}"
        )
    after = {h: start_time(a, args.key) for h, a in hosts.items()}
    check(all(after[h] > before[h] for h in hosts), "every broker was restarted")
    order = sorted(hosts, key=lambda h: after[h])
    healthy = {
        h: min((t for t in healthy_times(a, args.key) if t > after[h]), default=None)
        for h, a in hosts.items()
    }
    sequential = [
        healthy[prev] is not None and after[nxt] > healthy[prev] for prev, nxt in itertools.pairwise(order)
    ]
    check(
        all(sequential) and healthy[order[-1]] is not None,
        f"restarts were one at a time: each broker restarted only after the previous one was healthy "
        f"(order {order}, starts {[after[h] for h in order]}, healthy {[healthy[h] for h in order]})",
    )
    rc, changed, _ = converge(args.scenario, log, *extra)
    check(
        rc == 0 and set(changed) == set(hosts) and not any(changed.values()),
        f"next run is changed=0 ({changed})",
    )
    result = subprocess.run(
        ["molecule", "verify", "-s", args.scenario], cwd=HERE, capture_output=True, text=True, timeout=600
    )
    with log.open("a") as fh:
        fh.write(
            f"\n===== molecule verify -s {args.scenario} (rc={result.returncode})\n"
            + result.stdout
            + result.stderr
        )
    check(
        result.returncode == 0, "the upgraded cluster passes verify (listeners, produce/consume, user, heap)"
    )
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
