"""roles/kafka_credentials against a real moto_server: SCRAM passwords from SSM Parameter Store (created once,
stable on reruns) or from a Vault vars file, and never printed.

Each test runs ansible-playbook on a small playbook that applies the role on localhost and writes the
fact it leaves (kafka_credentials_scram) to a 0600 file the test reads; every run has `-v --diff`, and its
output is searched for every password.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from playbook_run import PlaybookRun, ansible_env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REGION = "us-east-1"
USERS = ["admin", "producer", "sink", "canary"]
PLAY = """
- name: Apply kafka_credentials and hand its fact to the test
  hosts: localhost
  gather_facts: false
  roles:
    - role: kafka_credentials
  tasks:
    - name: Write the passwords where the test reads them
      ansible.builtin.copy:
        content: "{{ kafka_credentials_scram | to_json }}"
        dest: "{{ passwords_out }}"
        mode: "0600"
      no_log: true
"""


@dataclass
class Run(PlaybookRun):
    passwords: dict[str, str]


def _run(endpoint: str, tmp: Path, **variables: Any) -> Run:
    play = tmp / "play.yml"
    play.write_text(PLAY)
    out = tmp / "passwords.json"  # one file: a rerun that reads the same passwords changes nothing
    extra = {"aws_endpoint_url": endpoint, "aws_region": REGION, "passwords_out": str(out), **variables}
    vars_file = tmp / f"vars-{uuid.uuid4().hex[:6]}.json"  # a file, as a Vault vars file would be
    vars_file.write_text(json.dumps(extra))
    env = ansible_env(
        tmp,
        drop=("AWS_", "ANSIBLE_"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_URL=endpoint,  # nothing can reach real AWS, even if a task forgot its endpoint
    )
    cmd = [str(BIN / "ansible-playbook"), "-v", "--diff", "-e", f"@{vars_file}", str(play)]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    passwords = json.loads(out.read_text()) if out.exists() else {}
    return Run(done.returncode, done.stdout + done.stderr, passwords)


def _ssm(endpoint: str) -> Any:
    return boto3.client(
        "ssm", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )


def _assert_not_printed(run: Run, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in run.out, "a password shows in the play's output"


def test_ssm_passwords_are_created_once_and_read_back_the_same(moto_endpoint: str, tmp_path: Path) -> None:
    prefix = f"/sp{uuid.uuid4().hex[:8]}/kafka/scram"
    ssm = _ssm(moto_endpoint)
    # An operator set the sink's password beforehand: the role must keep it, not replace it.
    kept = "set-by-the-operator-" + uuid.uuid4().hex
    ssm.put_parameter(Name=f"{prefix}/sink", Value=kept, Type="SecureString")

    first = _run(moto_endpoint, tmp_path, kafka_credentials_ssm_prefix=prefix)
    assert first.rc == 0, first.out[-4000:]
    assert sorted(first.passwords) == sorted(USERS)
    assert first.passwords["sink"] == kept
    for user in ("admin", "producer", "canary"):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", first.passwords[user]), user
    assert len(set(first.passwords.values())) == len(USERS)
    for user, password in first.passwords.items():
        stored = ssm.get_parameter(Name=f"{prefix}/{user}", WithDecryption=True)["Parameter"]
        assert (stored["Type"], stored["Value"]) == ("SecureString", password)

    rerun = _run(moto_endpoint, tmp_path, kafka_credentials_ssm_prefix=prefix)
    assert rerun.rc == 0, rerun.out[-4000:]
    assert rerun.changed == 0, rerun.out[-4000:]
    assert rerun.passwords == first.passwords
    _assert_not_printed(first, list(first.passwords.values()))
    _assert_not_printed(rerun, list(first.passwords.values()))


def test_a_password_stored_in_clear_stops_the_run_in_one_line(moto_endpoint: str, tmp_path: Path) -> None:
    prefix = f"/sp{uuid.uuid4().hex[:8]}/kafka/scram"
    clear = "in-clear-" + uuid.uuid4().hex
    _ssm(moto_endpoint).put_parameter(Name=f"{prefix}/producer", Value=clear, Type="String")
    run = _run(moto_endpoint, tmp_path, kafka_credentials_ssm_prefix=prefix)
    assert run.rc != 0 and not run.passwords
    (line,) = [line for line in run.out.splitlines() if line.startswith("[ERROR]")]
    assert f"{prefix}/producer: not a SecureString" in line, line
    _assert_not_printed(run, [clear])


def test_vault_passwords_are_used_as_given_and_never_printed(moto_endpoint: str, tmp_path: Path) -> None:
    given = {user: f"{user}-{uuid.uuid4().hex}" for user in USERS}
    run = _run(moto_endpoint, tmp_path, kafka_credentials_source="vault", kafka_credentials_passwords=given)
    assert run.rc == 0, run.out[-4000:]
    assert run.passwords == given
    _assert_not_printed(run, list(given.values()))


@pytest.mark.parametrize(
    ("passwords", "expected"),
    [
        ({"admin": "a" * 20, "producer": "p" * 20, "sink": "s" * 20}, "no password for canary"),
        (
            {"admin": "a" * 20, "producer": "short-one", "sink": "s" * 20, "canary": "c" * 20},
            "shorter than 16 characters for producer",
        ),
    ],
    ids=["missing-user", "short-password"],
)
def test_a_vault_file_that_lacks_a_user_or_a_strong_password_stops_in_one_line(
    moto_endpoint: str, tmp_path: Path, passwords: dict[str, str], expected: str
) -> None:
    run = _run(
        moto_endpoint, tmp_path, kafka_credentials_source="vault", kafka_credentials_passwords=passwords
    )
    assert run.rc != 0 and not run.passwords
    (line,) = [line for line in run.out.splitlines() if line.startswith("[ERROR]")]
    assert expected in line and "ansible-vault edit" in line and "Traceback" not in run.out
    _assert_not_printed(run, list(passwords.values()))
