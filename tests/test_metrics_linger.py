"""A process that ends answers one more scrape before it closes /metrics (pipeline/metrics.py), so
Prometheus holds its final numbers: the producer's last delivered count is the one the sink is checked
against (docs/monitoring.md, tests/ansible/monitoring_check.py)."""

from __future__ import annotations

import threading
import time
import urllib.request

from fixtures_kafka import free_port

from pipeline.metrics import Metrics, ReportCounter


def _serve(value: dict[str, int]) -> tuple[Metrics, str]:
    metrics = Metrics("t")
    metrics.add(counters=[ReportCounter("rows", "Rows.", lambda: value["n"])])
    address = f"127.0.0.1:{free_port()}"
    metrics.serve(address)
    return metrics, address


def _rows(address: str) -> str:
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    return next(line for line in text.splitlines() if line.startswith("t_rows_total"))


def test_a_scraped_process_waits_for_the_next_scrape_and_it_reads_the_final_numbers():
    value = {"n": 1}
    metrics, address = _serve(value)
    _rows(address)
    time.sleep(0.4)
    _rows(address)  # a scraper every ~0.4 s: the linger is bounded by twice that (at least 1 s)
    value["n"] = 7  # the run's last delivery, after the last regular scrape
    seen: list[str] = []
    scraper = threading.Thread(target=lambda: (time.sleep(0.3), seen.append(_rows(address))))
    scraper.start()
    started = time.monotonic()
    metrics.close(linger=True)
    took = time.monotonic() - started
    scraper.join()
    assert seen == ["t_rows_total 7.0"]
    assert took < 3, f"close waited {took:.1f} s for a scrape that came after 0.3 s"


def test_nothing_scraping_means_no_wait():
    metrics, _address = _serve({"n": 1})
    started = time.monotonic()
    metrics.close(linger=True)
    assert time.monotonic() - started < 2


def test_a_scraper_that_stopped_bounds_the_wait_by_its_interval():
    metrics, address = _serve({"n": 1})
    _rows(address)
    time.sleep(0.3)
    _rows(address)
    started = time.monotonic()
    metrics.close(linger=True)  # nobody scrapes again: at most max(2 x 0.3 s, 1 s), plus the shutdown
    assert time.monotonic() - started < 2.5
