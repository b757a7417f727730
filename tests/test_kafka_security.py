"""The pipeline's clients on a secured listener: SASL_SSL with SCRAM-SHA-512, a private CA, the standard
authorizer and the least-privilege ACLs of pipeline/kafka/acls.py (the `secured` fixture of
tests/fixtures_secure.py).

Real Kafka on 127.0.0.1 (pipeline/local/kafka.py SecureListener); both client libraries. Checked: rows
flow end to end as the two principals; anonymous clients, wrong passwords and untrusted CAs are refused
with one line each; each principal can do its job and nothing else; the password never shows in a
process's arguments or in the commands' output. (The cluster side of issue 13, the kafka role's TLS and
ACLs, is tested on the lab hosts.)
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env, lake_counts, spawn_cli, wait_until
from fixtures_secure import SECURE_GROUP as GROUP
from fixtures_secure import SECURE_TOPIC as TOPIC
from fixtures_secure import Secured

pytestmark = pytest.mark.integration

CLIENTS = ["confluent", "kafka-python"]


def _source(tmp_path: Path, rows: int) -> tuple[Path, int]:
    out = tmp_path / f"src-{uuid.uuid4().hex[:6]}"
    made = cli(
        ["sample", "--out", str(out), "--tickers", "5", "--days", str(rows // 5)], cli_env(tmp_path / "s")
    )
    assert made.returncode == 0, made.stderr
    return out, int(made.stdout.split()[1].replace(",", ""))


def _one_line(done, *phrases: str) -> str:  # type: ignore[no-untyped-def]
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    for phrase in phrases:
        assert phrase in line, line
    return line


@pytest.mark.parametrize("client", CLIENTS)
def test_rows_flow_through_the_secured_listener_as_the_producer_and_sink_principals(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    source, rows = _source(tmp_path, 200)
    state = tmp_path / "state"
    produced = cli(
        ["produce", "--source", str(source), "--no-progress", "--force"],
        secured.env(state, "producer", client),
    )
    assert produced.returncode == 0, produced.stderr
    lake = tmp_path / "lake"
    sink = spawn_cli(
        [
            "sink",
            "--group",
            GROUP,
            "--lake",
            str(lake),
            "--idle-timeout",
            "6",
            "--no-progress",
            "--session-timeout-ms",
            "6000",
        ],
        secured.env(state, "sink", client),
        tmp_path / "sink.log",
    )
    try:
        wait_until("the sink to run", lambda: sink.poll() is not None or (tmp_path / "sink.log").exists(), 30)
        args = Path(f"/proc/{sink.pid}/cmdline").read_bytes() if sink.poll() is None else b""
        assert secured.password("sink").encode() not in args
        assert sink.wait(180) == 0, (tmp_path / "sink.log").read_text()[-3000:]
    finally:
        if sink.poll() is None:
            sink.kill()
    output = produced.stdout + produced.stderr + (tmp_path / "sink.log").read_text()
    assert not any(secured.password(u) in output for u in ("producer", "sink"))
    counted, distinct = lake_counts(str(lake), state)
    assert counted == distinct and counted >= rows  # the topic is shared by both client runs


@pytest.mark.parametrize("client", CLIENTS)
def test_anonymous_wrong_password_and_untrusted_ca_are_each_one_clear_line(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    list_topic = ["topics", "describe", TOPIC]
    anonymous = secured.env(state, "producer", client, STOCKPIPE_SECURITY_PROTOCOL="PLAINTEXT")
    for key in ("STOCKPIPE_SASL_USERNAME", "STOCKPIPE_SASL_PASSWORD_FILE", "STOCKPIPE_SASL_MECHANISM"):
        anonymous.pop(key)
    _one_line(cli(list_topic, anonymous, timeout_s=60), secured.cluster.secure_bootstrap)

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    bad_login = cli(
        list_topic, secured.env(state, "producer", client, STOCKPIPE_SASL_PASSWORD_FILE=str(wrong)), 60
    )
    _one_line(bad_login, "refused the login of user 'producer'")

    untrusted = cli(
        list_topic, secured.env(state, "producer", client, STOCKPIPE_SSL_CA_FILE=str(secured.other_ca)), 60
    )
    _one_line(untrusted, "TLS to Kafka at", "ssl_ca_file")


@pytest.mark.parametrize("client", CLIENTS)
def test_each_principal_can_do_its_job_and_nothing_else(
    secured: Secured, client: str, tmp_path: Path
) -> None:
    source, _rows = _source(tmp_path, 50)
    state = tmp_path / "state"
    # The producer may not read the topic nor write another; the sink may not write nor use another group.
    sink = ["sink", "--idle-timeout", "5", "--no-progress"]
    reads = cli(
        [*sink, "--group", GROUP, "--lake", str(tmp_path / "l1")], secured.env(state, "producer", client), 120
    )
    _one_line(reads, "not authorized", "producer")
    writes = cli(
        ["produce", "--source", str(source), "--no-progress", "--force"],
        secured.env(state, "sink", client),
        120,
    )
    _one_line(writes, "not authorized", "sink")
    elsewhere = cli(
        ["produce", "--source", str(source), "--no-progress", "--force"],
        secured.env(state, "producer", client, STOCKPIPE_TOPIC="someone-elses-topic"),
        120,
    )
    _one_line(elsewhere, "not authorized", "someone-elses-topic")
    other_group = cli(
        [*sink, "--group", "someone-elses", "--lake", str(tmp_path / "l2")],
        secured.env(state, "sink", client),
        120,
    )
    _one_line(other_group, "not authorized", "someone-elses")
