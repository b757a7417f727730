"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml: the same variables, the same
defaults, and the description is the comment above the default (one text, not two drifting copies).
The roles' READMEs list every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"


def _comments(defaults: Path) -> dict[str, str]:
    """The comment lines right above each top-level variable of a defaults file, joined."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in defaults.read_text().splitlines():
        if line.startswith("#"):
            pending.append(line.lstrip("# ").strip())
        elif re.match(r"^[a-z_][a-z0-9_]*:", line):
            out[line.split(":", 1)[0]] = " ".join(pending)
            pending = []
        elif not line.strip():
            pending = []
    return out


@pytest.mark.parametrize(
    "role", sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").exists())
)
def test_argument_specs_and_defaults_agree(role: str) -> None:
    defaults_file = ROLES / role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options), set(defaults) ^ set(options)
    comments = _comments(defaults_file)
    for name, value in defaults.items():
        spec = options[name]
        templated = isinstance(value, str) and "{{" in value  # computed per host: the spec cannot hold it
        if not templated and not spec.get("required"):
            assert spec.get("default") == value, f"{role}: {name}: spec {spec.get('default')!r} != {value!r}"
        if templated:
            assert "default" not in spec, f"{role}: {name} spec repeats a templated default"
        assert comments.get(name), f"{role}: {name} has no comment in defaults/main.yml"
        assert spec.get("description"), f"{role}: {name} has no description in argument_specs"
    readme = (ROLES / role / "README.md").read_text()
    missing = [name for name in defaults if f"`{name}`" not in readme]
    assert not missing, f"roles/{role}/README.md does not list {missing}"


def test_the_pipeline_logs_in_as_the_brokers_listen_by_default() -> None:
    """The pipeline role's fallback protocol is the kafka role's default listener protocol (its one copy)."""
    kafka = yaml.safe_load((ROLES / "kafka/defaults/main.yml").read_text())
    pipeline = yaml.safe_load((ROLES / "pipeline/defaults/main.yml").read_text())
    default = kafka["kafka_external_security_protocol"]
    fallback = f"{{{{ kafka_external_security_protocol | default('{default}') }}}}"
    assert pipeline["pipeline_kafka_security_protocol"] == fallback
