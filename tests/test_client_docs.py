"""docs/clients.md, run as written: every snippet against a real broker's SASL_SSL/SCRAM listener.

The `secured` fixture (tests/fixtures_secure.py) is one real KRaft node with a private CA, SCRAM users and
the pipeline's least-privilege ACLs. Each marked block of the guide is taken verbatim; only the guide's
placeholder names are replaced (bootstrap, CA file, password file, topic, group, PASSWORD), so a snippet
that stops working fails here. Checked: stockpipe's settings, the origin tutorial's kafka-python producer
and consumer, confluent-kafka, kcat with a settings file, and Kafka's own kafka-topics.sh.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env
from fixtures_secure import SECURE_GROUP, SECURE_TOPIC, Secured

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "clients.md"
_BLOCK = re.compile(r"<!-- client-doc: (\S+) -->\n```\w*\n(.*?)```", re.S)
_USER = re.compile(r'(?:sasl_plain_username="|sasl\.username"?:? ?=?"?|sasl_username = "|username=")(\w+)')
#: The guide's placeholder values, longest first so a list of servers is replaced before one server.
_BOOTSTRAP_LIST = '"kafka-1.example.com:9092", "kafka-2.example.com:9092"'
_BOOTSTRAP = "kafka-1.example.com:9092,kafka-2.example.com:9092"
_ONE_SERVER = "kafka-1.example.com:9092"


def _blocks() -> dict[str, str]:
    return dict(_BLOCK.findall(GUIDE.read_text()))


def _fill(block: str, secured: Secured, nonce: str = "NYA") -> str:
    """The block with the guide's placeholders replaced by the test cluster's names and its user's secret."""
    users = set(_USER.findall(block))
    assert len(users) <= 1, users
    bootstrap = secured.cluster.secure_bootstrap
    replaced = (
        block.replace(_BOOTSTRAP_LIST, f'"{bootstrap}"')
        .replace(_BOOTSTRAP, bootstrap)
        .replace(_ONE_SERVER, bootstrap)
        .replace("/etc/stockpipe/kafka-ca.pem", str(secured.ca))
        .replace("stock-prices", SECURE_TOPIC)
        .replace("stockpipe-sink", SECURE_GROUP)
        .replace("NYA", nonce)
    )
    for user in users:  # a block that logs in: its user's password file, or the password itself
        replaced = replaced.replace("/etc/stockpipe/kafka-password", str(secured.passwords[user]))
        replaced = replaced.replace("PASSWORD", secured.password(user))
    assert "example.com" not in replaced and "/etc/stockpipe" not in replaced, replaced
    return replaced


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def _run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def test_the_guide_has_a_snippet_for_each_client() -> None:
    assert set(_blocks()) == {
        "stockpipe",
        "kafka-python-producer",
        "kafka-python-consumer",
        "confluent",
        "kcat-librdkafka",
        "kcat.conf",
        "kcat",
        "client.properties",
        "kafka-tools",
    }


def test_stockpipe_settings_connect_as_the_producer(secured: Secured, tmp_path: Path) -> None:
    config = _write(tmp_path / "stockpipe.toml", _fill(_blocks()["stockpipe"], secured))
    env = cli_env(tmp_path / "state")
    checked = cli(["config", "--config", str(config)], env)
    assert checked.returncode == 0, checked.stderr
    described = cli(["topics", "describe", "--json", "--config", str(config)], env, 60)
    assert described.returncode == 0, described.stderr
    assert SECURE_TOPIC in described.stdout
    assert secured.password("producer") not in checked.stdout + described.stdout + described.stderr


def test_the_origin_tutorials_kafka_python_code_with_the_guides_settings(
    secured: Secured, tmp_path: Path
) -> None:
    nonce = f"IDX{uuid.uuid4().hex[:8].upper()}"
    produced = _run(
        [sys.executable, "-c", _fill(_blocks()["kafka-python-producer"], secured, nonce)], tmp_path
    )
    assert produced.returncode == 0, produced.stderr[-2000:]
    consumed = _run([sys.executable, "-c", _fill(_blocks()["kafka-python-consumer"], secured)], tmp_path)
    assert consumed.returncode == 0, consumed.stderr[-2000:]
    assert f"'Index': '{nonce}'" in consumed.stdout


def test_confluent_kafka_with_the_guides_settings(secured: Secured, tmp_path: Path) -> None:
    produced = _run([sys.executable, "-c", _fill(_blocks()["confluent"], secured)], tmp_path)
    assert produced.returncode == 0, produced.stderr[-2000:]


def test_kcat_with_a_settings_file_produces_and_consumes(secured: Secured, tmp_path: Path) -> None:
    nonce = f"IDX{uuid.uuid4().hex[:8].upper()}"
    conf = _blocks()["kcat.conf"]
    _write(tmp_path / "kcat.conf", _fill(conf, secured))
    as_sink = conf.replace("sasl.username=producer", "sasl.username=sink")
    _write(tmp_path / "sink-kcat.conf", _fill(as_sink, secured))
    setup = _blocks()["kcat-librdkafka"].replace(".venv/bin/python", sys.executable)
    script = setup + _fill(_blocks()["kcat"], secured, nonce)
    ran = _run(["bash", "-euo", "pipefail", "-c", script], tmp_path, os.environ | {"HOME": str(tmp_path)})
    assert ran.returncode == 0, ran.stderr[-2000:]
    version = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", ran.stdout)
    assert version and tuple(map(int, version.groups())) >= (2, 6, 1), ran.stdout[:500]
    assert f'"Index": "{nonce}"' in ran.stdout


def test_kafkas_own_tools_with_the_guides_command_config(
    secured: Secured, kafka_home: Path, tmp_path: Path
) -> None:
    _write(tmp_path / "client.properties", _fill(_blocks()["client.properties"], secured))
    env = os.environ | {"PATH": f"{kafka_home / 'bin'}:{os.environ['PATH']}"}
    ran = _run(["bash", "-euo", "pipefail", "-c", _fill(_blocks()["kafka-tools"], secured)], tmp_path, env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert f"Topic: {SECURE_TOPIC}" in ran.stdout and "PartitionCount: 3" in ran.stdout
