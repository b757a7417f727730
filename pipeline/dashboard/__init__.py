"""See the market: a dashboard on 127.0.0.1, a self-contained HTML report, and the replay's live state.

- `make_server(settings, port)` -> DashboardServer (`stockpipe dashboard`)
- `write_report(settings, out)` -> ReportResult (`stockpipe report --out report.html`)
- `StatusWriter(state_dir, role, topic)` keeps `<state_dir>/status/<role>-<topic>.json` current for
  the producer and the sink; `live_state(state_dir, topic)` reads both (records/s in, sink lag, last object).

Charts are Plotly, served from (or inlined out of) the installed `plotly` package: the `ui` extra.
"""

from __future__ import annotations

from pipeline.dashboard.report import ReportResult, write_report
from pipeline.dashboard.server import Dashboard, DashboardServer, make_server
from pipeline.status import LiveState, StatusWriter, live_state, status_path

__all__ = [
    "Dashboard",
    "DashboardServer",
    "LiveState",
    "ReportResult",
    "StatusWriter",
    "live_state",
    "make_server",
    "status_path",
    "write_report",
]
