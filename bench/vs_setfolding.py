"""dse's exact front against FINN's own SetFolding, per network, within the same device budget.

Both sides run real FINN estimate builds from the same cached prefix (the specialized model):

* dse: the design space is the default one (every PE/SIMD free) plus memory knobs (MVAU
  ram_style distributed|block, or the rules of ``--layers NET=FILE``), objectives
  [throughput_fps, LUT]. ``study.predicted_front`` gives the exact front without building;
  dse's best is the feasible front point with the highest throughput. It is confirmed by one
  real FINN build of its folding (the build must report exactly the predicted throughput and
  LUT), and so is the cheapest front point at least as fast as SetFolding's best.
* SetFolding: FINN's ``step_target_fps_parallelization`` with ``target_fps`` (no folding
  config; bit widths minimized after the folding, as FINN does). Targets are log-spaced from
  the slowest to the fastest throughput on dse's front, then bisected between the best
  feasible target and the next infeasible one; FINN's ``mvau_wwidth_max`` from the build
  config, plus 144 and 1024 as FINN users try. A design is feasible when LUT, BRAM_18K, URAM
  and DSP are all within the device budget.

Networks: cnv-w1a1 and tfc-w1a1 on Pynq-Z1 (finn.steps estimate+bnn), plus every zoo network
with a FINN flow (``dse.models.FLOWS``: its steps, standalone_thresholds, board and options).
A flow without ``step_target_fps_parallelization`` gets it inserted before
``step_apply_folding_config`` for the SetFolding side only.

    .venv/bin/python bench/vs_setfolding.py                           # all networks
    .venv/bin/python bench/vs_setfolding.py --models cnv-w1a1 tfc-w1a1 --quick
    .venv/bin/python bench/vs_setfolding.py --models mlp-rtl --layers mlp-rtl=extra.yaml

``--layers NET=FILE``: a YAML list of extra layer rules for NET (as in a design-space file's
``layers``), replacing the default MVAU ram_style rule. Run from the repository root (zoo
models are exported to studies/models).

Both sides are judged at dse's counted fidelity (FINN's estimators with the converters and
FIFOs FINN inserts, plus the RTL corrections): a design fits when its count is within the
budget. Columns: "dse LUT at >= SetFolding fps" is dse's cheapest feasible front point at least
as fast as SetFolding's best (also built and confirmed); "same, FINN's raw estimate" compares
the same two designs in FINN's raw numbers; "builds in hardware" says whether SetFolding's best
passes FINN's stream-width checks.
"dse s" is the front computation plus the confirming builds; "prefix s" is the shared
one-time prefix (the first network's includes FINN's import in the worker).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # torch's CUDA notice when the zoo exports a model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse import study as study_mod  # noqa: E402
from dse.errors import DseError  # noqa: E402
from dse.finn.reports import ReportError, read_metrics  # noqa: E402
from dse.finn.worker import FinnWorker, WorkerCrashed, WorkerTimeout  # noqa: E402

RESOURCES = ("LUT", "BRAM_18K", "URAM", "DSP")
DEFAULT_NETWORKS = {"cnv-w1a1": "Pynq-Z1", "tfc-w1a1": "Pynq-Z1"}
MEMORY_RULE = {"match": {"op_type": "MVAU"}, "ram_style": ["distributed", "block"]}
FOLD_RULE = {"match": {"op_type": "*"}, "PE": "all", "SIMD": "all"}
#: Folding attributes compared between SetFolding's choice and dse's space.
FOLD_ATTRS = ("PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode", "depth_trigger_bram",
              "depth_trigger_uram", "runtime_writeable_weights")


@dataclass
class Network:
    name: str
    device: str
    finn: dict[str, Any]
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Build:
    """One real FINN build: what it was asked for and what FINN reported."""

    label: str
    target_fps: int | None = None
    wwidth: int | None = None
    ok: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    feasible: bool = False
    seconds: float = 0.0
    report_dir: Path | None = None
    message: str = ""


@dataclass
class Result:
    name: str
    device: str
    prefix_s: float = 0.0
    dse_best: Any = None
    dse_best_build: Build | None = None
    dse_equal: Any = None
    dse_builds: int = 0
    dse_s: float = 0.0
    front_s: float = 0.0
    front_size: int = 0
    front_feasible: int = 0
    space_size: float = 0.0
    sf_builds: list[Build] = field(default_factory=list)
    sf_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: hardware check of dse's equal-throughput point and of SetFolding's best (None: not run)
    hw_dse: dict[str, Any] | None = None
    hw_sf: dict[str, Any] | None = None
    #: SetFolding's best design that also passes FINN's hardware checks (set when they run)
    sf_pick: Build | None = None

    def sf_ranked(self) -> list[Build]:
        """SetFolding's designs within the budget, best first."""
        feasible = [b for b in self.sf_builds if b.feasible]
        return sorted(feasible, key=lambda b: (-b.metrics["throughput_fps"], b.metrics["LUT"]))

    @property
    def sf_best(self) -> Build | None:
        if self.sf_pick is not None:
            return self.sf_pick
        ranked = self.sf_ranked()
        return ranked[0] if ranked else None


# -- networks ---------------------------------------------------------------------------------


def zoo_flows() -> dict[str, Any]:
    """The zoo's FINN flows (``dse.models.FLOWS``), if that data exists."""
    try:
        from dse.models import FLOWS
    except ImportError:
        return {}
    return dict(FLOWS)


def all_networks() -> dict[str, Network]:
    from dse.spacefile import FinnKnobs

    nets = {name: Network(name, device, {}, "dse default (estimate+bnn)") for name, device in DEFAULT_NETWORKS.items()}
    for name, flow in zoo_flows().items():
        finn: dict[str, Any] = {"steps": list(flow.steps), "standalone_thresholds": bool(flow.standalone_thresholds)}
        notes = []
        for key, value in dict(getattr(flow, "options", {}) or {}).items():
            if key in FinnKnobs.model_fields:
                finn[key] = value
            else:
                notes.append(f"flow option {key}={value!r} has no dse finn setting; left out")
        nets[name] = Network(name, flow.board, finn, getattr(flow, "source", "dse.models.FLOWS"), notes)
    return nets


def write_space(tmp: Path, net: Network, layers: list[dict[str, Any]]) -> Path:
    spec = {
        "name": f"vs-setfolding-{net.name}",
        "model": net.name,
        "device": net.device,
        "clock_ns": 10.0,
        "finn": net.finn,
        "layers": layers,
        "objectives": ["throughput_fps", "LUT"],
        "constraints": {"device_budget": True},
        "sampler": "random",
        "n_trials": 1,
    }
    path = tmp / f"{net.name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# -- builds -----------------------------------------------------------------------------------


def within_budget(metrics: dict[str, Any], budget: dict[str, float]) -> bool:
    return all(float(metrics[r]) <= budget[r] for r in RESOURCES)


def run_build(worker: FinnWorker, plan: Any, out_dir: Path, build_config: dict[str, Any], folding: dict[str, Any] | None,
              overrides: dict[str, Any], hoisted: bool, label: str) -> Build:
    build = Build(label, overrides.get("target_fps"), overrides.get("mvau_wwidth_max"))
    started = time.perf_counter()
    try:
        result = worker.build(plan.target.model_path, out_dir, build_config, folding, overrides,
                              prefix_dir=plan.target.prefix_dir, hoisted=hoisted, timeout=600, counted=True)
    except (WorkerCrashed, WorkerTimeout) as exc:
        build.seconds = time.perf_counter() - started
        build.message = str(exc)
        return build
    build.seconds = time.perf_counter() - started
    if not result["ok"]:
        build.message = f"{result.get('failed_step')}: {result.get('message')}"
        return build
    build.report_dir = Path(result["report_dir"])
    try:
        build.metrics = read_metrics(build.report_dir)
    except ReportError as exc:
        build.message = str(exc)
        return build
    build.ok = True
    build.feasible = within_budget(build.metrics, plan.target.budget)
    return build


def confirm(worker: FinnWorker, plan: Any, point: Any, out_dir: Path, label: str) -> Build:
    """Build a front point's folding; its report must equal the prediction (throughput, LUT)."""
    folding = {"Defaults": {}, **plan.target.space.folding_from_params(point.params)}
    build = run_build(worker, plan, out_dir, plan.target.build_config, folding, {}, plan.target.hoisted, label)
    if not build.ok:
        raise DseError(f"the build of dse's {label} point failed: {build.message}")
    got, want = build.metrics, {"throughput_fps": point.throughput_fps, **point.resources}
    wrong = [f"{k} built {got[k]:g} != predicted {want[k]:g}" for k in ("throughput_fps", *RESOURCES)
             if not math.isclose(float(got[k]), float(want[k]), rel_tol=1e-9, abs_tol=1e-9)]
    if any(w.startswith(("throughput_fps", "LUT")) for w in wrong):
        raise DseError(f"dse's {label} point: the build does not confirm the prediction: {'; '.join(wrong)}")
    if wrong:  # not asserted (the brief: throughput and LUT), but worth seeing
        print(f"    note: {label}: {'; '.join(wrong)}", flush=True)
    return build


def setfolding_config(build_config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    steps = list(build_config["steps"])
    if "step_target_fps_parallelization" not in steps:
        steps.insert(steps.index("step_apply_folding_config"), "step_target_fps_parallelization")
        notes.append("the flow has no step_target_fps_parallelization; inserted for SetFolding")
    return {**build_config, "steps": steps}


def sweep_setfolding(worker: FinnWorker, plan: Any, out_root: Path, fps_range: tuple[float, float], targets: int,
                     bisections: int, wwidths: list[int], notes: list[str]) -> list[Build]:
    config = setfolding_config(plan.target.build_config, notes)
    builds: list[Build] = []
    low, high = math.log(fps_range[0]), math.log(fps_range[1])

    def one(target: int, wwidth: int) -> Build:
        overrides: dict[str, Any] = {"target_fps": target}
        if wwidth != config["mvau_wwidth_max"]:
            overrides["mvau_wwidth_max"] = wwidth
        build = run_build(worker, plan, out_root / f"sf-w{wwidth}-t{target}", config, None, overrides, False,
                          f"SetFolding target_fps={target} mvau_wwidth_max={wwidth}")
        build.wwidth = wwidth
        builds.append(build)
        if not build.ok and not any(n.startswith("SetFolding build failed") for n in notes):
            notes.append(f"SetFolding build failed (target_fps={target}, mvau_wwidth_max={wwidth}): {build.message}")
        return build

    for wwidth in wwidths:
        n = max(targets, 2)
        grid = sorted({max(1, round(math.exp(low + i * (high - low) / (n - 1)))) for i in range(n)})
        done = {t: one(t, wwidth) for t in grid}
        for _ in range(bisections):
            feasible = [b for b in done.values() if b.feasible]
            if not feasible:
                break
            best = max(feasible, key=lambda b: b.metrics["throughput_fps"])
            above = [t for t, b in done.items() if t > best.target_fps and not b.feasible]
            if not above:
                break
            t_lo, t_hi = best.target_fps, min(above)
            mid = round(math.sqrt(t_lo * t_hi))
            if mid in done or not t_lo < mid < t_hi:
                break
            done[mid] = one(mid, wwidth)
    return builds


# -- hardware check ---------------------------------------------------------------------------
#
# Estimate builds never compute stream widths or insert data-width converters: a folding can
# pass them and still fail (or cost more) once FINN generates hardware. The check applies a
# folding to the prefix model in a child process, runs FINN's bit-width minimization, asks
# every node for its stream widths (FINN's own shape asserts) and runs FINN's InsertDWC (as
# step_set_fifo_depths does), adding the converters' LUT estimates.


def _check_child(prefix_model: str, build_config: dict[str, Any], foldings: list[str], scratch: str) -> list[dict[str, Any]]:
    from dse.finn import adapter

    adapter.load_finn(scratch)
    from finn.builder.build_dataflow_steps import step_minimize_bit_width
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.util.fpgadataflow import is_fpgadataflow_node
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from finn.transformation.general import ApplyConfig

    out = []
    for folding in foldings:
        model = ModelWrapper(prefix_model).transform(ApplyConfig(folding))
        model = step_minimize_bit_width(model, adapter.make_config(build_config))
        errors = []
        for node in model.graph.node:
            if not is_fpgadataflow_node(node):
                continue
            inst = getCustomOp(node)
            try:
                for i in range(len(node.input)):
                    if model.get_initializer(node.input[i]) is None:
                        inst.get_instream_width(i)
                for i in range(len(node.output)):
                    inst.get_outstream_width(i)
            except Exception as exc:  # noqa: BLE001 - FINN asserts
                errors.append(f"{node.name}: {type(exc).__name__}: {str(exc).strip() or '?'}")
        dwcs, dwc_lut = 0, 0.0
        if not errors:
            try:
                model = model.transform(InsertDWC())
                for node in model.graph.node:
                    if node.op_type.startswith("StreamingDataWidthConverter"):
                        dwcs += 1
                        dwc_lut += float(getCustomOp(node).lut_estimation(build_config["fpga_part"]))
            except Exception as exc:  # noqa: BLE001
                errors.append(f"InsertDWC: {type(exc).__name__}: {str(exc).strip() or '?'}")
        out.append({"errors": errors, "dwcs": dwcs, "dwc_lut": dwc_lut})
    return out


def hardware_check(plan: Any, foldings: list[Path], scratch: Path) -> list[dict[str, Any]]:
    """Run :func:`_check_child` in a fresh process (FINN reconfigures stdout and logging)."""
    import multiprocessing

    prefix_model = str(Path(plan.target.prefix_dir) / "intermediate_models" / "step_specialize_layers.onnx")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_check_child, (prefix_model, plan.target.build_config, [str(f) for f in foldings], str(scratch)))


# -- analysis ---------------------------------------------------------------------------------


def space_values(table: Any, space: Any) -> dict[str, dict[str, set[Any]]]:
    """Every value dse's space can give each node attribute (knob options and fixed settings)."""
    out: dict[str, dict[str, set[Any]]] = {}
    for node, attrs in space.fixed.items():
        for attr, value in attrs.items():
            out.setdefault(node, {}).setdefault(attr, set()).add(value)
    for unit in table.units:
        for option in unit.options:
            for node, attrs in option.assign.items():
                for attr, value in attrs.items():
                    out.setdefault(node, {}).setdefault(attr, set()).add(value)
    return out


def outside_space(sf: Build, dse_build: Build, values: dict[str, dict[str, set[Any]]]) -> list[str]:
    """SetFolding's choices that dse's space cannot make (node.attr=value, and why)."""
    try:
        chosen = json.loads((sf.report_dir / "auto_folding_config.json").read_text())
        reference = json.loads((dse_build.report_dir / "applied_folding_config.json").read_text())
    except (OSError, ValueError, TypeError):
        return ["(auto_folding_config.json or applied_folding_config.json unreadable)"]
    out = []
    for node, attrs in chosen.items():
        if node == "Defaults" or not isinstance(attrs, dict):
            continue
        for attr in FOLD_ATTRS:
            if attr not in attrs:
                continue
            value = attrs[attr]
            allowed = values.get(node, {}).get(attr)
            if allowed is not None:
                if value not in allowed:
                    out.append(f"{node}.{attr}={value} (space: {sorted(allowed, key=str)})")
            elif reference.get(node, {}).get(attr, value) != value:
                out.append(f"{node}.{attr}={value} (not a knob in dse's space; dse builds {reference[node][attr]})")
    return out


def bench_network(net: Network, worker: FinnWorker, tmp: Path, args: argparse.Namespace, extra: list[dict[str, Any]] | None) -> Result:
    result = Result(net.name, net.device, notes=list(net.notes))
    work = tmp / net.name
    work.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{tmp}/studies.db"
    layers = [FOLD_RULE, *(extra if extra is not None else [MEMORY_RULE])]

    started = time.perf_counter()
    try:
        plan = study_mod.prepare(write_space(work, net, layers), storage=storage, worker=worker, create=False)
    except DseError as exc:
        if extra is not None or "layers[1]" not in str(exc):
            raise
        result.notes.append(f"default memory rule refused ({str(exc).split(': ', 1)[-1]}); PE/SIMD only")
        layers = [FOLD_RULE]
        plan = study_mod.prepare(write_space(work, net, layers), storage=storage, worker=worker, create=False)
    result.prefix_s = time.perf_counter() - started
    print(f"  prepared in {result.prefix_s:.1f} s (prefix {Path(plan.target.prefix_dir).name}, hoisted={plan.target.hoisted})", flush=True)

    started = time.perf_counter()
    table, points = study_mod.predicted_front(plan.target, plan.worker, {"LUT": 1.0})
    result.front_s = time.perf_counter() - started
    result.space_size, result.front_size = table.size, len(points)
    feasible = [p for p in points if p.feasible]
    result.front_feasible = len(feasible)
    print(f"  exact front: {len(points)} points ({len(feasible)} feasible) of a {table.size:.3g}-point space, "
          f"{result.front_s:.1f} s", flush=True)
    if not feasible:
        raise DseError("no front point fits the device budget")
    result.dse_best = max(feasible, key=lambda p: p.throughput_fps)
    result.dse_best_build = confirm(worker, plan, result.dse_best, work / "dse-best", "best")
    result.dse_builds = 1
    confirmed = [result.dse_best_build]
    print(f"  dse best confirmed: {result.dse_best.throughput_fps:.6g} fps, LUT {result.dse_best.resources['LUT']:.0f} "
          f"({result.dse_best_build.seconds:.2f} s)", flush=True)

    fps = [p.throughput_fps for p in points]
    wwidths = list(dict.fromkeys([int(plan.target.build_config["mvau_wwidth_max"]), *args.wwidth]))
    started = time.perf_counter()
    result.sf_builds = sweep_setfolding(worker, plan, work, (min(fps), max(fps)), args.targets, args.bisections,
                                        wwidths, result.notes)
    result.sf_s = time.perf_counter() - started
    if args.hw_check:
        # compare with the best design SetFolding *builds*: its estimate build accepts some
        # foldings that FINN's own stream-width checks refuse later (e.g. a Reshape PE that
        # divides the output but not the input), and a hardware build would stop there
        ranked = result.sf_ranked()[:8]
        checks = hardware_check(plan, [b.report_dir / "auto_folding_config.json" for b in ranked], work / "check-sf")
        for build, check in zip(ranked, checks):
            if not check["errors"]:
                result.sf_pick = build
                break
            result.notes.append(f"SetFolding's {build.metrics['throughput_fps']:.6g} fps design (target_fps="
                                f"{build.target_fps}, mvau_wwidth_max={build.wwidth}) fails FINN's stream-width "
                                f"checks, not compared: {check['errors'][0]}")
    sf = result.sf_best
    if sf is None:
        result.notes.append("no SetFolding design fits the device budget")
    else:
        print(f"  SetFolding best: {sf.metrics['throughput_fps']:.6g} fps, LUT {sf.metrics['LUT']:.0f} "
              f"(target_fps={sf.target_fps}, mvau_wwidth_max={sf.wwidth}); {len(result.sf_builds)} builds, "
              f"{result.sf_s:.1f} s", flush=True)
        fast_enough = [p for p in feasible if p.throughput_fps >= sf.metrics["throughput_fps"]]
        if fast_enough:
            equal = min(fast_enough, key=lambda p: (p.resources["LUT"], -p.throughput_fps))
            result.dse_equal = equal
            if equal is not result.dse_best:
                confirmed.append(confirm(worker, plan, equal, work / "dse-equal", "equal-throughput"))
                result.dse_builds += 1
        values = space_values(table, plan.target.space)
        beaten = sf.metrics["throughput_fps"] > result.dse_best.throughput_fps or (
            result.dse_equal is not None and sf.metrics["LUT"] < result.dse_equal.resources["LUT"])
        outside = outside_space(sf, result.dse_best_build, values)
        if outside and beaten:
            shown = "; ".join(outside[:8]) + (f"; ... ({len(outside)} in all)" if len(outside) > 8 else "")
            result.notes.append(f"SetFolding beats dse; its best uses what dse's space lacks: {shown}")
        elif outside:
            groups: dict[str, int] = {}
            for item in outside:
                key = item.split(".", 1)[1].split(" ", 1)[0]
                groups[key] = groups.get(key, 0) + 1
            shown = ", ".join(f"{k} on {n} node(s)" for k, n in groups.items())
            result.notes.append(f"SetFolding's best lies outside dse's space (no advantage here): {shown}")
        elif beaten:
            result.notes.append("SetFolding's best beats dse although all its choices are in dse's space (a bug?)")
    result.dse_s = result.front_s + sum(b.seconds for b in confirmed)
    if sf is not None and args.hw_check:
        dse_dir = confirmed[-1].report_dir  # the equal-throughput point, else dse's best
        try:
            result.hw_dse, result.hw_sf = hardware_check(
                plan, [dse_dir / "applied_folding_config.json", sf.report_dir / "auto_folding_config.json"], work / "check")
        except Exception as exc:  # noqa: BLE001
            result.notes.append(f"hardware check failed: {type(exc).__name__}: {exc}")
        for side, check in (("dse", result.hw_dse), ("SetFolding", result.hw_sf)):
            if check and check["errors"]:
                result.notes.append(f"{side}'s design fails FINN's stream-width checks (a hardware build would stop): "
                                    + "; ".join(check["errors"][:3]))
            elif check:
                result.notes.append(f"{side}'s design needs {check['dwcs']} data-width converter(s), "
                                    f"{check['dwc_lut']:.0f} LUT (not in FINN's estimate)")
    return result


# -- output -----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def raw_ratio(r: Result) -> str:
    """dse / SetFolding LUT in FINN's raw estimate (no converters, FIFOs or RTL corrections) of the same designs."""
    sf = r.sf_best
    if r.dse_equal is None or sf is None or not sf.metrics.get("finn_LUT"):
        return "-"
    return f"{r.dse_equal.finn_resources['LUT'] / sf.metrics['finn_LUT']:.3f}"


def table_lines(results: list[Result]) -> list[str]:
    lines = [
        "| network | device | dse best fps | SetFolding best fps | dse / SetFolding | dse LUT at >= SetFolding fps "
        "| SetFolding LUT | dse / SetFolding LUT | same, FINN's raw estimate | SetFolding best builds in hardware "
        "| dse builds | dse s | SetFolding builds | SetFolding s | prefix s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error is not None:
            lines.append(f"| {r.name} | {r.device} | {r.error} |||||||||||||")
            continue
        sf = r.sf_best
        best = r.dse_best.throughput_fps
        sf_fps = sf.metrics["throughput_fps"] if sf else None
        eq_lut = r.dse_equal.resources["LUT"] if r.dse_equal is not None else None
        sf_lut = sf.metrics["LUT"] if sf else None
        lines.append(
            f"| {r.name} | {r.device} | {fmt(best, 6)} | {fmt(sf_fps, 6)} | "
            f"{f'{best / sf_fps:.3f}' if sf_fps else '-'} | {fmt(eq_lut, 6)} | {fmt(sf_lut, 6)} | "
            f"{f'{eq_lut / sf_lut:.3f}' if eq_lut is not None and sf_lut else '-'} | {raw_ratio(r)} | "
            f"{'-' if r.hw_sf is None else ('no' if r.hw_sf['errors'] else 'yes')} | "
            f"{r.dse_builds} | {r.dse_s:.1f} | {len(r.sf_builds)} | {r.sf_s:.1f} | {r.prefix_s:.1f} |"
        )
    return lines


def parse_layers(items: list[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--layers: expected NET=FILE, got {item!r}")
        try:
            rules = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SystemExit(f"--layers: {path}: {exc}") from None
        if not isinstance(rules, list):
            raise SystemExit(f"--layers: {path}: expected a YAML list of layer rules")
        out[name] = rules
    return out


def main() -> None:
    nets = all_networks()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(nets), help=f"networks (default: all: {', '.join(nets)})")
    parser.add_argument("--quick", action="store_true", help="6 SetFolding targets, 3 bisections, FINN's default mvau_wwidth_max only")
    parser.add_argument("--targets", type=int, default=None, help="log-spaced SetFolding targets (default 16, quick 6)")
    parser.add_argument("--bisections", type=int, default=None, help="bisection builds per mvau_wwidth_max (default 6, quick 3)")
    parser.add_argument("--wwidth", type=int, nargs="*", default=None,
                        help="mvau_wwidth_max values tried besides the build config's (default 144 1024; quick: none)")
    parser.add_argument("--layers", action="append", default=[], metavar="NET=FILE",
                        help="extra layer rules (YAML list) for NET, replacing the default MVAU ram_style rule")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the studies, builds and reports in DIR (default: a temporary folder)")
    parser.add_argument("--no-hw-check", dest="hw_check", action="store_false",
                        help="skip the stream-width / data-width-converter check of the compared designs")
    args = parser.parse_args()
    args.targets = args.targets or (6 if args.quick else 16)
    args.bisections = args.bisections if args.bisections is not None else (3 if args.quick else 6)
    args.wwidth = args.wwidth if args.wwidth is not None else ([] if args.quick else [144, 1024])
    unknown = [m for m in args.models if m not in nets]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; known: {', '.join(nets)}")
    extra = parse_layers(args.layers)

    results = []
    total = time.perf_counter()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    with (contextlib.nullcontext(str(args.keep.resolve())) if args.keep is not None
          else tempfile.TemporaryDirectory(prefix="vs-setfolding-")) as tmp, \
            FinnWorker(Path(tmp) / "finn", Path(tmp) / "worker.log") as worker:
        for name in args.models:
            net = nets[name]
            print(f"\n{name} on {net.device} ({net.source})", flush=True)
            try:
                results.append(bench_network(net, worker, Path(tmp), args, extra.get(name)))
            except DseError as exc:
                print(f"  {exc}", flush=True)
                results.append(Result(name, net.device, error=str(exc).replace("|", "/")))
            except Exception as exc:  # noqa: BLE001 - one network's failure must not stop the others
                line = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                print(f"  failed: {line}", flush=True)
                results.append(Result(name, net.device, error=f"failed: {line}".replace("|", "/")))

    print(f"\n$ .venv/bin/python {shlex.join(sys.argv)}")
    print(f"(total {time.perf_counter() - total:.0f} s)\n")
    for line in table_lines(results):
        print(line)
    notes = [(r.name, n) for r in results for n in r.notes]
    if notes:
        print()
        for name, note in notes:
            print(f"- {name}: {note}")


if __name__ == "__main__":
    main()
