#!/usr/bin/env python3
"""Build the wheelhouse a pipeline host installs from: the stockpipe wheel plus every dependency's wheel
for the host's Python version, CPU and glibc. Runs on the controller (the hosts need no package index).

    build_wheelhouse.py --source REPO --cache DIR --python 3.11 --machine x86_64 --glibc 2.36

Prints one JSON object: {"changed": bool, "dir": ..., "archive": ..., "archive_sha256": ..., "wheel": ...,
"files": [...]}.
Idempotent: the stockpipe wheel is rebuilt only when its sources change, reproducibly (SOURCE_DATE_EPOCH),
so an unchanged checkout gives byte-identical files; dependencies are downloaded only when the requirements
change. The archive, the directory's wheels in one uncompressed tar (wheels are zips already), is what the
role copies: one file to compare and send instead of one per wheel (~30 files, each a module run).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SOURCES = ("pyproject.toml", "README.md", "pipeline")
SKIP = ("__pycache__", ".pyc")
# Wheel timestamps are fixed so that the same sources give the same bytes (1980-01-01, zip's epoch).
SOURCE_DATE_EPOCH = "315532800"


def source_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            rel = f.relative_to(root).as_posix()
            if any(part in rel for part in SKIP):
                continue
            digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"build_wheelhouse: {' '.join(cmd[:4])} ... failed:\n" + "\n".join(tail))


def build_wheel(root: Path, out: Path) -> Path:
    """pip wheel of a clean copy of the sources (no stale build/ dir can leak into it)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        for name in SOURCES:
            src = root / name
            if src.is_dir():
                shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns(*("__pycache__", "*.pyc")))
            else:
                shutil.copy2(src, copy / name)
        built = Path(tmp) / "out"
        env_epoch = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
        try:
            run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(built), str(copy)])
        finally:
            if env_epoch is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = env_epoch
        (wheel,) = built.glob("stockpipe-*.whl")
        target = out / wheel.name
        if not target.exists() or target.read_bytes() != wheel.read_bytes():
            shutil.copyfile(wheel, target)
        return target


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(meta).decode().splitlines()
    # Base requirements only: extras (the local broker, test and UI tools) are not installed on hosts.
    return sorted(
        line.split(":", 1)[1].strip()
        for line in lines
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )


def platforms(machine: str, glibc: str) -> list[str]:
    major, minor = (int(x) for x in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{machine}", f"manylinux1_{machine}"]


def download_deps(reqs: list[str], out: Path, python: str, machine: str, glibc: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--only-binary=:all:",
        "-d",
        str(out),
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        "cp" + python.replace(".", ""),
    ]
    for tag in platforms(machine, glibc):
        cmd += ["--platform", tag]
    run(cmd + reqs)


def write_archive(out: Path, archive: Path) -> tuple[bool, str]:
    """The wheels of `out` in one tar, rewritten only when they changed; the same wheels give the same bytes
    (sorted names, fixed owner and time). Returns whether its bytes changed, and its SHA-256."""
    wheels = sorted(out.glob("*.whl"))
    listing = "\n".join(f"{w.name} {w.stat().st_size} {w.stat().st_mtime_ns}" for w in wheels)
    stamp = out / ".archive-of"
    checksum = archive.with_name(archive.name + ".sha256")
    previous = checksum.read_text().strip() if archive.exists() and checksum.exists() else ""
    if previous and stamp.exists() and stamp.read_text() == listing:
        return False, previous
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for wheel in wheels:
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            info.mtime = int(SOURCE_DATE_EPOCH)
            with wheel.open("rb") as fh:
                tar.addfile(info, fh)
    digest = hashlib.sha256()
    with partial.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    partial.replace(archive)  # never a torn archive under the name the role copies
    checksum.write_text(digest.hexdigest() + "\n")
    stamp.write_text(listing)
    return digest.hexdigest() != previous, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="repository with pyproject.toml")
    parser.add_argument("--cache", type=Path, required=True, help="wheelhouse cache directory")
    parser.add_argument("--python", required=True, help="host Python version, e.g. 3.11")
    parser.add_argument("--machine", required=True, help="host CPU, e.g. x86_64 or aarch64")
    parser.add_argument("--glibc", required=True, help="host glibc version, e.g. 2.36")
    args = parser.parse_args()
    if not (args.source / "pyproject.toml").is_file():
        raise SystemExit(f"build_wheelhouse: no pyproject.toml in {args.source}; fix pipeline_source_dir")

    out = args.cache / f"cp{args.python.replace('.', '')}-{args.machine}-glibc{args.glibc}"
    out.mkdir(parents=True, exist_ok=True)
    with open(args.cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several hosts of one platform build the same directory
        before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.whl")}
        stamp = out / ".source-sha256"
        digest = source_digest(args.source)
        wheels = sorted(out.glob("stockpipe-*.whl"))
        if wheels and stamp.exists() and stamp.read_text() == digest:
            wheel = wheels[-1]
        else:
            wheel = build_wheel(args.source, out)
            for old in wheels:
                if old != wheel:
                    old.unlink()
            stamp.write_text(digest)
        reqs = requirements(wheel)
        reqs_stamp = out / ".requirements"
        if not reqs_stamp.exists() or reqs_stamp.read_text() != "\n".join(reqs):
            download_deps(reqs, out, args.python, args.machine, args.glibc)
            reqs_stamp.write_text("\n".join(reqs))
        after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.whl")}
        archive = args.cache / f"{out.name}.tar"
        archived, archive_sha256 = write_archive(out, archive)
    result = {
        "changed": before != after or archived,
        "dir": str(out),
        "archive": str(archive),
        "archive_sha256": archive_sha256,
        "wheel": wheel.name,
        "files": sorted(after),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
