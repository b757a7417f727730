"""The ACLs roles/kafka applies (playbooks/vars/kafka-acls.yml) are pipeline/kafka/acls.py's rule, asked
through Ansible as the playbooks ask it, for a topic and group of the operator's choosing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.kafka.acls import pipeline_grants, role_entries

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE = Path(sys.executable).parent / "ansible"


def test_the_roles_acls_are_the_pipelines_grants_for_the_configured_topic_and_group() -> None:
    done = subprocess.run(
        [str(ANSIBLE), "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ kafka_acls | to_json }}",
         "-e", "@playbooks/vars/kafka-acls.yml", "-e", "pipeline_topic=ticks-eu",
         "-e", "pipeline_group_id=lake-eu", "-e", f"ansible_playbook_python={sys.executable}", "-o"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    payload = done.stdout.split("=>", 1)[1]
    msg = json.loads(payload)["msg"]
    applied = json.loads(msg) if isinstance(msg, str) else msg
    assert applied == role_entries(pipeline_grants("ticks-eu", "lake-eu", canary="canary"))
    write = {"principal": "User:producer", "resource": "topic", "name": "ticks-eu", "operation": "Write"}
    assert write in applied
    assert not any(a["principal"] == "User:producer" and a["operation"] == "Read" for a in applied)
