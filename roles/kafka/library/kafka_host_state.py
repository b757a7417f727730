#!/usr/bin/python
# Copyright: stockpipe contributors
# Apache-2.0
"""Ansible module: what a Kafka host already holds, read in one call (roles/kafka preflight).

One round trip instead of three (reading meta.properties, looking for the pending-restart marker,
asking systemd about the service): the role's rerun pays for each call on every host.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kafka_host_state
short_description: Read a Kafka broker host's identity, pending restart and service state
description:
  - Reads the C(meta.properties) a formatted data directory holds, whether a restart is pending (its marker
    file exists) and whether the systemd service is active and enabled. Changes nothing; supports check mode.
options:
  meta_properties:
    description: Path of C(meta.properties) in the first data directory.
    required: true
    type: path
  restart_marker:
    description: Path of the file that marks a pending restart.
    required: true
    type: path
  service:
    description: systemd unit name of the broker (without C(.service)).
    required: true
    type: str
  server_properties:
    description: Path of the broker's C(server.properties), whose listener protocols are returned.
    required: false
    type: path
"""

RETURN = r"""
meta:
  description: The key=value pairs of meta.properties (empty when the broker has no data yet).
  returned: always
  type: dict
restart_pending:
  description: Whether the restart marker exists.
  returned: always
  type: bool
active:
  description: Whether systemd reports the service active.
  returned: always
  type: bool
enabled:
  description: Whether systemd reports the service enabled.
  returned: always
  type: bool
listener_protocols:
  description: >-
    Listener name -> security protocol from C(listener.security.protocol.map) of the current
    C(server.properties) (empty when it does not exist or server_properties is not given).
  returned: always
  type: dict
voters:
  description: >-
    C(controller.quorum.voters) of the current C(server.properties): the KRaft voters the running brokers
    know (empty in ZooKeeper mode, on a new host, or when server_properties is not given).
  returned: always
  type: str
"""


def _properties(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def listener_protocols(properties: dict[str, str]) -> dict[str, str]:
    """NAME:PROTOCOL,... of listener.security.protocol.map as a dict."""
    entries = (item.split(":", 1) for item in properties.get("listener.security.protocol.map", "").split(","))
    return {name.strip(): protocol.strip() for name, protocol in (e for e in entries if len(e) == 2)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "meta_properties": {"type": "path", "required": True},
            "restart_marker": {"type": "path", "required": True},
            "service": {"type": "str", "required": True},
            "server_properties": {"type": "path", "required": False},
        },
        supports_check_mode=True,
    )
    systemctl = module.get_bin_path("systemctl", required=True)
    unit = module.params["service"]
    server = module.params["server_properties"]
    current = _properties(server) if server else {}
    active_rc, _, _ = module.run_command([systemctl, "is-active", "--quiet", unit])
    _, enabled_out, _ = module.run_command([systemctl, "is-enabled", unit])
    module.exit_json(
        changed=False,
        meta=_properties(module.params["meta_properties"]),
        restart_pending=os.path.exists(module.params["restart_marker"]),
        active=active_rc == 0,
        enabled=enabled_out.strip() == "enabled",
        listener_protocols=listener_protocols(current),
        voters=current.get("controller.quorum.voters", ""),
    )


if __name__ == "__main__":
    main()
