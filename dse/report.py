"""``dse report``: one self-contained HTML page about a study (plots, Pareto table, summary, failures).

Plotly's JavaScript is inlined once, so the page opens offline and can be mailed or archived.
Every number of a metric is written by :func:`dse.metrics.fmt` (``1,785,714``, never
``1.78571e+06``); the device budget and the caps that decide feasibility stand next to the plots.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from dse.analysis import Results
from dse.metrics import METRICS, TABLE, fmt, resources_at
from dse.plots import axis_limits, hypervolume_share, label, limit_text, reference_text, to_html, with_unit

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.plots > div { width: 100%; margin-bottom: 1em; }
"""
_PARETO_COLUMNS = ["number", *TABLE, "utilization", "folding"]


def _table(frame: pd.DataFrame) -> str:
    """A frame as an HTML table; its cells are already text (see :func:`_formatted`)."""
    return frame.to_html(index=False, border=0, na_rep="-", escape=True)


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Metric columns written by :func:`dse.metrics.fmt`, headed by their label with the unit."""
    out = frame.copy().astype(object)
    for column in out.columns:
        if column in METRICS:
            out[column] = [fmt(column, v) for v in frame[column]]
    return out.rename(columns={c: label(c) for c in out.columns if c in METRICS})


def _metrics_table(stats: pd.DataFrame) -> pd.DataFrame:
    """min/max/mean/std per metric, each in the metric's own format."""
    rows = [{"metric": label(metric), **{stat: fmt(metric, value) for stat, value in row.items()}}
            for metric, row in stats.iterrows()]
    return pd.DataFrame(rows, columns=["metric", *stats.columns])


def _limits_section(results: Results, device: str | None) -> str:
    """The budget and caps that decide feasibility, with how many complete trials break each."""
    limits = results.limits()
    frame = results.trials()
    done = frame[frame["state"] == "COMPLETE"]
    infeasible = int((done["feasible"] == False).sum())  # noqa: E712
    if not limits:
        return "<h2>Feasibility</h2><p>No budget or cap: every complete trial is feasible.</p>"
    budget = (results.study.user_attrs.get("device") or {}).get("budget") or {}
    rows = []
    for lim in limits:
        broken = sum(1 for v in done[lim.metric].dropna() if lim.broken_by(float(v))) if lim.metric in done else 0
        rows.append({"limit": limit_text(lim, device), "metric": label(lim.metric),
                     "value": fmt(lim.metric, lim.value), "complete trials breaking it": broken})
    # a utilization cap binds every resource at that share of its budget
    for lim in limits:
        if lim.metric == "utilization" and lim.kind == "max":
            for resource in (r for r in budget if r in done):
                for name, _, value in axis_limits(resource, [lim], budget, device):
                    broken = sum(1 for v in done[resource].dropna() if float(v) > value)
                    rows.append({"limit": name, "metric": label(resource), "value": fmt(resource, value),
                                 "complete trials breaking it": broken})
    return "\n".join([
        "<h2>Feasibility: device budget and caps</h2>",
        f"<p>A trial is feasible when it stays within every limit below; {infeasible} of the {len(done)} complete "
        "trials break at least one (the plots' <i>infeasible</i> points; a trial may break several). "
        "The plots draw each limit as a line where an axis shows its metric; hovering a point names the limits it breaks.</p>",
        _table(pd.DataFrame(rows)),
    ])


def _hypervolume_text(results: Results, device: str | None) -> str:
    budget = (results.study.user_attrs.get("device") or {}).get("budget") or {}
    reference, ideal = results.reference(), results.ideal()
    share = hypervolume_share(results.hypervolume(), reference, ideal)
    if share is None:
        return "0% (no feasible trial)"
    return (f"{share:.1%} of the box from the reference ({reference_text(reference, reference, budget, device)}) "
            f"to the ideal point ({', '.join(f'{m} {with_unit(m, v)}' for m, v in ideal.items())})")


def render(results: Results) -> str:
    """The report page as a string."""
    info = results.summary()
    study = results.study
    device = (study.user_attrs.get("device") or {}).get("name")
    facts: dict[str, Any] = {
        "study": results.name, "model": study.user_attrs.get("model", "?"), "device": device or "?",
        "clock (ns)": study.user_attrs.get("clock_ns", "?"), "sampler": study.user_attrs.get("sampler", "?"),
        "objectives": ", ".join(label(m) for m in results.objectives), "trials": info["trials"], "complete": info["complete"],
        "failed": info["failed"], "feasible": info["feasible"],
        "success rate": "-" if info["success_rate"] is None else f"{info['success_rate']:.0%}",
        "Pareto points": info["pareto"], "hypervolume": _hypervolume_text(results, device),
        "fidelity": "; ".join(resources_at(level) for level in results.fidelities()) or "-",
    }
    front = results.pareto()
    title = f"dse report: {results.name}"
    return "\n".join([
        "<!DOCTYPE html>", f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the study's storage.</p>",
        _table(pd.DataFrame([{k: str(v) for k, v in facts.items()}])),
        _limits_section(results, device),
        "<div class='plots'>",
        f"<div>{to_html(results.plot_pareto(), with_plotlyjs=True)}</div>",
        f"<div>{to_html(results.plot_hypervolume(), with_plotlyjs=False)}</div>",
        "</div>",
        f"<h2>Pareto configurations ({len(front)})</h2>",
        "<p>Each row's full FINN folding JSON: <code>dse export STUDY --trial N --folding folding.json</code>.</p>",
        _table(_formatted(front.reindex(columns=_PARETO_COLUMNS))),
        "<h2>Metrics over complete trials</h2>",
        _table(_metrics_table(info["metrics"])) if len(info["metrics"]) else "<p>No complete trial yet.</p>",
        "<h2>Failures by category</h2>",
        _table(info["failures"]) if len(info["failures"]) else "<p>No failed trials.</p>",
        "</body></html>",
    ])


def write(results: Results, path: Path) -> Path:
    """Write the report page to ``path``; returns it."""
    path.write_text(render(results), encoding="utf-8")
    return path
