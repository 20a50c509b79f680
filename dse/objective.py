"""The trial objective: params -> FINN folding -> a real FINN build -> metrics -> values.

Per completed trial the user attrs hold FINN's numbers under stable names
(``throughput_fps``, ``latency_ns``, ``max_cycles``, ``LUT``, ``BRAM_18K``, ``URAM``, ``DSP``,
``utilization_<res>``, ``utilization``), ``folding_config`` (FINN's folding JSON, as FINN
applied it) and feasibility; FINN's folding and report files are uploaded as Optuna artifacts
(served per trial by ``dse dashboard``). A configuration already built in the study is not
built again: its result is copied and the trial marked ``reused_from``. A failed build raises
:class:`TrialFailed` after recording ``error_category``, ``error_message`` and ``error_hint``;
the study goes on.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from dse.errors import DseError
from dse.finn import adapter
from dse.finn.reports import COUNT_STEP, COUNTED_REPORT, RESOURCES, ReportError, read_metrics
from dse.finn.worker import FinnWorker, WorkerCrashed, WorkerTimeout
from dse.space import Space
from dse.spacefile import METRICS, Cap

#: Failure categories with the hint shown to users.
HINTS: dict[str, str] = {
    "model_load": "check that the model is a QONNX/ONNX file FINN can read",
    "transform": "FINN could not lower this network with these graph knobs; try other finn.* settings or steps",
    "folding": "this folding is not accepted by FINN; restrict PE/SIMD for the layer named in the message",
    "estimate": "FINN's estimators failed for this configuration; see build_dataflow.log in the trial folder",
    "synthesis": "a vendor-tool step failed; see the trial folder's logs",
    "resource": "the design does not fit the part; cap the resources (constraints.caps) or use smaller foldings",
    "timing": "the design misses the clock; raise clock_ns, or use smaller foldings on the critical layers",
    "crash": "the FINN process died (memory?); the trial folder's log and the worker log have details",
    "timeout": "the build ran past --trial-timeout; raise it, or restrict the space to smaller foldings",
    "interrupted": "the run was interrupted; running the same command again re-queues this configuration",
    "unknown": "an unexpected error; see build_dataflow.log in the trial folder and report it if it persists",
}
#: FINN report files kept with each built trial as Optuna artifacts (those a build left).
#: Fixed names: nothing user-controlled becomes a path; the store names its files by artifact id.
ARTIFACT_FILES = (
    "applied_folding_config.json",
    "estimate_network_performance.json",
    "estimate_layer_resources.json",
    "estimate_layer_cycles.json",
    "estimate_layer_config_alternatives.json",
    "ooc_synth_and_timing.json",
    COUNTED_REPORT,
)
_FOLDING_STEPS = set(adapter.FOLDING_STEPS)
_ESTIMATE_STEPS = {*adapter.REPORT_STEPS, COUNT_STEP}
_SYNTH_STEPS = set(adapter.HARDWARE_STEPS)


class TrialFailed(Exception):
    """A build failed; the trial is marked FAIL with its category, message and hint."""


#: Vivado's words for a design that does not fit the part (e.g. "[Place 30-640] ... requires
#: more LUT as Logic cells than are available", "over-utilized") or misses its clock.
_RESOURCE_WORDS = re.compile(r"than are available|over-?utiliz|exceeds? the (?:available|device)|not enough \w+ (?:sites|resources)", re.I)
_TIMING_WORDS = re.compile(r"timing (?:constraints? )?(?:not met|violat|fail)|negative slack|\bWNS\b[^\n]*-\d", re.I)


def categorize(failed_step: str | None, message: str = "") -> str:
    """Failure category from the FINN step that was running (and, in synthesis, Vivado's message).

    >>> categorize("step_out_of_context_synthesis", "ERROR: [Place 30-640] requires more LUT than are available")
    'resource'
    """
    if failed_step is None:
        return "model_load"
    if failed_step in _FOLDING_STEPS:
        return "folding"
    if failed_step in _ESTIMATE_STEPS:
        return "estimate"
    if failed_step in _SYNTH_STEPS:
        if _RESOURCE_WORDS.search(message):
            return "resource"
        if _TIMING_WORDS.search(message):
            return "timing"
        return "synthesis"
    return "transform"


@dataclass
class Target:
    """What every trial of a study shares: the exact model, FINN config, space and goals."""

    model_path: str
    build_config: dict[str, Any]
    trials_dir: Path
    space: Space
    objectives: list[str]
    budget: dict[str, float]
    device_budget: bool = True
    caps: dict[str, Any] = field(default_factory=dict)
    #: cached specialized model (trials then run only the folding-dependent steps), or None
    prefix_dir: Path | None = None
    #: seconds a build may take before it is stopped and its trial failed (None: no limit)
    trial_timeout: float | None = None
    #: FINN's bit-width minimization runs once in the prefix (see ``adapter.minimize_hoistable``)
    hoisted: bool = False
    #: why it cannot (one line naming the setting), when it cannot
    hoist_blocker: str | None = None
    #: the sampler (name and seed) of this run, recorded on each trial it proposes
    sampler: dict[str, Any] | None = None
    #: Optuna artifact store folder (see ``dse.storage.artifact_dir``); None uploads nothing
    artifact_dir: Path | None = None
    #: the fidelity of the numbers trials record and constraints judge (``dse.metrics.FIDELITIES``)
    fidelity: str = "counted"


def constraint_values(metrics: dict[str, Any], target: Target) -> dict[str, float]:
    """Optuna constraints (feasible when <= 0), normalised so samplers compare them fairly."""
    out: dict[str, float] = {}
    if target.device_budget:
        for res in RESOURCES:
            cap = target.budget[res]
            out[f"budget_{res}"] = metrics[res] / cap - 1 if cap > 0 else metrics[res]
    for metric, cap in target.caps.items():
        low, high = (cap.min, cap.max) if isinstance(cap, Cap) else (None, cap)
        value = metrics[metric]
        if high is not None:
            out[f"max_{metric}"] = value / high - 1 if high > 0 else value - high
        if low is not None:
            out[f"min_{metric}"] = 1 - value / low if low > 0 else low - value
    return out


def knob_values(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """The PE/SIMD values a trial's ordinal params stand for: ``{"MVAU_hls_0.PE": 16, ...}``.

    The Optuna params stay indices (``MVAU_hls_0.PE_idx``: samplers learn "larger is more
    parallel"); this user attr shows the values next to them in optuna-dashboard (trial page and
    trial table), in one write. Categorical knobs' params are already their values.
    """
    return {f"{k.node}.{k.attr}": k.values[params[k.param]] for k in space.knobs
            if k.ordinal and k.param in params}


def add_utilization(metrics: dict[str, Any], budget: dict[str, float]) -> None:
    """``utilization_<res>`` = used / budget; ``utilization`` = the largest of them."""
    worst = 0.0
    for res in RESOURCES:
        cap = budget[res]
        share = metrics[res] / cap if cap > 0 else (0.0 if metrics[res] == 0 else math.inf)
        metrics[f"utilization_{res}"] = share
        worst = max(worst, share)
    metrics["utilization"] = worst


class Objective:
    """Callable for ``study.optimize``: one real FINN build per trial."""

    def __init__(self, target: Target, worker: FinnWorker):
        self.target = target
        self.worker = worker

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            return self._evaluate(trial)
        except (TrialFailed, DseError):  # DseError: the storage is gone; nothing to record
            raise
        except Exception as exc:  # a bug or an unforeseen FINN error: keep the study going
            self._fail(trial, "unknown", f"{type(exc).__name__}: {exc}")
            raise  # unreachable: _fail raises

    def _evaluate(self, trial: optuna.Trial) -> tuple[float, ...]:
        if self.target.sampler is not None:
            trial.set_user_attr("sampler", self.target.sampler)
        folding, overrides = self.target.space.suggest(trial)
        values = knob_values(self.target.space, trial.params)
        if values:  # also on trials that fail: which PE/SIMD FINN refused
            trial.set_user_attr("knob_values", values)
        twin = self._completed_twin(trial)
        if twin is not None:
            return self._reuse(trial, twin)
        out_dir = self.target.trials_dir / str(trial.number)
        started = time.perf_counter()
        try:
            result = self.worker.build(
                self.target.model_path,
                out_dir,
                self.target.build_config,
                {"Defaults": {}, **folding},
                overrides,
                prefix_dir=self.target.prefix_dir,
                timeout=self.target.trial_timeout,
                hoisted=self.target.hoisted,
                counted=self.target.fidelity == "counted",
            )
        except WorkerCrashed as exc:
            self._fail(trial, "crash", str(exc))
        except WorkerTimeout as exc:
            self._fail(trial, "timeout", str(exc))
        except KeyboardInterrupt:
            self._record_failure(trial, "interrupted", "interrupted by the user")
            raise
        trial.set_user_attr("build_seconds", round(time.perf_counter() - started, 3))
        trial.set_user_attr("trial_dir", str(out_dir))
        if overrides:
            trial.set_user_attr("finn_overrides", overrides)
        if not result["ok"]:
            step = result.get("failed_step")
            self._fail(trial, categorize(step, result["message"]), result["message"], step)
        report = Path(result["report_dir"])
        try:
            metrics = read_metrics(report)
            applied = json.loads((report / "applied_folding_config.json").read_text())
        except (ReportError, OSError, json.JSONDecodeError) as exc:
            self._fail(trial, "estimate", str(exc))
        add_utilization(metrics, self.target.budget)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("folding_config", applied)
        constraints = constraint_values(metrics, self.target)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        trial.set_user_attr("constraints", constraints)
        trial.set_user_attr("feasible", all(v <= 0 for v in constraints.values()))
        self._upload_artifacts(trial, report)
        return tuple(float(metrics[m]) for m in self.target.objectives)

    def _upload_artifacts(self, trial: optuna.Trial, report: Path) -> None:
        """Keep FINN's folding and reports with the trial, for optuna-dashboard to show and serve.

        Best effort: the metrics are already recorded, so a full disk or an unwritable store
        must not cost the trial its result; ``artifact_error`` says why files are missing.
        """
        if self.target.artifact_dir is None:
            return
        try:
            self.target.artifact_dir.mkdir(parents=True, exist_ok=True)
            store = FileSystemArtifactStore(self.target.artifact_dir)
            for name in ARTIFACT_FILES:
                path = report / name
                if path.is_file():
                    upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
        except OSError as exc:
            # Optuna records an artifact before writing it: one that failed may be listed but not served.
            trial.set_user_attr("artifact_error", f"{self.target.artifact_dir}: {exc.strerror or exc}")

    @staticmethod
    def _completed_twin(trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
        """A finished trial with the same parameters: samplers do propose points twice."""
        for done in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if done.params == trial.params:
                return done
        return None

    @staticmethod
    def _reuse(trial: optuna.Trial, twin: optuna.trial.FrozenTrial) -> tuple[float, ...]:
        """Copy a twin's result instead of rebuilding (FINN estimates are deterministic).

        Uploads no artifacts: nothing was built, and the twin's trial already holds them.
        """
        for key, value in twin.user_attrs.items():
            if key not in ("retry_of", "reused_from", "artifact_error", "sampler", "knob_values"):
                trial.set_user_attr(key, value)
        for key, value in twin.constraints.items():
            trial.set_constraint(key, value)
        trial.set_user_attr("reused_from", twin.number)
        return tuple(twin.values)

    @staticmethod
    def _record_failure(trial: optuna.Trial, category: str, message: str, step: str | None = None) -> None:
        trial.set_user_attr("error_category", category)
        trial.set_user_attr("error_message", message[:2000])
        trial.set_user_attr("error_hint", HINTS[category])
        if step:
            trial.set_user_attr("error_step", step)

    def _fail(self, trial: optuna.Trial, category: str, message: str, step: str | None = None) -> None:
        self._record_failure(trial, category, message, step)
        raise TrialFailed(f"{category}: {message}")


def directions(objectives: list[str]) -> list[str]:
    """Optuna directions for the objective metrics."""
    return [METRICS[m] for m in objectives]
