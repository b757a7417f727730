"""Apache Kafka in the layout of Apache's binary tarball, assembled from Maven Central.

No package registry carries Apache's tarball, but every jar in it is on Maven Central. This module
resolves the broker and tools artifacts of one Kafka version with `mvn`, lays out
`kafka_<scala>-<version>/{bin,libs,config}` as the Apache tarball does, and packs it into
`kafka_<scala>-<version>.tgz` with a `.sha512` beside it. The `bin/` scripts are the project's own
(`kafka_dist_files/`): they honour the environment Apache's scripts read and run the same main classes.

The tarball is reproducible (sorted entries, fixed times and owners, no gzip timestamp), so its SHA-512
is the same wherever the same jars are resolved. A build is skipped when the cached tarball was made
from the same inputs (version, this module, the files it copies).

    python -m pipeline.local.kafka_dist --out .cache/kafka-dist 4.1.1 4.1.0 3.9.1
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

SCALA = "2.13"
FILES = Path(__file__).resolve().parent / "kafka_dist_files"
#: Versions the project tests (KRaft 4.1.x, the upgrade from 4.1.0, ZooKeeper mode on 3.9.x).
TESTED_VERSIONS = ("4.1.1", "4.1.0", "3.9.1")
#: Every entry in the tarball gets this mtime (2024-01-01), so the same jars give the same bytes.
_EPOCH = 1704067200
#: Versions Apache's build forces over what the POMs ask for (security fixes); applied to every build.
_PINNED = {
    ("commons-beanutils", "commons-beanutils"): "1.11.0",
    ("org.apache.commons", "commons-lang3"): "3.18.0",
}

#: bin/ tools: script -> candidate main classes, newest location first (classes move between versions).
TOOLS: dict[str, tuple[str, ...]] = {
    "kafka-storage.sh": ("kafka.tools.StorageTool",),
    "kafka-topics.sh": ("org.apache.kafka.tools.TopicCommand",),
    "kafka-metadata-quorum.sh": ("org.apache.kafka.tools.MetadataQuorumCommand",),
    "kafka-configs.sh": ("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand"),
    "kafka-features.sh": ("org.apache.kafka.tools.FeatureCommand",),
    "kafka-acls.sh": ("org.apache.kafka.tools.AclCommand", "kafka.admin.AclCommand"),
    "kafka-consumer-groups.sh": ("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",),
    "kafka-reassign-partitions.sh": ("org.apache.kafka.tools.reassign.ReassignPartitionsCommand",),
    "kafka-leader-election.sh": ("org.apache.kafka.tools.LeaderElectionCommand",),
    "kafka-log-dirs.sh": ("org.apache.kafka.tools.LogDirsCommand",),
    "kafka-get-offsets.sh": ("org.apache.kafka.tools.GetOffsetShell",),
    "kafka-cluster.sh": ("org.apache.kafka.tools.ClusterTool",),
    "kafka-broker-api-versions.sh": (
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        "kafka.admin.BrokerApiVersionsCommand",
    ),
    "kafka-console-producer.sh": ("org.apache.kafka.tools.ConsoleProducer", "kafka.tools.ConsoleProducer"),
    "kafka-console-consumer.sh": ("org.apache.kafka.tools.consumer.ConsoleConsumer",),
    "kafka-producer-perf-test.sh": ("org.apache.kafka.tools.ProducerPerformance",),
    "kafka-consumer-perf-test.sh": ("org.apache.kafka.tools.ConsumerPerformance",),
    "kafka-dump-log.sh": ("org.apache.kafka.tools.DumpLogSegments", "kafka.tools.DumpLogSegments"),
}
#: Tools whose Apache scripts give them a larger default heap than the launcher's 256M.
TOOL_HEAP = {"kafka-producer-perf-test.sh": "-Xmx512M", "kafka-consumer-perf-test.sh": "-Xmx512M"}
#: Main classes the hand-written scripts run; the build fails when the libs lack one.
SERVER_CLASSES = {
    4: ("kafka.Kafka",),
    3: ("kafka.Kafka", "org.apache.zookeeper.server.quorum.QuorumPeerMain"),
}


@dataclass(frozen=True)
class Distribution:
    """A packed distribution: the tarball, its SHA-512 (hex) and the version it holds."""

    version: str
    tarball: Path
    sha512: str

    @property
    def name(self) -> str:
        return dist_name(self.version)


def dist_name(version: str, scala: str = SCALA) -> str:
    return f"kafka_{scala}-{version}"


def major(version: str) -> int:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        raise PipelineError(f"Kafka version '{version}' is not MAJOR.MINOR.PATCH", "give one like 4.1.1")
    value = int(match.group(1))
    if value not in (3, 4):
        raise PipelineError(f"Kafka {version} is not supported here", "build a 3.x or 4.x version")
    return value


def _inputs_digest(version: str) -> str:
    digest = hashlib.sha256(f"{version}|{SCALA}|{sorted(_PINNED.items())}|{TOOLS}|{TOOL_HEAP}".encode())
    for path in [Path(__file__), *sorted(p for p in FILES.rglob("*") if p.is_file())]:
        digest.update(str(path.relative_to(FILES.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _pom(deps: list[tuple[str, str, str]]) -> str:
    def dep(group: str, artifact: str, version: str) -> str:
        return (
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )

    managed = "".join(dep(g, a, v) for (g, a), v in _PINNED.items())
    wanted = "".join(dep(*d) for d in deps)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>stockpipe</groupId><artifactId>kafka-dist</artifactId><version>1</version>"
        "<packaging>pom</packaging>"
        f"<dependencyManagement><dependencies>{managed}</dependencies></dependencyManagement>"
        f"<dependencies>{wanted}</dependencies></project>"
    )


def _mvn_copy(deps: list[tuple[str, str, str]], libs: Path, work: Path, log: Path) -> None:
    """`mvn dependency:copy-dependencies` of `deps` (runtime scope) into `libs`."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PipelineError(
            "Maven (mvn) is not installed: it assembles Kafka from Maven Central",
            "install Maven 3.8+ and a JDK 17 (apt-get install maven openjdk-17-jdk-headless)",
        )
    pom = work / "pom.xml"
    pom.write_text(_pom(deps))
    cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies"]
    cmd += ["-DincludeScope=runtime", f"-DoutputDirectory={libs}"]
    repo = os.environ.get("STOCKPIPE_MAVEN_REPO")
    if repo:
        cmd.append(f"-Dmaven.repo.local={repo}")
    with log.open("ab") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        wanted = ", ".join(f"{g}:{a}:{v}" for g, a, v in deps)
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln][:1]
        raise PipelineError(
            f"mvn could not resolve {wanted} ({tail[0].strip()[:300] if tail else 'see ' + str(log)})",
            "check that Maven Central is reachable (proxy: ~/.m2/settings.xml) and the version exists",
        )


def _jar_version(libs: Path, artifact: str) -> str | None:
    for jar in libs.glob(f"{artifact}-*.jar"):
        match = re.fullmatch(rf"{re.escape(artifact)}-(\d[\w.\-]*)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def _classes(libs: Path) -> set[str]:
    names: set[str] = set()
    for jar in libs.glob("*.jar"):
        with zipfile.ZipFile(jar) as zf:
            names.update(n[:-6].replace("/", ".") for n in zf.namelist() if n.endswith(".class"))
    return names


def _resolve_libs(version: str, libs: Path, work: Path, log: Path) -> None:
    """Core + tools runtime classpath, plus the logging jars that are in no POM (see ENVIRONMENT.md)."""
    _mvn_copy(
        [("org.apache.kafka", f"kafka_{SCALA}", version), ("org.apache.kafka", "kafka-tools", version)],
        libs,
        work,
        log,
    )
    if major(version) >= 4:
        # Kafka 4 logs through SLF4J 1.x to log4j2: without the binding the broker runs but logs nothing.
        log4j = _jar_version(libs, "log4j-core") or _jar_version(libs, "log4j-api")
        jackson = _jar_version(libs, "jackson-databind")
        if log4j is None or jackson is None:
            raise PipelineError(
                f"Kafka {version}'s runtime classpath has no log4j-core or jackson-databind",
                "this layout supports Kafka 4.1+; build 4.1.x or 3.9.x",
            )
        extra = [
            ("org.apache.logging.log4j", "log4j-api", log4j),
            ("org.apache.logging.log4j", "log4j-core", log4j),
            ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j),
            ("org.apache.logging.log4j", "log4j-1.2-api", log4j),
            ("com.fasterxml.jackson.dataformat", "jackson-dataformat-yaml", jackson),
        ]
        _mvn_copy(extra, libs, work, log)
    binding = re.compile(r"(slf4j-reload4j|log4j-slf4j-impl)-")
    bindings = sorted(j.name for j in libs.glob("*.jar") if binding.match(j.name))
    if len(bindings) != 1:
        raise PipelineError(
            f"Kafka {version} libs hold {len(bindings)} SLF4J bindings ({bindings}); expected exactly one",
            "report this: the broker would log nothing or warn about multiple bindings",
        )


def _write_bin(version: str, root: Path, classes: set[str]) -> None:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    server_log4j = (
        "-Dlog4j2.configurationFile=$bin/../config/log4j2.yaml"
        if major(version) >= 4
        else "-Dlog4j.configuration=file:$bin/../config/log4j.properties"
    )
    scripts = ["kafka-run-class.sh", "kafka-server-start.sh", "kafka-server-stop.sh"]
    if major(version) < 4:
        scripts += ["zookeeper-server-start.sh", "zookeeper-server-stop.sh"]
    for name in scripts:
        text = (FILES / name).read_text().replace("@SERVER_LOG4J_OPTS@", server_log4j)
        (bin_dir / name).write_text(text)
    missing = [c for c in SERVER_CLASSES[major(version)] if c not in classes]
    for script, candidates in TOOLS.items():
        main = next((c for c in candidates if c in classes), None)
        if main is None:
            missing.append(f"{script}: {' or '.join(candidates)}")
            continue
        heap = TOOL_HEAP.get(script)
        (bin_dir / script).write_text(
            "#!/usr/bin/env bash\n"
            f"# {script.removesuffix('.sh')}: runs {main} (Kafka {version}) through kafka-run-class.sh.\n"
            + (f'export KAFKA_HEAP_OPTS="${{KAFKA_HEAP_OPTS:-{heap}}}"\n' if heap else "")
            + 'exec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" '
            + main
            + ' "$@"\n'
        )
    if missing:
        raise PipelineError(
            f"Kafka {version}'s jars lack main classes the bin/ scripts run: {'; '.join(missing)}",
            "update TOOLS in pipeline/local/kafka_dist.py for this version",
        )
    for script in bin_dir.iterdir():
        script.chmod(0o755)


def _pack(src: Path, dest: Path) -> None:
    """A reproducible .tgz of `src` (entries sorted, root-owned, fixed mtime, no gzip header time)."""

    def entries(path: Path) -> list[Path]:
        out = [path]
        if path.is_dir():
            for child in sorted(path.iterdir()):
                out += entries(child)
        return out

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in entries(src):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(src.parent)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = _EPOCH
            info.mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
            if path.is_file():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    tmp = dest.with_suffix(".tmp")
    with tmp.open("wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    tmp.replace(dest)


def sha512_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha512").hexdigest()


def cached(version: str, out_dir: Path) -> Distribution | None:
    """The tarball in `out_dir` when it was built from today's inputs, else None."""
    tarball = out_dir / f"{dist_name(version)}.tgz"
    stamp = out_dir / f"{dist_name(version)}.inputs"
    sums = out_dir / f"{dist_name(version)}.tgz.sha512"
    if not (tarball.is_file() and stamp.is_file() and sums.is_file()):
        return None
    if stamp.read_text().strip() != _inputs_digest(version):
        return None
    return Distribution(version, tarball, sums.read_text().split()[0])


def build(version: str, out_dir: Path, force: bool = False) -> Distribution:
    """Build (or reuse) `out_dir/kafka_2.13-<version>.tgz`; returns it with its SHA-512."""
    major(version)
    out_dir = out_dir.resolve()  # mvn resolves relative paths against the pom's directory
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir / f".{dist_name(version)}.lock"):
        if not force and (hit := cached(version, out_dir)) is not None:
            return hit
        return _build(version, out_dir)


def _build(version: str, out_dir: Path) -> Distribution:
    name = dist_name(version)
    log = out_dir / f"{name}.build.log"
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="kafka-dist-", dir=out_dir) as tmp:
        work = Path(tmp)
        root = work / name
        libs = root / "libs"
        libs.mkdir(parents=True)
        _resolve_libs(version, libs, work, log)
        _write_bin(version, root, _classes(libs))
        shutil.copytree(FILES / f"config-{major(version)}", root / "config")
        (root / "NOTICE-stockpipe.txt").write_text(
            f"Apache Kafka {version} (Scala {SCALA}), assembled from its Maven Central artifacts by\n"
            "stockpipe (pipeline/local/kafka_dist.py): libs/ holds the broker's and the tools' runtime\n"
            "classpath, bin/ the project's own launch scripts. Apache Kafka is licensed under the\n"
            "Apache License 2.0.\n"
        )
        tarball = out_dir / f"{name}.tgz"
        _pack(root, tarball)
    digest = sha512_of(tarball)
    (out_dir / f"{name}.tgz.sha512").write_text(f"{digest}  {tarball.name}\n")
    (out_dir / f"{name}.inputs").write_text(_inputs_digest(version) + "\n")
    return Distribution(version, tarball, digest)


def unpack(dist: Distribution, into: Path) -> Path:
    """Unpack `dist` under `into` once (a marker file makes reuse safe); returns the Kafka home."""
    home = into / dist.name
    marker = home / ".unpacked-sha512"
    into.mkdir(parents=True, exist_ok=True)
    with _exclusive(into / f".{dist.name}.lock"):
        if marker.is_file() and marker.read_text().strip() == dist.sha512:
            return home
        shutil.rmtree(home, ignore_errors=True)
        with tarfile.open(dist.tarball) as tar:
            tar.extractall(into, filter="tar")
        marker.write_text(dist.sha512 + "\n")
    return home


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file`: parallel test workers (pytest -n) and a `make kafka-dist`
    share the cache, and one of them must not unpack or rebuild under another that reads it."""
    with lock_file.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.local.kafka_dist", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("versions", nargs="*", default=list(TESTED_VERSIONS))
    parser.add_argument("--out", type=Path, default=Path(".cache/kafka-dist"))
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is current")
    args = parser.parse_args(argv)
    try:
        for version in args.versions:
            dist = build(version, args.out, force=args.force)
            print(f"{dist.tarball}  sha512 {dist.sha512[:16]}...")
    except PipelineError as exc:
        print(f"kafka-dist: error: {exc.one_line()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
