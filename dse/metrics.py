"""Metric names, directions, units and display formats: defined once, read everywhere.

The names are FINN's report numbers as ``dse`` stores them on every trial (user attrs) and as
design-space files name them (objectives, caps). The space file, the objective, the
frontier, the analysis tables, the CLI, the HTML report and the plots all read this table.

>>> METRICS["throughput_fps"].direction, fmt("throughput_fps", 1785714.2857), fmt("LUT", 6292.0)
('maximize', '1,785,714', '6,292')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One metric: its Optuna direction, its unit and how a number of it is shown."""

    name: str
    direction: str
    unit: str
    #: "int": whole numbers with thousands separators; "share": a percentage
    style: str = "int"

    @property
    def label(self) -> str:
        """Axis or column label with the unit, e.g. ``throughput_fps (frames/s)``."""
        return f"{self.name} ({self.unit})"


#: The resources FINN estimates, in FINN's order.
RESOURCES: tuple[str, ...] = ("LUT", "BRAM_18K", "URAM", "DSP")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("throughput_fps", "maximize", "frames/s"),
        Metric("latency_ns", "minimize", "ns"),
        Metric("max_cycles", "minimize", "cycles"),
        Metric("LUT", "minimize", "LUTs"),
        Metric("BRAM_18K", "minimize", "18 Kb BRAMs"),
        Metric("URAM", "minimize", "URAMs"),
        Metric("DSP", "minimize", "DSP slices"),
        Metric("utilization", "minimize", "share of the budget", "share"),
    )
}
#: Metric name -> Optuna direction (objectives, Pareto fronts).
DIRECTIONS: dict[str, str] = {name: m.direction for name, m in METRICS.items()}
#: The metrics a table shows by default, in this order.
TABLE: tuple[str, ...] = ("throughput_fps", "latency_ns", *RESOURCES)


#: Where FINN's own report numbers are kept on every trial and front point, verbatim: ``finn_LUT``.
FINN_PREFIX = "finn_"
#: FINN's own numbers kept next to dse's (throughput is FINN's at every level but vivado).
FINN_METRICS: tuple[str, ...] = ("throughput_fps", "latency_ns", *RESOURCES)


@dataclass(frozen=True)
class Fidelity:
    """One level of what a number knows, cheapest first: every stored number says its level."""

    name: str
    #: how a table title says it
    short: str
    what: str
    misses: str


#: The fidelity levels, cheapest first (user attr ``fidelity``; ``fidelity: {level: ...}`` in a space file).
FIDELITIES: dict[str, Fidelity] = {
    f.name: f
    for f in (
        Fidelity("finn", "FINN's raw estimate", "FINN's own estimate reports, verbatim",
                 "RTL MVAU/VVAU LUTs and distributed-RAM weights (counted 0), data-width converters, FIFOs"),
        Fidelity("counted", "dse's count: FINN's estimators + converters, minimal FIFOs, RTL MVAU/VVAU corrections",
                 "FINN's estimators over the graph with the converters and minimal FIFOs FINN inserts, "
                            "plus the op model's corrections",
                 "deeper FIFOs from simulated sizing, what only synthesis knows"),
        Fidelity("synth", "open synthesis (Yosys) of RTL nodes, others counted", "open synthesis (Yosys) of the design's RTL nodes; other nodes counted",
                 "HLS nodes (counted), Vivado's own mapping"),
        Fidelity("vivado", "Vivado out-of-context synthesis", "FINN's out-of-context synthesis with Vivado", "placement and routing"),
    )
}


def resources_at(level: str | None) -> str:
    """A table title's words for the fidelity of its resource numbers: ``resources: FINN's raw estimate``."""
    spec = FIDELITIES.get(level or "")
    return f"resources: {spec.short}" if spec else "resources: fidelity not recorded"


def fmt(metric: str, value: Any) -> str:
    """A metric's value as every table shows it: ``1,785,714`` (never ``1.78571e+06``), ``41.2%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    spec = METRICS.get(metric)
    if spec is not None and spec.style == "share":
        return f"{float(value):.1%}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if abs(value) >= 100 or float(value).is_integer():
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)
