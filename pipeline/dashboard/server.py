"""`stockpipe dashboard`: the page and a small JSON API on 127.0.0.1 (stdlib ThreadingHTTPServer).

Routes:
- `GET /`                                      the page (server mode)
- `GET /static/plotly.min.js`                  Plotly from the installed `plotly` package
- `GET /api/meta`                              symbols, first/last date, engine, table
- `GET /api/candles?symbol=S&start=&end=`      daily OHLCV of one symbol (404 for a symbol not in the table)
- `GET /api/movers?start=&end=&limit=`         the `top_movers` named query
- `GET /api/live[?topic=T]`                    the stream: Kafka's end offsets, the sink group's committed
                                               offsets and lag (as `stockpipe status`), plus what the
                                               producer's and sink's status files report (rates, last object)

The canary symbol (ZZCANARY) is left out of the symbol list, the date range and the movers.

Each API request opens the engine (`open_engine(settings)`) and closes it, so a `stockpipe crawl`
after new data shows up at the next request, and no connection is shared between threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.config import Settings
from pipeline.dashboard import data
from pipeline.dashboard.page import plotly_js_path, render_page, to_json
from pipeline.errors import PipelineError
from pipeline.query import Engine, open_engine
from pipeline.status import live_state

log = logging.getLogger(__name__)


class NotFound(PipelineError):
    """Answered with 404."""


HOST = "127.0.0.1"
DEFAULT_PORT = 8050
MAX_MOVERS = 100
#: Kafka requests of the stream panel: short, so a broker that is down does not hold up the page.
LIVE_TIMEOUT_S = 2.0
#: The stream panel asks every 2 s; Kafka's numbers are reused for this long.
LIVE_CACHE_S = 1.5


class Dashboard:
    """What the HTTP handler calls: one method per API route, each returning a JSON-able value."""

    def __init__(
        self, settings: Settings, topic: str | None = None, engine_factory: Callable[[], Engine] | None = None
    ) -> None:
        self.settings = settings
        self.topic = topic
        self._open = engine_factory or (lambda: open_engine(settings))
        self._kafka_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._kafka_lock = threading.Lock()

    def meta(self) -> dict[str, Any]:
        with self._open() as engine:
            syms = data.symbols(engine, self.settings.table)
            first, last = data.date_bounds(engine, self.settings.table)
        return {
            "engine": self.settings.engine,
            "table": self.settings.table,
            "symbols": syms,
            "default_symbol": syms[0] if syms else None,
            "first_date": first,
            "last_date": last,
        }

    def candles(self, symbol: str, start: str | None, end: str | None) -> dict[str, Any]:
        if not symbol:
            raise PipelineError("no symbol given", "add ?symbol=SYMBOL")
        start_d, end_d = data.parse_date("start", start), data.parse_date("end", end)
        with self._open() as engine:
            if not data.has_symbol(engine, self.settings.table, symbol):
                raise NotFound(
                    f"no rows for symbol {symbol!r} in table {self.settings.table}", "pick one from /api/meta"
                )
            return data.candles(engine, self.settings.table, symbol, start_d, end_d).to_json()

    def movers(self, start: str | None, end: str | None, limit: str | None) -> list[dict[str, Any]]:
        try:
            n = min(max(int(limit or 10), 1), MAX_MOVERS)
        except ValueError:
            raise PipelineError(f"limit {limit!r} is not a number", "give limit as a whole number") from None
        start_d, end_d = data.parse_date("start", start), data.parse_date("end", end)
        with self._open() as engine:
            return data.top_movers(engine, self.settings.table, start_d, end_d, n)

    def live(self, topic: str | None) -> dict[str, Any]:
        """The status files' view (rates, rows written, last object) and Kafka's (offsets, lag)."""
        state = live_state(self.settings.state_dir, topic or self.topic).to_json()
        state["topic"] = state["topic"] or self.settings.topic
        kafka = self._kafka(state["topic"])
        state["kafka"] = kafka
        state["sink_lag"] = kafka.get("lag")
        state["group"] = self.settings.group_id
        return state

    def _kafka(self, topic: str) -> dict[str, Any]:
        import time
        from dataclasses import replace

        from pipeline.ops.status import kafka_status

        with self._kafka_lock:
            cached = self._kafka_cache.get(topic)
            if cached is not None and time.monotonic() - cached[0] < LIVE_CACHE_S:
                return cached[1]
            numbers = kafka_status(replace(self.settings, topic=topic), LIVE_TIMEOUT_S).to_json()
            self._kafka_cache[topic] = (time.monotonic(), numbers)
            return numbers


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=86400" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, to_json(value).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        app = self.server.dashboard
        try:
            if url.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, self.server.page(), "text/html; charset=utf-8")
            elif url.path == "/static/plotly.min.js":
                self._send(
                    HTTPStatus.OK, self.server.plotly_js(), "text/javascript; charset=utf-8", cache=True
                )
            elif url.path == "/api/meta":
                self._json(HTTPStatus.OK, app.meta())
            elif url.path == "/api/candles":
                self._json(
                    HTTPStatus.OK, app.candles(query.get("symbol", ""), query.get("start"), query.get("end"))
                )
            elif url.path == "/api/movers":
                self._json(
                    HTTPStatus.OK, app.movers(query.get("start"), query.get("end"), query.get("limit"))
                )
            elif url.path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            elif url.path == "/api/live":
                self._json(HTTPStatus.OK, app.live(query.get("topic")))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})
        except NotFound as exc:
            self._json(HTTPStatus.NOT_FOUND, {"error": exc.one_line()})
        except PipelineError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": exc.one_line()})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # the page shows the message; the server keeps serving
            log.exception("dashboard: %s failed", url.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})


class DashboardServer(ThreadingHTTPServer):
    """The dashboard on 127.0.0.1:`port` (0 picks a free port); `start()` serves from a daemon thread."""

    daemon_threads = True

    def __init__(self, dashboard: Dashboard, port: int = DEFAULT_PORT) -> None:
        super().__init__((HOST, port), _Handler)
        self.dashboard = dashboard
        self._page: bytes | None = None
        self._plotly: bytes | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def page(self) -> bytes:
        if self._page is None:
            s = self.dashboard.settings
            self._page = render_page("server", subtitle=f"{s.engine} · table {s.table}").encode()
        return self._page

    def plotly_js(self) -> bytes:
        if self._plotly is None:
            self._plotly = plotly_js_path().read_bytes()
        return self._plotly

    def start(self) -> DashboardServer:
        self._thread = threading.Thread(target=self.serve_forever, name="dashboard", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_server(settings: Settings, port: int = DEFAULT_PORT, topic: str | None = None) -> DashboardServer:
    """Check the page's requirements (plotly), then bind 127.0.0.1:`port`."""
    plotly_js_path()
    try:
        return DashboardServer(Dashboard(settings, topic), port)
    except OSError as exc:
        raise PipelineError(
            f"cannot listen on {HOST}:{port} ({exc.strerror})", "pick another port with --port"
        ) from None
