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

import itertools
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

    The MILP only runs where it could add a point: not where the cheapest configuration at the
    bound already costs no less than the last point, nor where even every unit's least use of a
    limited resource (and every edge's least pair) breaks its limit.
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
    # per unit, its least use of each limited resource among the options so far; each edge's least pair
    lowest = [dict.fromkeys(limits, math.inf) for _ in table.units]
    streams = {r: table.const_resources[r] + sum(float(link.cost[:, :, RESOURCES.index(r)].min()) for link in links)
               for r in limits}
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
                for r in limits:
                    lowest[i][r] = min(lowest[i][r], option.resources[r])
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
            # the MILP only where it can add a point: the cheapest configuration this fast (``point``) costs no more
            # than any that fits, and a limit that even each unit's least use breaks leaves none
            if points and point.cost >= points[-1].cost:
                continue
            if any(streams[r] + sum(low[r] for low in lowest) > limit + 1e-9 * max(abs(limit), 1.0)
                   for r, limit in limits.items()):
                continue  # nothing this fast fits
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
#: Candidate partial configurations a step of the Pareto set filters at once (bounds its memory).
_PARETO_CHUNK = 1_000_000
#: Groups of open classes past which dominance across groups is not tried (within each group it still is).
_PARETO_GROUPS = 64


@dataclass
class _Open:
    """An edge as :func:`pareto_set` sees it: opened at position ``lo`` of its unit order, closed at ``hi`` (``lo < hi``).

    ``cost``: [lo class, hi class, dim] over the set's dims, with each class's least cost already moved onto the
    options of its unit (the same sums, paid as soon as one end is known) and the classes that then cost alike
    merged. ``excess_lo[a, b]``: the most an end of lo class ``a`` can cost more than one of class ``b``, whatever the
    class at the other end (per dim; negative where ``a`` is always cheaper); ``excess_hi`` likewise for hi classes.
    """

    lo: int
    hi: int
    lo_class: Any
    hi_class: Any
    cost: Any
    excess_lo: Any
    excess_hi: Any


def _excess(cost: Any) -> Any:
    """[x, y, dim]: the max over the other end's classes of cost[x] - cost[y] (``cost``: [class, other class, dim])."""
    return (cost[:, None] - cost[None, :]).max(axis=2)


def _pareto_order(table: Table) -> list[int]:
    """The order :func:`pareto_set` takes the units in: the table's, or its reverse when that takes the units with more
    options earlier, while the partial configurations are still few (an edge is open over the same units either way)."""
    sizes = [len(u.options) for u in table.units]
    late = sum(i * s for i, s in enumerate(sizes))
    early = sum((len(sizes) - 1 - i) * s for i, s in enumerate(sizes))
    return list(range(len(sizes)))[::-1] if late > early else list(range(len(sizes)))


def _pareto_edges(links: list[_Link], seq: list[int], dims: list[str], mats: list[Any]) -> list[_Open]:
    """``links`` over ``dims`` in the unit order ``seq``; each class's least cost is added to ``mats`` (in place)."""
    import numpy as np

    where = {u: p for p, u in enumerate(seq)}
    index = [RESOURCES.index(r) for r in dims]
    out = []
    for link in links:
        lo, hi, lo_class, hi_class, cost = where[link.lo], where[link.hi], link.lo_class, link.hi_class, link.cost
        if lo > hi:
            lo, hi, lo_class, hi_class, cost = hi, lo, hi_class, lo_class, cost.transpose(1, 0, 2)
        lo_of, hi_of = np.array(lo_class, np.int64), np.array(hi_class, np.int64)
        cost = cost[:, :, index]
        least = cost.min(axis=1)
        mats[lo][:, 1:] += least[lo_of]
        cost = cost - least[:, None]
        least = cost.min(axis=0)
        mats[hi][:, 1:] += least[hi_of]
        cost = cost - least[None]
        if not cost.any():
            continue
        rows, row_of = _rows(cost.reshape(len(cost), -1))
        cols, col_of = _rows(rows.reshape(len(rows), cost.shape[1], -1).transpose(1, 0, 2).reshape(cost.shape[1], -1))
        cost = cols.reshape(len(cols), len(rows), len(dims)).transpose(1, 0, 2)
        out.append(_Open(lo, hi, row_of[lo_of], col_of[hi_of], cost, _excess(cost), _excess(cost.transpose(1, 0, 2))))
    return out


def _beaten(m: Any, ends: list[tuple[Any, Any]], cycles: bool) -> Any:
    """[j', j]: option j' of a unit beats option j (``m``: its options as rows of cycles, dims...).

    j' is no worse in any dim whatever the classes at the other ends of the unit's edges (``ends``: per edge end its
    excess table and each option's class there), nor in cycles if ``cycles``; and better somewhere, or the first of
    equals. That is a strict order: an option that is beaten is beaten by one that is not.
    """
    import numpy as np

    count = len(m)
    le = np.zeros((count, count), bool)
    for a in range(0, count, 256):
        b = min(count, a + 256)
        excess = np.zeros((b - a, count, m.shape[1] - 1))
        for table, of in ends:
            excess += table[of[a:b, None], of[None, :]]
        le[a:b] = (m[a:b, None, 1:] + excess <= m[None, :, 1:]).all(axis=2)
        if cycles:
            le[a:b] &= m[a:b, None, 0] <= m[None, :, 0]
    order = np.arange(count)
    return le & (~le.T | (order[:, None] < order[None, :]))


def _worth(m: Any, beats: Any) -> tuple[Any, Any]:
    """A unit's cycle bounds (its options' distinct cycles) and, per bound, its options worth taking under it: those
    under it that no option under it beats ([bound, option] mask)."""
    import numpy as np

    bounds = np.unique(m[:, 0])
    under = m[None, :, 0] <= bounds[:, None]
    return bounds, under & ~((under.astype(np.float32) @ beats.astype(np.float32)) > 0)  # counts of beaters under it


def _floors(const_cycles: int, mats: list[Any], opens: list[_Open], worth: list[tuple[Any, Any]], only: list[int],
            room: Any) -> list[tuple[Any, Any]]:
    """Per position i of the unit order: (bottlenecks, thresholds [bottleneck, len(only)]).

    A partial configuration through position i with cycles c whose use of a limited resource that is no objective
    (columns ``only``) is at most the threshold at the least bottleneck >= c cannot break that limit with any
    completion worth taking: under a bottleneck C >= c, every unit can take an option worth taking under C instead
    of one that is not (no worse anywhere, the same bottleneck), and those use at most the threshold's complement.
    """
    import numpy as np

    least = max([const_cycles, *(m[:, 0].min() for m in mats)])
    bottlenecks = np.unique(np.r_[[float(const_cycles)], *(m[:, 0] for m in mats)])
    bottlenecks = bottlenecks[bottlenecks >= least]
    rest = np.zeros((len(mats) + 1, len(bottlenecks), len(only)))  # [i]: the most units at positions >= i use
    for i in range(len(mats) - 1, -1, -1):
        bounds, mask = worth[i]
        most = np.array([mats[i][row][:, only].max(axis=0) for row in mask])
        rest[i] = rest[i + 1] + most[np.searchsorted(bounds, bottlenecks, side="right") - 1]
    out = []
    for i in range(len(mats)):
        edges = sum((o.cost[:, :, [c - 1 for c in only]].max(axis=(0, 1)) for o in opens if o.hi > i), np.zeros(len(only)))
        beyond = np.maximum.accumulate(rest[i + 1][::-1], axis=0)[::-1]  # over every bottleneck >= c
        out.append((bottlenecks, room[[c - 1 for c in only]] - beyond - edges))
    return out


def _pareto_groups(ends: Any, sizes: list[int]) -> tuple[Any, Any]:
    """The rows of open classes sorted by group (a stable order) and the group starts (with the end)."""
    import numpy as np

    if not ends.shape[1]:
        return np.arange(len(ends)), np.array([0, len(ends)])
    if math.prod(sizes) < 2**62:
        code = ends @ np.cumprod([1, *sizes[:-1]]).astype(np.int64)
    else:  # pragma: no cover - very many open classes
        code = np.unique(ends, axis=0, return_inverse=True)[1].reshape(-1)
    order = np.argsort(code, kind="stable")
    code = code[order]
    return order, np.flatnonzero(np.r_[True, code[1:] != code[:-1], True])


def _across(points: Any, keys: Any, starts: Any, excess: list[Any], columns: list[int]) -> Any:
    """Dominance across groups of open classes: a partial configuration of group b is dropped when one of group a,
    plus the most its open ends can cost more than b's (``excess``: per open edge, [a class, b class, dim]), is no
    worse in cycles and in every column, and better in one: it is then no worse whatever the completion.

    ``points``: sorted by group, each group already non-dominated within; ``columns``: the dim of each column after
    the first (cycles; None: a column no excess applies to). Returns the mask of those kept.
    """
    import moocore
    import numpy as np

    keep = np.ones(len(points), bool)
    count = len(starts) - 1
    if count < 2 or count > _PARETO_GROUPS:
        return keep
    shift = np.zeros((count, count, points.shape[1]))
    for q, table in enumerate(excess):
        pair = table[keys[:, q][:, None], keys[:, q][None, :]]
        for c, d in enumerate(columns):
            if d is not None:
                shift[:, :, 1 + c] += pair[:, :, d]
    best = np.array([points[a:b].min(axis=0) for a, b in zip(starts[:-1], starts[1:])])
    worst = np.array([points[a:b].max(axis=0) for a, b in zip(starts[:-1], starts[1:])])
    for g in range(count):
        parts = [points[starts[g]:starts[g + 1]]]
        for h in range(count):
            if h != g and (best[h] + shift[h, g] <= worst[g]).all():  # else no point of h can beat one of g
                parts.append(points[starts[h]:starts[h + 1]] + shift[h, g])
        if len(parts) > 1:
            keep[starts[g]:starts[g + 1]] = moocore.is_nondominated(np.vstack(parts), keep_weakly=True)[: len(parts[0])]
    return keep


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
    from a chosen unit to one not yet chosen), and an edge's cost is added when its second end
    is chosen (each class's least cost already when its first end is). One with other open
    classes is still dropped when it is no worse even after adding the most its open ends can
    cost more whatever the other ends (:func:`_across`).

    Exact reductions on the way (each keeps, for every point of the set, a configuration reaching it):

    * options that no configuration within the limits can take, or that another option of the
      unit beats in cycles and every dim whatever its edges' other ends, are left out;
    * a partial configuration with cycles c only takes, of the options no slower than c, those
      that no other option no slower than c beats (cycles stay c, the rest is no worse);
    * a limited resource that is no objective (DSP when the set is over LUT and BRAM) only
      separates partial configurations while it could still break the limit: below the
      threshold of :func:`_floors` any amount counts as the same;
    * the units are taken in the order that takes the larger units earlier (:func:`_pareto_order`).
    """
    import moocore
    import numpy as np

    limits = {r: v for r, v in (limits or {}).items() if v is not None and math.isfinite(v)}
    dims = list(dict.fromkeys([*resources, *limits]))
    links = _links(table)
    if not all(u.options for u in table.units) or (max_cycles is not None and table.const_cycles > max_cycles):
        return []
    seq = _pareto_order(table)
    # every option as (cycles, dims...), in the order the units are taken
    mats = [np.array([[o.cycles, *(o.resources[r] for r in dims)] for o in table.units[u].options], dtype=float)
            for u in seq]
    opens = _pareto_edges(links, seq, dims, mats)
    room = np.array([limits.get(r, math.inf) - table.const_resources[r] for r in dims])
    ceiling = room + 1e-9 * np.maximum(np.abs(room), 1.0)  # a hair for float sums in another order; final points are exact

    def ends_of(i: int, picked: Any) -> list[tuple[Any, Any]]:
        return [(o.excess_lo, o.lo_class[picked]) for o in opens if o.lo == i] + \
               [(o.excess_hi, o.hi_class[picked]) for o in opens if o.hi == i]

    least = sum(m[:, 1:].min(axis=0) for m in mats) if mats else np.zeros(len(dims))
    kept = []  # per position: the table's option index of each option taken
    for i, m in enumerate(mats):
        fit = (m[:, 1:] - m[:, 1:].min(axis=0) + least <= ceiling).all(axis=1)
        if max_cycles is not None:
            fit &= m[:, 0] <= max_cycles
        picked = np.flatnonzero(fit)
        picked = picked[~_beaten(m[picked], ends_of(i, picked), cycles=True).any(axis=0)]
        if not len(picked):
            return []
        kept.append(picked)
    mats = [m[p] for m, p in zip(mats, kept)]
    for o in opens:
        o.lo_class, o.hi_class = o.lo_class[kept[o.lo]], o.hi_class[kept[o.hi]]
    everything = np.arange(max((len(m) for m in mats), default=0))
    worth = [_worth(m, _beaten(m, ends_of(i, everything[:len(m)]), cycles=False)) for i, m in enumerate(mats)]
    # per position and level (how many of the unit's cycle bounds a partial configuration's cycles reach): the options
    # it may take: every option slower than its cycles, and those worth taking under them
    allowed = [[np.arange(len(m)), *(np.flatnonzero(w | (m[:, 0] > c)) for c, w in zip(bounds, mask))]
               for m, (bounds, mask) in zip(mats, worth)]
    used = [0] + [1 + i for i, r in enumerate(dims) if any(m[:, 1 + i].any() for m in mats) or table.const_resources[r]
                  or any(o.cost[:, :, i].any() for o in opens)]
    only = [1 + dims.index(r) for r in limits if r not in resources and 1 + dims.index(r) in used]
    floors = _floors(table.const_cycles, mats, opens, worth, only, room) if only and mats else None
    # the leanest rest: each unit's least option and each edge's least pair
    least_rest = np.zeros((len(mats) + 1, len(dims)))
    for i in range(len(mats) - 1, -1, -1):
        least_rest[i] = least_rest[i + 1] + mats[i][:, 1:].min(axis=0)
        least_rest[i] += sum((o.cost.min(axis=(0, 1)) for o in opens if o.hi == i), np.zeros(len(dims)))
    columns = [u - 1 for u in used[1:]] + [None] * (len(used) == 1)  # one zero column if only cycles differ

    state = np.zeros((1, 1 + len(dims)))
    state[0, 0] = table.const_cycles
    opened = np.zeros((1, 0), np.int64)  # per partial configuration: the classes of its open edge ends
    open_: list[int] = []  # the edges those columns belong to
    backs: list[tuple[Any, Any]] = []
    for i, m in enumerate(mats):
        closing = [q for q, k in enumerate(open_) if opens[k].hi == i]
        staying = [q for q, k in enumerate(open_) if opens[k].hi != i]
        after = [open_[q] for q in staying] + [k for k, o in enumerate(opens) if o.lo == i]
        sizes = [len(opens[k].cost) for k in after]

        def grow(parent: Any, choice: Any) -> tuple[Any, ...]:
            """The partial configurations (parent + choice) that can still fit, non-dominated within their group."""
            merged = np.empty((len(parent), state.shape[1]))
            merged[:, 0] = np.maximum(state[parent, 0], m[choice, 0])
            merged[:, 1:] = state[parent, 1:] + m[choice, 1:]
            for q in closing:
                o = opens[open_[q]]
                merged[:, 1:] += o.cost[opened[parent, q], o.hi_class[choice]]
            fits = (merged[:, 1:] + least_rest[i + 1] <= ceiling).all(axis=1)
            merged, parent, choice = merged[fits], parent[fits], choice[fits]
            ends = np.hstack([opened[parent][:, staying], *(opens[k].lo_class[choice][:, None] for k in after[len(staying):])])
            return within(merged, parent, choice, ends.astype(np.int64).reshape(len(merged), len(after)))

        def within(merged: Any, parent: Any, choice: Any, ends: Any) -> tuple[Any, ...]:
            if not len(merged):
                return merged, parent, choice, ends, merged[:, used], np.zeros(1, np.int64)
            order, starts = _pareto_groups(ends, sizes)
            merged, parent, choice, ends = merged[order], parent[order], choice[order], ends[order]
            view = merged[:, used]
            if floors is not None:  # limited-only resources below their threshold count as equal
                bottlenecks, thresholds = floors[i]
                at = np.minimum(np.searchsorted(bottlenecks, merged[:, 0]), len(bottlenecks) - 1)
                view[:, [used.index(c) for c in only]] = np.maximum(merged[:, only], thresholds[at])
            if len(used) == 1:
                view = np.hstack([view, np.zeros((len(view), 1))])
            keep = np.zeros(len(merged), bool)
            for a, b in zip(starts[:-1], starts[1:]):
                keep[a:b] = moocore.is_nondominated(view[a:b], keep_weakly=False)
            starts = np.searchsorted(np.flatnonzero(keep), starts)
            return merged[keep], parent[keep], choice[keep], ends[keep], view[keep], starts

        # every partial configuration with the options its level allows, a chunk at a time
        bounds = worth[i][0]
        level = np.searchsorted(bounds, state[:, 0], side="right")
        parts, pending, count = [], [], 0
        for lv in np.unique(level):
            at, options = np.flatnonzero(level == lv), allowed[i][lv]
            step = max(1, _PARETO_CHUNK // len(options))
            for a in range(0, len(at), step):
                block = at[a:a + step]
                pending.append((np.repeat(block, len(options)), np.tile(options, len(block))))
                count += len(block) * len(options)
                if count >= _PARETO_CHUNK:
                    parts.append(grow(*(np.concatenate(x) for x in zip(*pending))))
                    pending, count = [], 0
        if pending:
            parts.append(grow(*(np.concatenate(x) for x in zip(*pending))))
        if len(parts) > 1:
            merged, parent, choice, ends = (np.concatenate([p[x] for p in parts]) for x in range(4))
            merged, parent, choice, ends, view, starts = within(merged, parent, choice, ends)
        else:
            merged, parent, choice, ends, view, starts = parts[0]
        if len(merged) == 0:
            return []
        keep = _across(view, ends[starts[:-1]], starts, [opens[k].excess_lo for k in after], columns)
        merged, parent, choice, opened = merged[keep], parent[keep], choice[keep], ends[keep]
        if len(merged) > PARETO_LIMIT:
            raise DseError(f"frontier: the Pareto set over {', '.join(resources)} grows past {PARETO_LIMIT:,} partial "
                           f"configurations; weigh the resources into one cost instead (--cost / sampler_options.cost)")
        backs.append((parent, kept[i][choice]))
        state, open_ = merged, after
    objective = [0] + [1 + dims.index(r) for r in resources]
    final = np.flatnonzero(moocore.is_nondominated(state[:, objective], keep_weakly=False))
    picks = np.zeros((len(final), len(seq)), np.int64)
    index = final
    for position in range(len(backs) - 1, -1, -1):
        parent, choice = backs[position]
        picks[:, seq[position]] = choice[index]
        index = parent[index]
    points = _pareto_points(table, picks, resources, limits)
    return sorted(points, key=lambda p: (p.max_cycles, *(p.resources[r] for r in resources)))


def _pareto_points(table: Table, picks: Any, resources: list[str], limits: dict[str, float]) -> list[Point]:
    """What :func:`_point` makes of each row of option indices, for many rows at once: the same sums in the same
    order, so the same numbers of the same types; rows whose exact sums break a limit are left out."""
    import numpy as np

    def sums(start: Any, values: Any) -> tuple[Any, Any]:
        """``start`` plus each unit's picked ``values(option)``, added in unit order as ``+=`` does, and whether each
        row's sum is still an int (an int start and ints only)."""
        total = np.full(len(picks), float(start))
        ints = np.full(len(picks), isinstance(start, int))
        for u, unit in enumerate(table.units):
            v = [values(o) for o in unit.options]
            total += np.array(v, dtype=float)[picks[:, u]]
            ints &= np.array([isinstance(x, int) for x in v])[picks[:, u]]
        return total, ints

    res = {}
    for r in RESOURCES:
        total, ints = sums(table.const_resources[r], lambda o, r=r: o.resources[r])
        for e in table.edges:  # as _total: every edge adds its pair's cost, 0.0 for a pair that costs nothing
            outs, ins = sorted(set(e.out_class)), sorted(set(e.in_class))
            pair = [[e.cost.get((a, b), {}).get(r, 0.0) for b in ins] for a in outs]
            at = (np.searchsorted(outs, e.out_class)[picks[:, e.u]], np.searchsorted(ins, e.in_class)[picks[:, e.v]])
            total += np.array(pair, dtype=float)[at]
            ints &= np.array([[isinstance(x, int) for x in row] for row in pair])[at]
        res[r] = (total, ints)
    finn = {}
    for r in RESOURCES:
        start = table.const_finn_resources.get(r, 0.0)
        total, ints = sums(0, lambda o, r=r: o.finn_resources.get(r, 0.0))  # sum() starts at 0
        finn[r] = (float(start) + total, ints & isinstance(start, int))
    cycles = np.full(len(picks), float(table.const_cycles))
    for u, unit in enumerate(table.units):
        cycles = np.maximum(cycles, np.array([o.cycles for o in unit.options], dtype=float)[picks[:, u]])
    integral = isinstance(table.const_cycles, int) and all(isinstance(o.cycles, int) for u in table.units for o in u.options)
    fits = np.ones(len(picks), bool)
    for r, limit in limits.items():
        fits &= res[r][0] <= limit
    weights = {r: 1.0 / table.budget[r] if table.budget.get(r) else 1.0 for r in resources}

    rows = np.flatnonzero(fits)

    def values(pair: tuple[Any, Any]) -> list[Any]:
        return [int(x) if whole else x for x, whole in zip(pair[0][rows].tolist(), pair[1][rows].tolist())]

    used, spent = {r: values(res[r]) for r in RESOURCES}, {r: values(finn[r]) for r in RESOURCES}
    slowest = [int(c) if integral else c for c in cycles[rows].tolist()]
    # each option's params and folding as pairs: a dict of the chained pairs is what update() after update() makes
    params_of = [[tuple(o.params.items()) for o in u.options] for u in table.units]
    assign_of = [[tuple(o.assign.items()) for o in u.options] for u in table.units]
    nodes = [{node for o in u.options for node in o.assign} for u in table.units]
    apart = sum(map(len, nodes)) == len(set().union(*nodes))  # no node in two units: no attrs to merge
    points = []
    for n, row in enumerate(picks[rows].tolist()):
        params = dict(itertools.chain.from_iterable(map(list.__getitem__, params_of, row)))
        folding: Assign = {}
        if apart:
            folding = {node: dict(attrs) for node, attrs in itertools.chain.from_iterable(map(list.__getitem__, assign_of, row))}
        else:
            for node, attrs in itertools.chain.from_iterable(map(list.__getitem__, assign_of, row)):
                folding.setdefault(node, {}).update(attrs)
        resources_n = {r: used[r][n] for r in RESOURCES}
        points.append(Point(params, folding, slowest[n], table.throughput(slowest[n]), resources_n,
                            _cost(resources_n, weights), finn_resources={r: spent[r][n] for r in RESOURCES},
                            fidelity=table.fidelity))
    return points


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
