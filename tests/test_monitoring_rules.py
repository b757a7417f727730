"""roles/monitoring's Prometheus configuration and alert rules, rendered by Ansible from a test inventory
(tests/monitoring/), pass promtool's checks and its unit tests (tests/monitoring/alerts_test.yml: the
broker-down, under-replication, sink-lag-while-the-sink-is-down, heap and controller alerts fire when they
must and not otherwise); the scrape targets are the inventory's private addresses and ports; every alert
is documented in docs/monitoring.md. The lab test (tests/ansible/monitoring_check.py) fires them on real
faults; this one pins their logic in seconds.

promtool is Debian's (the `prometheus` package the role installs): from PATH, else unpacked from the
lab's apt cache (scripts/lab-apt.sh), else from `apt-get download prometheus`, into .cache/promtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "monitoring"
CACHE = REPO / ".cache" / "promtool"
LIVE_RULES = "/etc/prometheus/stockpipe-alerts.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or (CACHE / "usr/bin/promtool")
    if isinstance(found, str) or found.exists():
        return str(found)
    debs = sorted((REPO / ".cache" / "lab-apt").glob("prometheus_*.deb"))
    if not debs:
        CACHE.mkdir(parents=True, exist_ok=True)
        got = subprocess.run(["apt-get", "download", "prometheus"], cwd=CACHE, capture_output=True, text=True)
        debs = sorted(CACHE.glob("prometheus_*.deb"))
        if got.returncode != 0 or not debs:
            pytest.fail(f"no promtool: install Debian's prometheus package ({got.stderr.strip()[-300:]})")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(CACHE)], check=True)
    return str(CACHE / "usr/bin/promtool")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("monitoring")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(HERE / "inventory.yml"),
         str(HERE / "render.yml"), "-e", f"out={out}", "-e", f"@{HERE / 'settings.yml'}"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    # promtool reads the rule file the configuration names: point it at the rendered one.
    config = (out / "prometheus.yml").read_text()
    assert f"  - {LIVE_RULES}\n" in config
    (out / "check.yml").write_text(config.replace(LIVE_RULES, str(out / "stockpipe-alerts.yml")))
    return out


def _promtool(promtool: str, *args: str) -> str:
    run = subprocess.run([promtool, *args], capture_output=True, text=True)
    assert run.returncode == 0, f"promtool {' '.join(args)}:\n{run.stdout}\n{run.stderr}"
    return run.stdout


def test_rules_pass_promtool_and_fire_only_when_they_must(promtool: str, rendered: Path) -> None:
    out = _promtool(promtool, "check", "rules", str(rendered / "stockpipe-alerts.yml"))
    assert "SUCCESS" in out
    tests = rendered / "alerts_test.yml"
    text = (HERE / "alerts_test.yml").read_text()
    tests.write_text(text.replace("  - RULES\n", f"  - {rendered / 'stockpipe-alerts.yml'}\n"))
    assert "SUCCESS" in _promtool(promtool, "test", "rules", str(tests))


def test_configuration_passes_promtool(promtool: str, rendered: Path) -> None:
    assert "SUCCESS" in _promtool(promtool, "check", "config", str(rendered / "check.yml"))


def test_targets_are_the_inventory_hosts_on_their_private_addresses(rendered: Path) -> None:
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: [(c["labels"]["instance"], t, c["labels"].get("topic"))
                          for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }  # fmt: skip
    assert jobs == {
        "prometheus": [("mon", "10.0.4.1:9090", None)],
        # k2 has its own port; k4 turned its exporter off.
        "kafka": [("k1", "10.0.1.1:7071", None), ("k2", "10.0.1.2:7171", None),
                  ("k3", "10.0.1.3:7071", None)],
        "kafka-controller": [("c1", "10.0.5.1:7071", None)],
        "zookeeper": [("z1", "10.0.2.11:7072", None)],
        "node": [("k1", "10.0.1.1:9100", None), ("k2", "10.0.1.2:9100", None), ("k3", "10.0.1.3:9100", None),
                 ("k4", "10.0.1.4:9100", None), ("c1", "10.0.5.1:9100", None), ("z1", "10.0.2.1:9100", None),
                 ("p2", "10.0.3.2:9100", None), ("p1", "10.0.3.1:9100", None),
                 ("mon", "10.0.4.1:9100", None)],
        # One producer (the first pipeline host by name), a sink on each.
        "stockpipe-producer": [("p1", "10.0.3.1:9308", "ticks")],
        "stockpipe-sink": [("p2", "10.0.3.2:9309", "ticks"), ("p1", "10.0.3.1:9400", "ticks")],
    }  # fmt: skip
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["10.0.4.2:9093"]
    assert config["rule_files"] == [LIVE_RULES]


def test_every_alert_is_documented_with_what_it_means_and_what_to_do(rendered: Path) -> None:
    rules = yaml.safe_load((rendered / "stockpipe-alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    doc = (REPO / "docs" / "monitoring.md").read_text()
    sections = dict(re.findall(r"(?ms)^### (\w+)\n(.*?)(?=^##|\Z)", doc))
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        assert alert["annotations"]["runbook"] == f"docs/monitoring.md#{name.lower()}", name
        assert name in sections, f"docs/monitoring.md has no '### {name}' section"
        assert "**Means:**" in sections[name] and "**First:**" in sections[name], name
    assert set(sections) == {a["alert"] for a in alerts}, (
        "docs/monitoring.md documents alerts that do not exist"
    )


def test_prometheus_learns_what_each_pipeline_host_runs_from_the_pipeline_role() -> None:
    """The pipeline role's defaults are gone once its play ends: playbooks/monitoring.yml asks the role
    (tasks/topology.yml) on the pipeline hosts before Prometheus' play renders its targets, as render.yml
    does for the test above."""
    plays = yaml.safe_load((REPO / "playbooks" / "monitoring.yml").read_text())
    topology = next(
        i for i, play in enumerate(plays)
        for task in play.get("tasks", [])
        if task.get("ansible.builtin.import_role") == {"name": "pipeline", "tasks_from": "topology.yml"}
    )  # fmt: skip
    prometheus = next(i for i, play in enumerate(plays) if {"role": "monitoring"} in play.get("roles", []))
    assert plays[topology]["hosts"] == "pipeline" and topology < prometheus
