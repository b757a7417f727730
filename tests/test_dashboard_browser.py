"""The dashboard and the report in headless Chromium (Debian's chromium + chromium-driver, via Selenium).

Picks a symbol and counts the candles Plotly drew against the rows of that symbol in the lake (read
straight from the Parquet objects, not through the dashboard's SQL). Screenshots go to test-artifacts/.
Chromium comes from `scripts/setup-test-tools.sh`; without it the tests skip, except under CI, where they
fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from fixtures_aws import make_bars, write_lake

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.dashboard import DashboardServer, StatusWriter, make_server, write_report
from pipeline.lake import LocalLake

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)
#: Loading 4.8 MB of Plotly and drawing takes a few seconds on a 2-core machine; allow plenty.
PAGE_TIMEOUT_S = 60
#: Rendered candles: Plotly draws each candlestick as one `path.box` in the trace's layer.
COUNT_CANDLES = "return document.querySelectorAll('#candles .cartesianlayer .trace.boxes path.box').length;"

if not (CHROMIUM and CHROMEDRIVER):
    # The test setup (`make setup-test`) installs them: a missing browser is a failure, not a skip.
    pytest.fail("chromium/chromedriver not installed: run scripts/setup-test-tools.sh", pytrace=False)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    ARTIFACTS.mkdir(exist_ok=True)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(ARTIFACTS / "chromedriver.log"))
    drv = webdriver.Chrome(options=options, service=service)
    drv.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("browser")
    s = Settings(lake=str(root / "lake"), state_dir=str(root / "state"))
    bars = make_bars(date(2023, 1, 2), date(2023, 9, 29), symbols=("AAA", "BBB", "CCC", "DDD", "EEE"))
    # CCC misses May: charting the wrong symbol shows a different number of candles.
    write_lake(LocalLake(s.lake), [b for b in bars if not (b["symbol"] == "CCC" and b["date"].month == 5)])
    crawl(s)
    return s


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[DashboardServer]:
    with make_server(settings, port=0).start() as srv:
        yield srv


def rows_in_lake(settings: Settings, symbol: str) -> int:
    table = ds.dataset(Path(settings.lake) / settings.table, format="parquet", partitioning="hive")
    return int(table.count_rows(filter=ds.field("symbol") == symbol))


def wait_ready(drv: Any) -> None:
    WebDriverWait(drv, PAGE_TIMEOUT_S).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
    )
    assert drv.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", errors(drv)


def errors(drv: Any) -> str:
    return " | ".join(e.text for e in drv.find_elements(By.CSS_SELECTOR, ".error") if e.text)


def pick(drv: Any, symbol: str) -> int:
    """Select `symbol` and wait for its chart; returns the number of candles drawn."""
    Select(drv.find_element(By.ID, "symbol")).select_by_value(symbol)
    WebDriverWait(drv, PAGE_TIMEOUT_S).until(
        lambda d: d.find_element(By.ID, "candles").get_attribute("data-symbol") == symbol
    )
    return int(drv.execute_script(COUNT_CANDLES))


def test_dashboard_draws_one_candle_per_lake_row_of_the_selected_symbol(
    driver: Any, settings: Settings, broker: str, topic: str, group_id: str
) -> None:
    from dataclasses import replace

    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as Tp

    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    for i in range(30):
        producer.produce(topic, b"{}", b"k", partition=i % 3)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group_id, "enable.auto.commit": False})
    consumer.commit(offsets=[Tp(topic, p, 5) for p in range(3)], asynchronous=False)
    consumer.close()
    StatusWriter(settings.state_dir, "producer", topic).update(delivered=12_000, sent=12_500)
    StatusWriter(settings.state_dir, "sink", topic).update(
        consumed=11_000,
        rows_written=10_000,
        objects_written=4,
        last_object="prices/year=2023/month=09/x.parquet",
    )
    live = replace(settings, bootstrap=broker, group_id=group_id)
    with make_server(live, port=0, topic=topic).start() as server:
        driver.get(server.url)
        try:
            wait_ready(driver)
            assert driver.find_element(By.ID, "candles-loading").text == ""  # the hint is gone once drawn
            assert driver.find_element(By.ID, "movers-loading").text == ""
            first = driver.find_element(By.ID, "candles").get_attribute("data-symbol")
            assert int(driver.execute_script(COUNT_CANDLES)) == rows_in_lake(settings, first)

            drawn = pick(driver, "CCC")
            assert drawn == rows_in_lake(settings, "CCC")
            assert drawn != rows_in_lake(settings, "AAA")  # the data tells the symbols apart
            assert driver.find_element(By.ID, "candles").get_attribute("data-candles") == str(drawn)
            assert (
                driver.execute_script(
                    "return document.querySelectorAll('#candles .trace.bars .point').length;"
                )
                == drawn
            )  # one volume bar per candle

            movers = driver.find_elements(By.CSS_SELECTOR, "#movers-table tbody tr")
            assert sorted(r.get_attribute("data-symbol") for r in movers) == [
                "AAA",
                "BBB",
                "CCC",
                "DDD",
                "EEE",
            ]

            # the stream panel: Kafka's offsets (30 records, 15 committed), not the status files' counts
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "live-lag").text == "15")
            assert driver.find_element(By.ID, "live-end").text == "30"
            assert driver.find_element(By.ID, "live-committed").text == "15"
            assert driver.find_element(By.ID, "live-object").text == "prices/year=2023/month=09/x.parquet"
            assert driver.find_element(By.ID, "live-badge").text == "running"
            assert driver.find_element(By.ID, "live-loading").text == ""
            assert not errors(driver)
        finally:
            driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def test_clicking_a_top_mover_charts_it(driver: Any, server: DashboardServer, settings: Settings) -> None:
    driver.get(server.url)
    wait_ready(driver)
    row = driver.find_elements(By.CSS_SELECTOR, "#movers-table tbody tr")[-1]
    symbol = row.get_attribute("data-symbol")
    row.click()
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(
        lambda d: d.find_element(By.ID, "candles").get_attribute("data-symbol") == symbol
    )
    assert int(driver.execute_script(COUNT_CANDLES)) == rows_in_lake(settings, symbol)


def test_report_file_renders_offline_with_the_same_candles(
    driver: Any, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    write_report(settings, out, symbols=["AAA", "CCC"])
    driver.get(out.as_uri())
    try:
        wait_ready(driver)
        assert pick(driver, "CCC") == rows_in_lake(settings, "CCC")
        assert pick(driver, "AAA") == rows_in_lake(settings, "AAA")
        assert driver.find_element(By.ID, "live-section").is_displayed() is False
    finally:
        driver.save_screenshot(str(ARTIFACTS / "report.png"))
