"""Shared fixtures: real processes on 127.0.0.1 (Kafka, moto server, Athena-API endpoint), registered as
pytest plugins (each module lists its fixtures in its docstring; plain helpers are imported by name)."""

import os

# Dependencies first.
pytest_plugins = ["fixtures_kafka", "fixtures_aws", "fixtures_faults", "fixtures_secure"]

# The unit tests' plays run on the local host, a handful of tasks each: there Mitogen's start (about 2 s
# per ansible-playbook run, measured) costs more than it saves. The role tests (tests/ansible) run the
# kit's strategy, stockpipe_linear, on real hosts; tests/test_strategy_plugin.py tests the plugin itself.
os.environ.setdefault("ANSIBLE_STRATEGY", "linear")
