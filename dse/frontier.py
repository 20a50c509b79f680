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

from dse.metrics import RESOURCES


@dataclass
class Option:
    """One setting of a unit's knobs: its Optuna params, node attributes and FINN estimates."""

    params: dict[str, Any]
    assign: Assign
    cycles: int = 0
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class Unit:
    """Knobs that touch the same nodes; independent of every other unit."""

    knobs: list[Knob]
    nodes: list[str]
    options: list[Option]


@dataclass
class Table:
    """Every unit's options with their estimates, plus the nodes no knob touches."""

    units: list[Unit]
    const_cycles: int
    const_resources: dict[str, float]
    order: list[str]
    clock_ns: float
    budget: dict[str, float]
    #: the cycles of each node no knob touches (``const_cycles`` is their maximum)
    const_node_cycles: dict[str, int] = field(default_factory=dict)

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "throughput_fps": self.throughput_fps,
            "max_cycles": self.max_cycles,
            **self.resources,
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
    result = worker.estimate(target.prefix_dir, target.hoisted, target.build_config["fpga_part"], space.fixed, variants)
    base, order = result["base"], result["order"]
    estimates = iter(result["variants"])
    unit_nodes: set[str] = set()
    for unit in units:
        unit_nodes.update(unit.nodes)
        for option in unit.options:
            est = next(estimates)
            option.cycles = max(e["cycles"] for e in est.values())
            option.resources = {r: sum(e[r] for e in est.values()) for r in RESOURCES}
            # a unit that leaves one of its nodes' attributes alone still owns that node
            for node in unit.nodes:
                if node not in est:
                    option.cycles = max(option.cycles, base[node]["cycles"])
                    for r in RESOURCES:
                        option.resources[r] += base[node][r]
    const = [n for n in order if n not in unit_nodes]
    return Table(
        units=units,
        const_cycles=max((base[n]["cycles"] for n in const), default=0),
        const_resources={r: sum(base[n][r] for n in const) for r in RESOURCES},
        order=order,
        clock_ns=float(target.build_config["synth_clk_period_ns"]),
        budget=dict(target.budget),
        const_node_cycles={n: base[n]["cycles"] for n in const},
    )


def _cost(resources: dict[str, float], weights: dict[str, float]) -> float:
    return sum(w * resources[r] for r, w in weights.items())


def _point(table: Table, chosen: list[Option], weights: dict[str, float], feasible: Any = None) -> Point:
    cycles = max([table.const_cycles, *(o.cycles for o in chosen)])
    resources = dict(table.const_resources)
    params: dict[str, Any] = {}
    folding: Assign = {}
    for option in chosen:
        for r in RESOURCES:
            resources[r] += option.resources[r]
        params.update(option.params)
        for node, attrs in option.assign.items():
            folding.setdefault(node, {}).update(attrs)
    point = Point(params, folding, cycles, table.throughput(cycles), resources, _cost(resources, weights))
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
    """
    if not weights or any(w < 0 or r not in RESOURCES for r, w in weights.items()) or not any(weights.values()):
        raise DseError(f"frontier: the cost must weigh some of {', '.join(RESOURCES)} with non-negative weights")
    scale = {r: 1.0 / table.budget[r] if table.budget.get(r) else 1.0 for r in RESOURCES}
    limits = {r: v for r, v in (limits or {}).items() if v is not None and math.isfinite(v)}

    def key(option: Option) -> tuple[float, float, int]:
        return (_cost(option.resources, weights), sum(option.resources[r] * scale[r] for r in RESOURCES), option.cycles)

    def fits(point: Point) -> bool:
        return all(point.resources[r] <= limit for r, limit in limits.items())

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
                if best[i] is None or key(option) < key(best[i]):
                    best[i] = option
                cursor[i] += 1
        if bound < table.const_cycles or any(b is None for b in best):
            continue
        point = _point(table, list(best), weights, feasible)  # type: ignore[arg-type]
        if limits and not fits(point):
            chosen = _cheapest_within(table, [o[: c] for o, c in zip(by_cycles, cursor)], weights, limits, key)
            if chosen is None:
                continue  # nothing this fast fits
            point = _point(table, chosen, weights, feasible)
        if points and point.max_cycles == points[-1].max_cycles:
            continue
        if not points or point.cost < points[-1].cost:
            points.append(point)
    return points


def _cheapest_within(
    table: Table, allowed: list[list[Option]], weights: dict[str, float], limits: dict[str, float], key: Any,
) -> list[Option] | None:
    """One option per unit, minimum cost, every limited resource within its limit (or None).

    A multiple-choice knapsack: binary x per option, one per unit, solved exactly by HiGHS.
    The solution is re-checked with exact sums; HiGHS' feasibility tolerance cannot let a point
    over a limit through.
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    # within a unit, an option no better than another in cost and every limited resource is never needed
    pruned: list[list[Option]] = []
    for options in allowed:
        ranked = sorted(options, key=key)
        keep: list[Option] = []
        for o in ranked:
            if not any(all(k.resources[r] <= o.resources[r] for r in limits) for k in keep):
                keep.append(o)
        pruned.append(keep)
    flat = [(u, o) for u, options in enumerate(pruned) for o in options]
    n = len(flat)
    cost = np.array([_cost(o.resources, weights) for _, o in flat])
    # a tiny tie-break towards lean options (as ``key`` does), far below any cost difference
    lean = np.array([key(o)[1] for _, o in flat])
    spread_cost = max(float(cost.max() - cost.min()), 1.0)
    objective = cost + lean * (spread_cost * 1e-9 / max(float(lean.max()), 1e-12))
    one = np.zeros((len(pruned), n))
    for j, (u, _) in enumerate(flat):
        one[u, j] = 1.0
    resources = sorted(limits)
    use = np.array([[o.resources[r] for _, o in flat] for r in resources])
    room = np.array([limits[r] - table.const_resources[r] for r in resources])
    if (room < 0).any():
        return None
    for attempt in range(3):
        # exact limits first; only if HiGHS' tolerance let a solution over one, tighten a hair
        slack = room - (np.maximum(np.abs(room), 1.0) * 1e-9 * 10**attempt if attempt else 0.0)
        result = milp(
            objective,
            constraints=[LinearConstraint(one, 1, 1), LinearConstraint(use, -np.inf, slack)],
            integrality=np.ones(n), bounds=Bounds(0, 1), options={"mip_rel_gap": 0},
        )
        if result.status != 0 or result.x is None:
            return None
        chosen = [flat[j][1] for j in np.flatnonzero(result.x > 0.5)]
        if len(chosen) == len(pruned) and all(
            table.const_resources[r] + sum(o.resources[r] for o in chosen) <= limits[r] for r in resources
        ):
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
    """
    import moocore
    import numpy as np

    limits = {r: v for r, v in (limits or {}).items() if v is not None and math.isfinite(v)}
    dims = list(dict.fromkeys([*resources, *limits]))
    # every option as (cycles, dims...); dims no option uses are left out of the dominance test
    matrices = [np.array([[o.cycles, *(o.resources[r] for r in dims)] for o in u.options], dtype=float) for u in table.units]
    used = [0] + [1 + i for i, r in enumerate(dims) if any(m[:, 1 + i].any() for m in matrices) or table.const_resources[r]]
    least_rest = np.zeros((len(table.units) + 1, len(dims)))
    for i in range(len(table.units) - 1, -1, -1):
        least_rest[i] = least_rest[i + 1] + matrices[i][:, 1:].min(axis=0)
    room = np.array([limits.get(r, math.inf) - table.const_resources[r] for r in dims])
    state = np.zeros((1, 1 + len(dims)))
    state[0, 0] = table.const_cycles
    backs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, m in enumerate(matrices):
        parent = np.repeat(np.arange(len(state)), len(m))
        choice = np.tile(np.arange(len(m)), len(state))
        merged = np.empty((len(parent), state.shape[1]))
        merged[:, 0] = np.maximum(state[parent, 0], m[choice, 0])
        merged[:, 1:] = state[parent, 1:] + m[choice, 1:]
        # a hair of slack for float sums in another order; the final points are checked exactly
        keep = (merged[:, 1:] + least_rest[i + 1] <= room + 1e-9 * np.maximum(np.abs(room), 1.0)).all(axis=1)
        if max_cycles is not None:
            keep &= merged[:, 0] <= max_cycles
        merged, parent, choice = merged[keep], parent[keep], choice[keep]
        if len(merged) == 0:
            return []
        _, first = np.unique(merged[:, used], axis=0, return_index=True)
        merged, parent, choice = merged[first], parent[first], choice[first]
        front_mask = moocore.is_nondominated(merged[:, used], keep_weakly=False) if len(used) > 1 else np.ones(len(merged), bool)
        merged, parent, choice = merged[front_mask], parent[front_mask], choice[front_mask]
        if len(merged) > PARETO_LIMIT:
            raise DseError(f"frontier: the Pareto set over {', '.join(resources)} grows past {PARETO_LIMIT:,} partial "
                           f"configurations; weigh the resources into one cost instead (--cost / sampler_options.cost)")
        backs.append((parent, choice))
        state = merged
    objective = [0] + [1 + dims.index(r) for r in resources]
    final = moocore.is_nondominated(state[:, objective], keep_weakly=False)
    points = []
    for index in np.flatnonzero(final):
        chosen: list[Option] = []
        for (parent, choice), unit in zip(reversed(backs), reversed(table.units)):
            chosen.append(unit.options[int(choice[index])])
            index = int(parent[index])
        point = _point(table, chosen[::-1], {r: 1.0 / table.budget[r] if table.budget.get(r) else 1.0 for r in resources})
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

    Each unit's least use of each resource over all its options (whatever their speed) is a
    lower bound; where even those add up to more than a limit, the line names the units that
    take most, and what could change it.
    """
    reasons, advice = [], []
    for resource, limit in sorted(limits.items()):
        least = [(min(o.resources[resource] for o in u.options), u) for u in table.units]
        total = table.const_resources[resource] + sum(v for v, _ in least)
        if total <= limit:
            continue
        heavy = sorted(least, key=lambda x: -x[0])[:3]
        named = ", ".join(f"{'+'.join(u.nodes)} >= {v:,.0f}" for v, u in heavy if v > 0)
        fixed = f", fixed nodes {table.const_resources[resource]:,.0f}" if table.const_resources[resource] else ""
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
