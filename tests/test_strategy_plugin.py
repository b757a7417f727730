"""plugins/strategy/stockpipe_linear.py: Ansible's linear strategy over Mitogen when ansible_mitogen
imports, the plain linear strategy (not a failed run) when it does not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from ansible.plugins.strategy.linear import StrategyModule as Linear

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "strategy" / "stockpipe_linear.py"


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
