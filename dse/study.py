"""Storage URLs, creating and resuming studies, and the run loop.

A design space becomes a plain Optuna study (name = the space's name). Running the same
command again resumes it: finished trials are kept, interrupted ones are re-queued, and the
study is topped up to ``n_trials`` (a grid: to every valid point, each exactly once).

Example::

    from dse.study import prepare, run
    plan = prepare("configs/tfc-w1a1-pareto.yaml")
    run(plan)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

import dse
from dse.errors import DseError
from dse.finn import adapter
from dse.finn.worker import FinnWorker, WorkerCrashed, cached_probe
from dse.models import ZOO, resolve_model, sha256_of, zoo_file
from dse.objective import Objective, Target, TrialFailed, directions
from dse.samplers import make_sampler
from dse.space import GRID_LIMIT, Space, build_space, check_rules
from dse.spacefile import SpaceFile, load_space_file
from dse.storage import DseStorage, NoMoreTrials, open_storage
from dse.storage_url import artifact_dir, artifact_root, is_sqlite, mask_url, sqlite_path, storage_identity, storage_url

#: Bumped whenever the content of a prefix cache entry changes, so old entries are not reused.
PREFIX_LAYOUT = 4
_RUN_KEYS = ("name", "description", "n_trials", "sampler", "sampler_options", "seed")
#: Seconds between a worker's heartbeats on a server database (a dead worker's trial is
#: re-queued after three missed beats).
HEARTBEAT_SECONDS = 10.0

# failed trials are reported by dse itself (category, message, hint), without tracebacks
optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- preparation ----------------------------------------------------------------------------


def _steps(spec_steps: Any) -> list[str]:
    """FINN's step list for ``finn.steps`` (a preset or a list; the file's loader fills in the
    model's default, :func:`dse.models.default_finn`)."""
    if spec_steps == "estimate":
        return list(adapter.ESTIMATE_STEPS)
    if spec_steps == "estimate+bnn":
        return adapter.BNN_PRE_POST_STEPS + adapter.ESTIMATE_STEPS
    return list(spec_steps)


def _step_hint(failed_step: str | None, steps: list[str], model: str) -> str | None:
    """What to try when a check of FINN's own fails inside one of its steps on this network, or
    None (the failure is elsewhere: loading the model, or a custom step of the user's)."""
    own = {adapter.step_name(s) for s in steps if "." not in s or s.startswith("finn.")}
    if failed_step is None or failed_step not in own:
        return None
    bnn = [s for s in adapter.BNN_PRE_POST_STEPS if s in steps]
    if bnn and not (model in ZOO and ZOO[model].source == "bnn_pynq"):
        return ("the steps add BNN-PYNQ's divide-by-255 input and top-1 output (finn.steps: estimate+bnn), made for "
                "the BNN-PYNQ networks' unsigned pixels; try finn.steps: estimate")
    if steps != adapter.ESTIMATE_STEPS:
        return ("these steps may not suit this network; try finn.steps: estimate (FINN's estimate flow), or the "
                "steps of finn-plus's flow for this kind of network (custom steps by dotted path)")
    return ("FINN's estimate flow does not take this network as it is; give finn.steps the flow of its network "
            "class (finn-plus's benchmark flows: `dse models list` shows the zoo's), custom steps by dotted path")


def space_key(space_file: SpaceFile) -> str:
    """Hash of everything that defines the space (not run settings such as n_trials)."""
    data = space_file.spec.model_dump(mode="json", exclude=set(_RUN_KEYS))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass
class Plan:
    """A prepared run: the study, its target, and how many trials to run now."""

    study: optuna.Study
    target: Target
    worker: FinnWorker
    space_file: SpaceFile
    sampler_name: str
    grid: bool
    n_trials: int
    storage: str
    notes: list[str] = field(default_factory=list)
    store: DseStorage | None = None
    own_worker: bool = True
    release: Callable[[], None] = lambda: None

    def close(self) -> None:
        """Stop the FINN worker (if this plan started it) and let other runners in."""
        if self.own_worker:
            self.worker.close()
        self.release()
        self.release = lambda: None


def prepare(
    config: str | Path,
    storage: str | None = None,
    study_name: str | None = None,
    sampler: str | None = None,
    seed: int | None = None,
    n_trials: int | None = None,
    worker: FinnWorker | None = None,
    trial_timeout: float | None = None,
    heartbeat: float | None = HEARTBEAT_SECONDS,
    seed_offset: int = 0,
    create: bool = True,
    announce: Callable[[str], None] | None = None,
) -> Plan:
    """Validate the space, probe the FINN graph, create or resume the study. No trial runs yet.

    Safe to call from many processes and hosts at once on a server database: creating the
    study, re-queueing and enqueueing the grid happen under a study lock. ``seed_offset``
    gives each worker of a run its own sampler stream (the study keeps the base seed).
    ``create=False``: only validate and probe (``plan.study`` is None; nothing is written to
    the storage), e.g. to compute the exact frontier. ``announce`` is told, in one line, about
    slow one-time work before it starts (the model export, FINN's prefix build).
    """
    space_file = load_space_file(config)
    spec = space_file.spec
    origin = str(space_file.path)
    sampler_name = sampler or spec.sampler
    if sampler is not None:
        from dse.spacefile import DesignSpaceFile

        try:
            DesignSpaceFile._sampler(sampler)
        except ValueError as exc:
            raise DseError(f"--sampler: {exc}") from None
    seed = spec.seed if seed is None else seed
    # the file's sampler_options belong to the file's sampler: another one from --sampler gets none
    sampler_options = dict(spec.sampler_options) if sampler_name == spec.sampler else {}
    make_sampler(sampler_name, seed, sampler_options)  # a sampler that cannot be built fails before FINN work
    if sampler_name == "frontier":
        from dse import frontier

        try:
            frontier.settings(sampler_options, list(spec.objectives))
        except DseError as exc:
            raise DseError(f"{origin}: {exc}") from None
    if n_trials is not None and n_trials < 1:
        raise DseError("--trials: must be at least 1")
    if trial_timeout is not None and trial_timeout <= 0:
        raise DseError("--trial-timeout: must be a positive number of seconds")
    if heartbeat is not None and heartbeat < 1:
        raise DseError("--heartbeat: must be at least 1 second")
    name = study_name or space_file.name
    url = storage_url(storage)
    store = open_storage(url, heartbeat=heartbeat) if create else None  # fail fast, before any FINN work

    from dse.finn.devices import resolve_device

    device = resolve_device(spec.device, spec.budget, where=f"{origin}: device")
    steps = _steps(spec.finn.steps)
    vivado = adapter.vivado_step(steps)
    if vivado is not None:
        raise DseError(f"{origin}: finn.steps: {vivado} needs Vivado/Vitis and XILINX_VIVADO is not set; "
                       f"for FINN's estimate mode end the steps at step_generate_estimate_reports")
    if adapter.PREFIX_LAST_STEP not in steps:
        raise DseError(f"{origin}: finn.steps: must include {adapter.PREFIX_LAST_STEP} (node names are final only after it)")
    check_rules(spec, origin, device.facts)  # before any FINN work
    root = artifact_root(url)
    study_dir = root / _safe_name(name)
    specialize = _specialize_config(spec.finn, space_file.path.parent, root, origin)
    setup = _Setup(space_file, origin, name, url, store, device, study_dir, sampler_name, sampler_options, seed,
                   n_trials, trial_timeout, seed_offset, announce or (lambda _line: None))
    existed = study_dir.exists()
    try:
        if create:
            _claim_study_dir(study_dir, name, url)
        return _prepare_in(setup, steps, specialize, worker, create)
    except BaseException:
        if not existed and not _has_study(store, name):  # a failed validation leaves no folder behind
            shutil.rmtree(study_dir, ignore_errors=True)
        raise


@dataclass
class _Setup:
    """What :func:`prepare` has checked so far, handed down instead of a long parameter list."""

    space_file: SpaceFile
    origin: str
    name: str
    url: str
    store: DseStorage | None
    device: Any
    study_dir: Path
    sampler_name: str
    sampler_options: dict[str, Any]
    seed: int
    n_trials: int | None
    trial_timeout: float | None
    seed_offset: int
    announce: Callable[[str], None]
    # filled once the model is copied and the FINN settings are known
    build_config: dict[str, Any] = field(default_factory=dict)
    model_path: Path = Path()
    model_sha256: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    prefix_dir: Path = Path()

    @property
    def spec(self) -> Any:
        return self.space_file.spec


def _has_study(store: Any, name: str) -> bool:
    if store is None:
        return False
    try:
        return name in optuna.get_all_study_names(store)
    except Exception:  # noqa: BLE001 - the storage itself is the problem: keep the folder
        return True


def _prepare_in(setup: _Setup, steps: list[str], specialize: tuple[Path, str] | None, worker: FinnWorker | None,
                create: bool) -> Plan:
    spec, study_dir, device = setup.spec, setup.study_dir, setup.device
    model_path, model_sha256 = _study_model(spec.model, study_dir, setup.origin, setup.announce)
    build_config = {
        "model_path": str(model_path),
        "output_dir": str(study_dir / "rebuild"),
        "synth_clk_period_ns": spec.clock_ns,
        "fpga_part": device.part,
        "generate_outputs": ["estimate_reports"],
        "steps": steps,
        "standalone_thresholds": spec.finn.standalone_thresholds,
        "minimize_bit_width": spec.finn.minimize_bit_width,
        "mvau_wwidth_max": spec.finn.mvau_wwidth_max,
        "save_intermediate_models": False,
        "console_log_level": "NONE",
    }
    if specialize is not None:
        build_config["specialize_layers_config_file"] = str(specialize[0])
    versions = {"dse": dse.__version__, **adapter.versions()}
    prefix_key = hashlib.sha256(
        json.dumps(
            [
                PREFIX_LAYOUT,
                model_sha256,
                {k: v for k, v in build_config.items()
                 if k not in ("output_dir", "model_path", "specialize_layers_config_file")},
                specialize[1] if specialize is not None else None,
                versions["finn-plus"],
            ],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]

    setup.build_config, setup.model_path, setup.model_sha256 = build_config, model_path, model_sha256
    setup.versions, setup.prefix_dir = versions, study_dir.parent / "prefix" / prefix_key
    release = _runner_lock(study_dir, setup.name, setup.url) if create and is_sqlite(setup.url) else (lambda: None)
    own_worker = worker is None
    try:
        worker = worker or FinnWorker(study_dir / "finn_tmp", study_dir / "worker.log")
        plan = _prepare_study(setup, worker)
    except BaseException:
        if own_worker and worker is not None:
            worker.close()
        release()
        raise
    plan.own_worker, plan.release = own_worker, release
    return plan


#: In a study folder: the database whose study it holds (``dse.storage_url.storage_identity``).
OWNER_FILE = ".storage"


def _claim_study_dir(study_dir: Path, name: str, url: str) -> None:
    """Make ``study_dir`` this database's, or refuse in one line if another database's study has it.

    Study folders are named after the study, beside a SQLite file (or in ``DSE_ARTIFACTS``):
    two databases there with a study of the same name would overwrite each other's trial
    folders. A folder whose database is gone (a SQLite file since deleted) is taken over.
    """
    marker = study_dir / OWNER_FILE
    ours = storage_identity(url)
    try:
        theirs = marker.read_text().strip() if marker.exists() else None
        if theirs not in (None, ours):
            their_file = sqlite_path(theirs)
            if their_file is None or their_file.exists():
                remedy = "keep each SQLite database in a folder of its own" if is_sqlite(url) else \
                    "set DSE_ARTIFACTS to a folder of its own for this database"
                raise DseError(f"{study_dir} holds the trials of study {name!r} in {theirs}; "
                               f"give this study another name (--study NAME) or {remedy}")
        if theirs != ours:
            study_dir.mkdir(parents=True, exist_ok=True)
            written = marker.with_name(f"{OWNER_FILE}.{os.getpid()}")
            written.write_text(ours + "\n")
            os.replace(written, marker)  # workers starting together each write the same line
    except OSError as exc:
        raise DseError(f"{study_dir}: cannot use the study folder: {exc.strerror or exc}") from None


_RUNNER_LOCKS: dict[str, list[int]] = {}


def _runner_lock(study_dir: Path, name: str, url: str) -> Callable[[], None]:
    """One runner per SQLite study: SQLite cannot hand a queued trial to exactly one process.

    Returns the release function. Re-entrant within a process (a notebook or the tests may
    prepare the same study twice); another process gets one clear line.
    """
    import fcntl

    path = str((study_dir / ".runner.lock").resolve())
    held = _RUNNER_LOCKS.get(path)
    if held is None:
        study_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DseError(
                f"study {name!r} in {mask_url(url)} is being run by another dse process; a SQLite study "
                f"takes one runner at a time - wait for it, or use a server database "
                f"(--storage postgresql+psycopg://...) for many workers"
            ) from None
        held = _RUNNER_LOCKS[path] = [fd, 0]
    held[1] += 1

    def release() -> None:
        held[1] -= 1
        if held[1] == 0 and _RUNNER_LOCKS.pop(path, None) is not None:
            os.close(held[0])  # closing the descriptor drops the flock

    return release


def _prepare_study(setup: _Setup, worker: FinnWorker) -> Plan:
    spec, origin, device, store = setup.spec, setup.origin, setup.device, setup.store
    build_config, sampler_name, url = setup.build_config, setup.sampler_name, setup.url
    probe = cached_probe(setup.prefix_dir)  # a published prefix needs no FINN process to read
    try:
        if probe is None:
            setup.announce(f"building FINN's folding-independent steps once for this model and FINN settings "
                           f"(cached in {setup.prefix_dir.parent} for every study of them)...")
            probe = worker.probe(str(setup.model_path), build_config, setup.prefix_dir)
    except WorkerCrashed as exc:
        raise DseError(f"{origin}: model: FINN crashed while reading the network ({exc})") from None
    if not probe["ok"] and probe.get("setting"):
        raise DseError(f"{origin}: {probe['setting']}: {probe['message']}")
    if not probe["ok"]:
        step = probe.get("failed_step") or "loading the model"
        log = f" (FINN's log: {probe['log']})" if probe.get("log") else ""
        hint = _step_hint(probe.get("failed_step"), build_config["steps"], spec.model)  # a check of FINN's own
        raise DseError(f"{origin}: model: FINN cannot build {spec.model!r} (at {step}): {probe['message']}{log}"
                       + (f"; hint: {hint}" if hint else ""))
    space = build_space(spec, probe["nodes"], origin, device.facts)
    grid = sampler_name == "grid"
    if grid:
        size = space.grid_size()
        if size > GRID_LIMIT:
            raise DseError(f"{origin}: sampler: the grid has {size} points (limit {GRID_LIMIT}); restrict layers or use another sampler")

    hoist_blocker = space.hoist_blocker(adapter.MINIMIZE_SAFE_ATTRS, adapter.MINIMIZE_SAFE_MEM_MODES)
    if not adapter.minimize_hoistable(build_config):
        hoist_blocker = ("finn.steps: step_minimize_bit_width does not directly follow "
                         "step_apply_folding_config (only folding steps may come between)")
    target = Target(
        model_path=str(setup.model_path),
        build_config=build_config,
        trials_dir=setup.study_dir / "trials",
        space=space,
        objectives=list(spec.objectives),
        budget=device.budget,
        device_budget=spec.constraints.device_budget,
        caps=dict(spec.constraints.caps),
        prefix_dir=setup.prefix_dir,
        trial_timeout=setup.trial_timeout,
        artifact_dir=artifact_dir(url),
        hoisted=hoist_blocker is None,
        hoist_blocker=hoist_blocker,
        fidelity=spec.fidelity.level,
    )
    if store is None:
        return Plan(None, target, worker, setup.space_file, sampler_name, grid, 0, url)  # type: ignore[arg-type]
    budget = setup.n_trials or spec.n_trials
    queue: list[tuple[dict[str, Any], dict[str, Any]]] | None = None
    if grid:
        queue = [(params, {}) for params in space.grid()]
    elif sampler_name == "frontier":
        queue = _frontier_queue(target, worker, spec, setup.sampler_options, origin, budget)
    with store.study_lock(setup.name):  # workers starting together: one creates, the others join
        study = _create_or_resume(setup, space)
        # a resumed run must propose new points, reproducibly: the seed follows the history
        run_seed = _run_seed(setup.seed, setup.seed_offset, len(study.get_trials(deepcopy=False)))
        study.sampler = make_sampler(sampler_name, run_seed, setup.sampler_options)
        target.sampler = {"name": sampler_name, "seed": run_seed}
        notes = [*fidelity_notes(target), *_recover(study, url)]
        todo = _queue_points(study, queue) if queue is not None else _top_up(study, budget)
    # queue-only samplers never let Optuna invent a point; the others stop at n_trials
    store.admit = (lambda _id: False) if queue is not None else admit_below(store, budget)
    return Plan(study, target, worker, setup.space_file, sampler_name, queue is not None, todo, url, notes, store)


def _run_seed(seed: int | None, offset: int, history: int) -> int | None:
    """The sampler seed of one run: the study's seed (+ the worker's offset) on a new study, a
    value derived from it and the number of trials already there on a resumed one (a sampler
    rebuilt with the same seed would propose the points of the first run again)."""
    if seed is None:
        return None
    if history == 0:
        return seed + offset
    return int.from_bytes(hashlib.sha256(f"{seed}/{offset}/{history}".encode()).digest()[:4], "big") % (2**31 - 1)


def _frontier_queue(
    target: Target, worker: FinnWorker, spec: Any, options: dict[str, Any], origin: str, budget: int,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The exact front's configurations, in the order the sampler's options ask for."""
    from dse import frontier

    try:
        weights, order, target_fps = frontier.settings(options, list(spec.objectives))
        _, points = predicted_front(target, worker, weights)
    except DseError as exc:
        raise DseError(f"{origin}: {exc}") from None
    points = frontier.spread(points) if order == "spread" else frontier.nearest(points, target_fps)  # type: ignore[arg-type]
    return [
        (p.params, {"predicted_throughput_fps": p.throughput_fps,
                    **{f"predicted_{r}": v for r, v in p.resources.items()}, "predicted_feasible": p.feasible})
        for p in points[:budget]
    ]


def predicted_front(target: Target, worker: FinnWorker, weights: dict[str, float] | None) -> tuple[Any, list[Any]]:
    """The exact front of a prepared space within its budget and caps (``dse.frontier``).

    ``weights``: one cost (resource weights); None: the Pareto set over the objectives'
    resources when they name two or more (else their one resource, or LUT). Returns the
    estimate table (for :func:`dse.frontier.predict` and the space size) and the points.
    """
    from dse import frontier

    if "latency_ns" in target.objectives:
        raise DseError("frontier: objectives: latency_ns is not computed (FINN's estimate-mode latency is a sum "
                       "along the pipeline, not the bottleneck); use throughput_fps or max_cycles")
    table = frontier.tabulate(target, worker)
    limits, max_cycles = frontier_limits(target)
    resources = frontier.objective_resources(target.objectives)
    if weights is None and len(resources) > 1:
        points = frontier.pareto_set(table, resources, limits, max_cycles)
        for point in points:
            point.feasible = point_feasible(point, target)
    else:
        points = frontier.front(table, weights or {(resources or ["LUT"])[0]: 1.0},
                                feasible=lambda p: point_feasible(p, target), limits=limits, max_cycles=max_cycles)
    if not points:
        raise DseError(f"frontier: {frontier.why_nothing_fits(table, limits, max_cycles)}")
    return table, points


def nothing_fits(plan: Plan) -> str | None:
    """When no completed trial of the study fits the budget and caps: why, in one line (else None).

    With FINN's estimates of every option (spaces the frontier handles) the line names the
    nodes whose every option breaks a limit, or says that fitting configurations exist; else
    it says which limit the trials broke and by how little at best.
    """
    from dse import frontier

    done = plan.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done or any(t.user_attrs.get("feasible") for t in done):
        return None
    try:
        table = frontier.tabulate(plan.target, plan.worker)
        limits, max_cycles = frontier_limits(plan.target)
        fitting = frontier.front(table, {"LUT": 1.0}, limits=limits, max_cycles=max_cycles)
        if not fitting:
            return frontier.why_nothing_fits(table, limits, max_cycles)
        return (f"no trial fits yet, but {len(fitting)} configuration(s) on the exact front do: "
                f"run the space with sampler: frontier (or dse frontier {plan.space_file.path})")
    except DseError:  # a space the frontier cannot tabulate: say what the trials broke
        closest: dict[str, float] = {}
        for t in done:
            for name, value in (t.user_attrs.get("constraints") or {}).items():
                if value > 0:
                    closest[name] = min(closest.get(name, math.inf), value)
        words = {"budget": "the {} budget", "max": "the {} cap", "min": "the {} minimum"}
        parts = [f"{words[kind].format(metric)} missed by {value:.0%} at best"
                 for kind, metric, value in ((n.split("_", 1)[0], n.split("_", 1)[1], v) for n, v in sorted(closest.items()))]
        return "no trial fits: " + "; ".join(parts) if parts else "no trial fits"


def fidelity_notes(target: Target) -> list[str]:
    """What the numbers of a study at FINN's raw fidelity do not count (one line), else nothing."""
    if target.fidelity != "finn":
        return []
    from dse.metrics import FIDELITIES

    return [f"fidelity finn: the numbers are FINN's raw estimate, which leaves out {FIDELITIES['finn'].misses}; "
            f"a design that fits at this level may not fit the board"]


def frontier_limits(target: Target) -> tuple[dict[str, float], int | None]:
    """The device budget and caps as the frontier enforces them: resource limits and a slowest bottleneck.

    Caps it cannot express this way (latency, minimum resources, maximum throughput) are
    checked per point afterwards (``Point.feasible``).
    """
    from dse.finn.reports import RESOURCES
    from dse.spacefile import Cap

    limits: dict[str, float] = dict(target.budget) if target.device_budget else {}
    max_cycles = None
    clock = float(target.build_config["synth_clk_period_ns"])
    for metric, cap in target.caps.items():
        low, high = (cap.min, cap.max) if isinstance(cap, Cap) else (None, cap)
        if metric in RESOURCES and high is not None:
            limits[metric] = min(limits.get(metric, math.inf), high)
        elif metric == "utilization" and high is not None:
            for r in RESOURCES:
                limits[r] = min(limits.get(r, math.inf), high * target.budget[r])
        elif metric.startswith("utilization_") and metric[12:] in RESOURCES and high is not None:
            r = metric[12:]
            limits[r] = min(limits.get(r, math.inf), high * target.budget[r])
        elif metric == "throughput_fps" and low:
            bound = math.floor(1e9 / (clock * low) * (1 + 1e-12))
            max_cycles = bound if max_cycles is None else min(max_cycles, bound)
        elif metric == "max_cycles" and high is not None:
            max_cycles = int(high) if max_cycles is None else min(max_cycles, int(high))
    return limits, max_cycles


def point_feasible(point: Any, target: Target) -> bool:
    """Whether a predicted frontier point meets the device budget and the caps it can check."""
    from dse.objective import add_utilization, constraint_values

    metrics: dict[str, Any] = {"throughput_fps": point.throughput_fps, "max_cycles": point.max_cycles, **point.resources}
    add_utilization(metrics, target.budget)
    checkable = Target(**{**target.__dict__, "caps": {k: v for k, v in target.caps.items() if k in metrics}})
    return all(v <= 0 for v in constraint_values(metrics, checkable).values())


def _specialize_config(finn: Any, base: Path, root: Path, origin: str) -> tuple[Path, str] | None:
    """FINN's specialize-layers JSON, stored under its content hash (path, sha256), or None.

    The prefix key holds the content, not the path: editing the file makes a new prefix.
    """
    if finn.specialize_layers_config_file is not None:
        source = (base / finn.specialize_layers_config_file).expanduser()
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except OSError:
            raise DseError(f"{origin}: finn.specialize_layers_config_file: {source} cannot be read") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise DseError(f"{origin}: finn.specialize_layers_config_file: {source} is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DseError(f"{origin}: finn.specialize_layers_config_file: {source} must hold a JSON object")
    elif finn.specialize_layers_config is not None:
        data = finn.specialize_layers_config
    else:
        return None
    data = {"Defaults": {}, **data}
    text = json.dumps(data, indent=1, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    target = root / "configs" / f"specialize-{digest[:16]}.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)
    return target.resolve(), digest


def _safe_name(name: str) -> str:
    """A study name as a folder name: no separators, no '..' (no path traversal)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "study"
    return safe


def _study_model(spec_model: str, study_dir: Path, origin: str, announce: Callable[[str], None]) -> tuple[Path, str]:
    """The exact ONNX the study builds, copied into its folder under its own hash (immutable).

    ``origin`` is the design-space file: a relative model path is relative to its folder (as
    ``finn.specialize_layers_config_file`` is), whatever the working directory. Returns the
    copy's path and its sha256.
    """
    if spec_model in ZOO and not zoo_file(spec_model).exists():
        announce(f"exporting {spec_model} from Brevitas (random weights; once)...")
    try:
        source = resolve_model(spec_model, base=Path(origin).parent)
    except DseError as exc:
        raise DseError(f"{origin}: model: {exc}") from None
    digest = sha256_of(source)
    target = study_dir / f"model-{digest[:16]}.onnx"
    if target.exists() and sha256_of(target) == digest:
        return target, digest
    _check_onnx(source, origin)
    study_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)  # atomic: never a half-copied model
    return target, digest


def _check_onnx(path: Path, origin: str) -> None:
    import onnx

    try:
        onnx.load(str(path), load_external_data=False)
    except Exception:
        raise DseError(f"{origin}: model: {path} is not an ONNX file") from None


def _create_or_resume(setup: _Setup, space: Space) -> optuna.Study:
    store, name, spec, space_file, url = setup.store, setup.name, setup.spec, setup.space_file, setup.url
    model_sha256, device = setup.model_sha256, setup.device
    key = space_key(space_file)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        study = None
    if study is not None:
        if study.user_attrs.get("model_sha256") != model_sha256:
            raise DseError(
                f"study {name!r} in {mask_url(url)} was built from another version of {spec.model!r}; "
                f"use --study NEW_NAME for the changed model"
            )
        found = study.user_attrs.get("space_key")
        if found != key:
            raise DseError(
                f"study {name!r} in {mask_url(url)} was made from a different design space; "
                f"use --study NEW_NAME, or delete it: optuna delete-study --study-name {name} --storage URL"
            )
        return study
    study = optuna.create_study(study_name=name, storage=store, directions=directions(spec.objectives))
    with warnings.catch_warnings():  # experimental since 3.2, yet the way to name metrics
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(spec.objectives))
    attrs = {
        "finn_build_config": setup.build_config,
        "model": spec.model,
        "model_path": str(setup.model_path),
        "model_sha256": model_sha256,
        "space_text": space_file.text,
        "space_sha256": space_file.sha256,
        "space_key": key,
        "space_file": str(space_file.path.resolve()),
        "space_params": space.describe(),
        "device": {"name": spec.device, "part": device.part, "board": device.board, "budget": device.budget},
        "clock_ns": spec.clock_ns,
        "objectives": list(spec.objectives),
        "sampler": setup.sampler_name,
        "seed": setup.seed,
        "versions": setup.versions,
        "dse_version": dse.__version__,
    }
    for k, v in attrs.items():
        study.set_user_attr(k, v)
    return study


def _is_interrupted(t: FrozenTrial) -> bool:
    return t.state == TrialState.FAIL and t.user_attrs.get("error_category") == "interrupted"


def _recover(study: optuna.Study, url: str) -> list[str]:
    """Re-queue trials an earlier run left behind (interrupted, or RUNNING after a kill)."""
    notes = []
    store = study._storage
    if url.startswith("sqlite"):
        # SQLite studies have one runner at a time: a RUNNING trial is a leftover of a killed run.
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            store.set_trial_user_attr(t._trial_id, "error_category", "interrupted")
            store.set_trial_user_attr(t._trial_id, "error_message", "the run stopped while this trial was building")
            store.set_trial_state_values(t._trial_id, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if _is_interrupted(t) and t.number not in retried and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            notes.append(f"re-queued interrupted trial {t.number}")
    return notes


def _replaced(trials: list[FrozenTrial]) -> set[int]:
    """Trials whose configuration was queued again: interrupted, or lost with a dead worker."""
    out = {t.number for t in trials if _is_interrupted(t)}
    for t in trials:  # Optuna's heartbeat retry lists the trials it stands in for
        out.update(t.system_attrs.get("retry_history", ()))
    return out


def _counted(trials: list[FrozenTrial]) -> int:
    """Trials that use up ``n_trials``: finished, running or queued, not counting replaced ones."""
    replaced = _replaced(trials)
    return sum(1 for t in trials if t.number not in replaced)


def _top_up(study: optuna.Study, n_trials: int) -> int:
    return max(0, n_trials - _counted(study.get_trials(deepcopy=False)))


def admit_below(store: DseStorage, n_trials: int) -> Callable[[int], bool]:
    """The storage gate for sampler runs: a new trial only while the study has fewer than n."""

    def admit(study_id: int) -> bool:
        return _counted(store.get_all_trials(study_id, deepcopy=False)) < n_trials

    return admit


def _param_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _point_key(trial: FrozenTrial) -> str:
    # A queued trial gets its params only when its objective runs; until then (WAITING, or
    # RUNNING but not yet suggested) Optuna keeps them in the "fixed_params" system attr.
    return _param_key(trial.system_attrs.get("fixed_params", trial.params))


def _queue_points(study: optuna.Study, points: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Enqueue every point (params, user attrs) not yet evaluated or queued; return how many are pending."""
    trials = study.get_trials(deepcopy=False)
    seen = {_point_key(t) for t in trials if not _is_interrupted(t) and t.state != TrialState.WAITING}
    waiting = {_point_key(t) for t in trials if t.state == TrialState.WAITING}
    for params, attrs in points:
        key = _param_key(params)
        if key not in seen and key not in waiting:
            study.enqueue_trial(params, user_attrs=attrs or None)
            waiting.add(key)
    return len(waiting)


# -- running --------------------------------------------------------------------------------


@dataclass
class RunStats:
    """What happened in one ``run``."""

    completed: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)


def run(plan: Plan, on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> RunStats:
    """Run the planned trials.

    Ctrl-C or SIGTERM: the running trial finishes and the run stops; a second one stops at
    once, marking the running trial ``interrupted`` (re-queued by the next run). Either way
    the study stays consistent. The FINN worker stays up for further runs; call
    ``plan.close()`` when done.

    The run ends when the study has nothing left for it: the grid's queue is empty, or the
    study holds ``n_trials`` (counted study-wide, so many workers stop together). A worker
    does not leave while other workers' trials are still running on a server database: if
    one of them dies, its trial comes back through the heartbeat and is built here.
    """
    stats = RunStats()
    started = time.perf_counter()

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            stats.completed += 1
        elif trial.state == TrialState.FAIL:
            stats.failed += 1
            category = trial.user_attrs.get("error_category", "unknown")
            stats.failures[category] = stats.failures.get(category, 0) + 1
        if on_trial is not None:
            on_trial(study, trial)

    def stop(signum: int, frame: Any) -> None:
        if stats.interrupted:
            raise KeyboardInterrupt  # second request: do not wait for the build
        stats.interrupted = True
        try:
            plan.study.stop()  # Optuna returns once the running trial is finished
        except RuntimeError:  # not inside optimize (yet or any more): nothing to wait for
            raise KeyboardInterrupt from None

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, stop)
    try:
        _work(plan, callback, stats)
    except KeyboardInterrupt:
        stats.interrupted = True
        plan.worker.close()  # a build may still be running in it; its result is not wanted
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        stats.seconds = time.perf_counter() - started
    return stats


def _work(plan: Plan, callback: Callable[[optuna.Study, FrozenTrial], None], stats: RunStats) -> None:
    objective = Objective(plan.target, plan.worker)
    beat = plan.store.heartbeat_interval if plan.store is not None else None
    while not stats.interrupted:
        try:
            # n_trials=None: the storage gate (``DseStorage.admit``) decides when to stop
            plan.study.optimize(objective, callbacks=[callback], catch=(TrialFailed,), gc_after_trial=False)
            return  # optimize returns only when stopped (Ctrl-C)
        except NoMoreTrials:
            pending = plan.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
            if not pending or (beat is None and all(t.state == TrialState.RUNNING for t in pending)):
                return
            if all(t.state == TrialState.RUNNING for t in pending):
                # other workers are building - or died, and their trials are re-queued once
                # their heartbeat is stale (checked by optimize before it asks)
                time.sleep(beat)
