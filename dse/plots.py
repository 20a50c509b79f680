"""Plotly figures of a study: the Pareto front among all trials, and the hypervolume history.

Built from the frames of :class:`dse.analysis.Results`; ``fig.write_image("x.png")`` exports
them with kaleido (it drives the system's Chromium).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

_HOVER = "trial %{customdata[0]}<br>%{customdata[1]}<extra></extra>"


def _axis(metric: str, direction: str) -> str:
    return f"{metric} ({'higher' if direction == 'maximize' else 'lower'} is better)"


def pareto_figure(trials: pd.DataFrame, front: pd.DataFrame, directions: dict[str, str], title: str) -> go.Figure:
    """Complete trials (feasible and not) with the non-dominated ones joined by a line.

    Two objectives: y = the first, x = the second (throughput up, resource right, as FPGA
    engineers read it). With more, the first two are plotted and the rest show on hover.
    """
    metrics = list(directions)
    y, x = metrics[0], metrics[1] if len(metrics) > 1 else "number"
    done = trials[trials["state"] == "COMPLETE"].dropna(subset=[m for m in (x, y) if m != "number"])
    fig = go.Figure()
    for label, rows, style in (
        ("infeasible", done[done["feasible"] != True], {"symbol": "x", "color": "#d62728", "size": 7, "opacity": 0.5}),  # noqa: E712
        ("feasible", done[done["feasible"] == True], {"color": "#9e9e9e", "size": 7, "opacity": 0.7}),  # noqa: E712
    ):
        fig.add_trace(go.Scatter(x=rows[x], y=rows[y], mode="markers", name=f"{label} ({len(rows)})", marker=style,
                                 customdata=rows[["number", "folding"]], hovertemplate=_HOVER))
    ordered = front.sort_values(x)
    fig.add_trace(go.Scatter(
        x=ordered[x], y=ordered[y], mode="lines+markers", name=f"Pareto front ({len(front)})",
        line={"shape": "hv" if directions[y] == "maximize" else "linear", "color": "#1f77b4"},
        marker={"size": 10, "color": "#1f77b4"}, customdata=ordered[["number", "folding"]], hovertemplate=_HOVER,
    ))
    for axis, metric in (("xaxis", x), ("yaxis", y)):
        values = done[metric][done[metric] > 0] if metric != "number" else pd.Series(dtype=float)
        if len(values) and values.max() / values.min() > 100:  # throughput spans decades: read it on a log axis
            fig.update_layout({axis: {"type": "log"}})
    fig.update_layout(title=f"Pareto front of {title}", template="plotly_white",
                      xaxis_title=_axis(x, directions.get(x, "minimize")), yaxis_title=_axis(y, directions[y]),
                      legend={"orientation": "h", "y": -0.2})
    return fig


def hypervolume_figure(history: pd.DataFrame, title: str) -> go.Figure:
    """Hypervolume of the feasible trials after each finished trial."""
    fig = go.Figure(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines+markers", line={"shape": "hv"}))
    fig.update_layout(title=f"Hypervolume history of {title}", template="plotly_white",
                      xaxis_title="trial number", yaxis_title="hypervolume (feasible trials)")
    return fig


def to_html(fig: Any, with_plotlyjs: bool) -> str:
    """A figure as an HTML fragment; plotly.js inlined once per page (self-contained, no network)."""
    return fig.to_html(full_html=False, include_plotlyjs=bool(with_plotlyjs), config={"displaylogo": False, "responsive": True},
                       default_width="100%", default_height="480px")
