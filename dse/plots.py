"""Plotly figures of a study: the Pareto front among all trials, and the hypervolume history.

Built from the frames of :class:`dse.analysis.Results`; ``fig.write_image("x.png")`` exports
them with kaleido (it drives the system's Chromium).

* Two objectives: a scatter of every complete trial, the front joined by its staircase (the
  boundary of what the front attains, honest in 2-D only).
* Three or more: a scatter matrix (``go.Splom``) of the objectives, the front highlighted,
  no line: a 2-D staircase through points of a 3-D front would draw trade-offs that do not exist.
* Axes carry the metric's unit (:attr:`dse.metrics.Metric.label`); the device budget and the
  space file's caps are lines on the axes of their metric, named in the legend; hover shows
  the trial, each objective as :func:`dse.metrics.fmt` writes it, and the folding summary.
* The hypervolume is a share (%) of the box between the reference point and the ideal point.
* A study without a complete trial gets a figure that says so, and why.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import pandas as pd
import plotly.graph_objects as go

from dse.metrics import METRICS, RESOURCES, fmt

if TYPE_CHECKING:
    from dse.analysis import Limit

_HOVER = "%{hovertext}<extra></extra>"
_FRONT_COLOR = "#1f77b4"
_LIMIT_COLORS = {"budget": "#2ca02c", "max": "#ff7f0e", "min": "#9467bd"}
_FOLDING_PER_LINE = 3


def label(metric: str) -> str:
    """A metric's name with its unit, e.g. ``LUT (LUTs)``."""
    spec = METRICS.get(metric)
    return spec.label if spec is not None else metric


def with_unit(metric: str, value: Any) -> str:
    """A value as tables write it, with the unit: ``1,785,714 frames/s``, ``41.2%``."""
    spec = METRICS.get(metric)
    text = fmt(metric, value)
    if spec is None or spec.style == "share" or text == "-":
        return text
    return f"{text} {spec.unit}"


def limit_text(limit: "Limit", device: str | None = None) -> str:
    """One limit in words: ``Pynq-Z1 budget: LUT <= 53,200 LUTs``, ``cap: throughput_fps >= 1,000 frames/s``."""
    sign = ">=" if limit.kind == "min" else "<="
    who = f"{device or 'device'} budget" if limit.kind == "budget" else "cap"
    return f"{who}: {limit.metric} {sign} {with_unit(limit.metric, limit.value)}"


def axis_limits(metric: str, limits: Sequence["Limit"], budget: dict[str, float], device: str | None = None) -> list[tuple[str, str, float]]:
    """The budget and cap lines an axis of ``metric`` shows: (legend name, kind, value).

    A utilization cap shows on each resource axis as that share of the resource's budget (a
    trial is feasible only if every resource stays below it); the enforced device budget shows
    on a utilization axis as 100%.
    """
    lines = [(limit_text(lim, device), lim.kind, lim.value) for lim in limits if lim.metric == metric]
    for lim in limits:
        if lim.metric == "utilization" and lim.kind == "max" and metric in RESOURCES and budget.get(metric):
            value = lim.value * float(budget[metric])
            lines.append((f"utilization cap {fmt('utilization', lim.value)}: {metric} <= {with_unit(metric, value)}", "max", value))
    if metric == "utilization" and any(lim.kind == "budget" for lim in limits):
        lines.append((f"{device or 'device'} budget: utilization <= 100%", "budget", 1.0))
    return lines


def no_trial_message(trials: pd.DataFrame) -> str:
    """Why a study has nothing to plot: ``no completed trial yet: 5 failed (transform 4, lost 1)``."""
    if trials.empty:
        return "no trial yet"
    states = trials["state"].value_counts()
    failed = trials[trials["state"] == "FAIL"]
    # a failure without a category was Optuna's heartbeat check: the worker was lost (dse.analysis.status)
    categories = failed["error_category"].fillna("lost").value_counts()
    parts = []
    if len(failed):
        parts.append(f"{len(failed)} failed ({', '.join(f'{c} {n}' for c, n in categories.items())})")
    for state in ("RUNNING", "WAITING", "PRUNED"):
        if states.get(state):
            parts.append(f"{states[state]} {state.lower()}")
    return "no completed trial yet: " + (", ".join(parts) if parts else f"{len(trials)} trial(s), none finished")


def _message_figure(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _folding_lines(folding: Any) -> str:
    parts = str(folding or "").split()
    if not parts:
        return "-"
    return "<br>  ".join(" ".join(parts[i:i + _FOLDING_PER_LINE]) for i in range(0, len(parts), _FOLDING_PER_LINE))


def _broken(row: pd.Series, limits: Sequence["Limit"], device: str | None) -> list[str]:
    return [limit_text(lim, device) for lim in limits
            if lim.metric in row and pd.notna(row[lim.metric]) and lim.broken_by(float(row[lim.metric]))]


def hover_texts(rows: pd.DataFrame, metrics: Iterable[str], limits: Sequence["Limit"] = (), device: str | None = None) -> list[str]:
    """Per trial: its number and feasibility (the limits it breaks), each metric formatted, its folding."""
    metrics = list(metrics)
    texts = []
    for _, row in rows.iterrows():
        if row.get("feasible") == True:  # noqa: E712  (True/False/None)
            state = "feasible"
        else:
            broken = _broken(row, limits, device)
            state = "infeasible" + (": breaks " + "; ".join(broken) if broken else "")
        lines = [f"<b>trial {int(row['number'])}</b> ({state})"]
        lines += [f"{m}: {with_unit(m, row[m])}" for m in metrics]
        lines.append(f"folding: {_folding_lines(row.get('folding'))}")
        texts.append("<br>".join(lines))
    return texts


def _use_log(values: pd.Series) -> bool:
    """Throughput and cycles span decades: read them on a log axis (only when every value is positive)."""
    values = values.dropna().astype(float)
    return bool(len(values)) and values.min() > 0 and values.max() / values.min() > 100


def _axis(metric: str, direction: str | None, log: bool) -> dict[str, Any]:
    """A metric axis: its label with the unit, which way is better, the scale; numbers as tables write them."""
    notes = []
    if direction is not None:
        notes.append("higher is better" if direction == "maximize" else "lower is better")
    if log:
        notes.append("log scale")
    spec = METRICS.get(metric)
    return {"title": {"text": label(metric) + (f" - {', '.join(notes)}" if notes else "")},
            "type": "log" if log else "linear",
            "tickformat": ".0%" if spec is not None and spec.style == "share" else ","}


def _limit_shape(name: str, kind: str, value: float, *, vertical: bool, axis: str, span: str, first: bool) -> dict[str, Any]:
    """A budget or cap line at ``value`` on data axis ``axis`` across the domain of axis ``span``."""
    line = {"color": _LIMIT_COLORS.get(kind, "#555"), "dash": "dash" if kind == "budget" else "dot", "width": 2}
    shape: dict[str, Any] = {"type": "line", "line": line, "name": name, "legendgroup": name, "showlegend": first,
                             "layer": "below"}
    if vertical:
        shape.update(xref=axis, x0=value, x1=value, yref=f"{span} domain", y0=0, y1=1)
    else:
        shape.update(yref=axis, y0=value, y1=value, xref=f"{span} domain", x0=0, x1=1)
    return shape


def pareto_figure(trials: pd.DataFrame, front: pd.DataFrame, directions: dict[str, str], title: str, *,
                  limits: Sequence["Limit"] = (), budget: dict[str, float] | None = None,
                  device: str | None = None) -> go.Figure:
    """Complete trials (feasible and not) and the non-dominated ones; budget and caps as lines.

    One objective: it against the trial number. Two: y = the first, x = the second (throughput
    up, resource right, as FPGA engineers read it), the front joined by its staircase. Three or
    more: a scatter matrix of the objectives with the front highlighted.
    """
    budget = budget or {}
    metrics = list(directions)
    fig = go.Figure()
    fig.update_layout(template="plotly_white", legend={"orientation": "h", "y": -0.2})
    done = trials[trials["state"] == "COMPLETE"].dropna(subset=metrics)
    if done.empty:
        fig.update_layout(title=f"Pareto front of {title}")
        return _message_figure(fig, no_trial_message(trials))
    if len(metrics) >= 3:
        fig = _scatter_matrix(fig, done, front, directions, limits, budget, device)
    else:
        fig = _scatter_2d(fig, done, front, directions, limits, budget, device)
    feasible = int((done["feasible"] == True).sum())  # noqa: E712
    within = " (within the device budget and caps: lines where an axis is limited; hover names what a trial breaks)" if limits else ""
    subtitle = f"{len(done)} complete trials: {feasible} feasible{within}, {len(done) - feasible} infeasible; {len(front)} on the front"
    fig.update_layout(title={"text": f"Pareto front of {title} ({', '.join(metrics)})<br><sup>{subtitle}</sup>"})
    if not feasible:
        fig.add_annotation(text="no feasible trial yet: every complete trial breaks the budget or a cap (hover a point: which)",
                           xref="paper", yref="paper", x=0.5, y=0.98, yanchor="top", showarrow=False, font={"color": "#d62728"})
    return fig


def _groups(done: pd.DataFrame, front: pd.DataFrame) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    on_front = done["number"].isin(front["number"])
    infeasible = done[done["feasible"] != True]  # noqa: E712
    feasible = done[(done["feasible"] == True) & ~on_front]  # noqa: E712
    return [
        (f"infeasible ({len(infeasible)})", infeasible, {"symbol": "x", "color": "#d62728", "size": 7, "opacity": 0.5}),
        (f"feasible, dominated ({len(feasible)})", feasible, {"color": "#9e9e9e", "size": 7, "opacity": 0.7}),
    ]


def _scatter_2d(fig: go.Figure, done: pd.DataFrame, front: pd.DataFrame, directions: dict[str, str],
                limits: Sequence["Limit"], budget: dict[str, float], device: str | None) -> go.Figure:
    metrics = list(directions)
    y, x = metrics[0], (metrics[1] if len(metrics) > 1 else "number")
    shown = metrics if x != "number" else [y]
    for name, rows, style in _groups(done, front):
        fig.add_trace(go.Scatter(x=rows[x], y=rows[y], mode="markers", name=name, marker=style,
                                 customdata=rows[["number", "folding"]], hovertext=hover_texts(rows, shown, limits, device),
                                 hovertemplate=_HOVER))
    if x == "number":  # one objective: its best trial(s), no line
        mode, line, ordered = "markers", None, front.sort_values("number")
    else:
        # the staircase the front attains: from each point, first along the axis it is worse on
        mode, line, ordered = "lines+markers", {"shape": "hv" if directions[x] == "minimize" else "vh", "color": _FRONT_COLOR}, front.sort_values(x)
    fig.add_trace(go.Scatter(
        x=ordered[x], y=ordered[y], mode=mode, name=f"Pareto front ({len(front)})", line=line,
        marker={"size": 10, "color": _FRONT_COLOR}, customdata=ordered[["number", "folding"]],
        hovertext=hover_texts(ordered, shown, limits, device), hovertemplate=_HOVER,
    ))
    if x == "number":
        fig.update_layout(xaxis={"title": {"text": "trial number"}, "tickformat": ","})
    else:
        fig.update_layout(xaxis=_axis(x, directions[x], _use_log(done[x])))
    fig.update_layout(yaxis=_axis(y, directions[y], _use_log(done[y])))
    for metric, vertical, axis, span in ((x, True, "x", "y"), (y, False, "y", "x")):
        for name, kind, value in axis_limits(metric, limits, budget, device) if metric != "number" else []:
            fig.add_shape(**_limit_shape(name, kind, value, vertical=vertical, axis=axis, span=span, first=True))
    return fig


def _scatter_matrix(fig: go.Figure, done: pd.DataFrame, front: pd.DataFrame, directions: dict[str, str],
                    limits: Sequence["Limit"], budget: dict[str, float], device: str | None) -> go.Figure:
    """Every pair of objectives (lower half of a scatter matrix); the front highlighted, never joined."""
    metrics = list(directions)
    logs = {m: _use_log(done[m]) for m in metrics}
    axes = [_axis(m, directions[m], logs[m]) for m in metrics]
    ordered = front.sort_values("number")
    for name, rows, style in [*_groups(done, front),
                              (f"Pareto front ({len(front)})", ordered, {"size": 10, "color": _FRONT_COLOR})]:
        fig.add_trace(go.Splom(
            dimensions=[{"label": axes[i]["title"]["text"], "values": rows[m]} for i, m in enumerate(metrics)],
            name=name, marker=style, showupperhalf=False, diagonal={"visible": False},
            customdata=rows[["number", "folding"]], hovertext=hover_texts(rows, metrics, limits, device), hovertemplate=_HOVER,
        ))
    # dimension i is drawn on xaxis{i+1} (columns 0..n-2) and yaxis{i+1} (rows 1..n-1)
    suffix = [str(i + 1) if i else "" for i in range(len(metrics))]
    layout: dict[str, Any] = {}
    for i, axis in enumerate(axes):
        style = {"type": axis["type"], "tickformat": axis["tickformat"], "title": axis["title"]}
        if axis["type"] == "log":
            style["dtick"] = 1  # a label per decade: small panels have no room for 2 and 5
        layout[f"xaxis{suffix[i]}"] = style
        layout[f"yaxis{suffix[i]}"] = style
    fig.update_layout(**layout, height=300 * len(metrics), dragmode="select", hovermode="closest")
    for i, metric in enumerate(metrics):
        for name, kind, value in axis_limits(metric, limits, budget, device):
            first = True
            for j in range(len(metrics)):
                if j > i:  # panel (column i, row j): metric on x
                    fig.add_shape(**_limit_shape(name, kind, value, vertical=True, axis=f"x{suffix[i]}", span=f"y{suffix[j]}", first=first))
                elif j < i:  # panel (column j, row i): metric on y
                    fig.add_shape(**_limit_shape(name, kind, value, vertical=False, axis=f"y{suffix[i]}", span=f"x{suffix[j]}", first=first))
                else:
                    continue
                first = False
    return fig


def box_volume(reference: dict[str, float], ideal: dict[str, float]) -> float:
    """Volume of the box between the reference and the ideal point (0 when it is empty)."""
    sides = [abs(reference[m] - ideal[m]) for m in reference]
    return math.prod(sides) if sides else 0.0


def hypervolume_share(hypervolume: float, reference: dict[str, float], ideal: dict[str, float]) -> float | None:
    """The hypervolume as a share (0..1) of the reference box; None when the box is empty."""
    volume = box_volume(reference, ideal)
    return hypervolume / volume if volume > 0 else None


def reference_text(reference: dict[str, float], default: dict[str, float] | None = None,
                   budget: dict[str, float] | None = None, device: str | None = None) -> str:
    """Where each coordinate of the reference point comes from, in words."""
    budget, default = budget or {}, default or {}
    parts = []
    for metric, value in reference.items():
        text = f"{metric} {with_unit(metric, value)}"
        if metric in default and value != default[metric]:
            text += " (given)"
        elif metric in RESOURCES and budget.get(metric) == value:
            text += f" (the {device or 'device'} budget)"
        elif metric == "utilization" and value == 1.0:
            text += " (the whole budget)"
        elif METRICS.get(metric) is not None and METRICS[metric].direction == "minimize":
            text += " (the worst complete trial)"
        parts.append(text)
    return ", ".join(parts)


def hypervolume_figure(history: pd.DataFrame, title: str, *, trials: pd.DataFrame | None = None,
                       reference: dict[str, float] | None = None, default_reference: dict[str, float] | None = None,
                       ideal: dict[str, float] | None = None, budget: dict[str, float] | None = None,
                       device: str | None = None) -> go.Figure:
    """Hypervolume of the feasible trials after each finished trial, as a share (%) of the box
    between the reference point (0 frames/s, the device budget) and the ideal point (the best
    feasible throughput, no resources). Without a reference and ideal: the raw hypervolume."""
    fig = go.Figure()
    fig.update_layout(template="plotly_white")
    if trials is not None and not (trials["state"] == "COMPLETE").any():
        fig.update_layout(title=f"Hypervolume history of {title}")
        return _message_figure(fig, no_trial_message(trials))
    volume = box_volume(reference, ideal) if reference is not None and ideal is not None else 0.0
    if volume <= 0:
        fig.add_trace(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines+markers", line={"shape": "hv"},
                                 name="hypervolume", hovertemplate="after trial %{x}: %{y:,.0f}<extra></extra>"))
        fig.update_layout(title=f"Hypervolume history of {title} (no feasible trial: nothing to measure it against)",
                          xaxis={"title": {"text": "trial number"}, "tickformat": ","},
                          yaxis={"title": {"text": "hypervolume of the feasible trials"}, "tickformat": ","})
        if trials is not None:
            fig.add_annotation(text="no feasible trial yet: the hypervolume is 0", xref="paper", yref="paper", x=0.5, y=0.5,
                               showarrow=False, font={"size": 16})
        return fig
    assert reference is not None and ideal is not None
    share = history["hypervolume"] / volume * 100.0
    fig.add_trace(go.Scatter(x=history["number"], y=share, mode="lines+markers", line={"shape": "hv"}, name="hypervolume",
                             customdata=history[["hypervolume"]],
                             hovertemplate="after trial %{x}: %{y:.1f}% of the reference box<extra></extra>"))
    final = f"{share.iloc[-1]:.1f}%" if len(share) else "0%"
    best = ", ".join(f"{m} {with_unit(m, v)}" for m, v in ideal.items())
    fig.update_layout(
        title={"text": f"Hypervolume history of {title}: {final} of the reference box<br>"
                       f"<sup>box from the reference ({reference_text(reference, default_reference, budget, device)}) "
                       f"to the ideal point ({best})</sup>"},
        xaxis={"title": {"text": "trial number"}, "tickformat": ","},
        yaxis={"title": {"text": "hypervolume of the feasible trials (% of the reference box)"}, "ticksuffix": "%",
               "range": [0, max(100.0, float(share.max()) if len(share) else 0.0) * 1.02]},
    )
    return fig


def to_html(fig: Any, with_plotlyjs: bool) -> str:
    """A figure as an HTML fragment; plotly.js inlined once per page (self-contained, no network)."""
    return fig.to_html(full_html=False, include_plotlyjs=bool(with_plotlyjs), config={"displaylogo": False, "responsive": True},
                       default_width="100%", default_height="480px")
