"""Load a role's Python plugin (a module under library/ or filter_plugins/) by its path, for unit tests of
its functions: roles' plugins are not importable packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROLES = Path(__file__).resolve().parent.parent / "roles"


def load_role_plugin(relative: str) -> ModuleType:
    """roles/<relative> as a module (skips the test where Ansible, which plugins import, is missing)."""
    pytest.importorskip("ansible")
    path = ROLES / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
