"""How much each fidelity knows: FINN's raw estimate and dse's count against open synthesis.

Per network (the zoo's network classes with their finn-plus flows and boards; ``--models``
adds ``mobilenet-v1``, the real MobileNet-v1 w4a4 on a ZCU102), one space: every PE/SIMD free,
MVAU/VVAU weights in ``block`` or ``distributed`` RAM. Then:

* **fits**: the exact front within the board at FINN's raw fidelity (``fidelity: {level:
  finn}``, what dse answered before the counted level), each of its points counted by dse's
  count (the same configuration in the counted table, ``frontier.predict``): how many stop
  fitting, the best raw point that still fits, against the best point of the exact front at the
  counted fidelity;
* **error per op type**: ``--synth N`` designs per network (the counted front's ends and
  middle, plus the raw front's fastest) built by FINN, counted, and their RTL nodes synthesized
  with Yosys (``dse synth``'s path, cached per node configuration): per op type and resource,
  the median and largest relative error of FINN's raw numbers and of dse's count against
  open synthesis;
* **rank**: over those designs, Kendall's tau between the design totals at each level and at
  the synth level (RTL nodes synthesized, the rest counted).

    .venv/bin/python bench/fidelity.py                       # the five zoo classes, 3 designs each
    .venv/bin/python bench/fidelity.py --models mobilenet-v1 --synth 2

Run from the repository root (zoo models are exported to studies/models once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # torch's CUDA notice when the zoo exports a model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse import frontier  # noqa: E402
from dse import study as study_mod  # noqa: E402
from dse.errors import DseError  # noqa: E402
from dse.finn.worker import FinnWorker  # noqa: E402
from dse.metrics import RESOURCES  # noqa: E402
from dse.models import FLOWS  # noqa: E402

CLASSES = ["mobilenet-tiny", "resnet-tiny", "conv1d-tiny", "mlp-float", "mlp-rtl"]


def space(tmp: Path, net: str, level: str) -> Path:
    flow = FLOWS[net]
    spec = {
        "name": f"fidelity-{net}-{level}",
        "model": net,
        "device": flow.board,
        "finn": {"steps": list(flow.steps), "standalone_thresholds": flow.standalone_thresholds, **flow.options},
        "layers": [
            {"match": {"op_type": "*"}, "PE": "all", "SIMD": "all"},
            {"match": {"op_type": "MVAU"}, "ram_style": ["block", "distributed"]},
        ],
        "objectives": ["throughput_fps", "LUT"],
        "fidelity": {"level": level},
        "sampler": "random",
        "n_trials": 1,
    }
    path = tmp / f"{net}-{level}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def fits(resources: dict[str, float], limits: dict[str, float]) -> bool:
    return all(resources[r] <= limit for r, limit in limits.items())


def relative(value: float, truth: float) -> float | None:
    return None if truth == 0 else (value - truth) / truth


def fmt(value: float | None, share: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.0%}" if share else f"{value:,.0f}"


def run(nets: list[str], designs: int, node_timeout: float) -> None:
    errors: dict[tuple[str, str], dict[str, list[float]]] = {}
    fit_rows, rank_rows = [], []
    with tempfile.TemporaryDirectory(prefix="dse-fidelity-") as scratch:
        tmp = Path(scratch)
        worker = FinnWorker(tmp / "finn_tmp", tmp / "worker.log")
        try:
            for net in nets:
                storage = f"sqlite:///{tmp}/dse.db"
                plans = {level: study_mod.prepare(space(tmp, net, level), storage, worker=worker, create=False)
                         for level in ("finn", "counted")}
                started = time.perf_counter()
                tables = {level: frontier.tabulate(plan.target, worker) for level, plan in plans.items()}
                seconds = time.perf_counter() - started
                limits, max_cycles = study_mod.frontier_limits(plans["counted"].target)
                fronts = {}
                for level, table in tables.items():
                    started = time.perf_counter()
                    fronts[level] = frontier.front(table, {"LUT": 1.0}, limits=limits, max_cycles=max_cycles)
                    fronts[level + "_s"] = time.perf_counter() - started
                raw, counted = fronts["finn"], fronts["counted"]
                recount = [frontier.predict(tables["counted"], p.params) for p in raw]
                still = [p for p, c in zip(raw, recount) if fits(c.resources, limits)]
                best_raw = raw[0] if raw else None
                fit_rows.append([
                    net, FLOWS[net].board, len(raw), len(raw) - len(still),
                    fmt(best_raw.throughput_fps) if best_raw else "-",
                    fmt(recount[0].resources["LUT"]) if raw else "-",
                    fmt(still[0].throughput_fps) if still else "none",
                    fmt(counted[0].throughput_fps) if counted else "none",
                    f"{seconds:.1f} / {fronts['finn_s']:.2f} / {fronts['counted_s']:.2f}",
                ])
                picked = (frontier.spread(counted)[:designs] + ([best_raw] if best_raw else [])) if designs else []
                totals: dict[str, list[float]] = {"finn": [], "counted": [], "synth": []}
                for i, point in enumerate(picked):
                    result = worker.synth(plans["counted"].target.prefix_dir, plans["counted"].target.hoisted, plans["counted"].target.build_config,
                                          {"Defaults": {}, **point.folding}, tmp / f"{net}-{i}",
                                          ROOT / "studies" / "synth", node_timeout)
                    if not result["ok"]:
                        print(f"{net}: design {i} failed in FINN: {result['message']}", file=sys.stderr)
                        continue
                    for key, level in (("finn_total", "finn"), ("counted_total", "counted"), ("total", "synth")):
                        totals[level].append(result[key]["LUT"])
                    for node in result["nodes"].values():
                        if node["synth"] is None:
                            continue
                        kind = node["op_type"]
                        for r in RESOURCES:
                            truth = node["synth"][r]
                            slot = errors.setdefault((kind, r), {"finn": [], "counted": [], "nodes": []})
                            if truth or node["counted"][r] or node["finn"][r]:
                                for level in ("finn", "counted"):
                                    e = relative(node[level][r], truth)
                                    if e is not None:
                                        slot[level].append(e)
                                slot["nodes"].append(1.0)
                if len(totals["synth"]) >= 3:
                    from scipy.stats import kendalltau

                    rank_rows.append([net, len(totals["synth"]),
                                      f"{kendalltau(totals['finn'], totals['synth']).statistic:.2f}",
                                      f"{kendalltau(totals['counted'], totals['synth']).statistic:.2f}"])
                for plan in plans.values():
                    plan.close()
        finally:
            worker.close()
    print("\n## Fits: the exact LUT front within the board, at FINN's raw fidelity and at dse's count\n")
    print_table(["network", "board", "raw front points", "stop fitting once counted", "raw best fps",
           "raw best, counted LUT", "best raw point that fits", "counted front best fps",
           "s: tabulate both / raw front / counted front"], fit_rows)
    print("\n## Error against open synthesis, per op type (synthesized nodes of the designs; relative, median and worst)\n")
    rows = []
    for (kind, r), slot in sorted(errors.items()):
        if not slot["nodes"]:
            continue
        row = [kind, r, str(len(slot["nodes"]))]
        for level in ("finn", "counted"):
            values = slot[level]
            row += [fmt(statistics.median(values), True), fmt(max(values, key=abs), True)] if values else ["-", "-"]
        rows.append(row)
    print_table(["op type", "resource", "nodes", "FINN median", "FINN worst", "count median", "count worst"], rows)
    print("\n## Rank agreement of the designs' LUT totals with the synth level (Kendall's tau)\n")
    print_table(["network", "designs", "tau FINN raw", "tau dse count"], rank_rows)


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=CLASSES, help="zoo networks with a flow (default: the five classes)")
    parser.add_argument("--synth", type=int, default=3,
                        help="counted-front designs per network to synthesize (with the raw front's fastest; 0: none)")
    parser.add_argument("--node-timeout", type=float, default=300.0, help="seconds per node's synthesis")
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in FLOWS]
    if unknown:
        parser.error(f"no zoo flow for {', '.join(unknown)} (known: {', '.join(FLOWS)})")
    try:
        run(args.models, args.synth, args.node_timeout)
    except DseError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
