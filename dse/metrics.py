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
