"""Read studies back as pandas DataFrames: trials, Pareto fronts, summaries, hypervolume.

Reads storage only. Dominance comes from Optuna (``study.best_trials``) or moocore, and so
does the hypervolume: nothing here re-implements them.

Example (a notebook)::

    import dse
    s = dse.open_study("tfc-w1a1-pareto")          # storage: --storage / DSE_STORAGE default
    s.pareto()                                     # feasible non-dominated trials
    s.pareto(["throughput_fps", "BRAM_18K"])       # any other metrics
    s.top(5, "throughput_fps"); s.summary(); s.hypervolume()
    s.plot_pareto().write_image("front.png")
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DseError
from dse.finn import ops
from dse.metrics import DIRECTIONS as METRICS
from dse.metrics import FINN_METRICS, FINN_PREFIX, RESOURCES
from dse.storage_url import storage_url

if TYPE_CHECKING:
    from dse.snapshot import StudySnapshot


class _OnFirstUse:
    """A module imported when first used: ``dse status`` and ``dse pareto`` need neither pandas
    nor moocore's numerics for what they print, and their import is most of a read-only command's time."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


pd: Any = _OnFirstUse("pandas")
np: Any = _OnFirstUse("numpy")
moocore: Any = _OnFirstUse("moocore")

#: A trial failed by Optuna's heartbeat check: its worker died (SIGKILL, lost host or network).
LOST_MESSAGE = "its worker stopped sending heartbeats (killed, or its host or connection was lost)"
LOST_HINT = "nothing to do: the configuration was re-queued and built by another worker"
METRIC_COLUMNS = tuple(METRICS)
#: FINN's own numbers, kept verbatim next to dse's (``finn_LUT``, ...).
FINN_COLUMNS = tuple(FINN_PREFIX + m for m in FINN_METRICS)


def folding_summary(folding: dict[str, Any]) -> str:
    """Compact ``node:PExSIMD`` text of a folding config, for tables, with the node's memory and
    implementation choices where they are not FINN's defaults: ``MVAU_hls_0:8x49,bram,dsp``.

    >>> folding_summary({"MVAU_hls_0": {"PE": 8, "SIMD": 49, "ram_style": "block", "resType": "lut"}})
    'MVAU_hls_0:8x49,bram'
    >>> folding_summary({"ConvolutionInputGenerator_rtl_0": {"SIMD": 64, "parallel_window": 1}})
    'ConvolutionInputGenerator_rtl_0:s64,window'
    """
    parts = []
    for node, attrs in folding.items():
        if node == "Defaults" or not isinstance(attrs, dict):
            continue
        pe, simd = attrs.get("PE"), attrs.get("SIMD")
        if pe is not None and simd is not None:
            text = f"{pe}x{simd}"
        elif pe is not None:
            text = f"{pe}"
        elif simd is not None:
            text = f"s{simd}"
        else:
            text = ""
        text = ",".join([t for t in [text, *ops.short_choices(attrs)] if t])
        if text:
            parts.append(f"{node}:{text}")
    return " ".join(parts)


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as a flat dict: number, state, metrics, feasibility, folding summary."""
    row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    for column in METRIC_COLUMNS:
        row[column] = trial.user_attrs.get(column)
    row["feasible"] = trial.user_attrs.get("feasible")
    row["fidelity"] = trial.user_attrs.get("fidelity")
    for column in FINN_COLUMNS:
        row[column] = trial.user_attrs.get(column)
    row["folding"] = folding_summary(trial.user_attrs.get("folding_config", {}))
    row["folding_config"] = trial.user_attrs.get("folding_config")
    return row


#: The columns of :func:`pareto_rows` (``dse pareto``'s csv and json).
PARETO_COLUMNS = ("number", *METRIC_COLUMNS, "feasible", "fidelity", *FINN_COLUMNS, "folding", "folding_config")


def pareto_rows(study: optuna.Study | StudySnapshot) -> list[dict[str, Any]]:
    """The feasible non-dominated trials (``study.best_trials``) as rows of :data:`PARETO_COLUMNS`,
    best first in the study's first objective: what the CLI prints, without pandas."""
    sign = -1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1
    front = sorted(study.best_trials, key=lambda t: (sign * t.values[0], t.number))
    return [{k: v for k, v in trial_row(t).items() if k in PARETO_COLUMNS} for t in front]


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
        "pareto": len(_best_trials(study, trials)) if states.get("COMPLETE") else 0,
        "best_feasible_fps": best_fps,
        "failures": failures,
    }


def _best_trials(study: optuna.Study, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """``study.best_trials`` from trials already fetched (it would fetch them twice more).

    Optuna's own function behind ``best_trials``; tests/test_optuna_internals.py pins it.
    """
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return _get_pareto_front_trials_by_trials(complete, study.directions, consider_constraint=True)


@dataclass(frozen=True)
class Limit:
    """One feasibility limit of a study: a resource's device budget, or a cap of the space file."""

    metric: str
    #: "budget" (the device's, when the space enforces it), "max" or "min" (a cap)
    kind: str
    value: float

    def broken_by(self, value: float) -> bool:
        """Whether a trial's value of :attr:`metric` breaks this limit (as ``dse.objective`` decides)."""
        return value < self.value if self.kind == "min" else value > self.value


# -- the notebook API ---------------------------------------------------------------------------

Objectives = Sequence[str] | dict[str, str] | None


def open_study(name: str, storage: str | None = None) -> "Results":
    """Open a study for analysis (``storage``: a URL, else ``DSE_STORAGE``, else ``sqlite:///studies/dse.db``).

    ``Results.study`` is the ``optuna.Study`` itself: a notebook may also write to it.
    """
    from dse.storage import load_study

    return Results(load_study(name, storage), storage_url(storage))


class Results:
    """A study read back for analysis: one row per trial, fronts, summaries, hypervolume, plots.

    ``study``: an ``optuna.Study``, or the :class:`~dse.snapshot.StudySnapshot` the read-only
    commands read (the same trials, read without Optuna's writer set-up). ``storage``: the URL
    it was read from, where :meth:`compare` looks for another study by name.
    """

    def __init__(self, study: optuna.Study | StudySnapshot, storage: str | None = None):
        self.study = study
        self.storage = storage

    def __repr__(self) -> str:
        return f"<dse study {self.name!r}: {len(self.study.trials)} trials, objectives {self.objectives}>"

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def objectives(self) -> list[str]:
        """The study's objective metrics, e.g. ``["throughput_fps", "LUT"]``."""
        return list(self.study.user_attrs.get("objectives") or self.study.metric_names or [])

    def _directions(self, objectives: Objectives) -> dict[str, str]:
        if objectives is None:
            return {m: METRICS[m] for m in self.objectives}
        if isinstance(objectives, dict):
            bad = [d for d in objectives.values() if d not in ("maximize", "minimize")]
            if bad:
                raise DseError(f"objectives: direction {bad[0]!r} is not maximize or minimize")
            return dict(objectives)
        unknown = [m for m in objectives if m not in METRICS]
        if unknown:
            raise DseError(f"unknown metric {unknown[0]!r} (known: {', '.join(METRICS)}); "
                           f"pass {{metric: 'maximize'|'minimize'}} for others")
        return {m: METRICS[m] for m in objectives}

    # -- frames

    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, metrics, feasibility, duration, failure, folding, params."""
        rows = []
        for t in self.study.get_trials(deepcopy=False):
            row = trial_row(t)
            for key in ("build_seconds", "error_category", "error_message", "reused_from"):
                row[key] = t.user_attrs.get(key)
            row["duration_s"] = t.duration.total_seconds() if t.duration is not None else None
            row.update({f"params_{k}": v for k, v in t.params.items()})
            rows.append(row)
        columns = ["number", "state", *METRIC_COLUMNS, "feasible", "duration_s", "build_seconds", "fidelity",
                   *FINN_COLUMNS, "error_category", "error_message", "reused_from", "folding", "folding_config"]
        frame = pd.DataFrame(rows)
        return frame.reindex(columns=columns + sorted(c for c in frame.columns if c.startswith("params_")))

    def fidelities(self) -> list[str]:
        """The fidelity levels of the complete trials' numbers (``dse.metrics.FIDELITIES``), cheapest first."""
        from dse.metrics import FIDELITIES

        found = {t.user_attrs.get("fidelity") for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        return [level for level in FIDELITIES if level in found]

    def pareto(self, objectives: Objectives = None, feasible_only: bool = True) -> pd.DataFrame:
        """The non-dominated trials (same columns as ``trials()``), best first in the first objective.

        ``objectives``: metric names (directions as in design-space files) or ``{metric: direction}``;
        default: the study's own. Its own front, feasible only, is exactly ``study.best_trials``.
        """
        directions = self._directions(objectives)
        frame = self.trials()
        if objectives is None and feasible_only:  # its own front, in pareto_rows' order
            numbers = [row["number"] for row in pareto_rows(self.study)]
            return frame.set_index("number", drop=False).loc[numbers].reset_index(drop=True)
        candidates = self._complete(frame, feasible_only, directions)
        if candidates.empty:
            return candidates
        keep = moocore.is_nondominated(
            candidates[list(directions)].to_numpy(dtype=float),
            maximise=[d == "maximize" for d in directions.values()], keep_weakly=True,
        )
        front = candidates[keep]
        first, direction = next(iter(directions.items()))
        return front.sort_values([first, "number"], ascending=[direction == "minimize", True]).reset_index(drop=True)

    @staticmethod
    def _complete(frame: pd.DataFrame, feasible_only: bool, directions: dict[str, str]) -> pd.DataFrame:
        missing = [m for m in directions if m not in frame.columns]
        if missing:
            raise DseError(f"objectives: the trials have no metric {missing[0]!r}")
        done = frame[frame["state"] == "COMPLETE"].dropna(subset=list(directions))
        if feasible_only:
            done = done[done["feasible"] == True]  # noqa: E712  (a column of True/False/None)
        return done

    def top(self, n: int, metric: str, feasible_only: bool = True) -> pd.DataFrame:
        """The ``n`` best complete trials by one metric (in its direction)."""
        direction = self._directions([metric])[metric]
        done = self._complete(self.trials(), feasible_only, {metric: direction})
        return done.sort_values([metric, "number"], ascending=[direction == "minimize", True]).head(n).reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Per metric min/max/mean/std over complete trials, success rate, failures by category with hints."""
        frame = self.trials()
        done = frame[frame["state"] == "COMPLETE"]
        finished = frame[frame["state"].isin(["COMPLETE", "FAIL"])]
        metrics = [m for m in METRIC_COLUMNS if m in done and done[m].notna().any()]
        stats = done[metrics].astype(float).agg(["min", "max", "mean", "std"]).T if metrics else pd.DataFrame()
        info = status(self.study)
        failures = pd.DataFrame(
            [{"category": c, "count": f["count"], "hint": f["hint"], "example": f["example"]} for c, f in info["failures"].items()],
            columns=["category", "count", "hint", "example"],
        )
        return {
            "study": self.name,
            "trials": len(frame),
            "complete": len(done),
            "failed": int((frame["state"] == "FAIL").sum()),
            "feasible": int((done["feasible"] == True).sum()),  # noqa: E712
            "success_rate": len(done) / len(finished) if len(finished) else None,
            "pareto": info["pareto"],
            "metrics": stats,
            "failures": failures,
        }

    # -- hypervolume

    def reference(self, objectives: Objectives = None) -> dict[str, float]:
        """Default hypervolume reference: 0 for maximized metrics; for minimized ones the
        device budget (resources), 1.0 (utilization), else the worst complete value."""
        budget = (self.study.user_attrs.get("device") or {}).get("budget", {})
        frame = self.trials()
        ref = {}
        for metric, direction in self._directions(objectives).items():
            if direction == "maximize":
                ref[metric] = 0.0
            elif metric in RESOURCES and budget.get(metric):
                ref[metric] = float(budget[metric])
            elif metric == "utilization":
                ref[metric] = 1.0
            else:
                ref[metric] = float(frame.loc[frame["state"] == "COMPLETE", metric].max())
        return ref

    def limits(self) -> list[Limit]:
        """The device budget (when the space enforces it) and the space file's caps, as the
        trials' feasibility was decided: read from the study's user attrs (``device.budget``,
        ``space_text``)."""
        from dse.spacefile import Cap, parse_space_text  # pydantic: only when limits are asked for

        attrs = self.study.user_attrs
        budget = (attrs.get("device") or {}).get("budget") or {}
        try:
            constraints = parse_space_text(attrs["space_text"]).constraints if attrs.get("space_text") else None
        except DseError:  # a space text this version no longer reads: the budget alone
            constraints = None
        out = [Limit(r, "budget", float(budget[r])) for r in RESOURCES
               if r in budget and (constraints is None or constraints.device_budget)]
        for metric, cap in (constraints.caps if constraints is not None else {}).items():
            low, high = (cap.min, cap.max) if isinstance(cap, Cap) else (None, cap)
            out += [Limit(metric, kind, float(v)) for kind, v in (("max", high), ("min", low)) if v is not None]
        return out

    def ideal(self, objectives: Objectives = None) -> dict[str, float]:
        """The other corner of the hypervolume box: the best feasible value of each maximized
        metric, 0 for minimized ones (resources, latency, cycles, utilization are never negative)."""
        directions = self._directions(objectives)
        points = self._complete(self.trials(), True, directions)
        ideal: dict[str, float] = {}
        for metric, direction in directions.items():
            values = points[metric].astype(float)
            if not len(values):
                ideal[metric] = 0.0
            else:
                ideal[metric] = float(values.max()) if direction == "maximize" else min(0.0, float(values.min()))
        return ideal

    def _hv_inputs(self, reference: dict[str, float] | None, objectives: Objectives) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
        """All trials, the feasible points (by number) and a hypervolume function for them."""
        directions = self._directions(objectives)
        ref = {**self.reference(objectives), **(reference or {})}
        frame = self.trials()
        points = self._complete(frame, True, directions).set_index("number")[list(directions)].astype(float)
        ref_point = np.array([ref[m] for m in directions], dtype=float)
        maximise = [d == "maximize" for d in directions.values()]

        def hv(values: np.ndarray) -> float:
            return float(moocore.hypervolume(values, ref=ref_point, maximise=maximise)) if len(values) else 0.0

        return frame, points, hv

    def hypervolume(self, reference: dict[str, float] | None = None, objectives: Objectives = None) -> float:
        """Hypervolume of the feasible trials (moocore) w.r.t. ``reference`` (default: :meth:`reference`)."""
        _, points, hv = self._hv_inputs(reference, objectives)
        return hv(points.to_numpy())

    def hypervolume_history(self, reference: dict[str, float] | None = None, objectives: Objectives = None) -> pd.DataFrame:
        """Hypervolume after each finished trial, in trial-number order: columns number, hypervolume."""
        frame, points, hv = self._hv_inputs(reference, objectives)
        finished = frame[frame["state"].isin(["COMPLETE", "FAIL", "PRUNED"])].sort_values("number")["number"]
        rows = [{"number": int(n), "hypervolume": hv(points[points.index <= n].to_numpy())} for n in finished]
        return pd.DataFrame(rows, columns=["number", "hypervolume"])

    # -- other studies, single trials

    def compare(self, other: "Results | str", storage: str | None = None) -> pd.DataFrame:
        """Two studies of the same design space side by side (``other``: Results, or a study name
        in ``storage``, by default this study's own).

        Rows: the two studies. Columns: sampler, trials, complete, feasible, pareto size,
        hypervolume (same reference for both), share of the combined front, best per objective.
        """
        if isinstance(other, str):
            other = open_study(other, storage or self.storage)
        mine, theirs = self.study.user_attrs.get("space_key"), other.study.user_attrs.get("space_key")
        if mine is None or mine != theirs:
            raise DseError(f"compare: studies {self.name!r} and {other.name!r} come from different design spaces")
        directions = self._directions(None)
        fronts = {r.name: r.pareto() for r in (self, other)}
        combined = pd.concat([f.assign(study=n) for n, f in fronts.items()], ignore_index=True)
        if len(combined):
            keep = moocore.is_nondominated(combined[list(directions)].to_numpy(dtype=float),
                                           maximise=[d == "maximize" for d in directions.values()], keep_weakly=True)
            combined = combined[keep]
        reference = {m: max(a, b) if d == "minimize" else min(a, b)  # the wider box of the two
                     for (m, d), a, b in zip(directions.items(), self.reference().values(), other.reference().values())}
        rows = []
        for results in (self, other):
            info = results.summary()
            front = fronts[results.name]
            row = {
                "study": results.name, "sampler": results.study.user_attrs.get("sampler"), "trials": info["trials"],
                "complete": info["complete"], "feasible": info["feasible"], "pareto": len(front),
                "hypervolume": results.hypervolume(reference),
                "combined_front_share": (combined["study"] == results.name).sum() / len(combined) if len(combined) else 0.0,
            }
            for metric, direction in directions.items():
                values = front[metric] if len(front) else pd.Series(dtype=float)
                row[f"best_{metric}"] = (values.max() if direction == "maximize" else values.min()) if len(values) else None
            rows.append(row)
        return pd.DataFrame(rows).set_index("study")

    def folding(self, number: int) -> dict[str, Any]:
        """FINN's folding JSON of a complete trial (hand it to FINN's ``folding_config_file``)."""
        trials = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        if number not in trials:
            have = f"trials 0..{len(trials) - 1}" if trials else "it has no trials yet"
            raise DseError(f"study {self.name!r} has no trial {number} ({have})")
        trial = trials[number]
        if trial.state != TrialState.COMPLETE or "folding_config" not in trial.user_attrs:
            why = trial.user_attrs.get("error_message") or trial.state.name
            raise DseError(f"trial {number} of {self.name!r} has no folding: it is {trial.state.name} ({why})")
        return dict(trial.user_attrs["folding_config"])

    # -- figures (Plotly; ``fig.write_image("x.png")`` exports them with kaleido)

    def plot_pareto(self, objectives: Objectives = None) -> Any:
        from dse.plots import pareto_figure

        directions = self._directions(objectives)
        device = self.study.user_attrs.get("device") or {}
        return pareto_figure(self.trials(), self.pareto(objectives), directions, self.name,
                             limits=self.limits(), budget=device.get("budget") or {}, device=device.get("name"))

    def plot_hypervolume(self, reference: dict[str, float] | None = None) -> Any:
        from dse.plots import hypervolume_figure

        device = self.study.user_attrs.get("device") or {}
        return hypervolume_figure(self.hypervolume_history(reference), self.name, trials=self.trials(),
                                  reference={**self.reference(), **(reference or {})}, default_reference=self.reference(),
                                  ideal=self.ideal(), budget=device.get("budget") or {}, device=device.get("name"))
