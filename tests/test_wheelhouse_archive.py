"""The pipeline role sends its wheelhouse as one tar (roles/pipeline/files/build_wheelhouse.py): the same
wheels must give the same bytes, so that an unchanged checkout copies and unpacks nothing on a rerun."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from role_plugins import load_role_plugin


def _wheels(out: Path, **contents: bytes) -> None:
    out.mkdir(exist_ok=True)
    for name, data in contents.items():
        (out / f"{name}-1.0-py3-none-any.whl").write_bytes(data)


def test_the_same_wheels_give_the_same_archive_and_a_new_wheel_a_new_one(tmp_path: Path) -> None:
    build = load_role_plugin("pipeline/files/build_wheelhouse.py")
    out, archive = tmp_path / "cp311", tmp_path / "cp311.tar"
    _wheels(out, b=b"bee", a=b"ay")
    changed, first = build.write_archive(out, archive)
    assert changed
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl"]
    assert {(m.uid, m.gid, m.mode, m.mtime) for m in members} == {(0, 0, 0o644, 315532800)}

    assert build.write_archive(out, archive) == (False, first)
    # Touched (a new download of the same file): rewritten, same bytes, so not a change for the hosts.
    wheel = out / "a-1.0-py3-none-any.whl"
    os.utime(wheel, ns=(wheel.stat().st_atime_ns, wheel.stat().st_mtime_ns + 10**9))
    assert build.write_archive(out, archive) == (False, first)

    _wheels(out, c=b"sea")
    changed, third = build.write_archive(out, archive)
    assert changed and third != first
    assert (tmp_path / "cp311.tar.sha256").read_text().strip() == third
    assert not list(tmp_path.glob("*.partial"))
