#!/usr/bin/python
# Copyright: stockpipe contributors
# Apache-2.0
"""Ansible module: ensure an Amazon Athena workgroup exists with the given settings (or not)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: athena_workgroup
short_description: Manage an Amazon Athena workgroup
description:
  - Creates, updates or deletes one Athena workgroup with its result location, result encryption,
    a per-query bytes-scanned limit and whether clients may override those settings.
  - Idempotent; supports check mode. Deleting a workgroup also deletes its saved queries.
options:
  name:
    description: Workgroup name.
    required: true
    type: str
  description:
    description: Free-text description.
    type: str
    default: ""
  output_location:
    description:
      - Where query results are written, for example C(s3://bucket/athena-results/).
      - Required when I(state=present).
    type: str
  bytes_scanned_cutoff:
    description: Queries that would scan more bytes than this are cancelled (at least 10000000). 0 = no limit.
    type: int
    default: 0
  enforce_workgroup_configuration:
    description: Clients cannot override the result location, encryption or limit.
    type: bool
    default: true
  encryption:
    description: Encryption of query results.
    choices: [SSE_S3, SSE_KMS, CSE_KMS]
    default: SSE_S3
    type: str
  kms_key:
    description: KMS key ARN for C(SSE_KMS)/C(CSE_KMS).
    type: str
  publish_cloudwatch_metrics:
    description: Publish query metrics to CloudWatch.
    type: bool
    default: true
  state:
    description: Whether the workgroup should exist.
    choices: [present, absent]
    default: present
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
workgroup:
  description: The workgroup configuration this module manages (empty when absent).
  returned: always
  type: dict
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

MANAGED = (
    "ResultConfiguration",
    "EnforceWorkGroupConfiguration",
    "PublishCloudWatchMetricsEnabled",
    "BytesScannedCutoffPerQuery",
)


def _current(client, module, name):
    try:
        # A missing workgroup raises InvalidRequestException on AWS; some emulators answer with no body.
        return client.get_work_group(WorkGroup=name, aws_retry=True).get("WorkGroup") or None
    except is_boto3_error_code("InvalidRequestException"):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read Athena workgroup {name}")


def _wanted(params):
    encryption = {"EncryptionOption": params["encryption"]}
    if params["kms_key"]:
        encryption["KmsKey"] = params["kms_key"]
    config = {
        "ResultConfiguration": {
            "OutputLocation": params["output_location"],
            "EncryptionConfiguration": encryption,
        },
        "EnforceWorkGroupConfiguration": params["enforce_workgroup_configuration"],
        "PublishCloudWatchMetricsEnabled": params["publish_cloudwatch_metrics"],
    }
    if params["bytes_scanned_cutoff"]:
        config["BytesScannedCutoffPerQuery"] = params["bytes_scanned_cutoff"]
    return config


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            output_location=dict(type="str"),
            bytes_scanned_cutoff=dict(type="int", default=0),
            enforce_workgroup_configuration=dict(type="bool", default=True),
            encryption=dict(type="str", default="SSE_S3", choices=["SSE_S3", "SSE_KMS", "CSE_KMS"]),
            kms_key=dict(type="str", no_log=False),
            publish_cloudwatch_metrics=dict(type="bool", default=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ["output_location"])],
        supports_check_mode=True,
    )
    params = module.params
    name = params["name"]
    if params["bytes_scanned_cutoff"] and params["bytes_scanned_cutoff"] < 10000000:
        module.fail_json(msg="bytes_scanned_cutoff must be 0 (no limit) or at least 10000000 (10 MB)")
    client = module.client("athena", retry_decorator=AWSRetry.jittered_backoff())
    current = _current(client, module, name)
    try:
        if params["state"] == "absent":
            if current is not None and not module.check_mode:
                client.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True, aws_retry=True)
            module.exit_json(changed=current is not None, workgroup={})
        wanted = _wanted(params)
        if current is None:
            changed = True
            if not module.check_mode:
                client.create_work_group(
                    Name=name, Description=params["description"], Configuration=wanted, aws_retry=True
                )
        else:
            have = {k: v for k, v in current.get("Configuration", {}).items() if k in MANAGED}
            changed = have != wanted or current.get("Description", "") != params["description"]
            if changed and not module.check_mode:
                update = {
                    "ResultConfigurationUpdates": {
                        "OutputLocation": params["output_location"],
                        "EncryptionConfiguration": wanted["ResultConfiguration"]["EncryptionConfiguration"],
                    },
                    "EnforceWorkGroupConfiguration": wanted["EnforceWorkGroupConfiguration"],
                    "PublishCloudWatchMetricsEnabled": wanted["PublishCloudWatchMetricsEnabled"],
                }
                if "BytesScannedCutoffPerQuery" in wanted:
                    update["BytesScannedCutoffPerQuery"] = wanted["BytesScannedCutoffPerQuery"]
                else:
                    update["RemoveBytesScannedCutoffPerQuery"] = True
                client.update_work_group(
                    WorkGroup=name,
                    Description=params["description"],
                    ConfigurationUpdates=update,
                    aws_retry=True,
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not change Athena workgroup {name}")
    workgroup = {"Name": name, "Description": params["description"], **wanted}
    module.exit_json(changed=changed, workgroup=workgroup)


if __name__ == "__main__":
    main()
