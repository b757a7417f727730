"""plugins/strategy/stockpipe_linear.py: Ansible's linear strategy over Mitogen when ansible_mitogen
imports, the plain linear strategy (not a failed run) when it does not."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from ansible.plugins.strategy.linear import StrategyModule as Linear
from playbook_run import REPO, run_local_play

PLUGIN = REPO / "plugins" / "strategy" / "stockpipe_linear.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stockpipe_linear_under_test", PLUGIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_linear_over_mitogen_when_installed() -> None:
    import ansible_mitogen.strategy

    strategy = _load().StrategyModule
    assert issubclass(strategy, ansible_mitogen.strategy.StrategyMixin)
    assert issubclass(strategy, Linear)


def test_falls_back_to_linear_with_a_warning_without_mitogen(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ansible_mitogen.strategy", None)  # import raises ImportError
    strategy = _load().StrategyModule
    assert issubclass(strategy, Linear)
    assert not any("mitogen" in base.__module__ for base in strategy.__mro__)
    assert "Mitogen unavailable" in capsys.readouterr().err


def test_commands_a_task_starts_may_run_on_every_cpu(tmp_path: Path) -> None:
    # Mitogen's own policy pins them to one CPU; hosts or JVMs started by such a command inherit it.
    # The strategy is the kit's ansible.cfg's (run_local_play runs from the repository root).
    play = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Read the command's CPU mask\n"
        "      ansible.builtin.command: grep Cpus_allowed_list /proc/self/status\n"
        "      register: mask\n      changed_when: false\n"
        "    - name: Show it\n      ansible.builtin.debug:\n"
        "        msg: 'MASK {{ mask.stdout.split() | last }}'\n"
    )
    inventory = {"all": {"hosts": {"control": {"ansible_connection": "local"}}}}
    done = run_local_play(tmp_path, inventory, play)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ours = re.search(r"Cpus_allowed_list:\s*(\S+)", Path("/proc/self/status").read_text())
    theirs = re.search(r"MASK ([0-9,-]+)", done.stdout)
    assert ours and theirs, done.stdout[-2000:]
    assert theirs[1] == ours[1]
