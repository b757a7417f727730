"""The `ansible` rows of `make bench`: first converge and no-op rerun of playbooks/kafka.yml on 3 lab hosts.

Baseline, same run and same hosts: a playbook that only gathers facts, Ansible's own floor (SSH, Python
start-up, fact gathering) that every converge pays. The hosts are the local lab's systemd-nspawn
machines (scripts/lab.sh), so this needs Linux and root; without them the rows say so and carry no value.

The Kafka tarball is --kafka-tarball when given (e.g. Apache's own), else Apache Kafka 4.1.0 assembled
from its Maven Central artifacts (pipeline/local/kafka_dist.py, cached in .cache/kafka-dist): the same
real broker the role tests run, so the first converge includes three JVM broker start-ups.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import BIN, REPO, Row

RUN_DIR = Path(os.environ.get("RUN_DIR", "/run/stockpipe-hosts"))
#: The lab's hosts, bridge and ports are per machine; tests/ansible/run.sh takes the same lock.
LAB_LOCK = Path(os.environ.get("STOCKPIPE_LAB_LOCK", "/tmp/stockpipe-lab.lock"))
KAFKA_VERSION = "4.1.0"
RECAP = re.compile(
    r"^(?P<host>[\w.-]+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unr>\d+)\s+failed=(?P<failed>\d+)"
)
FACTS_PLAYBOOK = """\
- name: Gather facts only (the floor every converge pays)
  hosts: kafka
  gather_facts: false
  tasks:
    - name: Gather the facts (always, even where a fact cache is configured)
      ansible.builtin.setup:
"""


def _skip(b: Any, why: str) -> None:
    for name in ("first converge (kafka.yml, 3 brokers)", "no-op rerun (kafka.yml, 3 brokers)"):
        b.add(Row("ansible", name, None, "s", note=f"skipped: {why}"))


def _playbook(log: Path, *args: str) -> tuple[float, dict[str, int]]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", NO_COLOR="1")
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(REPO / "inventory" / "lab"), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    with log.open("a") as fh:
        fh.write(f"\n===== ansible-playbook {' '.join(args)} ({elapsed:.1f} s, rc={result.returncode})\n")
        fh.write(result.stdout + result.stderr)
    changed = {}
    for line in result.stdout.splitlines():
        m = RECAP.match(line.strip())
        if m:
            changed[m["host"]] = int(m["changed"]) if int(m["failed"]) + int(m["unr"]) == 0 else -1
    if result.returncode != 0 or not changed or min(changed.values()) < 0:
        raise RuntimeError(f"ansible-playbook {' '.join(args)} failed (rc={result.returncode}); see {log}")
    return elapsed, changed


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """Hold the lab lock, waiting for a role-test run or another bench that holds it.

    Only this process holds it (the descriptor is not inherited), like run.sh's `flock -o`: a host or
    server the lab leaves behind never keeps it.
    """
    with LAB_LOCK.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"another lab or role test run holds {LAB_LOCK}; waiting for it to end",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def section_ansible(b: Any) -> None:
    if os.uname().sysname != "Linux" or os.geteuid() != 0:
        _skip(b, "needs Linux and root for the lab hosts (sudo make bench)")
        return
    with lab_lock():
        _converge(b)


def _converge(b: Any) -> None:
    if (RUN_DIR / "hosts.txt").exists():
        _skip(b, f"a lab or role test is running ({RUN_DIR}); stop it (make lab-down) and rerun")
        return
    work = b.work / "ansible"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "ansible.log"
    tarball = b.args.kafka_tarball
    if tarball is None:
        from pipeline.local.kafka_dist import build

        tarball = build(KAFKA_VERSION, REPO / ".cache" / "kafka-dist").tarball
    try:
        subprocess.run(
            [str(REPO / "scripts/lab.sh"), "up", "--brokers", "3", "--kafka-tarball", str(tarball)],
            check=True, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        facts_file = work / "facts.yml"
        facts_file.write_text(FACTS_PLAYBOOK)
        facts = [_playbook(log, str(facts_file))[0] for _ in range(3)]
        floor = statistics.median(facts)
        first, _ = _playbook(log, "playbooks/kafka.yml")
        rerun, changed = _playbook(log, "playbooks/kafka.yml")
    finally:
        subprocess.run([str(REPO / "scripts/lab.sh"), "down"], capture_output=True, timeout=300)
    kind = "--kafka-tarball" if b.args.kafka_tarball else f"Kafka {KAFKA_VERSION} built from Maven Central"
    b.raw["ansible"] = {
        "facts_s": facts,
        "first_converge_s": first,
        "rerun_s": rerun,
        "rerun_changed": changed,
    }
    b.add(
        Row("ansible", "first converge (kafka.yml, 3 brokers)", round(first, 1), "s", floor,
            "gather facts only", better="lower",
            note=f"Java from the host image, {kind}; 3 JVM brokers start together, each then gated")
    )  # fmt: skip
    moved = {h: n for h, n in changed.items() if n}
    b.add(
        Row("ansible", "no-op rerun (kafka.yml, 3 brokers)", round(rerun, 1), "s", floor,
            "gather facts only", better="lower",
            note="changed=0 on every host" if not moved else f"NOT idempotent: changed {moved}")
    )  # fmt: skip
