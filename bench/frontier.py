"""How fast the exact frontier is, per network, and whether real FINN builds confirm it.

Per network the design space is prepared once (``study.prepare(..., create=False)``: the
one-time FINN prefix, cached in a temporary folder, so it is really computed), then:

* ``frontier.tabulate``: every unit option estimated with FINN's node estimators; the size
  of the product space (``table.size``);
* the exact front of throughput vs LUT within the device budget and caps
  (``frontier.front(table, {"LUT": 1.0}, limits=..., max_cycles=...)``);
* the same front without limits, and how many of its points break the budget (what the
  front would offer without the knapsack);
* the exact Pareto sets over (LUT, BRAM_18K) and (LUT, BRAM_18K, DSP) within the limits
  (``frontier.pareto_set``);
* three points of each front/set (both ends and the middle) built by FINN from the cached
  prefix: the build's ``max_cycles`` and every resource must equal the prediction.

Resources are dse's count (the default fidelity). Side by side, the same space at FINN's raw
fidelity (``fidelity: {level: finn}``): how long its table and front take, and how many of its
front points do not fit once counted.

Networks: ``cnv-w1a1`` with ``configs/cnv-w1a1-pareto.yaml`` (Pynq-Z1), and ``mobilenet-v1``
(the real MobileNet-v1 w4a4, finn-plus's mobilenetv1 flow, ZCU102) with every PE/SIMD free
and MVAU ``ram_style: [auto, block, distributed]`` (no ultra: the ZCU102 has no URAM).

``--samplers N`` also runs ``bench/samplers.py``'s comparison (hypervolume share of the exact
feasible front that random/tpe/nsga2/gp/frontier/SetFolding reach after 25/50/100/200 real
builds, up to N) for each of ``--models`` with a ``configs/<model>-pareto.yaml`` (cnv-w1a1).

    .venv/bin/python bench/frontier.py
    .venv/bin/python bench/frontier.py --models cnv-w1a1 --samplers 200

Run from the repository root (zoo models are exported to studies/models once).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # torch's CUDA notice when the zoo exports a model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse import frontier  # noqa: E402
from dse import study as study_mod  # noqa: E402
from dse.errors import DseError  # noqa: E402
from dse.finn.reports import RESOURCES, ReportError, read_metrics  # noqa: E402
from dse.finn.worker import FinnWorker, WorkerCrashed, WorkerTimeout  # noqa: E402

#: How many points of each front / Pareto set are built (both ends and the middle).
CONFIRM = 3
PARETO_SETS = (("LUT", "BRAM_18K"), ("LUT", "BRAM_18K", "DSP"))


def cnv_space(tmp: Path) -> Path:
    return ROOT / "configs" / "cnv-w1a1-pareto.yaml"


def mobilenet_space(tmp: Path) -> Path:
    from dse.models import FLOWS

    flow = FLOWS["mobilenet-v1"]
    spec = {
        "name": "frontier-mobilenet-v1",
        "model": "mobilenet-v1",
        "device": flow.board,
        "clock_ns": 10.0,
        "finn": {"steps": list(flow.steps), "standalone_thresholds": flow.standalone_thresholds},
        "layers": [
            {"match": {"op_type": "*"}, "PE": "all", "SIMD": "all"},
            # no ultra: the ZCU102 has no URAM
            {"match": {"op_type": "MVAU"}, "ram_style": ["auto", "block", "distributed"]},
        ],
        "objectives": ["throughput_fps", "LUT"],
        "constraints": {"device_budget": True},
        "sampler": "random",
        "n_trials": 1,
    }
    path = tmp / "mobilenet-v1.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


#: network -> (device shown in the table, a function writing/returning its design-space file)
NETWORKS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "cnv-w1a1": ("Pynq-Z1", cnv_space),
    "mobilenet-v1": ("ZCU102", mobilenet_space),
}


@dataclass
class Timed:
    """One computed front or Pareto set: its points, how long it took, or why it was refused."""

    label: str
    points: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    confirmed: int = 0
    build_s: list[float] = field(default_factory=list)

    def cell(self) -> str:
        if self.error is not None:
            return self.error
        return f"{len(self.points)} ({self.seconds:.2f} s)"


@dataclass
class Result:
    name: str
    device: str
    export_s: float = 0.0
    prefix_s: float = 0.0
    finn_prefix_s: float | None = None
    space_size: float = 0.0
    units: int = 0
    options: int = 0
    tabulate_s: float = 0.0
    #: the same at FINN's raw fidelity (no converters, FIFOs or RTL corrections), side by side
    raw_tabulate_s: float = 0.0
    raw_lut: Timed | None = None
    raw_stop_fitting: int = 0
    lut: Timed | None = None
    unconstrained: Timed | None = None
    over_budget: int = 0
    sets: list[Timed] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def timed(label: str, compute: Callable[[], list[Any]]) -> Timed:
    out = Timed(label)
    started = time.perf_counter()
    try:
        out.points = compute()
    except DseError as exc:
        out.error = f"refused: {one_line(exc).removeprefix('frontier: ')}"
    out.seconds = time.perf_counter() - started
    return out


def ends_and_middle(points: list[Any], n: int = CONFIRM) -> list[Any]:
    """Up to n points spread over a front: both ends, then evenly between them."""
    if len(points) <= n:
        return list(points)
    picks = sorted({round(i * (len(points) - 1) / (n - 1)) for i in range(n)})
    return [points[i] for i in picks]


def confirm(plan: Any, what: Timed, out_root: Path, result: Result) -> None:
    """Build a few points of a front with FINN; max_cycles and every resource must equal the prediction."""
    if what.error is not None or not what.points:
        return
    for k, point in enumerate(ends_and_middle(what.points)):
        # the space's fixed settings (one-value knobs) with the point's own: what a trial builds
        folding = plan.target.space.folding_from_params(point.params)
        for node, attrs in point.folding.items():
            folding.setdefault(node, {}).update(attrs)
        out_dir = out_root / f"{what.label.replace(',', '-')}-{k}"
        started = time.perf_counter()
        try:
            built = plan.worker.build(plan.target.model_path, out_dir, plan.target.build_config,
                                      {"Defaults": {}, **folding}, {}, prefix_dir=plan.target.prefix_dir,
                                      hoisted=plan.target.hoisted, timeout=1800,
                                      counted=plan.target.fidelity == "counted")
        except (WorkerCrashed, WorkerTimeout) as exc:
            result.mismatches.append(f"{what.label} point {k}: build crashed: {one_line(exc)}")
            continue
        what.build_s.append(time.perf_counter() - started)
        if not built["ok"]:
            result.mismatches.append(f"{what.label} point {k}: build failed at {built.get('failed_step')}: "
                                     f"{one_line(Exception(built.get('message') or ''))}")
            continue
        try:
            metrics = read_metrics(Path(built["report_dir"]))
        except ReportError as exc:
            result.mismatches.append(f"{what.label} point {k}: {exc}")
            continue
        want = {"max_cycles": point.max_cycles, **point.resources}
        wrong = [f"{key} built {metrics[key]:g} != predicted {want[key]:g}" for key in ("max_cycles", *RESOURCES)
                 if not math.isclose(float(metrics[key]), float(want[key]), rel_tol=1e-9, abs_tol=1e-9)]
        if wrong:
            result.mismatches.append(f"{what.label} point {k} ({point.throughput_fps:.6g} fps): {'; '.join(wrong)}")
        else:
            what.confirmed += 1


def fits(point: Any, limits: dict[str, float]) -> bool:
    return all(point.resources[r] <= v for r, v in limits.items() if v is not None and math.isfinite(v))


def bench_network(name: str, worker: FinnWorker, tmp: Path) -> Result:
    device, make_space = NETWORKS[name]
    result = Result(name, device)
    work = tmp / name
    work.mkdir(parents=True, exist_ok=True)
    space = make_space(work)

    from dse.models import ZOO, resolve_model

    model = yaml.safe_load(space.read_text()).get("model")
    if model in ZOO:  # exported once into studies/models (cached): not part of the prefix
        started = time.perf_counter()
        resolve_model(model)
        result.export_s = time.perf_counter() - started

    started = time.perf_counter()
    plan = study_mod.prepare(space, storage=f"sqlite:///{tmp}/studies.db", worker=worker, create=False)
    result.prefix_s = time.perf_counter() - started
    try:
        steps = json.loads((Path(plan.target.prefix_dir) / "report" / "time_per_step.json").read_text())
        result.finn_prefix_s = float(steps["total_build_time"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    print(f"  prepared in {result.prefix_s:.1f} s (prefix {Path(plan.target.prefix_dir).name}, "
          f"hoisted={plan.target.hoisted}; model export {result.export_s:.1f} s)", flush=True)

    started = time.perf_counter()
    table = frontier.tabulate(plan.target, plan.worker)
    result.tabulate_s = time.perf_counter() - started
    result.space_size = float(table.size)
    result.units = len(table.units)
    result.options = sum(len(u.options) for u in table.units)
    print(f"  tabulate: {result.tabulate_s:.2f} s, {result.units} units, {result.options} options, "
          f"space of {result.space_size:.3g} points", flush=True)

    limits, max_cycles = study_mod.frontier_limits(plan.target)
    result.lut = timed("LUT", lambda: frontier.front(table, {"LUT": 1.0}, limits=limits, max_cycles=max_cycles))
    print(f"  exact LUT front within the limits: {result.lut.cell()}", flush=True)
    raw_spec = {**yaml.safe_load(space.read_text()), "fidelity": {"level": "finn"}}
    (work / "raw.yaml").write_text(yaml.safe_dump(raw_spec, sort_keys=False))
    raw_plan = study_mod.prepare(work / "raw.yaml", storage=f"sqlite:///{tmp}/studies.db", worker=worker, create=False)
    started = time.perf_counter()
    raw_table = frontier.tabulate(raw_plan.target, raw_plan.worker)
    result.raw_tabulate_s = time.perf_counter() - started
    result.raw_lut = timed("LUT raw", lambda: frontier.front(raw_table, {"LUT": 1.0}, limits=limits, max_cycles=max_cycles))
    result.raw_stop_fitting = sum(not fits(frontier.predict(table, p.params), limits) for p in result.raw_lut.points)
    print(f"  at FINN's raw fidelity: tabulate {result.raw_tabulate_s:.2f} s, LUT front {result.raw_lut.cell()}, "
          f"{result.raw_stop_fitting} of its points do not fit once counted", flush=True)
    result.unconstrained = timed("LUT-unconstrained", lambda: frontier.front(table, {"LUT": 1.0}))
    result.over_budget = sum(not fits(p, limits) for p in result.unconstrained.points)
    print(f"  unconstrained LUT front: {result.unconstrained.cell()}, {result.over_budget} over the budget", flush=True)
    for resources in PARETO_SETS:
        label = ",".join(resources)
        pset = timed(label, lambda: frontier.pareto_set(table, list(resources), limits, max_cycles))
        result.sets.append(pset)
        print(f"  Pareto set over ({label}): {pset.cell()}", flush=True)
    if result.lut.error is None and not result.lut.points:
        result.notes.append(f"nothing fits: {frontier.why_nothing_fits(table, limits, max_cycles)}")

    for what in (result.lut, *result.sets):
        confirm(plan, what, work / "builds", result)
        if what.build_s:
            print(f"  confirmed {what.confirmed}/{len(what.build_s)} of ({what.label}) by FINN builds "
                  f"({sum(what.build_s) / len(what.build_s):.1f} s each)", flush=True)
    for line in result.mismatches:
        print(f"  MISMATCH: {line}", flush=True)
    return result


# -- output -----------------------------------------------------------------------------------


def table_lines(results: list[Result]) -> list[str]:
    lines = [
        "| network | device | space (points) | units / options | one-time prefix s | tabulate s (FINN raw) "
        "| LUT front in budget: points (s) | same at FINN raw: points (s) | raw points over budget once counted "
        "| unconstrained LUT front: over budget "
        "| Pareto LUT, BRAM_18K: points (s) | Pareto LUT, BRAM_18K, DSP: points (s) | builds = prediction |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error is not None:
            lines.append(f"| {r.name} | {r.device} | {r.error} |||||||||||")
            continue
        checked = [t for t in (r.lut, *r.sets) if t is not None]
        built = sum(len(t.build_s) for t in checked)
        confirmed = sum(t.confirmed for t in checked)
        unc = r.unconstrained
        over = unc.error if unc.error is not None else f"{r.over_budget} of {len(unc.points)}"
        lines.append(
            f"| {r.name} | {r.device} | {r.space_size:.2g} | {r.units} / {r.options} | {r.prefix_s:.1f} "
            f"| {r.tabulate_s:.2f} ({r.raw_tabulate_s:.2f}) | {r.lut.cell()} | {r.raw_lut.cell() if r.raw_lut else '-'} "
            f"| {r.raw_stop_fitting} | {over} | {r.sets[0].cell()} | {r.sets[1].cell()} "
            f"| {confirmed} / {built} |"
        )
    return lines


def run_samplers(models: list[str], builds: int, worker: FinnWorker, tmp: Path) -> list[str]:
    """bench/samplers.py's comparison for each model with a configs/<model>-pareto.yaml; its output lines."""
    sys.path.insert(0, str(ROOT / "bench"))
    import samplers as samplers_bench  # bench/samplers.py

    captured: list[str] = []
    for model in models:
        if not (ROOT / "configs" / f"{model}-pareto.yaml").exists():
            continue
        print(f"\nsamplers: {model}, {builds} builds each", flush=True)

        class Tee(io.TextIOBase):
            def write(self, text: str) -> int:
                sys.__stdout__.write(text)
                sys.__stdout__.flush()
                captured.append(text)
                return len(text)

        try:
            with contextlib.redirect_stdout(Tee()):
                samplers_bench.bench_model(model, builds, worker, tmp)  # same storage root: the prefix is reused
        except DseError as exc:
            print(f"  {model}: {one_line(exc)}", flush=True)
            captured.append(f"\n{model}: {one_line(exc)}\n")
        except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the rest
            print(f"  {model}: failed: {type(exc).__name__}: {one_line(exc)}", flush=True)
            captured.append(f"\n{model}: failed: {type(exc).__name__}: {one_line(exc)}\n")
    return "".join(captured).splitlines()


def samplers_markdown(lines: list[str]) -> list[str]:
    """The samplers' printed table as markdown (its 'search ...' header and one row per sampler)."""
    out: list[str] = []
    model = None
    header: list[str] | None = None
    for line in lines:
        words = line.split()
        if not words:
            continue
        if line and not line[0].isspace() and ": space of" in line:
            model = line.split(":", 1)[0]
            header = None
            continue
        if words[0] == "search":
            header = words[1:-3] if words[-2:] == ["wall", "s"] else words[1:]
            out += ["", f"{model}: hypervolume share of the exact feasible front after N builds", "",
                    "| search | " + " | ".join(f"{h} builds" for h in header) + " | builds | wall s |",
                    "|---" * (len(header) + 3) + "|"]
            continue
        if header is not None and len(words) == len(header) + 3:
            out.append("| " + " | ".join(words) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(NETWORKS), help=f"networks (default: {' '.join(NETWORKS)})")
    parser.add_argument("--samplers", type=int, default=None, metavar="N",
                        help="also run bench/samplers.py's comparison with N builds per search (cnv-w1a1)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the prefix, studies and builds in DIR (default: a temporary folder)")
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in NETWORKS]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; known: {', '.join(NETWORKS)}")
    if args.samplers is not None and args.samplers < 1:
        raise SystemExit("--samplers: must be at least 1")

    results: list[Result] = []
    sampler_lines: list[str] = []
    total = time.perf_counter()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    with (contextlib.nullcontext(str(args.keep.resolve())) if args.keep is not None
          else tempfile.TemporaryDirectory(prefix="bench-frontier-")) as tmp, \
            FinnWorker(Path(tmp) / "finn", Path(tmp) / "worker.log") as worker:
        for name in args.models:
            print(f"\n{name} on {NETWORKS[name][0]}", flush=True)
            try:
                results.append(bench_network(name, worker, Path(tmp)))
            except DseError as exc:
                print(f"  refused: {one_line(exc)}", flush=True)
                results.append(Result(name, NETWORKS[name][0], error=f"refused: {one_line(exc)}".replace("|", "/")))
            except Exception as exc:  # noqa: BLE001 - one network's failure must not stop the others
                line = f"failed: {type(exc).__name__}: {one_line(exc)}"
                print(f"  {line}", flush=True)
                results.append(Result(name, NETWORKS[name][0], error=line.replace("|", "/")))
        if args.samplers is not None:
            sampler_lines = run_samplers(args.models, args.samplers, worker, Path(tmp))

    print(f"\n$ .venv/bin/python {shlex.join(sys.argv)}")
    print(f"(total {time.perf_counter() - total:.0f} s; 2 cores)\n")
    for line in table_lines(results):
        print(line)
    notes = [(r.name, n) for r in results for n in r.notes] + [(r.name, f"MISMATCH: {m}") for r in results for m in r.mismatches]
    extra = []
    for r in results:
        if r.error is None and r.finn_prefix_s is not None:
            extra.append(f"{r.name}: FINN's own prefix steps {r.finn_prefix_s:.0f} s of the {r.prefix_s:.1f} s prepare"
                         + (f" (model export {r.export_s:.1f} s before it)" if r.export_s >= 0.5 else ""))
        for t in ([r.lut, *r.sets] if r.error is None else []):
            if t.build_s:
                extra.append(f"{r.name} ({t.label}): {len(t.build_s)} builds, {sum(t.build_s) / len(t.build_s):.1f} s each")
    if notes or extra:
        print()
        for line in extra:
            print(f"- {line}")
        for name, note in notes:
            print(f"- {name}: {note}")
    if sampler_lines:
        for line in samplers_markdown(sampler_lines):
            print(line)
    if any(r.mismatches for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
