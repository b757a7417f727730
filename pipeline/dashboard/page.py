"""The one page behind both the dashboard and the report: `page.html` rendered in one of two modes.

- `server`: the page loads Plotly from the dashboard (`static/plotly.min.js`) and asks the JSON API.
- `report`: Plotly's JavaScript and a data snapshot are inlined, so the file works offline and alone.

Plotly's JavaScript comes from the `plotly` package (the `ui` extra); nothing is loaded from a CDN.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from pipeline.errors import PipelineError

PAGE = Path(__file__).resolve().parent / "page.html"
TITLE = "stockpipe · the market"


def plotly_js_path() -> Path:
    """plotly.min.js as shipped in the `plotly` package."""
    try:
        import plotly
    except ImportError:
        raise PipelineError(
            "the dashboard needs the plotly package", "install the ui extra: pip install 'stockpipe[ui]'"
        ) from None
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise PipelineError(f"{path} is missing from the plotly package", "reinstall plotly")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def script_json(value: Any) -> str:
    """JSON safe to put inside a <script> element (no `</script>` or `<!--` can end it early)."""
    return to_json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(PAGE.read_text())


def render_page(mode: str, subtitle: str = "", data: dict[str, Any] | None = None) -> str:
    if mode not in ("server", "report"):
        raise ValueError(f"mode {mode!r} is not server or report")
    inline = plotly_js_path().read_text() if mode == "report" else None
    return _template().render(
        title=TITLE,
        subtitle=subtitle,
        mode=mode,
        plotly_inline=inline,
        plotly_src="static/plotly.min.js",
        data_json=script_json(data or {}),
    )
