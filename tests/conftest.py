"""Shared fixtures: real processes on 127.0.0.1 (Kafka, moto server, Athena-API endpoint), registered as
pytest plugins (each module lists its fixtures in its docstring; plain helpers are imported by name)."""

# Dependencies first.
pytest_plugins = ["fixtures_kafka", "fixtures_aws", "fixtures_faults", "fixtures_secure"]
