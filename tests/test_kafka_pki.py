"""roles/kafka_pki: a private CA (or the operator's) and one certificate per broker, as PEM files a real
Kafka broker serves TLS from.

The role runs on two inventory hosts with a local connection, each "broker" installing into its own
directory under tmp; the controller side (keys, CSRs, certificates) is real community.crypto. Every run
has `--diff`; no private key may show in its output.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fixtures_kafka import start_cluster
from playbook_run import PlaybookRun, ansible_env
from tls import make_ca

from pipeline.local.kafka import SecureListener

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLAY = """
- name: Apply kafka_pki to the test brokers
  hosts: all
  gather_facts: false
  roles:
    - role: kafka_pki
"""
BROKERS = {
    "broker-1": {"kafka_advertised_host": "localhost", "kafka_internal_address": "127.0.0.1"},
    "broker-2": {"kafka_advertised_host": "broker-2.example.com", "kafka_internal_address": "10.0.0.2"},
}


class Lab:
    """Two brokers' worth of inventory under `root`; `run()` applies the role to them."""

    def __init__(self, root: Path, **common: Any) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.pki = root / "pki"
        self.hosts = {name: dict(values) for name, values in BROKERS.items()}
        self.common = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "kafka_pki_dir": str(self.pki),
            "kafka_pki_owner": pwd.getpwuid(os.getuid()).pw_name,
            "kafka_pki_group": grp.getgrgid(os.getgid()).gr_name,
            **common,
        }

    def tls_dir(self, host: str) -> Path:
        return self.root / "hosts" / host / "tls"

    def run(self) -> PlaybookRun:
        hosts = {h: {**v, "kafka_pki_host_dir": str(self.tls_dir(h))} for h, v in self.hosts.items()}
        inventory = self.root / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": self.common}}))
        play = self.root / "play.yml"
        play.write_text(PLAY)
        env = ansible_env(self.root)
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), "--diff", str(play)]
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        run = PlaybookRun(done.returncode, done.stdout + done.stderr)
        assert "PRIVATE KEY" not in run.out, "a private key shows in the play's output"
        return run

    def keystore(self, host: str) -> tuple[Any, x509.Certificate, x509.Certificate]:
        """The key, the broker certificate and the CA certificate in a host's keystore.pem, in that order."""
        pem = (self.tls_dir(host) / "keystore.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        certs = x509.load_pem_x509_certificates(pem)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----") and len(certs) == 2  # PKCS#8, then the chain
        return key, certs[0], certs[1]


def _names(cert: x509.Certificate) -> set[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in sans.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    }


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = Lab(tmp_path_factory.mktemp("pki"))
    first = lab.run()
    assert first.rc == 0, first.out[-5000:]
    return lab


def test_each_broker_gets_a_keystore_that_chains_to_the_ca_and_names_its_addresses(lab: Lab) -> None:
    ca_pem = (lab.pki / "ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    for host, values in BROKERS.items():
        key, cert, chain_ca = lab.keystore(host)
        assert chain_ca == ca and (lab.tls_dir(host) / "ca.pem").read_bytes() == ca_pem
        cert.verify_directly_issued_by(ca)
        assert cert.public_key() == key.public_key()
        assert _names(cert) == {values["kafka_advertised_host"], values["kafka_internal_address"]}
        assert _mode(lab.tls_dir(host)) == 0o750
        assert _mode(lab.tls_dir(host) / "keystore.pem") == 0o640
        assert _mode(lab.tls_dir(host) / "ca.pem") == 0o644
        assert _mode(lab.pki / f"{host}.key") == 0o600
    assert _mode(lab.pki) == 0o700 and _mode(lab.pki / "ca.key") == 0o600


def test_a_rerun_changes_nothing_and_a_new_name_reissues_that_brokers_certificate_only(lab: Lab) -> None:
    before = {host: lab.keystore(host)[1] for host in BROKERS}
    ca_before = (lab.pki / "ca.pem").read_bytes()
    rerun = lab.run()
    assert rerun.rc == 0 and rerun.changed == 0, rerun.out[-5000:]

    lab.hosts["broker-1"]["kafka_pki_names"] = ["localhost", "127.0.0.1", "kafka-1.example.com"]
    renamed = lab.run()
    assert renamed.rc == 0, renamed.out[-5000:]
    after = {host: lab.keystore(host)[1] for host in BROKERS}
    assert _names(after["broker-1"]) == {"localhost", "127.0.0.1", "kafka-1.example.com"}
    assert after["broker-1"].serial_number != before["broker-1"].serial_number
    assert after["broker-2"] == before["broker-2"]
    assert (lab.pki / "ca.pem").read_bytes() == ca_before


def test_a_real_broker_serves_tls_from_the_keystore_to_a_client_that_verifies_its_name(
    lab: Lab, kafka_home: Path, tmp_path: Path
) -> None:
    keystore = lab.tls_dir("broker-1") / "keystore.pem"
    cluster = start_cluster(
        kafka_home, tmp_path / "kafka", nodes=1, secure=SecureListener(lambda _n: keystore)
    )
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})  # PLAINTEXT: the test's setup path
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion("admin", info, b"a-test-password-of-some-length")
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(30)
        secure = AdminClient(
            {
                "bootstrap.servers": cluster.secure_bootstrap,  # 127.0.0.1: a name the certificate covers
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "admin",
                "sasl.password": "a-test-password-of-some-length",
                "ssl.ca.location": str(lab.tls_dir("broker-1") / "ca.pem"),
                "ssl.endpoint.identification.algorithm": "https",
            }
        )
        metadata = secure.list_topics(timeout=30)
        assert metadata.brokers, "no broker answered over TLS"
    finally:
        cluster.close()


def test_the_operators_own_ca_signs_instead_of_the_kits(tmp_path: Path) -> None:
    theirs = make_ca(tmp_path / "their-ca", "their corporate CA")
    key_file = tmp_path / "their-ca" / "ca.key"
    key_file.write_bytes(
        theirs.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    lab = Lab(tmp_path / "lab", kafka_pki_ca_cert_file=str(theirs.pem), kafka_pki_ca_key_file=str(key_file))
    run = lab.run()
    assert run.rc == 0, run.out[-5000:]
    for host in BROKERS:
        _key, cert, chain_ca = lab.keystore(host)
        cert.verify_directly_issued_by(theirs.cert)
        assert chain_ca == theirs.cert
        assert (lab.tls_dir(host) / "ca.pem").read_bytes() == theirs.pem.read_bytes()
    assert not (lab.pki / "ca.key").exists() and not (lab.pki / "ca.pem").exists()


def test_half_a_ca_setting_stops_in_one_line_before_any_key_is_made(tmp_path: Path) -> None:
    theirs = make_ca(tmp_path / "their-ca")
    lab = Lab(tmp_path / "lab", kafka_pki_ca_cert_file=str(theirs.pem))
    run = lab.run()
    assert run.rc != 0
    errors = [line for line in run.out.splitlines() if line.startswith("[ERROR]")]
    assert errors and all("set both kafka_pki_ca_cert_file and kafka_pki_ca_key_file" in e for e in errors)
    assert "Traceback" not in run.out and not lab.pki.exists()


def _ca_with_key(out: Path, name: str) -> tuple[Any, Path]:
    ca = make_ca(out, name)
    key_file = out / "ca.key"
    key_file.write_bytes(
        ca.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return ca, key_file


def _refusals(run: PlaybookRun) -> list[str]:
    return [line for line in run.out.splitlines() if line.startswith("[ERROR]")]


def test_a_new_ca_comes_in_three_runs_and_a_skipped_step_is_refused(tmp_path: Path) -> None:
    """Trust the new CA too, sign with it while trusting the old one, drop the old one: each step keeps
    every pair of brokers (restarted or not) able to verify each other; skipping one is refused."""
    lab = Lab(tmp_path / "lab")
    assert lab.run().rc == 0
    old_ca = x509.load_pem_x509_certificate((lab.pki / "ca.pem").read_bytes())
    new, new_key = _ca_with_key(tmp_path / "new-ca", "the new CA")
    sign_new = {"kafka_pki_ca_cert_file": str(new.pem), "kafka_pki_ca_key_file": str(new_key)}
    files = {h: (lab.tls_dir(h) / "keystore.pem").read_bytes() for h in BROKERS}

    lab.common.update(sign_new)  # signing with a CA the running brokers do not trust yet
    run = lab.run()
    assert run.rc != 0 and len(_refusals(run)) == len(BROKERS), run.out[-3000:]
    assert all(f"it trusts a CA other than {new.pem};" in e for e in _refusals(run))
    assert {h: (lab.tls_dir(h) / "keystore.pem").read_bytes() for h in BROKERS} == files

    del lab.common["kafka_pki_ca_cert_file"], lab.common["kafka_pki_ca_key_file"]
    lab.common["kafka_pki_trust_ca_files"] = [str(new.pem)]  # 1. trust both, still signed by the old CA
    run = lab.run()
    assert run.rc == 0, run.out[-5000:]
    # Exactly the two PEM files, one after the other: nothing between them that a stricter reader chokes on.
    both = (lab.pki / "ca.pem").read_text().strip() + "\n" + new.pem.read_text().strip() + "\n"
    for host in BROKERS:
        assert (lab.tls_dir(host) / "ca.pem").read_text() == both
        assert x509.load_pem_x509_certificates(both.encode()) == [old_ca, new.cert]
        lab.keystore(host)[1].verify_directly_issued_by(old_ca)
    assert (lab.pki / "trust.pem").read_text() == both

    lab.common |= {**sign_new, "kafka_pki_trust_ca_files": []}  # 2 without keeping the old CA: refused
    run = lab.run()
    assert run.rc != 0 and len(_refusals(run)) == len(BROKERS), run.out[-3000:]
    assert all("signed by a CA this run would no longer trust" in e for e in _refusals(run))

    lab.common["kafka_pki_trust_ca_files"] = [str(lab.pki / "ca.pem")]  # 2. sign with the new CA
    run = lab.run()
    assert run.rc == 0, run.out[-5000:]
    for host in BROKERS:
        _key, cert, chain_ca = lab.keystore(host)
        cert.verify_directly_issued_by(new.cert)
        assert chain_ca == new.cert
        assert x509.load_pem_x509_certificates((lab.tls_dir(host) / "ca.pem").read_bytes()) == [
            new.cert,
            old_ca,
        ]

    lab.common["kafka_pki_trust_ca_files"] = []  # 3. drop the old CA
    run = lab.run()
    assert run.rc == 0, run.out[-5000:]
    for host in BROKERS:
        assert (lab.tls_dir(host) / "ca.pem").read_bytes() == new.pem.read_bytes()
    again = lab.run()
    assert again.rc == 0 and again.changed == 0, again.out[-3000:]
