"""`stockpipe status --hosts INVENTORY`: the pipeline from the hosts' side, over SSH (paramiko).

For every host of an Ansible inventory (YAML like `inventory/lab/hosts.yml`, or INI) in the groups
`kafka`, `zookeeper` and `pipeline`: the kit's systemd units (active state, restarts), the heap each
JVM runs with (`-Xmx`), disk use of the data directories, and the last error lines of the broker's and
the sink's logs. One read-only shell command per host; nothing is changed.

SSH: keys from the agent or `~/.ssh` (or `--identity`), the user from `ansible_user` (or `--user`).
Host keys are verified against `~/.ssh/known_hosts` (or `--known-hosts`) and the system's known hosts:
an unknown or changed key is refused and reported, never accepted. An unreachable host is one line of
the report; the others are still asked.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.ops.services import BROKER_UNITS, PIPELINE_UNITS, UnitState, parse_show, show_command

#: Inventory groups and what runs there.
ROLES = {"kafka": "broker", "zookeeper": "broker", "pipeline": "pipeline"}
ERROR_LINES = 5


@dataclass
class Host:
    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    roles: set[str] = field(default_factory=set)
    vars: dict[str, Any] = field(default_factory=dict)

    def data_dirs(self) -> list[str]:
        dirs: list[str] = []
        if "broker" in self.roles:
            kafka = self.vars.get("kafka_data_dirs", ["/var/lib/kafka/data"])
            dirs += [kafka] if isinstance(kafka, str) else list(kafka)
            dirs.append(str(self.vars.get("zookeeper_data_dir", "/var/lib/zookeeper")))
        if "pipeline" in self.roles:
            dirs.append(str(self.vars.get("pipeline_state_dir", "/var/lib/stockpipe")))
        return dirs

    def log_files(self) -> list[str]:
        logs = []
        if "broker" in self.roles:
            logs.append(f"{self.vars.get('kafka_log_dir', '/var/log/kafka')}/server.log")
        return logs


# -- inventory --------------------------------------------------------------------------------------


def read_inventory(path: Path) -> list[Host]:
    """The hosts of the `kafka`, `zookeeper` and `pipeline` groups, in inventory order."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(
            f"cannot read inventory {path} ({exc.strerror or exc})",
            "pass --hosts FILE of an Ansible inventory",
        ) from None
    if path.is_dir():
        raise PipelineError(f"inventory {path} is a directory", "pass its hosts.yml")
    hosts = _yaml_inventory(text, path) if path.suffix in (".yml", ".yaml") else _ini_inventory(text)
    chosen = [h for h in hosts.values() if h.roles and h.vars.get("ansible_connection") != "local"]
    if not chosen:
        raise PipelineError(
            f"inventory {path} has no host in the groups {', '.join(ROLES)}",
            "point --hosts at the kit's inventory",
        )
    return chosen


def _host(hosts: dict[str, Host], name: str, values: dict[str, Any], inherited: dict[str, Any]) -> Host:
    host = hosts.setdefault(name, Host(name, name))
    merged = {**inherited, **host.vars, **(values or {})}
    host.vars = merged
    host.address = str(merged.get("ansible_host", name))
    host.port = int(merged.get("ansible_port", 22))
    host.user = merged.get("ansible_user")
    host.key_file = merged.get("ansible_ssh_private_key_file")
    return host


def _yaml_inventory(text: str, path: Path) -> dict[str, Host]:
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"inventory {path} is not valid YAML ({exc})", "fix the file") from None
    hosts: dict[str, Host] = {}

    def walk(name: str, group: dict[str, Any], inherited: dict[str, Any], roles: set[str]) -> None:
        here = {**inherited, **(group.get("vars") or {})}
        roles = roles | ({ROLES[name]} if name in ROLES else set())
        for host_name, values in (group.get("hosts") or {}).items():
            _host(hosts, str(host_name), values or {}, here).roles.update(roles)
        for child, sub in (group.get("children") or {}).items():
            walk(str(child), sub if isinstance(sub, dict) else {}, here, roles)

    for name, group in data.items():
        walk(str(name), group if isinstance(group, dict) else {}, {}, set())
    return hosts


def _ini_inventory(text: str) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    group_vars: dict[str, dict[str, str]] = {}
    members: dict[str, list[tuple[str, dict[str, str]]]] = {}
    section = "ungrouped"
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith(";") else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section.endswith(":vars"):
            key, _, value = line.partition("=")
            group_vars.setdefault(section[:-5], {})[key.strip()] = value.strip()
        elif not section.endswith(":children"):
            name, *pairs = line.split()
            values = dict(p.split("=", 1) for p in pairs if "=" in p)
            members.setdefault(section, []).append((name, values))
    for group, entries in members.items():
        for name, values in entries:
            host = _host(hosts, name, values, {**group_vars.get("all", {}), **group_vars.get(group, {})})
            if group in ROLES:
                host.roles.add(ROLES[group])
    return hosts


# -- probing ----------------------------------------------------------------------------------------


def probe_script(host: Host) -> str:
    """One read-only shell command whose sections `parse_probe` reads."""
    units = (*BROKER_UNITS, *PIPELINE_UNITS)
    dirs = " ".join(_quote(d) for d in host.data_dirs())
    logs = " ".join(_quote(f) for f in host.log_files())
    return "; ".join(
        [
            "echo @@units",
            show_command(units),
            "echo @@java",
            "ps -eo pid=,args= 2>/dev/null | grep -E '[j]ava .*(kafka\\.Kafka|QuorumPeerMain)' || true",
            "echo @@disk",
            f'for d in {dirs or "/nonexistent"}; do [ -d "$d" ] && '
            'printf \'%s %s %s\\n\' "$d" "$(du -sk "$d" 2>/dev/null | cut -f1)" '
            "\"$(df -Pk \"$d\" | tail -1 | tr -s ' ' | cut -d' ' -f4,5)\"; done",
            "echo @@errors",
            "journalctl -q --no-pager -p err -n 20 -u kafka -u zookeeper -u stockpipe-sink "
            "-u stockpipe-producer 2>/dev/null | tail -n 20",
            f'for f in {logs or "/nonexistent"}; do [ -r "$f" ] && tail -n 20000 "$f" | '
            "grep -E ' (ERROR|FATAL) ' | tail -n 20; done",
            "true",
        ]
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass
class JavaProcess:
    pid: int
    main: str  # kafka.Kafka or QuorumPeerMain
    heap: str | None  # the -Xmx value


@dataclass
class DiskUse:
    path: str
    used_kb: int | None
    free_kb: int | None
    filesystem_use: str | None  # e.g. "42%"


@dataclass
class HostReport:
    name: str
    address: str
    roles: list[str]
    error: str | None = None
    units: list[UnitState] = field(default_factory=list)
    java: list[JavaProcess] = field(default_factory=list)
    disks: list[DiskUse] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(u.active in ("active", "activating") for u in self.units)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out

    def lines(self) -> list[str]:
        head = f"{self.name} ({self.address}, {'+'.join(self.roles)})"
        if self.error is not None:
            return [f"{head}: UNREACHABLE: {self.error}"]
        out = [f"{head}:"]
        if self.units:
            out.append("  services  " + "; ".join(u.text() for u in self.units))
        else:
            out.append("  services  none of the kit's systemd units is installed")
        for j in self.java:
            out.append(f"  jvm       pid {j.pid} {j.main}: heap -Xmx{j.heap or ' not set (JVM default)'}")
        for d in self.disks:
            used = "?" if d.used_kb is None else f"{d.used_kb / 1024:,.1f} MiB"
            free = "?" if d.free_kb is None else f"{d.free_kb / 1024 / 1024:,.1f} GiB free"
            out.append(
                f"  disk      {d.path}: {used} used; filesystem {d.filesystem_use or '?'} full, {free}"
            )
        if self.errors:
            out.append(f"  errors    last {len(self.errors)} error lines of the logs:")
            out += [f"    {line[:300]}" for line in self.errors]
        else:
            out.append("  errors    none in the broker's and the sink's recent logs")
        return out


_SECTION = re.compile(r"^@@(units|java|disk|errors)$", re.MULTILINE)


def parse_probe(host: Host, output: str) -> HostReport:
    report = HostReport(host.name, host.address, sorted(host.roles))
    parts = _SECTION.split(output)
    sections = dict(zip(parts[1::2], parts[2::2], strict=False))
    report.units = parse_show(sections.get("units", ""))
    for line in sections.get("java", "").splitlines():
        pid, _, args = line.strip().partition(" ")
        if not pid.isdigit():
            continue
        heaps = re.findall(r"(?:^|\s)-Xmx(\S+)", args)
        main = "kafka.Kafka" if "kafka.Kafka" in args else "QuorumPeerMain"
        report.java.append(JavaProcess(int(pid), main, heaps[-1] if heaps else None))
    for line in sections.get("disk", "").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            used = int(fields[1]) if fields[1].isdigit() else None
            free = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
            report.disks.append(DiskUse(fields[0], used, free, fields[3] if len(fields) > 3 else None))
    errors = [line.rstrip() for line in sections.get("errors", "").splitlines() if line.strip()]
    report.errors = errors[-ERROR_LINES:]
    return report


def _connect(
    host: Host, user: str | None, identity: Path | None, known_hosts: Path | None, timeout_s: float
) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    client.load_system_host_keys()
    known = known_hosts or Path.home() / ".ssh" / "known_hosts"
    if known.exists():
        client.load_host_keys(str(known))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # never accept an unknown key
    key_file = identity or (Path(host.key_file).expanduser() if host.key_file else None)
    client.connect(
        host.address,
        port=host.port,
        username=user or host.user,
        key_filename=str(key_file) if key_file else None,
        timeout=timeout_s,
        banner_timeout=timeout_s,
        auth_timeout=timeout_s,
        allow_agent=True,
        look_for_keys=key_file is None,
    )
    return client


def probe_host(
    host: Host, user: str | None, identity: Path | None, known_hosts: Path | None, timeout_s: float
) -> HostReport:
    import paramiko

    target = f"{host.address}:{host.port}"
    try:
        client = _connect(host, user, identity, known_hosts, timeout_s)
    except paramiko.BadHostKeyException:
        return HostReport(host.name, host.address, sorted(host.roles), error=(
            f"the host key of {target} is not the one in known_hosts (refused; if the host was rebuilt, "
            f"remove the old key: ssh-keygen -R {host.address})"))  # fmt: skip
    except paramiko.SSHException as exc:
        if "not found in known_hosts" in str(exc):
            return HostReport(host.name, host.address, sorted(host.roles), error=(
                f"the host key of {target} is unknown (refused: never accepted unseen); check it, then "
                f"add it: ssh-keyscan -p {host.port} {host.address} >> ~/.ssh/known_hosts"))  # fmt: skip
        return HostReport(host.name, host.address, sorted(host.roles), error=f"SSH to {target} failed: {exc}")
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return HostReport(
            host.name, host.address, sorted(host.roles), error=f"cannot connect to {target}: {reason}"
        )
    try:
        _stdin, stdout, _stderr = client.exec_command(probe_script(host), timeout=max(timeout_s, 10.0))
        output = stdout.read().decode("utf-8", "replace")
    except (paramiko.SSHException, OSError) as exc:
        return HostReport(
            host.name, host.address, sorted(host.roles), error=f"command on {target} failed: {exc}"
        )
    finally:
        client.close()
    return parse_probe(host, output)


def host_report(
    inventory: Path,
    user: str | None = None,
    identity: Path | None = None,
    known_hosts: Path | None = None,
    timeout_s: float = 10.0,
) -> list[HostReport]:
    """Ask every host of the inventory at once; one report per host, in inventory order."""
    try:
        import paramiko  # noqa: F401
    except ImportError:
        raise PipelineError(
            "status --hosts needs the paramiko package", "install the ops extra: pip install 'stockpipe[ops]'"
        ) from None
    hosts = read_inventory(inventory)
    with ThreadPoolExecutor(max_workers=min(len(hosts), 8)) as pool:
        return list(pool.map(lambda h: probe_host(h, user, identity, known_hosts, timeout_s), hosts))
