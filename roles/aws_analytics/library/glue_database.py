#!/usr/bin/python
# Copyright: stockpipe contributors
# Apache-2.0
"""Ansible module: ensure an AWS Glue Data Catalog database exists (or not)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: glue_database
short_description: Manage an AWS Glue Data Catalog database
description:
  - Creates, updates or deletes one Glue database. Idempotent; supports check mode.
  - Deleting a database also deletes its table definitions (not the data in S3).
options:
  name:
    description: Database name (lowercase letters, digits and underscores).
    required: true
    type: str
  description:
    description: Free-text description.
    type: str
    default: ""
  location_uri:
    description: Default location of the database's tables, for example C(s3://bucket/prefix/).
    type: str
    default: ""
  parameters:
    description: Key/value parameters stored on the database.
    type: dict
    default: {}
  state:
    description: Whether the database should exist.
    choices: [present, absent]
    default: present
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
database:
  description: The database as Glue describes it (empty when absent).
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


def _current(client, module, name):
    try:
        return client.get_database(Name=name, aws_retry=True)["Database"]
    except is_boto3_error_code("EntityNotFoundException"):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read Glue database {name}")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            location_uri=dict(type="str", default=""),
            parameters=dict(type="dict", default={}),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    client = module.client("glue", retry_decorator=AWSRetry.jittered_backoff())
    current = _current(client, module, name)
    try:
        if module.params["state"] == "absent":
            if current is not None and not module.check_mode:
                client.delete_database(Name=name, aws_retry=True)
            module.exit_json(changed=current is not None, database={})
        wanted = {"Name": name, "Description": module.params["description"]}
        if module.params["location_uri"]:
            wanted["LocationUri"] = module.params["location_uri"]
        if module.params["parameters"]:
            wanted["Parameters"] = {k: str(v) for k, v in module.params["parameters"].items()}
        if current is None:
            if not module.check_mode:
                client.create_database(DatabaseInput=wanted, aws_retry=True)
            changed = True
        else:
            have = {
                "Name": current["Name"],
                "Description": current.get("Description", ""),
            }
            if current.get("LocationUri"):
                have["LocationUri"] = current["LocationUri"]
            if current.get("Parameters"):
                have["Parameters"] = current["Parameters"]
            changed = have != wanted
            if changed and not module.check_mode:
                client.update_database(Name=name, DatabaseInput=wanted, aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not change Glue database {name}")
    result = wanted if module.check_mode else (_current(client, module, name) or {})
    module.exit_json(changed=changed, database={k: v for k, v in result.items() if k != "CreateTime"})


if __name__ == "__main__":
    main()
