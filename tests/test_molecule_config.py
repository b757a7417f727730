"""The molecule scenarios' Ansible settings live in one place, .config/molecule/config.yml (molecule
merges it under every scenario), and agree with the kit's ansible.cfg where both set the same thing."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _shared_options() -> dict[str, dict[str, object]]:
    config = yaml.safe_load((REPO / ".config" / "molecule" / "config.yml").read_text())
    return config["provisioner"]["config_options"]


def test_no_scenario_sets_its_own_ansible_settings() -> None:
    scenarios = sorted((REPO / "tests" / "ansible" / "molecule").glob("*/molecule.yml"))
    assert scenarios
    for scenario in scenarios:
        provisioner = yaml.safe_load(scenario.read_text()).get("provisioner", {})
        assert "config_options" not in provisioner, f"{scenario}: put Ansible settings in .config/molecule"


def test_the_scenarios_pipeline_ssh_as_the_kit_does() -> None:
    kit = configparser.ConfigParser()
    kit.read(REPO / "ansible.cfg")
    assert kit.getboolean("ssh_connection", "pipelining") is True
    assert _shared_options()["ssh_connection"]["pipelining"] is True


def test_the_scenarios_run_as_many_hosts_at_once_as_the_kit() -> None:
    kit = configparser.ConfigParser()
    kit.read(REPO / "ansible.cfg")
    forks = kit.getint("defaults", "forks")
    assert forks >= 8, "a cluster with dedicated controllers and two pipeline hosts is eight hosts"
    assert _shared_options()["defaults"]["forks"] == forks


def test_the_scenarios_run_the_kits_strategy() -> None:
    kit = configparser.ConfigParser()
    kit.read(REPO / "ansible.cfg")
    strategy = kit.get("defaults", "strategy")
    assert (REPO / kit.get("defaults", "strategy_plugins") / f"{strategy}.py").is_file()
    shared = _shared_options()["defaults"]
    assert shared["strategy"] == strategy
    # molecule runs from tests/ansible (MOLECULE_PROJECT_DIRECTORY): the path leads to the kit's plugins
    plugins = str(shared["strategy_plugins"]).replace("${MOLECULE_PROJECT_DIRECTORY}", "tests/ansible")
    assert (REPO / plugins).resolve() == (REPO / kit.get("defaults", "strategy_plugins")).resolve()
