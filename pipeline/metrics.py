"""Prometheus metrics of the producer and the sink: `/metrics` in the text format, from the official
prometheus-client library, on the address their settings name (`[stockpipe.producer] metrics` and
`[stockpipe.sink] metrics`, e.g. "10.0.1.5:9309"; empty = off, the local default). The pipeline role
binds them to the host's private address, reachable only from the monitoring host.

Counters are read from the run's report when Prometheus scrapes (no work on the hot path); the sink's
write latency is a histogram its loop observes once per object. Names follow Prometheus' conventions
(`stockpipe_<role>_<what>_total`, base units). A process that ends (the producer, when its source is
sent) answers one more scrape before it closes /metrics, so Prometheus holds its final numbers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class ReportCounter:
    name: str  # without the prefix and the _total suffix
    help: str
    read: Callable[[], float]


@dataclass(frozen=True)
class ReportGauge:
    name: str
    help: str
    read: Callable[[], float | dict[str, float] | None]  # a dict: one sample per label value
    label: str = ""


class _Collector(Collector):
    def __init__(self, prefix: str, counters: Iterable[ReportCounter], gauges: Iterable[ReportGauge]) -> None:
        self.prefix = prefix
        self.counters = list(counters)
        self.gauges = list(gauges)

    def collect(self) -> Iterator[Any]:
        for c in self.counters:
            family = CounterMetricFamily(f"{self.prefix}_{c.name}", c.help)
            family.add_metric([], float(c.read()))
            yield family
        for g in self.gauges:
            value = g.read()
            if isinstance(value, dict):
                family = GaugeMetricFamily(f"{self.prefix}_{g.name}", g.help, labels=[g.label])
                for label, v in sorted(value.items()):
                    family.add_metric([str(label)], float(v))
            else:
                family = GaugeMetricFamily(f"{self.prefix}_{g.name}", g.help)
                if value is not None:
                    family.add_metric([], float(value))
            yield family


class _ScrapeClock(Collector):
    """Registered first, so each scrape is marked before any counter is read; yields nothing."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=2)
        self.scraped = threading.Event()

    def collect(self) -> Iterator[Any]:
        self.times.append(time.monotonic())
        self.scraped.set()
        return iter(())


#: Longest wait for the final scrape when a process closes its /metrics (seconds).
LINGER_MAX_S = 30.0


class Metrics:
    """One process's metrics: a registry of its own, served on `address` once `serve()` is called."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.registry = CollectorRegistry()
        self._clock = _ScrapeClock()
        self.registry.register(self._clock)
        # process_start_time_seconds and friends: what tells one process's counters from its successor's.
        ProcessCollector(registry=self.registry)
        self._server: Any = None

    def add(self, counters: Iterable[ReportCounter] = (), gauges: Iterable[ReportGauge] = ()) -> None:
        self.registry.register(_Collector(self.prefix, counters, gauges))

    def histogram(self, name: str, help: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(f"{self.prefix}_{name}", help, buckets=buckets, registry=self.registry)

    def serve(self, address: str | None) -> None:
        """Serve /metrics on HOST:PORT (nothing when `address` is empty)."""
        if not address:
            return
        host, port = parse_address(address)
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise PipelineError(
                f"cannot serve metrics on {address} ({exc.strerror or exc})",
                "choose a free port on an address of this host, or leave the metrics setting empty",
            ) from None

    def close(self, linger: bool = False) -> None:
        """Stop serving. With `linger`, when something has been scraping, first wait for its next scrape
        (at most twice its last interval, at most LINGER_MAX_S), so it reads the final numbers."""
        if self._server is None:
            return
        if linger and len(self._clock.times) == 2:
            interval = self._clock.times[1] - self._clock.times[0]
            self._clock.scraped.clear()
            self._clock.scraped.wait(min(max(2 * interval, 1.0), LINGER_MAX_S))
        self._server.shutdown()
        self._server = None


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PipelineError(
            f"metrics address {address!r} is not HOST:PORT", 'use e.g. metrics = "10.0.1.5:9309"'
        )
    return host.strip("[]"), int(port)


def since(timestamp: float | None) -> float | None:
    """Seconds since a wall-clock time (None while it has not happened)."""
    return None if timestamp is None else max(time.time() - timestamp, 0.0)
