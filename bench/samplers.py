"""How close each search gets to the exact Pareto front, per number of real FINN builds.

One run, one design space per model (the repo's ``configs/<model>-pareto.yaml``: every
foldable layer's PE/SIMD free, MVAU ram_style distributed|block, Pynq-Z1, throughput vs LUT
within the device budget). For each sampler a fresh study runs up to ``--builds`` real FINN
estimate builds; after 25, 50, 100 and 200 builds the hypervolume of its feasible Pareto set
is divided by the hypervolume of the exact feasible front (``dse.frontier``; reference point:
0 fps and the device's LUT budget; moocore's hypervolume).

Searches: random, tpe (multivariate), nsga2, gp (Optuna 5 samplers, seed 0), frontier (dse:
the exact front's configurations in spread order, each built and checked), and FINN's own
SetFolding as users run it today: a sweep of target_fps values (log-spaced between the
slowest and the fastest front throughput, in low-discrepancy order so every prefix spreads).

    .venv/bin/python bench/samplers.py                      # CNV-w1a1 and TFC-w1a1, 200 builds
    .venv/bin/python bench/samplers.py --models tfc-w1a1 --builds 100
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import moocore
import numpy as np
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse import frontier  # noqa: E402
from dse import study as study_mod  # noqa: E402
from dse.finn.worker import FinnWorker  # noqa: E402

CHECKPOINTS = (25, 50, 100, 200)
SAMPLERS = ("random", "tpe", "nsga2", "gp", "frontier", "setfolding")


def hypervolume(points: list[tuple[float, float]], lut_budget: float) -> float:
    """HV of (throughput up, LUT down) points w.r.t. (0 fps, LUT budget); points over budget add nothing."""
    inside = [(fps, lut) for fps, lut in points if lut < lut_budget and fps > 0]
    if not inside:
        return 0.0
    return float(moocore.hypervolume(np.array(inside), ref=np.array([0.0, lut_budget]), maximise=[True, False]))


def van_der_corput(n: int) -> list[float]:
    """n points in [0, 1) whose every prefix is spread out (base-2 radical inverse)."""
    out = []
    for i in range(1, n + 1):
        x, denom = 0.0, 1.0
        while i:
            denom *= 2
            x += (i % 2) / denom
            i //= 2
        out.append(x)
    return out


def write_space(tmp: Path, model: str, name: str, sampler: str, builds: int, fps_range: tuple[float, float] | None) -> Path:
    spec = yaml.safe_load((ROOT / "configs" / f"{model}-pareto.yaml").read_text())
    spec.update(name=name, sampler=sampler, seed=0, n_trials=builds)
    spec.pop("sampler_options", None)
    if sampler == "nsga2":
        spec["sampler_options"] = {"population_size": 20}
    if fps_range is not None:  # FINN's SetFolding picks PE/SIMD for each target_fps
        spec.pop("layers", None)
        spec["target_fps"] = {"min": fps_range[0], "max": fps_range[1]}
        spec["sampler"] = "random"
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def feasible_points(trials: list) -> list[tuple[float, float]]:
    return [
        (t.user_attrs["throughput_fps"], t.user_attrs["LUT"]) for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get("feasible")
    ]


def bench_model(model: str, builds: int, worker: FinnWorker, tmp: Path) -> None:
    storage = f"sqlite:///{tmp}/{model}.db"
    base = study_mod.prepare(write_space(tmp, model, f"{model}-exact", "random", 1, None), storage=storage,
                             worker=worker, create=False)
    started = time.perf_counter()
    table, exact = study_mod.predicted_front(base.target, worker, {"LUT": 1.0})
    seconds = time.perf_counter() - started
    budget = base.target.budget["LUT"]
    reference = hypervolume([(p.throughput_fps, p.resources["LUT"]) for p in exact if p.feasible], budget)
    fps = [p.throughput_fps for p in exact]
    print(f"\n{model}: space of {table.size:.3g} points; exact front {len(exact)} points "
          f"({sum(p.feasible for p in exact)} within the Pynq-Z1 budget), computed in {seconds:.1f} s without building")
    print(frontier.budget_note(exact))
    header = "".join(f"{k:>9}" for k in CHECKPOINTS if k <= builds)
    print(f"{'search':<12}{header}   builds   wall s")
    for sampler in SAMPLERS:
        name = f"{model}-{sampler}"
        if sampler == "setfolding":
            path = write_space(tmp, model, name, "random", builds, (min(fps), max(fps)))
        else:
            path = write_space(tmp, model, name, sampler, builds, None)
        plan = study_mod.prepare(path, storage=storage, worker=worker)
        if sampler == "setfolding":
            low, high = math.log(min(fps)), math.log(max(fps))
            for u in van_der_corput(builds):
                plan.study.enqueue_trial({"target_fps": math.exp(low + u * (high - low))})
        started = time.perf_counter()
        study_mod.run(plan)
        wall = time.perf_counter() - started
        trials = sorted(plan.study.get_trials(), key=lambda t: t.number)
        cells = []
        for k in CHECKPOINTS:
            if k > builds:
                continue
            hv = hypervolume(feasible_points(trials[:k]), budget)
            cells.append(f"{hv / reference:>8.1%}" if len(trials) >= k or sampler == "frontier" else f"{'-':>8}")
        print(f"{sampler:<12}{''.join(f'{c:>9}' for c in cells)}   {len(trials):>6}   {wall:>6.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnv-w1a1", "tfc-w1a1"])
    parser.add_argument("--builds", type=int, default=200)
    args = parser.parse_args()
    print("hypervolume of each search's feasible Pareto set / exact front's, after N real FINN builds")
    with tempfile.TemporaryDirectory() as tmp, FinnWorker(Path(tmp) / "finn", Path(tmp) / "worker.log") as worker:
        for model in args.models:
            bench_model(model, args.builds, worker, Path(tmp))


if __name__ == "__main__":
    main()
