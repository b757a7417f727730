"""notebooks/walkthrough.ipynb runs top to bottom (nbclient + ipykernel), so the walkthrough never rots."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.local.broker import LocalBroker

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "walkthrough.ipynb"
CELL_TIMEOUT_S = 180


def text_of(cell: dict) -> str:  # type: ignore[type-arg]
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.integration
@pytest.mark.e2e
def test_walkthrough_notebook_runs_the_pipeline_and_draws_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("STOCKPIPE_WALKTHROUGH_DIR", str(work))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it without outputs"

    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:
        LocalBroker(work / "state").down()  # a failed cell must not leave the broker running

    out = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    assert "reconciled: rows generated = produced = in the lake = counted by SQL" in out
    assert "sink lag 0," in out
    assert out.count("%\n") >= 5  # the five top movers, one line each
    plots = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert len(plots) == 1
    traces = plots[0]["data"]["application/vnd.plotly.v1+json"]["data"]
    assert [t["type"] for t in traces] == ["candlestick", "bar"]
    assert len(traces[0]["x"]) == 120  # every trading day of the top mover
    assert (work / "report.html").stat().st_size > 1_000_000  # Plotly inlined
    assert not LocalBroker(work / "state").status().running
