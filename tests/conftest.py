"""Shared fixtures: real processes on 127.0.0.1 (tansu broker, moto server, Athena-API endpoint)."""

from fixtures_aws import *  # noqa: F403
from fixtures_faults import *  # noqa: F403
from fixtures_kafka import *  # noqa: F403
