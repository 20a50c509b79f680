"""Metrics from FINN's own report files (estimate mode, and synthesis mode when present).

Example::

    from dse.finn.reports import read_metrics
    read_metrics("studies/tfc-w1a1-pareto/trials/3/report")
    # {'throughput_fps': 111607.14, 'latency_ns': 41480.0, 'max_cycles': 896, 'LUT': 2131.0, ...}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dse.metrics import FINN_METRICS, FINN_PREFIX, RESOURCES

#: dse's count of a build, beside FINN's reports (written by the FINN worker, dse.finn.worker)
COUNTED_REPORT = "counted_resources.json"
#: The step a build names when dse's count of it failed (its failure category is ``estimate``)
COUNT_STEP = "dse_count"


class ReportError(Exception):
    """A report file is missing or does not have the expected keys."""


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"FINN report {path.name} is missing") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"FINN report {path.name} is not valid JSON: {exc}") from None


def read_metrics(report_dir: str | Path) -> dict[str, Any]:
    """Throughput, latency, cycles and resource totals of one build, at the best fidelity it has.

    FINN's own numbers (``estimate_network_performance.json`` and the ``total`` of
    ``estimate_layer_resources.json``) are kept verbatim under ``finn_<metric>``. The plain
    names hold dse's count (``counted_resources.json``, see :mod:`dse.finn.counted`) when the
    build has one, else FINN's numbers; when a synthesis build left
    ``ooc_synth_and_timing.json`` (post-route, Vivado), its resources and achieved clock.
    ``fidelity`` says which (:data:`dse.metrics.FIDELITIES`).
    """
    report = Path(report_dir)
    perf = _load(report / "estimate_network_performance.json")
    try:
        metrics: dict[str, Any] = {
            "throughput_fps": float(perf["estimated_throughput_fps"]),
            "latency_ns": float(perf["estimated_latency_ns"]),
            "max_cycles": int(perf["max_cycles"]),
        }
        metrics["bottleneck"] = perf.get("max_cycles_node_name")
        total = _load(report / "estimate_layer_resources.json")["total"]
        for res in RESOURCES:
            metrics[res] = float(total.get(res, 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"FINN estimate report lacks an expected key: {exc}") from None
    metrics.update({FINN_PREFIX + m: metrics[m] for m in FINN_METRICS})
    metrics["fidelity"] = "finn"
    counted = report / COUNTED_REPORT
    if counted.exists():
        try:
            metrics.update({r: float(_load(counted)["total"][r]) for r in RESOURCES})
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(f"{COUNTED_REPORT} lacks an expected key: {exc}") from None
        metrics["fidelity"] = "counted"
    ooc = report / "ooc_synth_and_timing.json"
    if ooc.exists():
        metrics.update(_synthesis_metrics(_load(ooc), int(metrics["max_cycles"])))
    return metrics


def _synthesis_metrics(ooc: dict[str, Any], max_cycles: int) -> dict[str, Any]:
    """Post-route numbers: BRAM in 18K units (36K tiles count twice), fps at the achieved fmax."""
    try:
        bram18 = float(ooc.get("BRAM_18K", 0)) + 2 * float(ooc.get("BRAM_36K", 0))
        if "BRAM_18K" not in ooc and "BRAM_36K" not in ooc and "BRAM" in ooc:
            bram18 = 2 * float(ooc["BRAM"])
        fmax = float(ooc["fmax_mhz"])
        out = {
            "LUT": float(ooc["LUT"]),
            "BRAM_18K": bram18,
            "URAM": float(ooc.get("URAM", 0)),
            "DSP": float(ooc.get("DSP", 0)),
            "FF": float(ooc.get("FF", 0)),
            "fmax_mhz": fmax,
            "throughput_fps": fmax * 1e6 / max_cycles,
            "fidelity": "vivado",
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"ooc_synth_and_timing.json lacks an expected key: {exc}") from None
    return out
