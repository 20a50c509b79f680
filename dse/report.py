"""``dse report``: one self-contained HTML page about a study (plots, Pareto table, summary, failures).

Plotly's JavaScript is inlined once, so the page opens offline and can be mailed or archived.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from dse.analysis import Results
from dse.metrics import TABLE
from dse.plots import to_html

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.plots > div { width: 100%; margin-bottom: 1em; }
"""
_PARETO_COLUMNS = ["number", *TABLE, "utilization", "folding"]


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:,.6g}", escape=True)


def render(results: Results) -> str:
    """The report page as a string."""
    info = results.summary()
    study = results.study
    device = (study.user_attrs.get("device") or {}).get("name", "?")
    facts = {
        "study": results.name, "model": study.user_attrs.get("model", "?"), "device": device,
        "clock (ns)": study.user_attrs.get("clock_ns", "?"), "sampler": study.user_attrs.get("sampler", "?"),
        "objectives": ", ".join(results.objectives), "trials": info["trials"], "complete": info["complete"],
        "failed": info["failed"], "feasible": info["feasible"],
        "success rate": "" if info["success_rate"] is None else f"{info['success_rate']:.0%}",
        "Pareto points": info["pareto"], "hypervolume": f"{results.hypervolume():.6g}",
    }
    front = results.pareto()
    metrics = info["metrics"].reset_index().rename(columns={"index": "metric"})
    title = f"dse report: {results.name}"
    return "\n".join([
        "<!DOCTYPE html>", f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the study's storage.</p>",
        _table(pd.DataFrame([facts])),
        "<div class='plots'>",
        f"<div>{to_html(results.plot_pareto(), with_plotlyjs=True)}</div>",
        f"<div>{to_html(results.plot_hypervolume(), with_plotlyjs=False)}</div>",
        "</div>",
        f"<h2>Pareto configurations ({len(front)})</h2>",
        "<p>Each row's full FINN folding JSON: <code>dse export STUDY --trial N --folding folding.json</code>.</p>",
        _table(front.reindex(columns=_PARETO_COLUMNS)),
        "<h2>Metrics over complete trials</h2>", _table(metrics),
        "<h2>Failures by category</h2>",
        _table(info["failures"]) if len(info["failures"]) else "<p>No failed trials.</p>",
        "</body></html>",
    ])


def write(results: Results, path: Path) -> Path:
    """Write the report page to ``path``; returns it."""
    path.write_text(render(results), encoding="utf-8")
    return path
