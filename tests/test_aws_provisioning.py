"""The AWS playbooks (provision, analytics, teardown) and the aws_ec2 inventory against a real moto_server.

Every ansible-playbook run gets the endpoint twice (the `aws_endpoint_url` extra-var that the
playbooks' module_defaults use, and AWS_URL in the environment) plus dummy credentials, so nothing
can reach real AWS. This module starts its own moto_server (the shared one holds other tests' Glue
databases) and names everything after a unique cluster name.

Lifecycle tests share one deployment and run in file order: first run, rerun, checks, teardown last.
docs/aws.md describes what the playbooks create.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fixtures_aws import running_moto_server
from playbook_run import PlaybookRun, ansible_env

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REGION = "us-east-1"
OPERATOR_V4 = "203.0.113.7/32"
OPERATOR_V6 = "2001:db8::/64"
WORLD = {"0.0.0.0/0", "::/0"}


def _tool(name: str) -> str | None:
    exe = BIN / name
    return str(exe) if exe.exists() else shutil.which(name)


# ansible is part of the test setup (`make setup-test`): a missing one is a failure, not a skip.
# Each playbook run is a few hundred boto3 calls of ~1 s against moto, CPU-bound in Ansible: beside the
# role tests (make test runs both at once) a run takes up to 2-3 times as long as alone.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def _client(endpoint: str, service: str) -> Any:
    """A boto3 client of the test's moto server."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Deployment:
    endpoint: str
    cluster: str
    vars_file: Path
    env: dict[str, str]
    bucket: str

    def client(self, service: str) -> Any:
        return _client(self.endpoint, service)

    def playbook(
        self, *playbooks: str, extra: dict[str, Any] | None = None, timeout: int = 600
    ) -> PlaybookRun:
        cmd = [_tool("ansible-playbook") or "ansible-playbook", "-e", f"@{self.vars_file}"]
        if extra:
            cmd += ["-e", json.dumps(extra)]
        cmd += [str(REPO / "playbooks" / p) for p in playbooks]
        proc = subprocess.run(
            cmd, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)

    def inventory(self) -> dict[str, Any]:
        inv = [_tool("ansible-inventory") or "ansible-inventory", "-i", "inventory/aws_ec2.yml", "--list"]
        proc = subprocess.run(inv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return _unwrap(json.loads(proc.stdout))


def _unwrap(value: Any) -> Any:
    """ansible-inventory --list marks templated strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


# moto 5.2 leaves SnapshotId and MultiAttachEnabled out of DescribeVolumes for a volume created without a
# snapshot; real EC2 returns "" and false, and amazon.aws 10's ec2_vol / ec2_vol_info index both (KeyError).
# This module's moto_server answers as EC2 does, through a sitecustomize on its PYTHONPATH only.
_MOTO_EC2_VOLUME_FIELDS = """
import moto.ec2.models.elastic_block_store as _ebs

_init = _ebs.Volume.__init__


def _volume_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if self.snapshot_id is None:
        self.snapshot_id = ""
    if self.multi_attach_enabled is None:
        self.multi_attach_enabled = False


_ebs.Volume.__init__ = _volume_init
"""


@pytest.fixture(scope="module")
def aws_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server of this module's own on 127.0.0.1 (its state is not shared with other tests)."""
    tmp = tmp_path_factory.mktemp("moto-aws")
    shim = tmp / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(_MOTO_EC2_VOLUME_FIELDS)
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PYTHONPATH", str(shim))  # for the server process only: undone once it runs
            url = stack.enter_context(running_moto_server(tmp / "moto_server.log"))
        yield url


def _deployment(endpoint: str, tmp: Path, **overrides: Any) -> Deployment:
    cluster = f"sp{uuid.uuid4().hex[:10]}"
    public_key = tmp / "id_ed25519.pub"
    if not public_key.exists():  # only the public half is needed: EC2 never sees a private key
        raw = Ed25519PrivateKey.generate().public_key()
        openssh = raw.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        public_key.write_text(openssh.decode() + " stockpipe-test\n")
    settings = {
        "aws_endpoint_url": endpoint,
        "aws_region": REGION,
        "stockpipe_cluster": cluster,
        "stockpipe_glue_database": f"{cluster}_db",
        "stockpipe_athena_workgroup": f"{cluster}-wg",
        "stockpipe_catalog_mode": "crawler",
        "operator_cidrs": [OPERATOR_V4, OPERATOR_V6],
        "provision_ssh_public_key_file": str(public_key),
        "provision_wait_for_ssh": False,
        "provision_kafka_count": 3,
        "provision_pipeline_count": 1,
        "provision_monitoring_count": 1,
        "provision_kafka_controller_count": 3,  # dedicated KRaft controllers, as a production cluster has
        **overrides,
    }
    vars_file = tmp / f"{cluster}.json"
    vars_file.write_text(json.dumps(settings))
    env = ansible_env(
        tmp,
        drop=("AWS_", "ANSIBLE_"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_URL=endpoint,  # modules, lookups and the inventory plugin fall back to it
        STOCKPIPE_CLUSTER=cluster,  # inventory/aws_ec2.yml filters on it
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    return Deployment(endpoint, cluster, vars_file, env, f"{cluster}-lake-123456789012-{REGION}")


def _resources(d: Deployment) -> dict[str, set[str]]:
    """The ids of what provision.yml creates per host and zone: subnets, live instances, data volumes."""
    ec2 = d.client("ec2")
    return {
        "subnets": {s["SubnetId"] for s in _subnets(d)},
        "instances": {i["InstanceId"] for i in _instances(d, "pending", "running", "stopping", "stopped")},
        "volumes": {v["VolumeId"] for v in ec2.describe_volumes(Filters=_data_volume_filters(d))["Volumes"]},
    }


@dataclass
class Lifecycle:
    d: Deployment
    first: PlaybookRun
    rerun: PlaybookRun
    after_first: dict[str, set[str]]
    after_rerun: dict[str, set[str]]


@pytest.fixture(scope="module")
def deployed(aws_api: str, tmp_path_factory: pytest.TempPathFactory) -> Lifecycle:
    d = _deployment(aws_api, tmp_path_factory.mktemp("aws-deploy"))
    first = d.playbook("provision.yml", "analytics.yml")
    assert first.rc == 0 and first.failed == 0, first.out[-6000:]
    after_first = _resources(d)
    rerun = d.playbook("provision.yml", "analytics.yml")
    assert rerun.rc == 0, rerun.out[-6000:]
    return Lifecycle(d, first, rerun, after_first, _resources(d))


# -- refused before any change --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"operator_cidrs": ["0.0.0.0/0"]}, "which opens SSH and Kafka port"),
        ({"operator_cidrs": [OPERATOR_V4, "::/0"]}, "which opens SSH and Kafka port"),
        ({"operator_cidrs": []}, "operator_cidrs must list"),
        ({"operator_cidrs": ["not-a-cidr"]}, "operator_cidrs must list"),
        # allowed explicitly: the world check passes and the next check (bad OS) stops the run
        (
            {"operator_cidrs": ["0.0.0.0/0"], "allow_world_ingress": True, "provision_os": "plan9"},
            "provision_os must be one of",
        ),
        ({"provision_zone_count": 2}, "3 brokers need subnets in at least 3 availability zones, got 2"),
        (
            {"provision_zones": ["us-east-1a", "us-east-1a"]},
            "need subnets in at least 3 availability zones, got 1",
        ),
        # allowed explicitly: the zone check passes and the next check (gp3 IOPS) stops the run
        (
            {
                "provision_zone_count": 2,
                "provision_allow_fewer_zones": True,
                "provision_kafka_data_volume_iops": 100,
            },
            "provision_kafka_data_volume_iops must be 3000-16000",
        ),
        (
            {"provision_kafka_controller_first_id": 4},
            "provision_kafka_controller_first_id far above the broker ids (got 3 and 4 with 3 brokers)",
        ),
        ({"provision_subnet_id": "subnet-0abc"}, "provision_subnet_id is now provision_subnet_ids"),
        (
            {"provision_kafka_volume_gb": 200},
            "provision_kafka_volume_gb is now provision_kafka_data_volume_gb",
        ),
    ],
    ids=[
        "world-v4",
        "world-v6",
        "empty",
        "malformed",
        "world-allowed",
        "two-zones",
        "one-zone-twice",
        "fewer-zones-allowed",
        "controller-ids-among-brokers",
        "old-subnet-setting",
        "old-volume-setting",
    ],
)
def test_provision_refuses_bad_settings_before_any_change(
    aws_api: str, tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    d = _deployment(aws_api, tmp_path, **overrides)
    run = d.playbook("provision.yml", timeout=120)
    assert run.rc != 0
    assert expected in run.out, run.out[-3000:]
    if overrides.get("allow_world_ingress"):
        assert "which opens SSH" not in run.out
    if overrides.get("provision_allow_fewer_zones"):
        assert "brokers need subnets" not in run.out
    assert run.changed == 0
    _assert_nothing_created(d)


def _assert_nothing_created(d: Deployment) -> None:
    ec2 = d.client("ec2")
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [d.cluster]}])
    assert groups["SecurityGroups"] == []
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [d.cluster]}])["KeyPairs"] == []
    assert _resources(d) == {"subnets": set(), "instances": set(), "volumes": set()}


def test_provision_refuses_given_subnets_in_fewer_than_three_zones_before_any_change(
    aws_api: str, tmp_path: Path
) -> None:
    """Two subnets of one zone are one zone: the check counts the zones the subnets are in."""
    ec2 = _client(aws_api, "ec2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    default_a = ec2.describe_subnets(
        Filters=[
            {"Name": "default-for-az", "Values": ["true"]},
            {"Name": "availability-zone", "Values": ["us-east-1a"]},
        ]
    )["Subnets"][0]["SubnetId"]
    extra_a = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="172.31.128.0/24", AvailabilityZone="us-east-1a"
    )
    given = [default_a, extra_a["Subnet"]["SubnetId"]]
    d = _deployment(aws_api, tmp_path, provision_subnet_ids=given)
    run = d.playbook("provision.yml", timeout=120)
    assert run.rc != 0
    assert "3 brokers need subnets in at least 3 availability zones, got 1 (us-east-1a)" in run.out, run.out[
        -3000:
    ]
    assert "provision_allow_fewer_zones=true" in run.out
    assert run.changed == 0
    _assert_nothing_created(d)
    ec2.delete_subnet(SubnetId=extra_a["Subnet"]["SubnetId"])


# -- one deployment: create, rerun, inspect, tear down ----------------------------------------------


def test_provision_refuses_a_private_key_file_and_never_prints_it(aws_api: str, tmp_path: Path) -> None:
    secret = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-not-a-real-key"
    private = tmp_path / "id_ed25519"
    private.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n-----END OPENSSH PRIVATE KEY-----\n")
    d = _deployment(aws_api, tmp_path, provision_ssh_public_key_file=str(private))
    run = d.playbook("provision.yml", timeout=120)
    assert run.rc != 0
    assert "is not an OpenSSH public key" in run.out, run.out[-3000:]
    assert secret not in run.out
    assert run.changed == 0
    ec2 = d.client("ec2")
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [d.cluster]}])["KeyPairs"] == []


def test_first_run_creates_and_rerun_changes_nothing(deployed: Lifecycle) -> None:
    assert deployed.first.changed > 0
    assert deployed.rerun.changed == 0, deployed.rerun.out[-6000:]


def test_security_group_admits_operators_to_ssh_and_clients_and_cluster_ports_only_within_group(
    deployed: Lifecycle,
) -> None:
    d = deployed.d
    ec2 = d.client("ec2")
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [d.cluster]}])[
        "SecurityGroups"
    ]
    by_port: dict[int, dict[str, set[str]]] = {}
    for perm in group["IpPermissions"]:
        assert perm["IpProtocol"] == "tcp"
        assert perm["FromPort"] == perm["ToPort"], "no port ranges"
        entry = by_port.setdefault(perm["FromPort"], {"v4": set(), "v6": set(), "groups": set()})
        entry["v4"] |= {r["CidrIp"] for r in perm.get("IpRanges", [])}
        entry["v6"] |= {r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])}
        entry["groups"] |= {g["GroupId"] for g in perm.get("UserIdGroupPairs", [])}
    all_cidrs = set().union(*(e["v4"] | e["v6"] for e in by_port.values()))
    assert not all_cidrs & WORLD
    metrics = {7071, 7072, 9100, 9308, 9309}
    # No ZooKeeper ports in KRaft mode; 9094 is the SASL_SSL listener the pipeline hosts log in on.
    assert set(by_port) == {22, 9091, 9092, 9093, 9094} | metrics
    for port in (22, 9092):
        assert by_port[port]["v4"] == {OPERATOR_V4}
        assert by_port[port]["v6"] == {OPERATOR_V6}
    for port in (9091, 9093, 9094):
        assert by_port[port] == {"v4": set(), "v6": set(), "groups": {group["GroupId"]}}
    assert by_port[9092]["groups"] == {group["GroupId"]}
    # The exporters answer the monitoring hosts' group only, never a CIDR (docs/monitoring.md).
    (monitoring,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{d.cluster}-monitoring"]}]
    )["SecurityGroups"]
    for port in metrics:
        assert by_port[port] == {"v4": set(), "v6": set(), "groups": {monitoring["GroupId"]}}, port


def test_monitoring_group_admits_operators_to_ssh_and_itself_to_prometheus_only(deployed: Lifecycle) -> None:
    d = deployed.d
    ec2 = d.client("ec2")
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{d.cluster}-monitoring"]}]
    )["SecurityGroups"]
    rules = {
        (perm["FromPort"], perm["ToPort"]): (
            {r["CidrIp"] for r in perm.get("IpRanges", [])}
            | {r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])},
            {g["GroupId"] for g in perm.get("UserIdGroupPairs", [])},
        )
        for perm in group["IpPermissions"]
    }
    assert rules == {
        (22, 22): ({OPERATOR_V4, OPERATOR_V6}, set()),
        (9090, 9090): (set(), {group["GroupId"]}),
        (9100, 9100): (set(), {group["GroupId"]}),
    }


def _statements(document: Any) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_iam_policies_grant_no_wildcard_action_and_no_wildcard_resource(deployed: Lifecycle) -> None:
    d = deployed.d
    iam = d.client("iam")
    roles = {f"{d.cluster}-pipeline": "ec2.amazonaws.com", f"{d.cluster}-glue-crawler": "glue.amazonaws.com"}
    for role, service in roles.items():
        trust = _statements(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
        assert [s["Principal"] for s in trust] == [{"Service": service}]
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert names == [role]
        statements = _statements(iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"])
        assert statements
        for statement in statements:
            assert statement["Effect"] == "Allow"
            actions = _as_list(statement["Action"])
            resources = _as_list(statement["Resource"])
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
            assert "*" not in resources, statement
            for resource in resources:
                assert resource.startswith("arn:aws:"), statement
                if resource.startswith("arn:aws:s3:::"):
                    assert resource.split(":::")[1].split("/")[0] == d.bucket, statement
                if ":glue:" in resource and (":database/" in resource or ":table/" in resource):
                    assert f"/{d.cluster}_db" in resource, statement
    (profile,) = iam.list_instance_profiles_for_role(RoleName=f"{d.cluster}-pipeline")["InstanceProfiles"]
    assert profile["InstanceProfileName"] == f"{d.cluster}-pipeline"
    assert iam.list_users()["Users"] == [], "no IAM users, hence no static access keys"


def _instances(d: Deployment, *states: str) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:Cluster", "Values": [d.cluster]}]
    if states:
        filters.append({"Name": "instance-state-name", "Values": list(states)})
    pages = d.client("ec2").describe_instances(Filters=filters)["Reservations"]
    return [i for r in pages for i in r["Instances"]]


def test_instances_are_tagged_by_role_imdsv2_only_encrypted_and_profile_only_on_pipeline_hosts(
    deployed: Lifecycle,
) -> None:
    d = deployed.d
    instances = _instances(d, "running")
    roles = sorted(next(t["Value"] for t in i["Tags"] if t["Key"] == "Role") for i in instances)
    assert roles == ["kafka", "kafka", "kafka", *["kafka_controller"] * 3, "monitoring", "pipeline"]
    ec2 = d.client("ec2")
    groups = {
        g["GroupName"]: g["GroupId"]
        for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [d.cluster, f"{d.cluster}-monitoring"]}]
        )["SecurityGroups"]
    }
    for instance in instances:
        role = next(t["Value"] for t in instance["Tags"] if t["Key"] == "Role")
        assert instance["KeyName"] == d.cluster
        expected = groups[f"{d.cluster}-monitoring" if role == "monitoring" else d.cluster]
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [expected]
        profile = instance.get("IamInstanceProfile", {}).get("Arn", "")
        if role == "pipeline":
            assert profile.endswith(f"instance-profile/{d.cluster}-pipeline")
        else:
            assert not profile
        assert instance["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 only"
        (root,) = [
            m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"]
        ]
        assert root["Ebs"]["DeleteOnTermination"] is True
        volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
        assert (volume["VolumeType"], volume["Encrypted"], volume["Size"]) == ("gp3", True, 20)
        # the OS volume only; a broker's data volume is separate (test_each_broker_has_its_own_...)
        assert len(instance["BlockDeviceMappings"]) == (2 if role == "kafka" else 1)


def test_inventory_groups_instances_by_role_with_listener_addresses(deployed: Lifecycle) -> None:
    d = deployed.d
    inventory = deployed.d.inventory()
    hostvars = inventory["_meta"]["hostvars"]
    running = {i["InstanceId"]: i for i in _instances(d, "running")}
    assert len(inventory["kafka"]["hosts"]) == 3
    assert len(inventory["kafka_controller"]["hosts"]) == 3
    assert len(inventory["pipeline"]["hosts"]) == 1
    assert len(inventory["monitoring"]["hosts"]) == 1
    assert "zookeeper" not in inventory
    for group in ("kafka", "kafka_controller", "pipeline", "monitoring"):
        for host in inventory[group]["hosts"]:
            assert host.startswith(f"{group}-i-")
            instance = running[host.removeprefix(f"{group}-")]
            hv = hostvars[host]
            assert hv["stockpipe_role"] == group
            assert hv["ansible_user"] == "ec2-user"
            assert hv["ansible_host"] == instance["PublicDnsName"]
            assert hv["kafka_advertised_host"] == instance["PublicDnsName"]
            assert hv["kafka_internal_address"] == instance["PrivateIpAddress"]
            assert hv["kafka_rack"] == instance["Placement"]["AvailabilityZone"]
            if group in ("kafka", "kafka_controller"):
                assert hv["kafka_node_id"] == _tag(instance, "KafkaNodeId")
            if group == "kafka":
                data = next(m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
                assert hv["kafka_data_volume_id"] == data["Ebs"]["VolumeId"]
                assert hv["kafka_data_volume_device"] == "/dev/sdf"
            else:
                assert hv["kafka_data_volume_id"] == hv["kafka_data_volume_device"] == ""
    for group in ("kafka", "kafka_controller"):
        racks = {hostvars[h]["kafka_rack"] for h in inventory[group]["hosts"]}
        assert racks == {"us-east-1a", "us-east-1b", "us-east-1c"}, f"one {group} host per zone"


def _tag(instance: dict[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == key), None)


def _subnets(d: Deployment) -> list[dict[str, Any]]:
    """The subnets provision.yml created for the cluster."""
    filters = [{"Name": "tag:Cluster", "Values": [d.cluster]}, {"Name": "tag:Role", "Values": ["subnet"]}]
    return d.client("ec2").describe_subnets(Filters=filters)["Subnets"]


def _data_volume_filters(d: Deployment) -> list[dict[str, Any]]:
    return [{"Name": "tag:Cluster", "Values": [d.cluster]}, {"Name": "tag:Role", "Values": ["kafka-data"]}]


def test_rerun_creates_no_subnet_instance_or_volume(deployed: Lifecycle) -> None:
    assert deployed.after_first == deployed.after_rerun
    assert [len(deployed.after_first[k]) for k in ("subnets", "instances", "volumes")] == [3, 8, 3]


def test_one_subnet_in_each_of_three_zones_and_brokers_round_robin_over_them(deployed: Lifecycle) -> None:
    """Default: the first three zones of the region (by name), a new /24 each at the top of the default
    VPC's range; broker n in zone (n - 1) mod 3, controller 9001 + i in zone i; pipeline and monitoring
    hosts in the first zone."""
    d = deployed.d
    ec2 = d.client("ec2")
    subnets = {s["AvailabilityZone"]: s for s in _subnets(d)}
    assert sorted(subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for subnet in subnets.values():
        assert subnet["VpcId"] == vpc["VpcId"]
        assert subnet["CidrBlock"].endswith("/24") and subnet["CidrBlock"].startswith("172.31.")
        assert subnet["MapPublicIpOnLaunch"] is False, "public addresses only where asked for, per host"
        assert _tag(subnet, "Name") == f"{d.cluster}-{subnet['AvailabilityZone']}"
    zones = sorted(subnets)
    for instance in _instances(d, "running"):
        zone = instance["Placement"]["AvailabilityZone"]
        assert instance["SubnetId"] == subnets[zone]["SubnetId"]
        if _tag(instance, "Role") == "kafka":
            assert zone == zones[(int(_tag(instance, "KafkaNodeId") or 0) - 1) % 3]
        elif _tag(instance, "Role") == "kafka_controller":
            assert zone == zones[(int(_tag(instance, "KafkaNodeId") or 0) - 9001) % 3]
        else:
            assert zone == zones[0]


def test_each_broker_has_its_own_encrypted_gp3_data_volume_kept_on_termination(deployed: Lifecycle) -> None:
    """Attached at /dev/sdf beside the OS volume, in the broker's zone, DeleteOnTermination false, tagged
    with the broker id it belongs to (a replacement broker finds it by that tag and name)."""
    d = deployed.d
    ec2 = d.client("ec2")
    brokers = [i for i in _instances(d, "running") if _tag(i, "Role") == "kafka"]
    seen = set()
    for broker in brokers:
        node_id = _tag(broker, "KafkaNodeId")
        (data,) = [m for m in broker["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
        assert data["Ebs"]["DeleteOnTermination"] is False
        assert data["Ebs"]["VolumeId"] != next(
            m["Ebs"]["VolumeId"]
            for m in broker["BlockDeviceMappings"]
            if m["DeviceName"] == broker["RootDeviceName"]
        )
        (volume,) = ec2.describe_volumes(VolumeIds=[data["Ebs"]["VolumeId"]])["Volumes"]
        assert (volume["VolumeType"], volume["Encrypted"], volume["Size"]) == ("gp3", True, 100)
        assert (volume["Iops"], volume["Throughput"]) == (3000, 125)
        assert volume["AvailabilityZone"] == broker["Placement"]["AvailabilityZone"]
        assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [
            (broker["InstanceId"], "/dev/sdf")
        ]
        tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
        assert tags == {
            "Cluster": d.cluster,
            "Role": "kafka-data",
            "KafkaNodeId": node_id,
            "Name": f"{d.cluster}-kafka-{node_id}-data",
        }
        assert _tag(broker, "KafkaDataVolume") == volume["VolumeId"]
        assert _tag(broker, "KafkaDataDevice") == "/dev/sdf"
        seen.add(volume["VolumeId"])
    assert len(seen) == len(brokers) == 3
    assert seen == deployed.after_rerun["volumes"], "no data volume but the brokers'"


def _broker_ids(d: Deployment) -> dict[str, str | None]:
    brokers = [i for i in _instances(d, "running") if _tag(i, "Role") == "kafka"]
    return {i["InstanceId"]: _tag(i, "KafkaNodeId") for i in brokers}


def test_each_broker_and_controller_gets_its_own_id_once_and_no_other_host(deployed: Lifecycle) -> None:
    """KafkaNodeId tags 1..n on the brokers and 9001.. on the dedicated controllers (kafka_node_id in the
    inventory), kept by the rerun."""
    d = deployed.d
    assert sorted(_broker_ids(d).values()) == ["1", "2", "3"]
    controllers = [i for i in _instances(d, "running") if _tag(i, "Role") == "kafka_controller"]
    assert sorted(_tag(i, "KafkaNodeId") or "" for i in controllers) == ["9001", "9002", "9003"]
    others = [i for i in _instances(d, "running") if _tag(i, "Role") not in ("kafka", "kafka_controller")]
    assert others and all(_tag(i, "KafkaNodeId") is None for i in others)


def test_analytics_bucket_is_private_encrypted_with_lifecycle_catalog_and_capped_workgroup(
    deployed: Lifecycle,
) -> None:
    d = deployed.d
    s3 = d.client("s3")
    block = s3.get_public_access_block(Bucket=d.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    (rule,) = s3.get_bucket_encryption(Bucket=d.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=d.bucket)["Rules"]}
    assert rules[f"{d.cluster}-lake"]["Filter"]["Prefix"] == "lake/"
    assert rules[f"{d.cluster}-lake"]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert rules[f"{d.cluster}-athena-results"]["Expiration"] == {"Days": 7}

    glue = d.client("glue")
    database = glue.get_database(Name=f"{d.cluster}_db")["Database"]
    assert database["LocationUri"] == f"s3://{d.bucket}/lake/"
    crawler = glue.get_crawler(Name=f"{d.cluster}-lake-crawler")["Crawler"]
    assert crawler["Role"].endswith(f"{d.cluster}-glue-crawler")
    assert crawler["DatabaseName"] == f"{d.cluster}_db"
    assert [t["Path"] for t in crawler["Targets"]["S3Targets"]] == [f"s3://{d.bucket}/lake/"]

    config = d.client("athena").get_work_group(WorkGroup=f"{d.cluster}-wg")["WorkGroup"]["Configuration"]
    assert config["ResultConfiguration"]["OutputLocation"] == f"s3://{d.bucket}/athena-results/"
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert config["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert config["EnforceWorkGroupConfiguration"] is True


def test_a_replaced_broker_takes_the_id_of_the_one_it_replaces(deployed: Lifecycle) -> None:
    """A broker is terminated and provision.yml runs again: the new instance gets the freed id, the
    other brokers keep theirs (ids never follow the order the API lists instances in)."""
    d = deployed.d
    before = _broker_ids(d)
    gone = next(i for i, node_id in before.items() if node_id == "2")
    ec2 = d.client("ec2")
    ec2.terminate_instances(InstanceIds=[gone])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[gone], WaiterConfig={"Delay": 1})
    run = d.playbook("provision.yml")
    assert run.rc == 0, run.out[-6000:]
    after = _broker_ids(d)
    assert sorted(after.values()) == ["1", "2", "3"]
    assert {i: n for i, n in after.items() if i in before} == {i: n for i, n in before.items() if i != gone}
    (new,) = set(after) - set(before)
    assert after[new] == "2"
    # ... in the zone of the broker it replaces, with that broker's data volume re-attached.
    (replacement,) = [i for i in _instances(d, "running") if i["InstanceId"] == new]
    assert replacement["Placement"]["AvailabilityZone"] == "us-east-1b"
    (data,) = [m for m in replacement["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
    assert data["Ebs"]["DeleteOnTermination"] is False
    assert _resources(d)["volumes"] == deployed.after_rerun["volumes"], "no new volume, none lost"
    volume_of_2 = next(
        v
        for v in ec2.describe_volumes(Filters=_data_volume_filters(d))["Volumes"]
        if {"Key": "KafkaNodeId", "Value": "2"} in v["Tags"]
    )
    assert data["Ebs"]["VolumeId"] == volume_of_2["VolumeId"]


def test_teardown_removes_everything(deployed: Lifecycle) -> None:
    """Runs last: the lifecycle tests above read the deployment it removes."""
    d = deployed.d
    run = d.playbook("teardown.yml")
    assert run.rc == 0, run.out[-6000:]
    assert run.changed > 0

    assert _instances(d, "pending", "running", "stopping", "stopped") == []
    ec2 = d.client("ec2")
    names = [d.cluster, f"{d.cluster}-monitoring"]
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": names}])["SecurityGroups"]
        == []
    )
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [d.cluster]}])["KeyPairs"] == []
    assert _resources(d) == {"subnets": set(), "instances": set(), "volumes": set()}
    iam = d.client("iam")
    role_names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not {f"{d.cluster}-pipeline", f"{d.cluster}-glue-crawler"} & role_names
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    assert f"{d.cluster}-pipeline" not in profiles
    assert d.bucket not in {b["Name"] for b in d.client("s3").list_buckets()["Buckets"]}
    glue = d.client("glue")
    assert f"{d.cluster}_db" not in {db["Name"] for db in glue.get_databases()["DatabaseList"]}
    assert f"{d.cluster}-lake-crawler" not in glue.list_crawlers()["CrawlerNames"]
    workgroups = {w["Name"] for w in d.client("athena").list_work_groups()["WorkGroups"]}
    assert f"{d.cluster}-wg" not in workgroups


def test_zookeeper_on_given_subnets_spreads_over_them_and_kept_data_volumes_come_back_to_their_brokers(
    aws_api: str, tmp_path: Path
) -> None:
    """A ZooKeeper cluster on given subnets (provision_subnet_ids): no subnet is created, broker n goes to
    the n-th given subnet (round-robin), one ZooKeeper host to each (they have no id: the role counts
    them per subnet), the pipeline host to the first. Teardown with teardown_keep_data keeps the brokers'
    data volumes and every given subnet; provisioning again re-attaches each volume to the broker of its
    id, in its zone, creating none. (Teardown without teardown_keep_data, which deletes the volumes, is
    test_teardown_removes_everything's; which subnets a teardown deletes does not depend on that setting.
    Each run against moto costs 35-80 s of one core.)"""
    ec2 = _client(aws_api, "ec2")
    by_zone = {
        s["AvailabilityZone"]: s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    }
    given = [by_zone["us-east-1f"], by_zone["us-east-1d"], by_zone["us-east-1e"]]
    d = _deployment(
        aws_api,
        tmp_path,
        provision_subnet_ids=given,
        provision_zookeeper_count=3,
        provision_kafka_controller_count=0,  # ZooKeeper is this cluster's controller
        provision_monitoring_count=0,
        provision_kafka_data_volume_gb=10,
    )

    def given_subnets_remain() -> bool:
        return {s["SubnetId"] for s in ec2.describe_subnets(SubnetIds=given)["Subnets"]} == set(given)

    first = d.playbook("provision.yml")
    assert first.rc == 0, first.out[-6000:]
    assert _subnets(d) == []
    placed = {(_tag(i, "Role"), _tag(i, "KafkaNodeId")): i["SubnetId"] for i in _instances(d, "running")}
    assert {key: subnet for key, subnet in placed.items() if key[0] != "zookeeper"} == {
        ("kafka", "1"): given[0],
        ("kafka", "2"): given[1],
        ("kafka", "3"): given[2],
        ("pipeline", None): given[0],
    }
    zookeepers = [i for i in _instances(d, "running") if _tag(i, "Role") == "zookeeper"]
    assert sorted(i["SubnetId"] for i in zookeepers) == sorted(given)

    def volume_of_each_broker() -> dict[str, tuple[str, str]]:
        volumes = ec2.describe_volumes(Filters=_data_volume_filters(d))["Volumes"]
        return {_tag(v, "KafkaNodeId") or "": (v["VolumeId"], v["AvailabilityZone"]) for v in volumes}

    volumes = volume_of_each_broker()
    assert sorted(volumes) == ["1", "2", "3"]

    kept = d.playbook("teardown.yml", extra={"teardown_keep_data": True})
    assert kept.rc == 0, kept.out[-6000:]
    assert _resources(d)["instances"] == set()
    assert given_subnets_remain()
    assert volume_of_each_broker() == volumes
    assert {v["State"] for v in ec2.describe_volumes(Filters=_data_volume_filters(d))["Volumes"]} == {
        "available"
    }

    again = d.playbook("provision.yml")
    assert again.rc == 0, again.out[-6000:]
    assert volume_of_each_broker() == volumes, "no new volume"
    for broker in (i for i in _instances(d, "running") if _tag(i, "Role") == "kafka"):
        volume_id, zone = volumes[_tag(broker, "KafkaNodeId") or ""]
        assert broker["Placement"]["AvailabilityZone"] == zone
        (data,) = [m for m in broker["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
        assert data["Ebs"]["VolumeId"] == volume_id


def test_every_aws_play_connects_through_the_one_connection_setting() -> None:
    """The AWS connection rule (region; endpoint and keys only when set) is written once, in
    playbooks/vars/aws.yml; every play that calls AWS names it in module_defaults and adds nothing."""
    import yaml

    plays_with_defaults = []
    for path in sorted((REPO / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            if "module_defaults" in play:
                plays_with_defaults.append(path.name)
                assert play["module_defaults"] == {
                    "group/amazon.aws.aws": "{{ stockpipe_aws_connection }}"
                }, path
                assert "vars/aws.yml" in play.get("vars_files", []), path
    for path in (REPO / "playbooks").rglob("*.yml"):
        if path.name != "aws.yml":
            assert not re.search(r"^\s*endpoint_url:", path.read_text(), re.M), f"{path} connects on its own"
    assert sorted(plays_with_defaults) == ["analytics.yml", "pipeline.yml", "provision.yml", "teardown.yml"]
    settings = (REPO / "playbooks" / "vars" / "aws.yml").read_text()
    assert settings.count("stockpipe_aws_connection:") == 1
