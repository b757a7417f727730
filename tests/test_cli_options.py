"""The options several commands share are declared once (pipeline/cli_options.py): every command that
shows one shows that declaration, and passes it to the setting it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from pipeline.cli import app
from pipeline.cli_options import OPTIONS, Shared, shared_options


def _commands() -> dict[str, Any]:
    out, stack = {}, [("", typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        subs = getattr(command, "commands", None)
        if subs:
            stack += [(f"{path} {name}".strip(), sub) for name, sub in subs.items()]
        else:
            out[path] = command
    return out


#: A command's own option that only shares a shared option's name (a different meaning, its own help).
OWN = {("dashboard", "topic")}


def test_every_command_shows_the_one_declaration_of_each_shared_option() -> None:
    declared = {}
    for name, (annotation, _setting) in OPTIONS.items():
        (info,) = annotation.__metadata__
        declared[name] = info.help
    uses: dict[str, int] = {}
    for path, command in _commands().items():
        for param in command.params:
            if param.name in declared and (path, param.name) not in OWN:
                assert param.help == declared[param.name], (path, param.name)
                uses[param.name] = uses.get(param.name, 0) + 1
    assert uses["config"] == len(_commands())  # every command reads a config file
    assert all(uses.get(name, 0) >= 2 for name in declared), uses  # each shared by several commands


def test_shared_options_reach_the_settings_they_name(tmp_path: Path) -> None:
    seen: list[Shared] = []

    @shared_options(("group", "lake", "state_dir"))
    def command(*, shared: Shared) -> None:
        seen.append(shared)

    assert [p for p in command.__signature__.parameters] == ["group", "lake", "state_dir", "config"]  # type: ignore[attr-defined]
    command(group="g1", lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"), config=None)
    settings = seen[0].settings(table="t1")
    assert (settings.group_id, settings.lake, settings.state_dir, settings.table) == (
        "g1",
        str(tmp_path / "lake"),
        str(tmp_path / "state"),
        "t1",
    )


def test_a_command_cannot_declare_a_shared_option_again() -> None:
    with pytest.raises(TypeError, match="lake"):

        @shared_options("lake")
        def command(lake: str | None = None, *, shared: Shared) -> None: ...

    with pytest.raises(ValueError, match="no shared options"):
        shared_options("lakes")
