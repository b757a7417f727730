"""Produce: replay source bars onto a Kafka topic, keyed by symbol, counting every delivery report."""

from pipeline.produce.replay import DeliveryTracker, ReplayReport, replay

__all__ = ["DeliveryTracker", "ReplayReport", "replay"]
