"""The exact throughput-vs-resource Pareto front of a folding space, from FINN's own estimators.

In FINN's estimate mode a network's resources are the sums of its nodes' estimates and its
throughput is set by the slowest node: ``fps = 1e9 / (clock_ns * max_cycles)``. Split the
space into *units*: groups of knobs that set attributes of the same nodes (an MVAU's PE,
SIMD, ram_style, ... together with the sliding-window generator its SIMD drives). Units are
independent: a unit's option fixes its nodes' cycles and resources whatever the others do.
So for every candidate bottleneck ``C`` each unit independently takes its cheapest option
with ``cycles <= C``, and the sweep over all ``C`` gives the exact front of
``(max_cycles, cost)`` for any cost that is a non-negative weighted sum of LUT, BRAM_18K,
URAM and DSP - without enumerating the product space (CNV: ~1e16 points, each unit's options
are a few hundred FINN estimator calls).

What is exact and what is not:

* exact: the front of throughput vs one resource, or vs a fixed weighted sum of resources,
  over the whole space (every point of it is a valid configuration, nothing is dropped);
* exact under budgets: when the cheapest configuration at a bottleneck also fits the device
  budget and the caps (checked per point, ``feasible``); a point that does not fit is
  reported as infeasible, not replaced by a feasible one that costs more (that would be a
  knapsack problem; ``Point.feasible`` says where it matters);
* not a multi-resource front: "LUT vs BRAM vs throughput" at once is not computed; a
  weighted sum picks one trade-off.

Costs that couple two units (the data-width converters and FIFOs FINN inserts on a stream,
which depend on the stream widths at both ends) are ``Table.edges``: an :class:`Edge` maps
each option of its producer unit ``u`` and of its consumer unit ``v`` to a class, and a
(producer class, consumer class) pair to resources. Units then are no longer independent,
so ``front`` replaces the per-unit choice by a dynamic programme over the units in order
whose state is the classes of the edges still open; everything stays exact::

    table.edges.append(frontier.Edge(u=0, v=1, out_class=[0, 1, 1], in_class=[0, 1],
                                     cost={(0, 1): {"LUT": 120.0}, (1, 0): {"LUT": 80.0}}))

It relies on FINN's estimate-mode arithmetic (sums and a max), on the tail being
FINN's standard one with bit-width minimization already done in the prefix (``hoisted``),
and on ``Space`` knobs only touching nodes through their options. ``tabulate`` refuses
spaces where that does not hold.

Example::

    from dse import frontier, study
    plan = study.prepare("configs/tfc-w1a1-pareto.yaml", create=False)
    table = frontier.tabulate(plan.target, plan.worker)
    for point in frontier.front(table, {"LUT": 1.0}):
        print(point.throughput_fps, point.resources["LUT"])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dse.errors import DseError
from dse.space import Assign, Knob, Space

from dse.metrics import FINN_PREFIX, RESOURCES


@dataclass
class Option:
    """One setting of a unit's knobs: its Optuna params, node attributes and FINN estimates."""

    params: dict[str, Any]
    assign: Assign
    cycles: int = 0
    #: at the table's fidelity (dse's count by default)
    resources: dict[str, float] = field(default_factory=dict)
    #: FINN's own estimates of its nodes, verbatim
    finn_resources: dict[str, float] = field(default_factory=dict)


@dataclass
class Unit:
    """Knobs that touch the same nodes; independent of every other unit."""

    knobs: list[Knob]
    nodes: list[str]
    options: list[Option]


@dataclass
class Edge:
    """A stream from unit ``u`` to unit ``v`` whose cost depends on both ends (converters, FIFOs FINN inserts)."""

    u: int  # index into table.units (producer side)
    v: int  # index into table.units (consumer side), v != u
    out_class: list[int]  # per option of unit u (same order as table.units[u].options): the class of its stream end
    in_class: list[int]  # per option of unit v: the class of its stream end
    cost: dict[tuple[int, int], dict[str, float]]  # (out class, in class) -> resources; a missing pair costs nothing


@dataclass
class Table:
    """Every unit's options with their estimates, plus the nodes no knob touches and the edges between units."""

    units: list[Unit]
    const_cycles: int
    const_resources: dict[str, float]
    order: list[str]
    clock_ns: float
    budget: dict[str, float]
    #: the cycles of each node no knob touches (``const_cycles`` is their maximum)
    const_node_cycles: dict[str, int] = field(default_factory=dict)
    #: costs that depend on the options of two units (empty: the units are independent)
    edges: list[Edge] = field(default_factory=list)
    #: FINN's own estimates of the nodes no knob touches
    const_finn_resources: dict[str, float] = field(default_factory=dict)
    #: the fidelity of ``resources`` (``dse.metrics.FIDELITIES``)
    fidelity: str = "counted"

    def throughput(self, max_cycles: int) -> float:
        return 1e9 / (self.clock_ns * max_cycles)

    @property
    def size(self) -> int:
        """Number of points in the product space (for reports)."""
        return math.prod(len(u.options) for u in self.units)


@dataclass
class Point:
    """One configuration on the front, with the estimates FINN will report for it."""

    params: dict[str, Any]
    folding: Assign
    max_cycles: int
    throughput_fps: float
    resources: dict[str, float]
    cost: float
    feasible: bool = True
    #: FINN's own estimates (its estimate_layer_resources.json total), next to ``resources``
    finn_resources: dict[str, float] = field(default_factory=dict)
    fidelity: str = "counted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "throughput_fps": self.throughput_fps,
            "max_cycles": self.max_cycles,
            **self.resources,
            "fidelity": self.fidelity,
            **{FINN_PREFIX + r: v for r, v in self.finn_resources.items()},
            "feasible": self.feasible,
            "params": self.params,
            "folding_config": {"Defaults": {}, **self.folding},
        }


#: Why a target_fps space has no exact front (one line).
TARGET_FPS_REFUSAL = ("frontier: a target_fps space lets FINN's SetFolding choose the folding; "
                      "the exact front needs per-layer PE/SIMD knobs (layers: ...)")


def units_of(space: Space) -> list[list[Knob]]:
    """Group the space's knobs into independent units (knobs sharing a node share a unit)."""
    if space.target_fps is not None:
        raise DseError(TARGET_FPS_REFUSAL)
    parent = list(range(len(space.knobs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    params = {k.param: i for i, k in enumerate(space.knobs)}
    for i, knob in enumerate(space.knobs):
        touched = {node for option in knob.options for node in option} | {knob.node}
        for node in touched:
            if node in owner:
                parent[find(i)] = find(owner[node])
            else:
                owner[node] = i
        if knob.pair is not None:
            parent[find(i)] = find(params[knob.pair])
    groups: dict[int, list[Knob]] = {}
    for i, knob in enumerate(space.knobs):
        groups.setdefault(find(i), []).append(knob)
    return list(groups.values())


def _options(knobs: list[Knob]) -> list[Option]:
    """Every valid setting of a unit (paired PE/SIMD within FINN's weight-stream limit)."""
    out = []

    def walk(i: int, chosen: dict[str, Any], params: dict[str, Any], assign: Assign) -> None:
        if i == len(knobs):
            out.append(Option(dict(params), {n: dict(a) for n, a in assign.items()}))
            return
        knob = knobs[i]
        for index in range(knob.count(chosen)):
            chosen[knob.param] = knob.values[index]
            params[knob.param] = index if knob.ordinal else knob.values[index]
            merged = {n: dict(a) for n, a in assign.items()}
            for node, attrs in knob.options[index].items():
                merged.setdefault(node, {}).update(attrs)
            walk(i + 1, chosen, params, merged)
        chosen.pop(knob.param, None)
        params.pop(knob.param, None)

    walk(0, {}, {}, {})
    return out


def tabulate(target: Any, worker: Any) -> Table:
    """Estimate every unit option with FINN's node estimators (one call into the FINN worker)."""
    space: Space = target.space
    groups = units_of(space)
    from dse.finn import adapter

    if not target.hoisted:
        raise DseError(f"frontier: node estimates are final only after the build, because {target.hoist_blocker}")
    if not adapter.estimate_only_tail(target.build_config):
        raise DseError("frontier: finn.steps: only report steps may follow step_minimize_bit_width "
                       "(other steps could change the estimates)")
    units = []
    for knobs in groups:
        options = _options(knobs)
        nodes = sorted({n for o in options for n in o.assign})
        units.append(Unit(knobs, nodes, options))
    variants = [o.assign for u in units for o in u.options]
    counted = target.fidelity == "counted"
    result = worker.estimate(target.prefix_dir, target.hoisted, target.build_config["fpga_part"], space.fixed, variants,
                             counted)
    base, order = result["base"], result["order"]
    estimates = iter(result["variants"])
    owner: dict[str, int] = {}
    # per unit, per option: every node of the unit's estimate (one it leaves alone: as in the base)
    per_option: list[list[dict[str, Any]]] = []
    for index, unit in enumerate(units):
        owner.update({node: index for node in unit.nodes})
        rows = []
        for option in unit.options:
            est = next(estimates)
            full = {node: est.get(node, base[node]) for node in unit.nodes}
            option.cycles = max(e["cycles"] for e in full.values())
            option.resources = {r: sum(e[r] for e in full.values()) for r in RESOURCES}
            option.finn_resources = {r: sum(e["finn"][r] for e in full.values()) for r in RESOURCES}
            rows.append(full)
        per_option.append(rows)
    const = [n for n in order if n not in owner]
    table = Table(
        units=units,
        const_cycles=max((base[n]["cycles"] for n in const), default=0),
        const_resources={r: sum(base[n][r] for n in const) for r in RESOURCES},
        order=order,
        clock_ns=float(target.build_config["synth_clk_period_ns"]),
        budget=dict(target.budget),
        const_node_cycles={n: base[n]["cycles"] for n in const},
        const_finn_resources={r: sum(base[n]["finn"][r] for n in const) for r in RESOURCES},
        fidelity=target.fidelity,
    )
    for stream in result.get("streams", []):
        _add_stream(table, stream, owner, per_option, base)
    return table


def _add_stream(table: Table, stream: dict[str, Any], owner: dict[str, int], per_option: list[list[dict[str, Any]]],
                base: dict[str, Any]) -> None:
    """Put what FINN inserts on one stream where its cost is decided: on the nodes no knob
    touches, on the options of the one unit that sets it, or on an :class:`Edge` between two units."""
    producer, consumer = stream["producer"], stream["consumer"]
    out_key, in_key = f"out:{stream['out']}", f"in:{stream['in']}"
    u, v = owner.get(producer), owner.get(consumer)

    def state(node: str, key: str, unit: int | None, option: int) -> int:
        est = base[node] if unit is None else per_option[unit][option][node]
        return int(est["ports"][key])

    cost = stream["cost"]
    if u is None and v is None:
        for r, value in cost[state(producer, out_key, None, 0)][state(consumer, in_key, None, 0)].items():
            table.const_resources[r] += value
    elif u is None or v is None or u == v:
        unit = u if u is not None else v
        for i, option in enumerate(table.units[unit].options):  # type: ignore[index]
            added = cost[state(producer, out_key, u, i)][state(consumer, in_key, v, i)]
            for r, value in added.items():
                option.resources[r] += value
    else:
        table.edges.append(Edge(
            u, v,
            [state(producer, out_key, u, i) for i in range(len(table.units[u].options))],
            [state(consumer, in_key, v, i) for i in range(len(table.units[v].options))],
            {(a, b): dict(res) for a, row in enumerate(cost) for b, res in enumerate(row) if any(res.values())},
        ))


def _cost(resources: dict[str, float], weights: dict[str, float]) -> float:
    return sum(w * resources[r] for r, w in weights.items())


def _picks(table: Table, chosen: list[Option]) -> list[int]:
    """The index of each chosen option in its unit (by identity: equal options may sit in two units)."""
    return [next(j for j, o in enumerate(u.options) if o is c) for u, c in zip(table.units, chosen)]


def _total(table: Table, chosen: list[Option], picks: list[int] | None = None) -> dict[str, float]:
    """Exact resources of a configuration: fixed nodes, then its options, then its edges (``picks``: option indices)."""
    resources = dict(table.const_resources)
    for option in chosen:
        for r in RESOURCES:
            resources[r] += option.resources[r]
    if table.edges:
        picks = _picks(table, chosen) if picks is None else picks
        for e in table.edges:
            pair = e.cost.get((e.out_class[picks[e.u]], e.in_class[picks[e.v]]), {})
            for r in RESOURCES:
                resources[r] += pair.get(r, 0.0)
    return resources


def _point(
    table: Table, chosen: list[Option], weights: dict[str, float], feasible: Any = None, picks: list[int] | None = None,
) -> Point:
    """A configuration's point (``picks``: its options' indices, if known: spares the lookup its edges need)."""
    cycles = max([table.const_cycles, *(o.cycles for o in chosen)])
    resources = _total(table, chosen, picks)
    params: dict[str, Any] = {}
    folding: Assign = {}
    for option in chosen:
        params.update(option.params)
        for node, attrs in option.assign.items():
            folding.setdefault(node, {}).update(attrs)
    finn = {r: table.const_finn_resources.get(r, 0.0) + sum(o.finn_resources.get(r, 0.0) for o in chosen)
            for r in RESOURCES}
    point = Point(params, folding, cycles, table.throughput(cycles), resources, _cost(resources, weights),
                  finn_resources=finn, fidelity=table.fidelity)
    if feasible is not None:
        point.feasible = bool(feasible(point))
    return point


def predict(table: Table, params: dict[str, Any]) -> Point:
    """The estimates of one configuration (Optuna params), without building it."""
    chosen = []
    for unit in table.units:
        wanted = {k.param: params[k.param] for k in unit.knobs}
        match = [o for o in unit.options if o.params == wanted]
        if not match:
            raise ValueError(f"not a valid point of the space: {wanted}")
        chosen.append(match[0])
    return _point(table, chosen, {"LUT": 1.0})


def _rows(a: Any) -> tuple[Any, Any]:
    """The distinct rows of a 2-D array and each row's index among them (one empty row for zero columns)."""
    import numpy as np

    if a.shape[1] == 0:
        return np.zeros((1, 0), a.dtype), np.zeros(len(a), np.int64)
    unique, inverse = np.unique(a, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


@dataclass
class _Link:
    """An edge as the sweeps in unit order see it: opened at unit ``lo``, closed at unit ``hi`` (``lo < hi``).

    Classes of one end whose costs agree against every class of the other end are merged (fewer DP
    states and MILP rows, the same sums); ``cost`` is dense: [lo class, hi class, resource in RESOURCES order].
    """

    lo: int
    hi: int
    lo_class: list[int]
    hi_class: list[int]
    cost: Any


def _links(table: Table) -> list[_Link]:
    """``table.edges`` checked and normalised; edges that cost nothing whatever the options are left out."""
    import numpy as np

    links = []
    for e in table.edges:
        n = len(table.units)
        if e.u == e.v or not (0 <= e.u < n and 0 <= e.v < n) or len(e.out_class) != len(table.units[e.u].options) \
                or len(e.in_class) != len(table.units[e.v].options):
            raise DseError(f"frontier: edge {e.u}->{e.v} needs two different units and a class for each of their options")
        if any(v < 0 for pair in e.cost.values() for v in pair.values()):
            raise DseError(f"frontier: edge {e.u}->{e.v} has a negative cost")
        outs, ins = sorted(set(e.out_class)), sorted(set(e.in_class))
        dense = np.array([[[e.cost.get((a, b), {}).get(r, 0.0) for r in RESOURCES] for b in ins] for a in outs], dtype=float)
        if not dense.any():
            continue
        rows, out_of = _rows(dense.reshape(len(outs), -1))
        cols, in_of = _rows(rows.reshape(len(rows), len(ins), -1).transpose(1, 0, 2).reshape(len(ins), -1))
        cost = cols.reshape(len(cols), len(rows), len(RESOURCES)).transpose(1, 0, 2)
        out_class = [int(c) for c in out_of[np.searchsorted(outs, e.out_class)]]
        in_class = [int(c) for c in in_of[np.searchsorted(ins, e.in_class)]]
        if e.u < e.v:
            links.append(_Link(e.u, e.v, out_class, in_class, cost))
        else:
            links.append(_Link(e.v, e.u, in_class, out_class, cost.transpose(1, 0, 2)))
    return links


class _Sweep:
    """The cheapest configuration under a bottleneck bound when edges couple units: exact DP over the units in order.

    Its state is the classes of the open edge ends (an edge from a unit already chosen to one not yet):
    the rest of a configuration only sees those, whatever the graph, and they are few for chains and
    residual blocks. A unit enters with its best option per signature (its classes on its edges) only:
    options with the same signature pay the same edge costs. The transitions (state x signature ->
    state, with the closed edges' costs) do not depend on the bound, so they are built once; a larger
    bound only lowers some signatures' bests, and the DP is redone from the first unit that changed.
    The key is ``front``'s, summed over units and edges (cost, leanness) with the max of the cycles.
    """

    def __init__(self, table: Table, links: list[_Link], weights: dict[str, float], scale: dict[str, float], key: Any):
        import numpy as np

        self.key = key
        w = np.array([weights.get(r, 0.0) for r in RESOURCES])
        s = np.array([scale[r] for r in RESOURCES])
        # per unit: parent state, signature, new state, edge cost, edge leanness, group starts
        self.steps: list[tuple[Any, ...]] = []
        self.where: list[dict[int, tuple[int, int]]] = []  # per unit: id(option) -> (option index, signature)
        self.best: list[Any] = []  # per unit and signature: cost, leanness, cycles, option index (inf: none yet)
        states = np.zeros((1, 0), np.int64)
        open_: list[int] = []
        for i, unit in enumerate(table.units):
            closing = [q for q, k in enumerate(open_) if links[k].hi == i]
            staying = [q for q, k in enumerate(open_) if links[k].hi != i]
            opening = [k for k, link in enumerate(links) if link.lo == i]
            classes = np.array([[links[open_[q]].hi_class[j] for q in closing] + [links[k].lo_class[j] for k in opening]
                                for j in range(len(unit.options))], np.int64).reshape(len(unit.options), -1)
            sigs, sig_of = _rows(classes)
            parent = np.repeat(np.arange(len(states)), len(sigs))
            sig = np.tile(np.arange(len(sigs)), len(states))
            if len(parent) > PARETO_LIMIT:
                raise DseError(f"frontier: the edges around unit {i} keep too many stream classes open at once")
            new_states, new = _rows(np.hstack([states[parent][:, staying], sigs[sig][:, len(closing):]]))
            paid = np.zeros((len(parent), len(RESOURCES)))
            for c, q in enumerate(closing):
                paid += links[open_[q]].cost[states[parent, q], sigs[sig, c]]
            order = np.argsort(new, kind="stable")
            parent, sig, new, paid = parent[order], sig[order], new[order], paid[order]
            starts = np.flatnonzero(np.r_[True, new[1:] != new[:-1]])
            self.steps.append((parent, sig, new, paid @ w, paid @ s, starts))
            self.where.append({id(o): (j, int(sig_of[j])) for j, o in enumerate(unit.options)})
            self.best.append(np.full((len(sigs), 4), math.inf))
            states, open_ = new_states, [open_[q] for q in staying] + opening
        self.layers: list[Any] = [None] * len(self.steps)
        self.dirty = 0

    def offer(self, unit: int, option: Option) -> None:
        """An option now under the bound: it may become its signature's best."""
        j, sig = self.where[unit][id(option)]
        row = self.best[unit][sig]
        key = self.key(option)
        if key < (row[0], row[1], row[2]):
            row[:] = (*key, j)
            self.dirty = min(self.dirty, unit)

    def solve(self) -> list[int] | None:
        """The chosen option index per unit (None: some unit has no option under the bound yet)."""
        import numpy as np

        cost = lean = cycles = np.zeros(1)
        if self.dirty:
            cost, lean, cycles, _ = self.layers[self.dirty - 1]
        for i in range(self.dirty, len(self.steps)):
            parent, sig, new, paid_cost, paid_lean, starts = self.steps[i]
            best = self.best[i]
            c = cost[parent] + best[sig, 0] + paid_cost
            lean_ = lean[parent] + best[sig, 1] + paid_lean
            y = np.maximum(cycles[parent], best[sig, 2])
            pick = np.lexsort((y, lean_, c, new))[starts]  # per new state, its least (cost, leanness, cycles)
            cost, lean, cycles = c[pick], lean_[pick], y[pick]
            self.layers[i] = (cost, lean, cycles, pick)
        self.dirty = len(self.steps)
        if not math.isfinite(self.layers[-1][0][0]):
            return None
        picks, state = [0] * len(self.steps), 0
        for i in range(len(self.steps) - 1, -1, -1):
            parent, sig = self.steps[i][0], self.steps[i][1]
            k = self.layers[i][3][state]
            picks[i] = int(self.best[i][sig[k], 3])
            state = parent[k]
        return picks


def front(
    table: Table, weights: dict[str, float], feasible: Any = None, limits: dict[str, float] | None = None,
    max_cycles: int | None = None,
) -> list[Point]:
    """The exact Pareto front of (throughput up, weighted resource cost down), fastest first.

    ``weights``: non-negative weight per resource, e.g. ``{"LUT": 1.0}``. Among options of
    equal cost a unit takes the one using the fewest other resources (then the fewest cycles),
    so front points are also as lean as possible in what the cost ignores.

    ``limits`` (resource -> most it may use, e.g. the device budget and resource caps) makes it
    the exact front *within* them: at every bottleneck the cheapest configuration that meets
    every limit at once. Where the unit-by-unit cheapest one breaks a limit, that is a
    multiple-choice knapsack, solved exactly by HiGHS (SciPy's MILP). ``max_cycles``: drop
    bottlenecks slower than this (a minimum-throughput cap).

    With ``table.edges`` a unit's cheapest option depends on its neighbours' choices, so the
    per-unit choice becomes a DP over the units (:class:`_Sweep`), the same key summed over
    units and edges; without edges the sweep is the per-unit one.
    """
    if not weights or any(w < 0 or r not in RESOURCES for r, w in weights.items()) or not any(weights.values()):
        raise DseError(f"frontier: the cost must weigh some of {', '.join(RESOURCES)} with non-negative weights")
    if not all(u.options for u in table.units):
        return []
    scale = {r: 1.0 / table.budget[r] if table.budget.get(r) else 1.0 for r in RESOURCES}
    limits = {r: v for r, v in (limits or {}).items() if v is not None and math.isfinite(v)}

    def key(option: Option) -> tuple[float, float, int]:
        return (_cost(option.resources, weights), sum(option.resources[r] * scale[r] for r in RESOURCES), option.cycles)

    def fits(point: Point) -> bool:
        return all(point.resources[r] <= limit for r, limit in limits.items())

    links = _links(table)
    sweep = _Sweep(table, links, weights, scale, key) if links else None
    by_cycles = [sorted(u.options, key=lambda o: o.cycles) for u in table.units]
    candidates = sorted({table.const_cycles, *(o.cycles for u in table.units for o in u.options)})
    best: list[Option | None] = [None] * len(table.units)
    cursor = [0] * len(table.units)
    points: list[Point] = []
    for bound in candidates:  # fastest first: raising the bound only adds options
        if max_cycles is not None and bound > max_cycles:
            break
        for i, options in enumerate(by_cycles):
            while cursor[i] < len(options) and options[cursor[i]].cycles <= bound:
                option = options[cursor[i]]
                if sweep is not None:
                    sweep.offer(i, option)
                elif best[i] is None or key(option) < key(best[i]):
                    best[i] = option
                cursor[i] += 1
        if bound < table.const_cycles:
            continue
        picks = sweep.solve() if sweep is not None else None
        if sweep is not None:
            if picks is None:
                continue
            chosen = [u.options[j] for u, j in zip(table.units, picks)]
        elif any(b is None for b in best):
            continue
        else:
            chosen = list(best)  # type: ignore[arg-type]
        point = _point(table, chosen, weights, feasible, picks)
        if limits and not fits(point):
            within = _cheapest_within(table, [o[: c] for o, c in zip(by_cycles, cursor)], weights, limits, key, links)
            if within is None:
                continue  # nothing this fast fits
            point = _point(table, within, weights, feasible)
        if points and point.max_cycles == points[-1].max_cycles:
            continue
        if not points or point.cost < points[-1].cost:
            points.append(point)
    return points


def _cheapest_within(
    table: Table, allowed: list[list[Option]], weights: dict[str, float], limits: dict[str, float], key: Any,
    links: list[_Link] | None = None,
) -> list[Option] | None:
    """One option per unit, minimum cost, every limited resource within its limit (or None).

    A multiple-choice knapsack: binary x per option, one per unit, solved exactly by HiGHS.
    The solution is re-checked with exact sums; HiGHS' feasibility tolerance cannot let a point
    over a limit through.

    Edges are linearised by their marginals: a z >= 0 per edge and (lo class a, hi class b) pair
    carries the pair's cost in the objective and the limit rows, with sum over b of z[a, b] = the
    x's of lo's options of class a, and likewise per b. For integral x both sides are one-hot, so z
    is exactly their product (whatever the costs); and the LP relaxation is much tighter than
    z >= y_a + y_b - 1 (several times faster on chains).
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    links = _links(table) if links is None else links
    where = [{id(o): j for j, o in enumerate(u.options)} for u in table.units] if links else []
    touching = [[k for k, link in enumerate(links) if u in (link.lo, link.hi)] for u in range(len(table.units))]

    def ends(u: int, option: Option) -> tuple[int, ...]:
        """An option's classes on its unit's edges (``touching[u]``): options that differ there pay different edge costs."""
        if not links:
            return ()
        j = where[u][id(option)]
        return tuple(links[k].lo_class[j] if links[k].lo == u else links[k].hi_class[j] for k in touching[u])

    # within a unit, an option no better than another with the same edge classes in cost and every limited
    # resource is never needed
    pruned: list[list[tuple[Option, tuple[int, ...]]]] = []
    for u, options in enumerate(allowed):
        keep: list[tuple[Option, tuple[int, ...]]] = []
        same: dict[tuple[int, ...], list[Option]] = {}
        for o in sorted(options, key=key):
            sig = ends(u, o)
            if not any(all(k.resources[r] <= o.resources[r] for r in limits) for k in same.get(sig, ())):
                keep.append((o, sig))
                same.setdefault(sig, []).append(o)
        pruned.append(keep)
    flat = [(u, o) for u, options in enumerate(pruned) for o, _ in options]
    columns: dict[tuple[int, int, int], list[int]] = {}  # (link, unit, class) -> x columns
    for j, (u, sig) in enumerate((u, sig) for u, options in enumerate(pruned) for _, sig in options):
        for k, c in zip(touching[u], sig):
            columns.setdefault((k, u, c), []).append(j)
    extra: list[Option] = []  # per z: its pair's resources
    marginals: list[tuple[list[int], list[int]]] = []  # per end class: its options' x columns, its pairs' z's
    for k, link in enumerate(links):
        lo = [columns.get((k, link.lo, a), []) for a in range(link.cost.shape[0])]
        hi = [columns.get((k, link.hi, b), []) for b in range(link.cost.shape[1])]
        pairs = [(a, b) for a in range(len(lo)) for b in range(len(hi)) if lo[a] and hi[b]]
        z = {pair: len(flat) + len(extra) + i for i, pair in enumerate(pairs)}
        dense = link.cost.tolist()
        extra += [Option({}, {}, 0, dict(zip(RESOURCES, dense[a][b]))) for a, b in pairs]
        marginals += [(lo[a], [z[a, b] for b in range(len(hi)) if (a, b) in z]) for a in range(len(lo)) if lo[a]]
        marginals += [(hi[b], [z[a, b] for a in range(len(lo)) if (a, b) in z]) for b in range(len(hi)) if hi[b]]
    n = len(flat) + len(extra)
    cost = np.array([_cost(o.resources, weights) for _, o in flat] + [_cost(o.resources, weights) for o in extra])
    # a tiny tie-break towards lean options (as ``key`` does), far below any cost difference
    lean = np.array([key(o)[1] for _, o in flat] + [key(o)[1] for o in extra])
    spread_cost = max(float(cost.max() - cost.min()), 1.0)
    objective = cost + lean * (spread_cost * 1e-9 / max(float(lean.max()), 1e-12))
    one = np.zeros((len(pruned), n))
    for j, (u, _) in enumerate(flat):
        one[u, j] = 1.0
    resources = sorted(limits)
    use = np.array([[o.resources[r] for _, o in flat] + [o.resources[r] for o in extra] for r in resources])
    room = np.array([limits[r] - table.const_resources[r] for r in resources])
    if (room < 0).any():
        return None
    coupling = []
    if marginals:
        rows = [k for k, (xs, zs) in enumerate(marginals) for _ in range(len(xs) + len(zs))]
        cols = [j for xs, zs in marginals for j in (*xs, *zs)]
        vals = [v for xs, zs in marginals for v in (*[1.0] * len(xs), *[-1.0] * len(zs))]
        coupling = [LinearConstraint(csr_array((vals, (rows, cols)), shape=(len(marginals), n)), 0, 0)]
    integrality = np.r_[np.ones(len(flat)), np.zeros(len(extra))]
    for attempt in range(3):
        # exact limits first; only if HiGHS' tolerance let a solution over one, tighten a hair
        slack = room - (np.maximum(np.abs(room), 1.0) * 1e-9 * 10**attempt if attempt else 0.0)
        result = milp(
            objective,
            constraints=[LinearConstraint(one, 1, 1), LinearConstraint(use, -np.inf, slack), *coupling],
            integrality=integrality, bounds=Bounds(0, 1), options={"mip_rel_gap": 0},
        )
        if result.status != 0 or result.x is None:
            return None
        chosen = [flat[j][1] for j in np.flatnonzero(result.x[: len(flat)] > 0.5)]
        if len(chosen) == len(pruned):
            total = _total(table, chosen)
            if all(total[r] <= limits[r] for r in resources):
                return chosen
    return None  # pragma: no cover - tolerance trouble three times over


#: Partial configurations a multi-resource Pareto set may hold at once before it is refused.
PARETO_LIMIT = 500_000


def pareto_set(
    table: Table, resources: list[str], limits: dict[str, float] | None = None, max_cycles: int | None = None,
) -> list[Point]:
    """The exact Pareto set of (throughput up, each of ``resources`` down) within ``limits``, fastest first.

    Dominance-pruned dynamic programming over the units: a network's cycles are the max of its
    units' and its resources their sums, both monotone, so a partial configuration that is no
    better than another in cycles, in every objective resource and in every limited resource
    can never complete to a needed point, and is dropped (moocore's non-dominated filter).
    Partial configurations that cannot fit even with the leanest rest are dropped too. Its size
    grows with the trade-offs, not with the space: it is refused in one line past
    :data:`PARETO_LIMIT` partial configurations.

    With edges, a partial configuration also carries the classes of its open edge ends (edges
    from a chosen unit to one not yet chosen): only those with the same open classes complete
    alike, so dominance is only among them; an edge's cost is added when its second end is chosen.
    """
    import moocore
    import numpy as np

    limits = {r: v for r, v in (limits or {}).items() if v is not None and math.isfinite(v)}
    dims = list(dict.fromkeys([*resources, *limits]))
    links = _links(table)
    link_cost = [link.cost[:, :, [RESOURCES.index(r) for r in dims]] for link in links]
    # every option as (cycles, dims...); dims no option uses are left out of the dominance test
    matrices = [np.array([[o.cycles, *(o.resources[r] for r in dims)] for o in u.options], dtype=float) for u in table.units]
    used = [0] + [1 + i for i, r in enumerate(dims) if any(m[:, 1 + i].any() for m in matrices) or table.const_resources[r]
                  or any(c[:, :, i].any() for c in link_cost)]
    # the leanest rest: each unit's least option and each edge's least pair (costs are >= 0)
    least_rest = np.zeros((len(table.units) + 1, len(dims)))
    for i in range(len(table.units) - 1, -1, -1):
        least_rest[i] = least_rest[i + 1] + matrices[i][:, 1:].min(axis=0)
        least_rest[i] += sum((c.min(axis=(0, 1)) for link, c in zip(links, link_cost) if link.hi == i), np.zeros(len(dims)))
    room = np.array([limits.get(r, math.inf) - table.const_resources[r] for r in dims])
    state = np.zeros((1, 1 + len(dims)))
    state[0, 0] = table.const_cycles
    opened = np.zeros((1, 0), np.int64)  # per partial configuration: the classes of its open edge ends
    open_: list[int] = []  # the links those columns belong to
    backs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, m in enumerate(matrices):
        parent = np.repeat(np.arange(len(state)), len(m))
        choice = np.tile(np.arange(len(m)), len(state))
        merged = np.empty((len(parent), state.shape[1]))
        merged[:, 0] = np.maximum(state[parent, 0], m[choice, 0])
        merged[:, 1:] = state[parent, 1:] + m[choice, 1:]
        staying = [q for q, k in enumerate(open_) if links[k].hi != i]
        opening = [k for k, link in enumerate(links) if link.lo == i]
        for q, k in enumerate(open_):
            if links[k].hi == i:
                merged[:, 1:] += link_cost[k][opened[parent, q], np.array(links[k].hi_class)[choice]]
        ends = np.hstack([opened[parent][:, staying], *(np.array(links[k].lo_class)[choice][:, None] for k in opening)])
        open_ = [open_[q] for q in staying] + opening
        # a hair of slack for float sums in another order; the final points are checked exactly
        keep = (merged[:, 1:] + least_rest[i + 1] <= room + 1e-9 * np.maximum(np.abs(room), 1.0)).all(axis=1)
        if max_cycles is not None:
            keep &= merged[:, 0] <= max_cycles
        merged, parent, choice, ends = merged[keep], parent[keep], choice[keep], ends[keep]
        if len(merged) == 0:
            return []
        # distinct rows, grouped by open classes (a lexsort: np.unique(axis=0) sorts rows as bytes, far slower)
        rows = np.hstack([ends, merged[:, used]])
        order = np.lexsort(rows.T[::-1])
        first = order[np.r_[True, (rows[order[1:]] != rows[order[:-1]]).any(axis=1)]]
        merged, parent, choice, ends = merged[first], parent[first], choice[first], ends[first]
        front_mask = np.ones(len(merged), bool)
        if len(used) > 1:
            starts = np.flatnonzero(np.r_[True, (ends[1:] != ends[:-1]).any(axis=1), True])
            for a, b in zip(starts[:-1], starts[1:]):
                front_mask[a:b] = moocore.is_nondominated(merged[a:b, used], keep_weakly=False)
        merged, parent, choice, opened = merged[front_mask], parent[front_mask], choice[front_mask], ends[front_mask]
        if len(merged) > PARETO_LIMIT:
            raise DseError(f"frontier: the Pareto set over {', '.join(resources)} grows past {PARETO_LIMIT:,} partial "
                           f"configurations; weigh the resources into one cost instead (--cost / sampler_options.cost)")
        backs.append((parent, choice))
        state = merged
    objective = [0] + [1 + dims.index(r) for r in resources]
    final = moocore.is_nondominated(state[:, objective], keep_weakly=False)
    points = []
    for index in np.flatnonzero(final):
        picks: list[int] = []
        for parent, choice in reversed(backs):
            picks.append(int(choice[index]))
            index = int(parent[index])
        picks.reverse()
        chosen = [unit.options[j] for unit, j in zip(table.units, picks)]
        weights = {r: 1.0 / table.budget[r] if table.budget.get(r) else 1.0 for r in resources}
        point = _point(table, chosen, weights, picks=picks)
        if all(point.resources[r] <= v for r, v in limits.items()):  # exact sums, not the float DP's
            points.append(point)
    return sorted(points, key=lambda p: (p.max_cycles, *(p.resources[r] for r in resources)))


def spread(points: list[Point]) -> list[Point]:
    """Front points in an order that covers the front early: both ends, then bisection."""
    if len(points) <= 2:
        return list(points)
    order = [0, len(points) - 1]
    seen = set(order)
    spans = [(0, len(points) - 1)]
    while spans:
        next_spans = []
        for low, high in spans:
            mid = (low + high) // 2
            if mid not in seen:
                seen.add(mid)
                order.append(mid)
            if mid - low > 1:
                next_spans.append((low, mid))
            if high - mid > 1:
                next_spans.append((mid, high))
        spans = next_spans
    order += [i for i in range(len(points)) if i not in seen]
    return [points[i] for i in order]


def nearest(points: list[Point], target_fps: float) -> list[Point]:
    """Front points nearest first (in log throughput) to ``target_fps``."""
    return sorted(points, key=lambda p: abs(math.log(p.throughput_fps / target_fps)))



def weights_of(cost: Any) -> dict[str, float] | None:
    """A cost as resource weights: ``"LUT"`` or ``{"LUT": 1, "BRAM_18K": 100}``; None if it is not one.

    >>> weights_of("BRAM_18K"), weights_of({"LUT": 1, "FF": 2})
    ({'BRAM_18K': 1.0}, None)
    """
    if isinstance(cost, str) and cost in RESOURCES:
        return {cost: 1.0}
    if isinstance(cost, dict) and cost and all(
        r in RESOURCES and isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for r, w in cost.items()
    ):
        return {r: float(w) for r, w in cost.items()}
    return None


def objective_resources(objectives: list[str]) -> list[str]:
    """The resources among a study's objectives, in order."""
    return [m for m in objectives if m in RESOURCES]


def settings(options: dict[str, Any], objectives: list[str]) -> tuple[dict[str, float] | None, str, float | None]:
    """The frontier sampler's ``sampler_options``: ``cost`` weights, ``order``, ``target_fps``.

    Without a cost, the objectives' resource; None when they name several (their Pareto set).

    >>> settings({}, ["throughput_fps", "LUT"])
    ({'LUT': 1.0}, 'spread', None)
    """
    unknown = set(options) - {"cost", "order", "target_fps"}
    if unknown:
        raise DseError(f"sampler_options: unknown for frontier: {', '.join(sorted(unknown))} (known: cost, order, target_fps)")
    cost = options.get("cost")
    if cost is None:
        picked = objective_resources(objectives)
        if len(picked) > 1:
            weights: dict[str, float] | None = None  # the Pareto set over all of them (pareto_set)
        else:
            weights = {picked[0] if picked else "LUT": 1.0}
    else:
        weights = weights_of(cost)
    if weights is None and cost is not None:
        raise DseError(f"sampler_options.cost: use one of {', '.join(RESOURCES)} or weights such as {{LUT: 1, BRAM_18K: 100}}")
    order = options.get("order", "nearest" if "target_fps" in options else "spread")
    if order not in ("spread", "nearest"):
        raise DseError("sampler_options.order: use spread or nearest")
    target = options.get("target_fps")
    if order == "nearest" and not (isinstance(target, (int, float)) and target > 0):
        raise DseError("sampler_options.target_fps: order nearest needs a positive target_fps")
    return weights, order, None if target is None else float(target)


def budget_note(points: list[Point]) -> str:
    """What the feasible points are (one line): the exact front within the limits, or not."""
    infeasible = [p for p in points if not p.feasible]
    if not points:
        return "no configuration fits the budgets and caps"
    if not infeasible:
        return "every point fits the device budget and caps: this is the exact front within them"
    return (f"{len(infeasible)} point(s) break a cap the frontier cannot enforce exactly (latency, a minimum "
            f"resource or a maximum throughput); the feasible points bound that front from below")


def why_nothing_fits(table: Table, limits: dict[str, float], max_cycles: int | None = None) -> str:
    """Why no configuration meets the limits, in one line: the nodes whose every option breaks one.

    Each unit's least use of each resource over all its options (whatever their speed), plus
    each edge's least pair, is a lower bound; where even those add up to more than a limit, the
    line names the units that take most, and what could change it.
    """
    reasons, advice = [], []
    links = _links(table)
    for resource, limit in sorted(limits.items()):
        least = [(min(o.resources[resource] for o in u.options), u) for u in table.units]
        streams = sum(float(link.cost[:, :, RESOURCES.index(resource)].min()) for link in links)
        total = table.const_resources[resource] + sum(v for v, _ in least) + streams
        if total <= limit:
            continue
        heavy = sorted(least, key=lambda x: -x[0])[:3]
        named = ", ".join(f"{'+'.join(u.nodes)} >= {v:,.0f}" for v, u in heavy if v > 0)
        fixed = f", fixed nodes {table.const_resources[resource]:,.0f}" if table.const_resources[resource] else ""
        fixed += f", streams between units >= {streams:,.0f}" if streams else ""
        reasons.append(f"{resource}: at least {total:,.0f} at every option, limit {limit:,.0f} ({named}{fixed})")
    if reasons:
        advice.append("try a memory style (ram_style), another implementation (finn.specialize_layers_config), "
                      "other bit widths, or a larger device")
    if max_cycles is not None:
        # the slowest node at its fastest option sets the best throughput of any configuration
        fastest = [(c, n, "fixed by no knob") for n, c in table.const_node_cycles.items()]
        fastest += [(min(o.cycles for o in u.options), "+".join(u.nodes), "at its fastest option") for u in table.units]
        cycles, node, how = max(fastest, default=(table.const_cycles, "", ""))
        if cycles > max_cycles:
            slowest = f" ({node}: {cycles:,} cycles, {how})" if node else ""
            reasons.append(f"throughput: at most {table.throughput(cycles):,.0f} fps, the caps ask for more{slowest}")
            advice.append("for throughput: a shorter clock_ns, a lower cap, or more PE/SIMD for that node if the space limits it")
    if not reasons:
        return ("no configuration meets every limit at once (each resource alone could fit); "
                "relax a cap, or widen the space")
    return "nothing fits: " + "; ".join(reasons) + " - " + "; ".join(advice)
