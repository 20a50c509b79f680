"""Read studies back as pandas DataFrames: Pareto front, status. Reads storage only.

Example::

    import optuna
    from dse.analysis import pareto_frame
    study = optuna.load_study(study_name="tfc-w1a1-pareto", storage="sqlite:///studies/dse.db")
    pareto_frame(study)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

#: A trial failed by Optuna's heartbeat check: its worker died (SIGKILL, lost host or network).
LOST_MESSAGE = "its worker stopped sending heartbeats (killed, or its host or connection was lost)"
LOST_HINT = "nothing to do: the configuration was re-queued and built by another worker"
METRIC_COLUMNS = ("throughput_fps", "latency_ns", "max_cycles", "LUT", "BRAM_18K", "URAM", "DSP", "utilization")


def folding_summary(folding: dict[str, Any]) -> str:
    """Compact ``node:PExSIMD`` text of a folding config, for tables."""
    parts = []
    for node, attrs in folding.items():
        if node == "Defaults" or not isinstance(attrs, dict):
            continue
        pe, simd = attrs.get("PE"), attrs.get("SIMD")
        if node.startswith("ConvolutionInputGenerator"):
            continue  # follows the MVAU/Pool it feeds
        if pe is not None and simd is not None:
            parts.append(f"{node}:{pe}x{simd}")
        elif pe is not None:
            parts.append(f"{node}:{pe}")
        elif simd is not None:
            parts.append(f"{node}:s{simd}")
    return " ".join(parts)


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as a flat dict: number, state, metrics, feasibility, folding summary."""
    row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    for column in METRIC_COLUMNS:
        row[column] = trial.user_attrs.get(column)
    row["feasible"] = trial.user_attrs.get("feasible")
    row["folding"] = folding_summary(trial.user_attrs.get("folding_config", {}))
    return row


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The feasible non-dominated trials (``study.best_trials``), sorted by the first objective."""
    rows = [trial_row(t) for t in study.best_trials]
    frame = pd.DataFrame(rows, columns=["number", *METRIC_COLUMNS, "feasible", "folding"])
    if not frame.empty:
        first = study.user_attrs.get("objectives", ["throughput_fps"])[0]
        frame = frame.sort_values(first, ascending=False).reset_index(drop=True)
    return frame


def status(study: optuna.Study) -> dict[str, Any]:
    """Counts by state, failures by category (with a hint), Pareto size, best throughput."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    failures: dict[str, dict[str, Any]] = {}
    for t in trials:
        if t.state == TrialState.FAIL:
            category = t.user_attrs.get("error_category")
            if category is None:  # dse records a category on every failure it sees; Optuna's heartbeat does not
                category, message, hint = "lost", LOST_MESSAGE, LOST_HINT
            else:
                message, hint = t.user_attrs.get("error_message", ""), t.user_attrs.get("error_hint", "")
            entry = failures.setdefault(category, {"count": 0, "hint": hint, "example": message})
            entry["count"] += 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("feasible")]
    best_fps = max((t.user_attrs.get("throughput_fps", 0.0) for t in complete), default=None)
    return {
        "study": study.study_name,
        "trials": len(trials),
        **{state.lower(): states.get(state, 0) for state in ("COMPLETE", "FAIL", "RUNNING", "WAITING", "PRUNED")},
        "pareto": len(study.best_trials) if states.get("COMPLETE") else 0,
        "best_feasible_fps": best_fps,
        "failures": failures,
    }
