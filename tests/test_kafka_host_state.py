"""roles/kafka/library/kafka_host_state.py: how it reads a broker's files (the preflight's decisions
about ids and listener protocols rest on these two readers)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from role_plugins import load_role_plugin


@pytest.fixture(scope="module")
def host_state() -> ModuleType:
    return load_role_plugin("kafka/library/kafka_host_state.py")


def test_properties_skip_comments_and_keep_equals_in_values(host_state: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "meta.properties"
    path.write_text("#Mon Nov 30\nnode.id=3\n  # not=this\ncluster.id = a=b \nversion=1\nnoise\n")
    assert host_state._properties(str(path)) == {"node.id": "3", "cluster.id": "a=b", "version": "1"}


def test_a_missing_file_reads_as_empty(host_state: ModuleType, tmp_path: Path) -> None:
    assert host_state._properties(str(tmp_path / "absent.properties")) == {}


def test_listener_protocols_of_a_secured_kraft_broker(host_state: ModuleType) -> None:
    protocols = "INTERNAL:SSL,EXTERNAL:SASL_SSL,CONTROLLER:SSL,CLIENT:SASL_SSL"
    props = {"listener.security.protocol.map": protocols}
    assert host_state.listener_protocols(props) == {
        "INTERNAL": "SSL",
        "EXTERNAL": "SASL_SSL",
        "CONTROLLER": "SSL",
        "CLIENT": "SASL_SSL",
    }


def test_listener_protocols_absent_or_malformed(host_state: ModuleType) -> None:
    assert host_state.listener_protocols({}) == {}
    malformed = {"listener.security.protocol.map": "INTERNAL, EXTERNAL:PLAINTEXT"}
    assert host_state.listener_protocols(malformed) == {"EXTERNAL": "PLAINTEXT"}
