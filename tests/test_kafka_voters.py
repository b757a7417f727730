"""The KRaft voter rule of roles/kafka (vars/main.yml), evaluated by Ansible itself: the hosts of the
kafka_controller group (dedicated controllers, 3 or 5), else the kafka_controller_count brokers with the
lowest node ids, at most the brokers, always odd. server.properties, the health check and the preflight's
"voters stay as they are" check all read these variables; the lab's grow test (tests/ansible) shows a
fourth broker joining a running cluster as a broker only, and its secure scenario a quorum of
dedicated controllers rolled under load."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from playbook_run import REPO, run_local_play

PLAY = """
- name: Run the kafka role's voter variables as the preflight leaves them
  hosts: kafka:kafka_controller
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  vars:
    kafka_hosts_group: kafka
    kafka_mode: kraft
  tasks:
    - name: Take the id and address the preflight records, and what the host's server.properties says
      ansible.builtin.set_fact:
        __kafka_node_id: "{{{{ node_id }}}}"
        __kafka_internal_address: "10.0.0.{{{{ node_id | abs }}}}"
        __kafka_host_state:
          voters: "{{{{ running | default('') }}}}"
{task}"""

WRITE_VOTERS = """
    - name: Write what each host computes
      ansible.builtin.copy:
        content: >-
          {{{{ {{'hosts': __kafka_voter_hosts, 'voters': __kafka_quorum_voters,
                'controller': __kafka_controller | bool, 'roles': __kafka_process_roles,
                'bootstrap': __kafka_controller_bootstrap}} | to_json }}}}
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0644"
      delegate_to: localhost
"""

CHECK_VOTERS = """
    - name: Check the voters
      ansible.builtin.include_tasks:
        file: {role}/tasks/voters-check.yml
        apply:
          any_errors_fatal: true
"""


def run_play(
    tmp_path: Path, hosts: dict[str, dict[str, object]], task: str, **extra: object
) -> subprocess.CompletedProcess[str]:
    """PLAY with `task` on local hosts `hosts` (each with node_id, maybe running, and its groups: [kafka]
    unless given), under `extra` vars."""
    role = REPO / "roles" / "kafka"
    inventory: dict[str, dict[str, dict[str, object]]] = {"kafka": {"hosts": {}}}
    for h, v in hosts.items():
        for group in v.pop("groups", ["kafka"]):  # type: ignore[attr-defined]
            inventory.setdefault(group, {"hosts": {}})["hosts"][h] = {**v, "ansible_connection": "local"}
    play = PLAY.format(role=role, task=task.format(role=role, out=tmp_path / "out"))
    return run_local_play(tmp_path, inventory, play, **extra)


def voters(
    tmp_path: Path, ids: dict[str, int], controllers: dict[str, int] | None = None, **extra: int
) -> dict[str, dict[str, object]]:
    """{host: {'hosts': voter hosts, 'voters': controller.quorum.voters, 'controller': bool, 'roles':
    process.roles, 'bootstrap': the voters' listeners}} for brokers `ids` and dedicated `controllers`."""
    (tmp_path / "out").mkdir()
    hosts: dict[str, dict[str, object]] = {h: {"node_id": i} for h, i in ids.items()}
    hosts |= {h: {"node_id": i, "groups": ["kafka_controller"]} for h, i in (controllers or {}).items()}
    done = run_play(tmp_path, hosts, WRITE_VOTERS, **extra)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return {h: json.loads((tmp_path / "out" / f"{h}.json").read_text()) for h in hosts}


def test_three_brokers_are_the_three_voters(tmp_path: Path) -> None:
    seen = voters(tmp_path, {"k1": 1, "k2": 2, "k3": 3})
    assert {h: v["controller"] for h, v in seen.items()} == {"k1": True, "k2": True, "k3": True}
    assert seen["k1"]["voters"] == "1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093"


def test_an_added_broker_with_a_higher_id_is_a_broker_only_and_the_voters_stay(tmp_path: Path) -> None:
    # Inventory order is not id order (a dynamic inventory sorts as it likes): the ids decide.
    seen = voters(tmp_path, {"k4": 4, "k2": 2, "k1": 1, "k3": 3})
    assert {h: v["controller"] for h, v in seen.items()} == {"k1": True, "k2": True, "k3": True, "k4": False}
    assert {v["voters"] for v in seen.values()} == {"1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093"}


@pytest.mark.parametrize(
    ("ids", "count", "expected"),
    [
        ({"a": 7}, 3, ["a"]),  # one broker: one voter
        ({"a": 5, "b": 2}, 3, ["b"]),  # two brokers: an even quorum would be worse than one voter
        ({f"h{i}": i for i in range(1, 7)}, 5, ["h1", "h2", "h3", "h4", "h5"]),
        ({f"h{i}": i for i in range(1, 5)}, 5, ["h1", "h2", "h3"]),  # 4 brokers: the odd 3, not 4
        ({f"h{i}": i for i in range(1, 5)}, 1, ["h1"]),
    ],
    ids=["one-broker", "two-brokers", "five-of-six", "four-brokers-asked-five", "one-of-four"],
)
def test_the_quorum_is_odd_and_never_larger_than_the_brokers(
    tmp_path: Path, ids: dict[str, int], count: int, expected: list[str]
) -> None:
    seen = voters(tmp_path, ids, kafka_controller_count=count)
    assert {tuple(v["hosts"]) for v in seen.values()} == {tuple(expected)}  # type: ignore[arg-type]
    assert [h for h, v in seen.items() if v["controller"]] == [h for h in ids if h in expected]


def test_dedicated_controllers_are_the_voters_and_every_broker_is_a_broker_only(tmp_path: Path) -> None:
    # The controllers' ids are their own (inventory order, id order and the brokers' ids do not matter).
    seen = voters(tmp_path, {"k1": 1, "k2": 2, "k3": 3, "k4": 4}, {"c3": 103, "c1": 101, "c2": 102})
    assert {h: v["roles"] for h, v in seen.items()} == {
        **{h: ["broker"] for h in ("k1", "k2", "k3", "k4")},
        **{h: ["controller"] for h in ("c1", "c2", "c3")},
    }
    quorum = "101@10.0.0.101:9093,102@10.0.0.102:9093,103@10.0.0.103:9093"
    assert {v["voters"] for v in seen.values()} == {quorum}
    assert {v["bootstrap"] for v in seen.values()} == {"10.0.0.101:9093,10.0.0.102:9093,10.0.0.103:9093"}


def test_without_dedicated_controllers_the_voters_are_brokers_and_controllers(tmp_path: Path) -> None:
    seen = voters(tmp_path, {"k1": 1, "k2": 2, "k3": 3, "k4": 4})
    assert {h: v["roles"] for h, v in seen.items()} == {
        "k1": ["broker", "controller"], "k2": ["broker", "controller"], "k3": ["broker", "controller"],
        "k4": ["broker"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("controllers", "expected"),
    [
        ({"c1": 101, "c2": 102}, "it holds 2 (c1, c2)."),
        ({"c1": 101, "c2": 102, "c3": 103, "c4": 104}, "it holds 4 (c1, c2, c3, c4)."),
        ({"c1": 101, "c2": 102, "k1": 1}, "it holds 3 (k1, c1, c2), also brokers: k1."),
    ],
    ids=["two", "four", "one-also-a-broker"],
)
def test_a_quorum_of_dedicated_controllers_other_than_3_or_5_is_refused_before_any_change(
    tmp_path: Path, controllers: dict[str, int], expected: str
) -> None:
    hosts: dict[str, dict[str, object]] = {f"k{i}": {"node_id": i} for i in (1, 2, 3)}
    for h, i in controllers.items():
        both = h in hosts  # a broker listed as a controller too
        hosts[h] = {"node_id": i, "groups": ["kafka", "kafka_controller"] if both else ["kafka_controller"]}
    done = run_play(tmp_path, hosts, CHECK_VOTERS)
    assert done.returncode != 0, done.stdout[-3000:]
    line = " ".join(done.stdout.split())  # YAML output may fold it
    refusal = "must hold 3 or 5 dedicated controllers, none of them in 'kafka': "
    assert refusal + expected in line, line[-3000:]
    assert "Traceback" not in done.stdout + done.stderr


RUNNING = "1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093"


def check_run(tmp_path: Path, new_id: int, running: str = RUNNING) -> subprocess.CompletedProcess[str]:
    """Three running brokers (their server.properties name `running`) and a new one, k4, with `new_id`."""
    hosts: dict[str, dict[str, object]] = {f"k{i}": {"node_id": i, "running": running} for i in (1, 2, 3)}
    hosts["k4"] = {"node_id": new_id}
    return run_play(tmp_path, hosts, CHECK_VOTERS)


def test_a_broker_added_with_a_higher_id_passes_the_voter_check(tmp_path: Path) -> None:
    done = check_run(tmp_path, 4)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_running_voters_in_another_order_are_the_same_voters(tmp_path: Path) -> None:
    done = check_run(tmp_path, 4, running=",".join(reversed(RUNNING.split(","))))
    assert done.returncode == 0, done.stdout[-3000:]


def test_a_broker_added_below_the_voters_is_refused_on_each_running_broker(tmp_path: Path) -> None:
    done = check_run(tmp_path, 0)
    assert done.returncode != 0
    fatal = sorted(re.findall(r"^fatal: \[(k\d)\]", done.stdout, re.M))
    assert fatal == ["k1", "k2", "k3"], done.stdout[-3000:]
    expected = (
        f"k1: this run would change the KRaft voters from {RUNNING} to "
        "0@10.0.0.0:9093,1@10.0.0.1:9093,2@10.0.0.2:9093, which a running cluster cannot follow."
    )
    assert expected in " ".join(done.stdout.split()), done.stdout[-3000:]  # YAML output may fold it
    assert "Traceback" not in done.stdout + done.stderr
