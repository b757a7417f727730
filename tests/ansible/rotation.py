"""Password and certificate rotation under a live producer, on the secure scenario (run by
tests/ansible/run.sh after secure_check.py).

The cluster: three brokers and three dedicated KRaft controllers (the kafka_controller group), checked
first (tests/ansible/quorum.py): controllers on the CONTROLLER listener only, the quorum's voters exactly
the controllers, its observers the brokers. A cluster in combined mode skips what concerns controllers.

A paced idempotent producer logs in as `producer` on the external listener (SASL_SSL) and a consumer of
every partition as `admin`, as rolling.py's load does on the plaintext cluster. Then:

(a) password: a new password for `producer` in the Vault vars file, and a rerun. The role sets it through
    the admin API: no broker restarts; the old password is refused (one line from stockpipe), the new
    one is accepted, and neither is in the run's output. The live producer keeps its connections and
    takes the new password for the next ones, as a restarted pipeline service would.
(b) certificates: every broker certificate renewed by a rerun (kafka_pki_renew_days beyond their end),
    which also makes the brokers trust a new CA (kafka_pki_trust_ca_files: step 1 of a CA change).
    The new files change the checksums in server.properties, so every node restarts, one at a time,
    each after the previous one was healthy (a broker: back in every ISR), the brokers first, the
    controllers after them, the quorum's leader last (made not the last controller in inventory order
    first, so that order alone cannot pass); each listener then serves a new certificate that still
    chains to the old CA, and the producer reconnects with its new password. The quorum keeps its
    voters and has a leader after every roll.
(c) a CA the brokers do not trust (a machine without the cluster's kafka_pki_dir would make one):
    refused on every node in one line, no node restarted, every listener serves its certificate.
(d) the CA change, steps 2 and 3: signing with the new CA while no longer trusting the old one is
    refused in one line (the brokers not yet restarted would be cut off); signing with it while still
    trusting the old one reissues every certificate from the new CA (a rolling restart); dropping the
    old CA is another. The clients trust both CAs throughout, as docs/kafka-roles.md tells operators.

Before (d) the brokers pass verify_cluster.py (metadata, replication, min ISR; its clients trust the
first CA only). Afterwards every acknowledged record was consumed exactly once, no delivery failed, the
next run (on the new CA, with the default renewal window) is changed=0, and no password (old or new) is
in any of these runs' output.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from hostlib import (
    REPO,
    Checks,
    broker,
    check_verify_cluster,
    converge,
    lab_login,
    main_guard,
    read_hosts,
    ssh,
)
from quorum import Layout, check_layout, check_roll_order, leader_host, leader_not_last, read_layout
from rolling import EXTERNAL_PORT, Load, check_roll, restarts
from secure_check import login_as, one_line

sys.path.insert(0, str(REPO / "tests"))
from tls import TestCA, make_ca

TOPIC = "stock-prices"


def served_certificate(host: str, ca: Path) -> str:
    """The certificate the external listener serves, verified against the CA and the host's name."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((host, EXTERNAL_PORT), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ssl.DER_cert_to_PEM_cert(der)


def ca_with_key(out: Path) -> tuple[TestCA, Path]:
    """A new CA (certificate and PKCS#8 key files in `out`), as an operator would bring their own."""
    new_ca = make_ca(out, "the lab's new CA")
    key = out / "new-ca.key"
    key.write_bytes(
        new_ca.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key.chmod(0o600)
    return new_ca, key


def check_rolled(
    check: Checks, load: Load, layout: Layout, phase: str, t0: float, t1: float, leader: str
) -> None:
    """One node at a time, never two brokers out of sync; with dedicated controllers, the brokers first and
    `leader` (the quorum's leader before the roll) last."""
    hosts = layout.brokers + layout.controllers
    check_roll(check, load, hosts, phase, t0, t1)
    if layout.controllers:
        check_roll_order(check, layout, [r.host for r in restarts(hosts, t0)], leader, phase)


def change_ca(
    check: Checks,
    load: Load,
    layout: Layout,
    log: Path,
    scenario: str,
    old: Path,
    new: Path,
    new_key: Path,
) -> list[str]:
    """(d) Steps 2 and 3 of a CA change under load; returns the settings of the cluster on the new CA."""
    print("(d) the new CA signs, then the old one is dropped")
    hosts, brokers = layout.brokers + layout.controllers, layout.brokers
    # JSON: the CA's file name has a quote in it, which key=value extra vars cannot carry.
    on_new = ["-e", json.dumps({"kafka_pki_ca_cert_file": str(new), "kafka_pki_ca_key_file": str(new_key)})]
    before = {h.name: broker(h.private).started_us for h in hosts}
    served = {h.name: served_certificate(h.public, old) for h in brokers}
    run = converge(scenario, log, *on_new)
    says = "its certificate is signed by a CA this run would no longer trust"
    fatal = sorted(line.split("]")[0].removeprefix("fatal: [") for line in run.fatal_lines())
    check(
        run.rc != 0 and fatal == sorted(h.name for h in hosts)
        and all(f"{h.name}: {says}" in run.output for h in hosts),
        f"(d) signing with the new CA, the old one untrusted, is refused in one line per node ({fatal})",
    )  # fmt: skip
    check(
        {h.name: broker(h.private).started_us for h in hosts} == before
        and {h.name: served_certificate(h.public, old) for h in brokers} == served,
        "(d) after the refusal no node restarted and every listener serves the certificate it served",
    )
    for step, trust in (("step 2: sign with the new CA", [str(old)]), ("step 3: drop the old CA", [])):
        leader = leader_host(layout) if layout.controllers else ""
        t0 = time.monotonic()
        run = converge(scenario, log, *on_new, "-e", json.dumps({"kafka_pki_trust_ca_files": trust}))
        t1 = time.monotonic()
        check(run.rc == 0, f"(d) {step}: the rerun succeeds (rc={run.rc}, {t1 - t0:.0f} s)")
        check_rolled(check, load, layout, f"(d) {step}", t0, t1, leader)
        try:
            now = {h.name: served_certificate(h.public, new) for h in brokers}
            check(now != served, f"(d) {step}: every listener serves a certificate from the new CA")
        except ssl.SSLError as exc:
            check(False, f"(d) {step}: a listener's certificate does not chain to the new CA ({exc})")
    trusted = {h.name: ssh(h.private, "cat /etc/kafka/tls/ca.pem") for h in hosts}
    check(
        all(t.strip() == new.read_text().strip() for t in trusted.values()),
        "(d) every node trusts the new CA only",
    )
    return on_new


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="secure")
    parser.add_argument("--rate", type=float, default=100.0, help="records per second")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = read_hosts()
    check = Checks()
    layout = read_layout(hosts)
    brokers = layout.brokers
    if layout.controllers:  # the secure scenario: three brokers and three dedicated controllers
        check_layout(check, layout)
    ca = Path(os.environ["STOCKPIPE_LAB_PKI"]) / "ca.pem"
    secrets_file = Path(os.environ["STOCKPIPE_LAB_SECRETS"])
    passwords: dict[str, str] = yaml.safe_load(secrets_file.read_text())
    external = ",".join(f"{h.public}:{EXTERNAL_PORT}" for h in brokers)
    new_ca, new_ca_key = ca_with_key(Path(tempfile.mkdtemp(prefix="stockpipe-new-ca-")))
    both = new_ca.pem.parent / "both.pem"  # what clients trust during the change
    both.write_bytes(ca.read_bytes() + new_ca.pem.read_bytes())
    load = Load(
        external, TOPIC, args.rate,
        producer_config=lab_login("producer", both), reader_config=lab_login("admin", both),
    )  # fmt: skip
    load.start_and_wait(check, 200)

    print("(a) the producer's password rotated under load")
    old, new = passwords["producer"], secrets.token_hex(16)
    secrets_file.write_text(yaml.safe_dump(passwords | {"producer": new}))
    before = {h.name: broker(h.private).started_us for h in hosts}
    run = converge(args.scenario, log, "--diff")
    check(run.rc == 0, f"(a) the rerun with the new password succeeds (rc={run.rc})")
    check(old not in run.output and new not in run.output, "(a) neither password in the run's --diff output")
    check(
        {h.name: broker(h.private).started_us for h in hosts} == before,
        "(a) no node restarted: the password is set through the admin API",
    )
    refused, line = one_line(login_as(external, ca, "producer", old), "refused the login of user 'producer'")
    check(refused, f"(a) the old password is refused: {line}")
    done = login_as(external, ca, "producer", new)
    check(
        done.returncode == 0, f"(a) the new password is accepted (rc={done.returncode}: {done.stderr[-300:]})"
    )
    load.set_producer_login("producer", new)

    print("(b) every broker certificate renewed under load, and the new CA trusted too")
    served = {h.name: served_certificate(h.public, ca) for h in brokers}
    leader = leader_not_last(check, layout) if layout.controllers else ""
    renew = ["-e", "kafka_pki_valid_days=800 kafka_pki_renew_days=500",
             "-e", json.dumps({"kafka_pki_trust_ca_files": [str(new_ca.pem)]})]  # fmt: skip
    t0 = time.monotonic()
    run = converge(args.scenario, log, *renew)
    t1 = time.monotonic()
    check(run.rc == 0, f"(b) the rerun that renews the certificates succeeds (rc={run.rc}, {t1 - t0:.0f} s)")
    now = {h.name: served_certificate(h.public, ca) for h in brokers}
    check(
        all(now[h] != served[h] for h in now),
        "(b) every external listener serves a new certificate that chains to the CA and names its host",
    )
    check_rolled(check, load, layout, "(b)", t0, t1, leader)
    trusted = {h.name: ssh(h.private, "cat /etc/kafka/tls/ca.pem") for h in hosts}
    check(
        all(t.replace("\n", "") == both.read_text().replace("\n", "") for t in trusted.values()),
        "(b) every node trusts the old and the new CA",
    )

    print("(c) a CA the brokers do not trust is refused on a running cluster")
    before = {h.name: broker(h.private).started_us for h in hosts}
    elsewhere = Path(tempfile.mkdtemp(prefix="stockpipe-other-pki-"))
    run = converge(args.scenario, log, "-e", f"kafka_pki_dir={elsewhere}")
    says = f"it trusts a CA other than {elsewhere}/ca.pem (missing on this machine)"
    fatal = sorted(line.split("]")[0].removeprefix("fatal: [") for line in run.fatal_lines())
    check(
        run.rc != 0 and fatal == sorted(h.name for h in hosts)
        and all(f"{h.name}: {says}" in run.output for h in hosts),
        f"(c) every node refuses in one line: '{says}' ({fatal})",
    )  # fmt: skip
    check(
        {h.name: broker(h.private).started_us for h in hosts} == before
        and {h.name: served_certificate(h.public, ca) for h in brokers} == now,
        "(c) no node restarted, every listener serves the certificate it served",
    )
    # verify_cluster.py's clients trust the lab's first CA only, so it runs before (d) replaces it.
    check_verify_cluster(check, log, TOPIC, 6, [(layout.ids[h.name], h) for h in brokers], secured=True)

    on_new = change_ca(check, load, layout, log, args.scenario, ca, new_ca.pem, new_ca_key)

    load.stop()
    load.check_exactly_once(check)
    run = converge(args.scenario, log, *on_new)
    check(
        run.rc == 0 and set(run.changed) == {h.name for h in hosts} and not any(run.changed.values()),
        f"the next run is changed=0 ({run.changed})",
    )
    shown = log.read_text(errors="replace")
    leaked = sorted(user for user, pw in (passwords | {"producer (new)": new}).items() if pw in shown)
    check(not leaked, f"no password in the output of any of these runs, the last included (found: {leaked})")
    return check.done()


if __name__ == "__main__":
    main_guard(main)
