"""roles/pipeline/templates/stockpipe.toml.j2 renders into a config file that pipeline/config.py accepts,
and the top-level templates/ (those of no single role) are where the playbooks look for them and render
into files their clients accept.

The full site.yml test renders the pipeline's through Ansible on a lab host; the first tests pin the
mapping from role variables to settings in a second, with jinja2 and the few Ansible filters the role uses.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import confluent_kafka
import jinja2
import yaml
from playbook_run import run_local_play
from tls import make_ca

from pipeline.config import load_settings

ROLE = Path(__file__).resolve().parent.parent / "roles" / "pipeline"


def _ansible_like_env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(
        pattern, repl.replace("\\1", r"\1"), value
    )
    env.filters["extract"] = lambda name, mapping, key: mapping[name][key]
    env.filters["to_json"] = json.dumps
    env.filters["basename"] = lambda p: Path(p).name
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("true", "yes", "1")
    return env


#: The least a pipeline host's inventory gives the config template: no broker group, a bootstrap, a lake.
MINIMAL_HOST: dict[str, Any] = {
    "groups": {"kafka": []},
    "hostvars": {},
    "pipeline_bootstrap": "b:9091",
    "pipeline_lake": "s3://b/l",
}


def _render(**variables: Any) -> str:
    env = _ansible_like_env()
    context = dict(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    context.update(
        ansible_managed="Ansible managed", role_path=str(ROLE), ansible_default_ipv4={"address": "10.0.1.9"},
        inventory_hostname="p1",
    )  # fmt: skip
    for name, value in list(context.items()):  # computed defaults, e.g. the metrics address, the protocol
        if isinstance(value, str) and "{{" in value and "lookup(" not in value and name not in variables:
            context[name] = env.from_string(value).render({**context, **variables})
    context.update(variables)
    for name, expr in yaml.safe_load((ROLE / "vars" / "main.yml").read_text()).items():
        context[name] = env.from_string(expr).render(context).strip()
    return env.from_string((ROLE / "templates" / "stockpipe.toml.j2").read_text()).render(context)


def test_pipeline_host_config_renders_and_loads(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            groups={"kafka": ["k1", "k2", "k3"]},
            hostvars={f"k{i}": {"kafka_internal_address": f"10.0.1.{i}"} for i in (1, 2, 3)},
            pipeline_lake="s3://stockpipe-lake-123-eu-west-1/lake",
            pipeline_region="eu-west-1",
        )
    )
    settings = load_settings(path)
    # SASL_SSL by default: the brokers' CLIENT listener on their private addresses.
    assert settings.bootstrap == "10.0.1.1:9094,10.0.1.2:9094,10.0.1.3:9094"
    assert settings.lake == "s3://stockpipe-lake-123-eu-west-1/lake"
    assert (settings.catalog, settings.engine, settings.region) == ("glue", "athena", "eu-west-1")
    assert settings.athena_output == "s3://stockpipe-lake-123-eu-west-1/athena-results/"
    assert settings.aws_endpoint_url is None
    assert settings.state_dir == "/var/lib/stockpipe"


def test_a_plaintext_cluster_is_reached_on_its_internal_listener(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            groups={"kafka": ["k1", "k2"]},
            hostvars={f"k{i}": {"kafka_internal_address": f"10.0.1.{i}"} for i in (1, 2)},
            pipeline_lake="s3://b/l",
            pipeline_kafka_security_protocol="PLAINTEXT",
        )
    )
    assert load_settings(path).bootstrap == "10.0.1.1:9091,10.0.1.2:9091"


def test_lab_settings_render_an_endpoint_and_duckdb(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            groups={"kafka": []},
            hostvars={},
            pipeline_bootstrap="10.77.0.11:9091",
            pipeline_lake="s3://stockpipe-lab/lake",
            pipeline_aws_endpoint_url="http://10.77.0.1:9000",
            pipeline_engine="duckdb",
            pipeline_table='odd"name',
        )
    )
    # A quote in a value cannot break out of its TOML string; the settings check then names it.
    text = path.read_text()
    assert 'table = "odd\\"name"' in text
    path.write_text(text.replace('odd\\"name', "prices"))
    settings = load_settings(path)
    assert (settings.bootstrap, settings.engine) == ("10.77.0.11:9091", "duckdb")
    assert settings.aws_endpoint_url == "http://10.77.0.1:9000"


def test_service_tuning_lives_in_the_config_file_not_in_the_units(tmp_path: Path):
    path = tmp_path / "stockpipe.toml"
    path.write_text(
        _render(
            **MINIMAL_HOST,
            pipeline_produce_rate="500/s",
            pipeline_sink_batch_records=1234,
            pipeline_sink_batch_age=7,
        )
    )
    settings = load_settings(path)
    assert (settings.producer.rate, settings.producer.speed) == ("500/s", None)
    assert (settings.sink.batch_records, settings.sink.batch_age) == (1234, 7.0)
    path.write_text(_render(**MINIMAL_HOST, pipeline_produce_speed=2.5))
    assert load_settings(path).producer.speed == 2.5
    for unit in ("stockpipe-sink.service.j2", "stockpipe-producer.service.j2"):
        exec_start = next(
            line
            for line in (ROLE / "templates" / unit).read_text().splitlines()
            if line.startswith("ExecStart=")
        )
        assert not any(flag in exec_start for flag in ("--rate", "--speed", "--batch-records", "--batch-age"))


def test_the_sink_reads_in_its_hosts_zone_with_the_confluent_client(tmp_path: Path):
    """kafka_rack (the host's zone, from the EC2 inventory or the lab's) becomes the sink's client_rack, so
    rack-aware brokers serve its fetches from the replica in that zone; kafka-python cannot, so not there."""
    path = tmp_path / "stockpipe.toml"
    path.write_text(_render(**MINIMAL_HOST, kafka_rack="eu-west-1b"))
    assert load_settings(path).sink.client_rack == "eu-west-1b"
    path.write_text(_render(**MINIMAL_HOST, kafka_rack="eu-west-1b", pipeline_client="kafka-python"))
    assert load_settings(path).sink.client_rack == ""
    path.write_text(_render(**MINIMAL_HOST))
    assert "client_rack" not in path.read_text()


def test_metrics_listen_on_the_private_address_or_not_at_all(tmp_path: Path):
    """roles/monitoring scrapes the producer and the sink on the host's private address (two ports)."""
    path = tmp_path / "stockpipe.toml"
    path.write_text(_render(**MINIMAL_HOST))
    settings = load_settings(path)
    assert (settings.producer.metrics, settings.sink.metrics) == ("10.0.1.9:9308", "10.0.1.9:9309")
    path.write_text(
        _render(**MINIMAL_HOST, pipeline_metrics_address="10.0.2.7", pipeline_sink_metrics_port=9400)
    )
    assert load_settings(path).sink.metrics == "10.0.2.7:9400"
    path.write_text(_render(**MINIMAL_HOST, pipeline_metrics_enabled=False))
    settings = load_settings(path)
    assert (settings.producer.metrics, settings.sink.metrics) == ("", "")


# -- templates/: the templates that belong to no single role -----------------------------------------

REPO = ROLE.parent.parent
BIN = Path(sys.executable).parent


def _template_references() -> dict[str, str]:
    """Every template a playbook names (lookup or template src), by the playbook file it stands in."""
    refs: dict[str, str] = {}
    for path in sorted((REPO / "playbooks").rglob("*.yml")):
        for name in re.findall(r"(?:\.\./)?templates/([\w.-]+\.j2|\{\{ item \}\}\.j2)", path.read_text()):
            refs[name] = path.name
    return refs


def test_playbook_templates_live_in_templates_and_each_is_used() -> None:
    assert not (REPO / "playbooks" / "templates").exists(), "playbooks' templates belong in templates/"
    refs = _template_references()
    assert "pipeline-policy.json.j2" in refs
    for name in refs:
        if "{{" not in name:
            assert (REPO / "templates" / name).is_file(), (
                f"{refs[name]} names templates/{name}, which is missing"
            )
    client = (REPO / "playbooks" / "client-config.yml").read_text()
    listed = set(re.findall(r"loop: \[([^\]]*)\]", client)[0].replace(" ", "").split(","))
    on_disk = {p.name for p in (REPO / "templates").glob("*.j2")}
    assert on_disk == {"pipeline-policy.json.j2"} | {f"{n}.j2" for n in listed}, "a template nobody renders"


def _client_config(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  children:\n    kafka:\n      hosts:\n"
        "        k1: {kafka_advertised_host: kafka-1.example.com}\n"
        "        k2: {kafka_advertised_host: kafka-2.example.com, kafka_external_port: 9192}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/client-config.yml",
         "-e", f"client_config_dir={tmp_path / 'out'}", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_client_config_files_reach_each_brokers_external_listener(tmp_path: Path) -> None:
    """A broker without its own kafka_external_port gets the kafka role's default, read from the role (on a
    cluster opted in to PLAINTEXT; the default, SASL_SSL, wants a login: the next test)."""
    run = _client_config(tmp_path, "-e", "kafka_external_security_protocol=PLAINTEXT")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    role_port = yaml.safe_load((REPO / "roles/kafka/defaults/main.yml").read_text())["kafka_external_port"]
    bootstrap = f"kafka-1.example.com:{role_port},kafka-2.example.com:9192"
    java = _properties(tmp_path / "out" / "client.properties")
    assert java == {"bootstrap.servers": bootstrap, "security.protocol": "PLAINTEXT"}
    librdkafka = _properties(tmp_path / "out" / "librdkafka.conf")
    assert librdkafka == {"bootstrap.servers": bootstrap, "security.protocol": "plaintext"}
    confluent_kafka.Producer(librdkafka)  # librdkafka accepts every key and value
    for name in ("client.properties", "librdkafka.conf"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o600


def test_client_config_for_a_sasl_listener_holds_the_password_and_never_prints_it(tmp_path: Path) -> None:
    ca = make_ca(tmp_path).pem
    password = tmp_path / "password"
    password.write_text("n0t-in-any-log\n")
    sasl = [
        "-e", json.dumps({"kafka_external_security_protocol": "SASL_SSL", "client_sasl_username": "admin",
                          "client_sasl_password_file": str(password), "client_ssl_ca_file": str(ca)}),
        "--diff", "-v",
    ]  # fmt: skip
    run = _client_config(tmp_path, *sasl)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "n0t-in-any-log" not in run.stdout + run.stderr
    java = _properties(tmp_path / "out" / "client.properties")
    assert java["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
        ' username="admin" password="n0t-in-any-log";'
    )
    assert (java["ssl.truststore.type"], java["ssl.truststore.location"]) == ("PEM", str(ca))
    librdkafka = _properties(tmp_path / "out" / "librdkafka.conf")
    assert librdkafka["sasl.password"] == "n0t-in-any-log"
    assert librdkafka["ssl.ca.location"] == str(ca)
    confluent_kafka.Producer(librdkafka)

    password.write_text('with"quote\n')
    run = _client_config(tmp_path, *sasl)
    assert run.returncode != 0
    assert "contains a double quote, a backslash or a line break" in run.stdout + run.stderr
    assert 'with"quote' not in run.stdout + run.stderr


ROLE_TOPOLOGY_PLAY = """
- name: What the pipeline role runs on each host, from its own defaults and vars
  hosts: all
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - name: Write it down
      ansible.builtin.copy:
        content: "{{{{ {{'producer': pipeline_producer_enabled | bool, 'sink': pipeline_sink_enabled | bool,
                   'crawl': __pipeline_crawl_here | bool}} | to_json }}}}"
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0644"
      delegate_to: localhost
"""


def _role_topology(
    tmp_path: Path, hosts: list[str], group: str = "pipeline", **extra: object
) -> dict[str, dict[str, bool]]:
    """{host: {producer, sink, crawl}} as roles/pipeline decides them for `hosts` of inventory group
    `group` (in this order), under `extra` vars: run by ansible-playbook itself, lazy templating included."""
    out = tmp_path / "out"
    out.mkdir()
    inventory = {group: {"hosts": {h: {"ansible_connection": "local"} for h in hosts}}}
    done = run_local_play(tmp_path, inventory, ROLE_TOPOLOGY_PLAY.format(role=ROLE, out=out), **extra)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return {h: json.loads((out / f"{h}.json").read_text()) for h in hosts}


def test_one_pipeline_host_runs_the_producer_and_the_glue_crawl_and_every_one_a_sink(tmp_path: Path) -> None:
    """Several pipeline hosts share the sink's consumer group; only the lead host (the first by name,
    whatever the inventory's order) replays the source (a replay per host would send every row once per
    host) and registers partitions in the Glue catalog (one catalog for all)."""
    seen = _role_topology(tmp_path, ["pipe-b", "pipe-a", "pipe-c"])
    assert seen == {
        "pipe-a": {"producer": True, "sink": True, "crawl": True},
        "pipe-b": {"producer": False, "sink": True, "crawl": False},
        "pipe-c": {"producer": False, "sink": True, "crawl": False},
    }


def test_a_host_outside_any_pipeline_group_runs_everything(tmp_path: Path) -> None:
    # The role applied on its own, to a host of some other group: it is its own lead host.
    assert _role_topology(tmp_path, ["solo"], group="apps") == {
        "solo": {"producer": True, "sink": True, "crawl": True}
    }


def test_each_host_crawls_its_own_local_catalog_and_the_lead_host_can_be_named(tmp_path: Path) -> None:
    seen = _role_topology(
        tmp_path, ["pipe-a", "pipe-b"], pipeline_catalog="local", pipeline_lead_host="pipe-b"
    )
    assert seen == {
        "pipe-a": {"producer": False, "sink": True, "crawl": True},
        "pipe-b": {"producer": True, "sink": True, "crawl": True},
    }


def test_no_host_crawls_when_a_glue_crawler_does_it(tmp_path: Path) -> None:
    seen = _role_topology(tmp_path, ["pipe-a", "pipe-b"], pipeline_crawl_enabled=False)
    assert [h for h, v in seen.items() if v["crawl"]] == []
    assert [h for h, v in seen.items() if v["producer"]] == ["pipe-a"]
