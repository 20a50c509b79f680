"""Costs that couple two units (``Table.edges``): front, Pareto set and predictions against brute force."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import numpy as np
import pytest

from dse import frontier
from dse.frontier import Edge, Option, Table, Unit

RES = ("LUT", "BRAM_18K", "URAM", "DSP")


def _edge(rng: random.Random, units: list[Unit], u: int, v: int) -> Edge:
    """Random classes (2-3 per end) and costs, most pairs free, a few costing only a resource the cost may ignore."""
    n_out, n_in = rng.randint(1, 3), rng.randint(1, 3)
    cost = {}
    for a, b in itertools.product(range(n_out), range(n_in)):
        if rng.random() < 0.5:
            cost[(a, b)] = {"LUT": float(rng.choice([0, 40, 150, 300])), "BRAM_18K": float(rng.choice([0, 0, 2, 5]))}
            if rng.random() < 0.3:
                cost[(a, b)]["DSP"] = 1.0
    return Edge(u, v, [rng.randrange(n_out) for _ in units[u].options], [rng.randrange(n_in) for _ in units[v].options], cost)


def _random_table(rng: random.Random, shape: str) -> Table:
    count = 4 if shape == "residual" else rng.randint(2, 5)
    units = []
    for u in range(count):
        options = [
            Option({f"u{u}": i}, {f"n{u}": {"PE": i}}, rng.choice([8, 16, 32, 64, 100, 128]),
                   {"LUT": float(rng.randint(0, 400)), "BRAM_18K": float(rng.randint(0, 6)), "URAM": 0.0,
                    "DSP": float(rng.randint(0, 2))})
            for i in range(rng.randint(2, 4))
        ]
        units.append(Unit([SimpleNamespace(param=f"u{u}")], [f"n{u}"], options))  # type: ignore[list-item]
    if shape == "chain":
        pairs = [(u, u + 1) for u in range(count - 1)]
        if rng.random() < 0.3:
            pairs.append((count - 1, 0))  # a consumer before its producer in unit order
    else:  # DuplicateStreams (0) feeding 1 -> 2 and a skip, joined at ElementwiseAdd (3)
        pairs = [(0, 1), (1, 2), (2, 3), (0, 3), rng.choice([(0, 1), (1, 2), (2, 3), (0, 3)])]  # one pair twice
    edges = [_edge(rng, units, u, v) for u, v in pairs]
    return Table(units, rng.choice([0, 10, 64]), {"LUT": 7.0, "BRAM_18K": 1.0, "URAM": 0.0, "DSP": 0.0}, [], 10.0,
                 {"LUT": 1000.0, "BRAM_18K": 20.0, "URAM": 0.0, "DSP": 4.0}, edges=edges)


def _brute(table: Table) -> list[tuple[list[int], int, dict[str, float]]]:
    """Every configuration as (option indices, max cycles, resources incl. edges), summed here, not by frontier."""
    out = []
    for picks in itertools.product(*(range(len(u.options)) for u in table.units)):
        chosen = [u.options[j] for u, j in zip(table.units, picks)]
        resources = {r: table.const_resources[r] + sum(o.resources[r] for o in chosen) for r in RES}
        for e in table.edges:
            for r, v in e.cost.get((e.out_class[picks[e.u]], e.in_class[picks[e.v]]), {}).items():
                resources[r] += v
        out.append((list(picks), max([table.const_cycles, *(o.cycles for o in chosen)]), resources))
    return out


def _front(configs: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return sorted({p for p in configs if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in configs)})


def _cost(resources: dict[str, float], weights: dict[str, float]) -> float:
    return round(sum(w * resources[r] for r, w in weights.items()), 9)


@pytest.mark.parametrize("shape", ["chain", "residual"])
@pytest.mark.parametrize("weights", [{"LUT": 1.0}, {"BRAM_18K": 1.0}, {"LUT": 1.0, "BRAM_18K": 50.0, "DSP": 20.0}])
def test_front_with_edges_equals_the_brute_force_front(shape, weights):
    rng = random.Random(17)
    coupled = 0
    for case in range(150):
        table = _random_table(rng, shape)
        configs = _brute(table)
        expected = _front([(c, _cost(r, weights)) for _, c, r in configs])
        got = frontier.front(table, weights)
        assert [(p.max_cycles, round(p.cost, 9)) for p in got] == expected, case
        # the edges matter: at some bound the per-unit cheapest options (blind to edges) are not the cheapest
        totals = {tuple(picks): r for picks, _, r in configs}
        for bound, cost in expected:
            greedy = tuple(min((j for j, o in enumerate(u.options) if o.cycles <= bound),
                               key=lambda j, u=u: _cost(u.options[j].resources, weights)) for u in table.units)
            if _cost(totals[greedy], weights) > cost:
                coupled += 1
                break
    assert coupled > 20


@pytest.mark.parametrize("shape", ["chain", "residual"])
@pytest.mark.parametrize("weights", [{"LUT": 1.0}, {"BRAM_18K": 1.0}, {"LUT": 1.0, "DSP": 50.0}])
def test_front_with_edges_within_limits_equals_the_brute_force_feasible_front(shape, weights):
    """Limits on one and two resources, binding in many cases: the DP's optimum breaks them, the MILP is exact."""
    rng = random.Random(23)
    binding = 0
    for case in range(120):
        table = _random_table(rng, shape)
        limits = {"LUT": rng.choice([600.0, 900.0, 1400.0])}
        if rng.random() < 0.5:
            limits["BRAM_18K"] = rng.choice([6.0, 10.0, 16.0])
        configs = _brute(table)
        expected = _front([(c, _cost(r, weights)) for _, c, r in configs if all(r[k] <= v for k, v in limits.items())])
        got = frontier.front(table, weights, limits=limits)
        assert [(p.max_cycles, round(p.cost, 9)) for p in got] == expected, case
        assert all(all(p.resources[r] <= v for r, v in limits.items()) for p in got)
        binding += expected != _front([(c, _cost(r, weights)) for _, c, r in configs])
    assert binding > 30


@pytest.mark.parametrize("shape", ["chain", "residual"])
@pytest.mark.parametrize("resources", [["LUT", "BRAM_18K"], ["LUT", "BRAM_18K", "DSP"]])
def test_pareto_set_with_edges_equals_the_brute_force_within_limits(shape, resources):
    rng = random.Random(29)
    for case in range(120):
        table = _random_table(rng, shape)
        limits = {"LUT": rng.choice([700.0, 1100.0, 1e9]), "BRAM_18K": rng.choice([10.0, 16.0, 1e9])}
        points = [tuple([c, *(r[k] for k in resources)]) for _, c, r in _brute(table)
                  if all(r[k] <= v for k, v in limits.items())]
        expected = sorted({c for c in points if not any(all(q[k] <= c[k] for k in range(len(c))) and q != c for q in points)})
        got = frontier.pareto_set(table, resources, limits)
        assert sorted(tuple([p.max_cycles, *(p.resources[r] for r in resources)]) for p in got) == expected, case


def test_predict_adds_the_edges_of_the_chosen_classes():
    rng = random.Random(31)
    for _ in range(40):
        table = _random_table(rng, rng.choice(["chain", "residual"]))
        for picks, cycles, resources in rng.sample(_brute(table), 5):
            params = {k: v for u, j in zip(table.units, picks) for k, v in u.options[j].params.items()}
            point = frontier.predict(table, params)
            assert (point.max_cycles, point.resources) == (cycles, resources)
            assert point.as_dict()["LUT"] == resources["LUT"]


def test_why_nothing_fits_counts_the_least_edge_cost():
    res = {"LUT": 100.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}
    units = [Unit([], [f"MVAU_hls_{i}"], [Option({f"u{i}": 0}, {}, 10, res), Option({f"u{i}": 1}, {}, 20, res)]) for i in range(2)]
    edge = Edge(0, 1, [0, 1], [0, 1], {(0, 0): {"LUT": 50.0}, (0, 1): {"LUT": 60.0}, (1, 0): {"LUT": 70.0}, (1, 1): {"LUT": 80.0}})
    table = Table(units, 0, {r: 0.0 for r in RES}, [], 10.0, {"LUT": 240.0}, edges=[edge])
    assert frontier.front(table, {"LUT": 1.0}, limits={"LUT": 240.0}) == []
    assert "LUT: at least 250 at every option, limit 240" in frontier.why_nothing_fits(table, {"LUT": 240.0})
    assert "streams between units >= 50" in frontier.why_nothing_fits(table, {"LUT": 240.0})
    assert [p.resources["LUT"] for p in frontier.front(table, {"LUT": 1.0}, limits={"LUT": 250.0})] == [250.0]


def test_a_malformed_edge_is_refused_in_one_line():
    res = {r: 0.0 for r in RES}
    units = [Unit([], ["a"], [Option({"a": 0}, {}, 1, res)]), Unit([], ["b"], [Option({"b": 0}, {}, 1, res)])]
    table = Table(units, 0, dict(res), [], 10.0, {}, edges=[Edge(0, 1, [0, 0], [0], {(0, 0): {"LUT": 1.0}})])
    with pytest.raises(frontier.DseError, match="edge 0->1 needs two different units"):
        frontier.front(table, {"LUT": 1.0})


# -- the Pareto set's exact reductions (dse.frontier.pareto_set): each against the brute force, and shown to act ----


def _brute_pareto(table: Table, resources: list[str], limits: dict[str, float], max_cycles: int | None = None) -> list[tuple]:
    points = [tuple([c, *(r[k] for k in resources)]) for _, c, r in _brute(table)
              if all(r[k] <= v for k, v in limits.items()) and (max_cycles is None or c <= max_cycles)]
    return sorted({c for c in points if not any(all(q[k] <= c[k] for k in range(len(c))) and q != c for q in points)})


def _got(points: list[frontier.Point], resources: list[str]) -> list[tuple]:
    return sorted(tuple([p.max_cycles, *(p.resources[r] for r in resources)]) for p in points)


@pytest.mark.parametrize("shape", ["chain", "residual", "independent"])
def test_pareto_set_with_a_limit_on_a_resource_it_does_not_minimise_equals_the_brute_force(shape):
    """A limited resource that is no objective (DSP under a LUT-BRAM set) only separates partial configurations
    while some completion worth taking could still break its limit; binding limits and a throughput cap."""
    rng = random.Random(37)
    binding = 0
    for case in range(150):
        table = _random_table(rng, "chain" if shape == "independent" else shape)
        if shape == "independent":
            table.edges = []
        resources = rng.choice([["LUT", "BRAM_18K"], ["LUT"], ["BRAM_18K", "DSP"], ["LUT", "DSP"]])
        limits = {r: rng.choice(values) for r, values in
                  [("LUT", [700.0, 1100.0]), ("BRAM_18K", [6.0, 10.0, 16.0]), ("DSP", [2.0, 3.0, 4.0, 6.0])]
                  if r not in resources or rng.random() < 0.3}
        max_cycles = rng.choice([None, None, 64, 100])
        expected = _brute_pareto(table, resources, limits, max_cycles)
        assert _got(frontier.pareto_set(table, resources, limits, max_cycles), resources) == expected, case
        unlimited = {r: v for r, v in limits.items() if r in resources}
        binding += expected != _brute_pareto(table, resources, unlimited, max_cycles)
    assert binding > 30  # the limits on resources it does not minimise change the set in many cases


def _converter_chain(rng: random.Random, count: int, options: int) -> Table:
    """A chain of units whose every stream costs a converter that depends on both ends' widths (0-3), as FINN's
    data-width converters do: the partial configurations split into groups by their open width."""
    units = []
    for u in range(count):
        units.append(Unit([SimpleNamespace(param=f"u{u}")], [f"n{u}"], [  # type: ignore[list-item]
            Option({f"u{u}": i}, {f"n{u}": {"PE": i}}, rng.choice([8, 16, 32, 64, 128]),
                   {"LUT": float(rng.randint(0, 3000)), "BRAM_18K": float(rng.randint(0, 8)), "URAM": 0.0, "DSP": 0.0})
            for i in range(options)]))
    widths = [[rng.randrange(4) for _ in u.options] for u in units]
    converter = {(a, b): {"LUT": 40.0 * abs(a - b) + 10.0 * max(a, b)} for a in range(4) for b in range(4) if a or b}
    edges = [Edge(u, u + 1, widths[u], widths[u + 1], converter) for u in range(count - 1)]
    return Table(units, 0, {"LUT": 0.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}, [], 10.0, {}, edges=edges)


def test_pareto_set_drops_partial_configurations_across_open_classes(monkeypatch):
    """One with another open width is dropped when it is no worse even after the most its open end can cost more:
    exact on brute-forced chains, it acts in most of them, and on a longer chain it keeps the set under a limit
    that refuses it without."""
    dropped = []
    across = frontier._across

    def spy(*args):
        keep = across(*args)
        dropped.append(int((~keep).sum()))
        return keep

    monkeypatch.setattr(frontier, "_across", spy)
    rng = random.Random(41)
    acted = 0
    for case in range(60):
        table = _converter_chain(rng, rng.randint(3, 5), rng.randint(3, 5))
        resources = rng.choice([["LUT", "BRAM_18K"], ["LUT"]])
        limits = rng.choice([{}, {"LUT": 6000.0}, {"BRAM_18K": 14.0}])
        dropped.clear()
        assert _got(frontier.pareto_set(table, resources, limits), resources) == _brute_pareto(table, resources, limits), case
        acted += sum(dropped) > 0
    assert acted > 15
    # at most 122 partial configurations at once (108 taking the units backwards), 265 without (226)
    table = _converter_chain(random.Random(46), 18, 6)
    exact = frontier.pareto_set(table, ["LUT", "BRAM_18K"])
    monkeypatch.setattr(frontier, "PARETO_LIMIT", 180)
    assert _got(frontier.pareto_set(table, ["LUT", "BRAM_18K"]), ["LUT", "BRAM_18K"]) == _got(exact, ["LUT", "BRAM_18K"])
    monkeypatch.setattr(frontier, "_PARETO_GROUPS", 1)  # dominance only within each group of open widths
    with pytest.raises(frontier.DseError, match="grows past 180 partial configurations"):
        frontier.pareto_set(table, ["LUT", "BRAM_18K"])


def test_pareto_set_builds_its_points_as_point_does():
    """The Pareto set builds its points in bulk: the same numbers, types, params and folding as one at a time."""
    rng = random.Random(47)
    for _ in range(30):
        table = _random_table(rng, rng.choice(["chain", "residual"]))
        picks = [[rng.randrange(len(u.options)) for u in table.units] for _ in range(6)]
        bulk = frontier._pareto_points(table, np.array(picks), ["LUT", "BRAM_18K"], {})
        weights = {"LUT": 1.0 / 1000.0, "BRAM_18K": 1.0 / 20.0}
        for p, row in zip(bulk, picks):
            one = frontier._point(table, [u.options[j] for u, j in zip(table.units, row)], weights, picks=row)
            assert p.as_dict() == one.as_dict() and p.cost == one.cost
            assert [type(v) for v in p.resources.values()] == [type(v) for v in one.resources.values()]


def test_a_limit_it_does_not_minimise_counts_what_slower_completions_use():
    """A fast partial configuration may still be completed by slower options that use more of the limited resource:
    its threshold is over every bottleneck at least as slow. Under LUT alone with DSP <= 4, (8, 290) and (64, 110)."""
    res = {"URAM": 0.0, "BRAM_18K": 0.0}
    units = [
        Unit([], ["a"], [Option({"a": 0}, {}, 8, {"LUT": 100.0, "DSP": 1.0, **res}),
                         Option({"a": 1}, {}, 8, {"LUT": 90.0, "DSP": 3.0, **res})]),
        Unit([], ["b"], [Option({"b": 0}, {}, 8, {"LUT": 200.0, "DSP": 0.0, **res}),
                         Option({"b": 1}, {}, 64, {"LUT": 10.0, "DSP": 3.0, **res})]),
    ]
    table = Table(units, 0, {r: 0.0 for r in RES}, [], 10.0, {})
    assert _got(frontier.pareto_set(table, ["LUT"], {"DSP": 4.0}), ["LUT"]) == [(8, 290.0), (64, 110.0)]
    assert _got(frontier.pareto_set(table, ["LUT"], {"DSP": 4.0}), ["LUT"]) == _brute_pareto(table, ["LUT"], {"DSP": 4.0})
