"""The exact frontier: the sweep's logic, and its predictions against real FINN builds."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse import frontier
from dse import study as study_mod
from dse.frontier import Option, Table, Unit
from tests.conftest import ROOT, write_config

DSE = str(Path(sys.executable).with_name("dse"))
METRICS = ("max_cycles", "LUT", "BRAM_18K", "URAM", "DSP")


# -- the sweep, on synthetic tables (no FINN) -------------------------------------------------


def _random_table(rng: random.Random) -> Table:
    units = []
    for u in range(rng.randint(1, 4)):
        options = [
            Option({f"u{u}": i}, {f"n{u}": {"PE": i}}, rng.choice([8, 16, 32, 64, 100, 128, 256]),
                   {"LUT": float(rng.randint(0, 500)), "BRAM_18K": float(rng.randint(0, 9)), "URAM": 0.0,
                    "DSP": float(rng.randint(0, 3))})
            for i in range(rng.randint(1, 6))
        ]
        units.append(Unit([], [f"n{u}"], options))
    return Table(units, rng.choice([0, 10, 64]), {"LUT": 7.0, "BRAM_18K": 1.0, "URAM": 0.0, "DSP": 0.0}, [], 10.0,
                 {"LUT": 1000.0, "BRAM_18K": 20.0, "URAM": 0.0, "DSP": 4.0})


def _brute_front(table: Table, weights: dict[str, float]) -> list[tuple[int, float]]:
    points = []
    for chosen in itertools.product(*(u.options for u in table.units)):
        p = frontier._point(table, list(chosen), weights)
        points.append((p.max_cycles, round(p.cost, 9)))
    return sorted({p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)})


@pytest.mark.parametrize("weights", [{"LUT": 1.0}, {"BRAM_18K": 1.0}, {"LUT": 1.0, "BRAM_18K": 50.0, "DSP": 20.0}])
def test_sweep_equals_brute_force_on_random_tables(weights):
    rng = random.Random(7)
    for _ in range(300):
        table = _random_table(rng)
        swept = [(p.max_cycles, round(p.cost, 9)) for p in frontier.front(table, weights)]
        assert swept == sorted(swept)  # fastest first
        assert swept == _brute_front(table, weights)


def _brute_feasible_front(table: Table, weights: dict[str, float], limits: dict[str, float]) -> list[tuple[int, float]]:
    points = []
    for chosen in itertools.product(*(u.options for u in table.units)):
        p = frontier._point(table, list(chosen), weights)
        if all(p.resources[r] <= v for r, v in limits.items()):
            points.append((p.max_cycles, round(p.cost, 9)))
    return sorted({p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)})


@pytest.mark.parametrize("weights", [{"LUT": 1.0}, {"BRAM_18K": 1.0}, {"LUT": 1.0, "DSP": 50.0}])
def test_front_within_limits_equals_the_brute_force_feasible_front(weights):
    """Budgets on two and three resources at once, binding: the knapsack front is the exact one."""
    rng = random.Random(11)
    binding = 0
    for _ in range(250):
        table = _random_table(rng)
        limits = {"LUT": rng.choice([400.0, 700.0, 1200.0]), "BRAM_18K": rng.choice([6.0, 12.0, 30.0])}
        if rng.random() < 0.5:
            limits["DSP"] = rng.choice([2.0, 4.0, 8.0])
        expected = _brute_feasible_front(table, weights, limits)
        swept = frontier.front(table, weights, limits=limits)
        assert [(p.max_cycles, round(p.cost, 9)) for p in swept] == expected
        assert all(all(p.resources[r] <= v for r, v in limits.items()) for p in swept)
        binding += expected != _brute_front(table, weights)
    assert binding > 50  # the limits change the front in many of the cases


@pytest.mark.parametrize("resources", [["LUT", "BRAM_18K"], ["LUT", "DSP"], ["LUT", "BRAM_18K", "DSP"]])
def test_pareto_set_over_several_resources_equals_the_brute_force_within_limits(resources):
    rng = random.Random(5)
    for case in range(200):
        table = _random_table(rng)
        limits = {"LUT": rng.choice([500.0, 900.0, 1e9]), "BRAM_18K": rng.choice([8.0, 14.0, 1e9])}
        configs = []
        for chosen in itertools.product(*(u.options for u in table.units)):
            p = frontier._point(table, list(chosen), {"LUT": 1.0})
            if all(p.resources[r] <= v for r, v in limits.items()):
                configs.append(tuple([p.max_cycles, *(p.resources[r] for r in resources)]))
        expected = sorted({c for c in configs if not any(all(q[k] <= c[k] for k in range(len(c))) and q != c for q in configs)})
        got = frontier.pareto_set(table, resources, limits)
        assert sorted(tuple([p.max_cycles, *(p.resources[r] for r in resources)]) for p in got) == expected, case
        assert all(all(p.resources[r] <= v for r, v in limits.items()) for p in got)


def test_why_nothing_fits_names_the_node_and_the_knob():
    table = Table([Unit([], ["Thresholding_rtl_0"], [Option({"u": 0}, {}, 10, {"LUT": 62560.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}),
                                                   Option({"u": 1}, {}, 20, {"LUT": 62000.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0})])],
                  0, {"LUT": 100.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}, [], 10.0, {"LUT": 53200.0})
    assert frontier.front(table, {"LUT": 1.0}, limits={"LUT": 53200.0}) == []
    line = frontier.why_nothing_fits(table, {"LUT": 53200.0})
    assert "LUT: at least 62,100 at every option, limit 53,200 (Thresholding_rtl_0 >= 62,000, fixed nodes 100)" in line
    assert "ram_style" in line and "\n" not in line and "clock_ns" not in line


def test_why_nothing_fits_names_the_node_that_bounds_throughput():
    resources = {"LUT": 10.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}
    unit = Unit([], ["MVAU_hls_0"], [Option({"u": 0}, {}, 50, resources), Option({"u": 1}, {}, 400, resources)])
    for fixed, named in [({"FMPadding_rtl_0": 30}, "MVAU_hls_0: 50 cycles, at its fastest option"),
                         ({"ConvolutionInputGenerator_rtl_0": 200}, "ConvolutionInputGenerator_rtl_0: 200 cycles, fixed by no knob")]:
        table = Table([unit], max(fixed.values()), dict(resources), [], 10.0, {}, fixed)
        line = frontier.why_nothing_fits(table, {}, max_cycles=20)
        fps = f"{table.throughput(max(50, *fixed.values())):,.0f}"
        assert line == (f"nothing fits: throughput: at most {fps} fps, the caps ask for more ({named}) - for throughput: "
                        f"a shorter clock_ns, a lower cap, or more PE/SIMD for that node if the space limits it")


def test_spread_covers_both_ends_first_and_every_point_once():
    points = list(range(9))
    order = frontier.spread(points)  # type: ignore[arg-type]
    assert order[:3] == [0, 8, 4] and sorted(order) == points


def test_frontier_settings_are_validated_in_one_line():
    assert frontier.settings({"cost": {"LUT": 1, "BRAM_18K": 100}}, ["throughput_fps"])[0] == {"LUT": 1.0, "BRAM_18K": 100.0}
    assert frontier.settings({"target_fps": 5000}, ["throughput_fps", "BRAM_18K"]) == ({"BRAM_18K": 1.0}, "nearest", 5000.0)
    for options, message in [
        ({"cost": "FF"}, "sampler_options.cost"),
        ({"order": "random"}, "sampler_options.order"),
        ({"order": "nearest"}, "needs a positive target_fps"),
        ({"speed": 1}, "unknown for frontier: speed"),
    ]:
        with pytest.raises(Exception, match=message):
            frontier.settings(options, ["throughput_fps", "LUT"])


# -- against real FINN builds ------------------------------------------------------------------


REDUCED = """
name: tfc-reduced
model: tfc-w1a1
device: Pynq-Z1
layers:
  - match: {name: MVAU_hls_0}
    PE: [2, 16]
    SIMD: [16, 49]
  - match: {name: "MVAU_hls_[12]"}
    PE: [4, 16]
    SIMD: [8]
  - match: {name: MVAU_hls_2}
    PE: [4]
  - match: {name: MVAU_hls_3}
    PE: [1, 10]
    SIMD: [4]
  - match: {name: "MVAU_hls_[01]"}
    ram_style: [distributed, block]
objectives: [throughput_fps, LUT]
sampler: grid
"""


def _built_front(study: optuna.Study) -> list[tuple[int, float]]:
    """Pareto front of real builds (max_cycles down, LUT down), from Optuna's best_trials."""
    return sorted({(t.user_attrs["max_cycles"], t.user_attrs["LUT"]) for t in study.best_trials})


@pytest.mark.parametrize("config", ["grid", "reduced"])
def test_predicted_front_equals_the_brute_force_front_of_real_builds(tmp_path, worker, config):
    path = ROOT / "configs" / "tfc-w1a1-grid.yaml" if config == "grid" else write_config(tmp_path, REDUCED)
    plan = study_mod.prepare(path, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    size = plan.target.space.grid_size()
    assert size == (192 if config == "grid" else 2 * 2 * 2 * 2 * 2 * 2)
    study_mod.run(plan)  # every valid point, built by FINN
    trials = plan.study.get_trials()
    assert len(trials) == size and all(t.state == TrialState.COMPLETE for t in trials)
    table, front = study_mod.predicted_front(plan.target, worker, {"LUT": 1.0})
    assert table.size == size
    for t in trials:  # FINN's report of every configuration is predicted exactly
        predicted = frontier.predict(table, t.params)
        assert predicted.max_cycles == t.user_attrs["max_cycles"]
        assert predicted.throughput_fps == pytest.approx(t.user_attrs["throughput_fps"], rel=1e-12)
        for r in ("LUT", "BRAM_18K", "URAM", "DSP"):
            assert predicted.resources[r] == pytest.approx(t.user_attrs[r], rel=1e-12, abs=1e-9), (t.number, r)
    assert all(p.feasible for p in front)  # TFC fits the Pynq-Z1 everywhere: best_trials sees all of them
    assert [(p.max_cycles, p.resources["LUT"]) for p in reversed(front)][::-1] == sorted(
        [(p.max_cycles, p.resources["LUT"]) for p in front]
    )
    assert sorted((p.max_cycles, p.resources["LUT"]) for p in front) == _built_front(plan.study)


def test_front_within_binding_budgets_on_two_resources_equals_the_real_builds(tmp_path, worker):
    """Caps on LUT and BRAM_18K that cut into the front: the knapsack front is the brute-force
    feasible front of every real FINN build of the space, point for point."""
    plan = study_mod.prepare(write_config(tmp_path, REDUCED), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    study_mod.run(plan)
    built = [(t.user_attrs["max_cycles"], t.user_attrs["LUT"], t.user_attrs["BRAM_18K"]) for t in plan.study.get_trials()]
    def pareto(points):
        return sorted({p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)})

    def within(caps):
        return [(c, lut) for c, lut, bram in built if lut <= caps["LUT"] and bram <= caps["BRAM_18K"]]

    # caps on both resources, each of which changes the front (the space's front has two points)
    unconstrained_built = pareto([(c, lut) for c, lut, _ in built])
    luts, brams = sorted({b[1] for b in built}), sorted({b[2] for b in built})
    caps = next(
        {"LUT": lut, "BRAM_18K": bram} for lut in luts for bram in brams
        if pareto(within({"LUT": lut, "BRAM_18K": bram}))
        and pareto(within({"LUT": lut, "BRAM_18K": bram})) != unconstrained_built
        and pareto(within({"LUT": lut, "BRAM_18K": brams[-1]})) != pareto(within({"LUT": lut, "BRAM_18K": bram}))
        and pareto(within({"LUT": luts[-1], "BRAM_18K": bram})) != pareto(within({"LUT": lut, "BRAM_18K": bram}))
    )
    plan.target.caps = caps
    table, front = study_mod.predicted_front(plan.target, worker, {"LUT": 1.0})
    expected = pareto(within(caps))
    assert sorted((p.max_cycles, p.resources["LUT"]) for p in front) == expected
    assert all(p.feasible and p.resources["BRAM_18K"] <= caps["BRAM_18K"] for p in front)
    unconstrained = frontier.front(table, {"LUT": 1.0})
    assert [(p.max_cycles, p.resources["LUT"]) for p in unconstrained] != [(p.max_cycles, p.resources["LUT"]) for p in front]
    plan.target.caps = {"LUT": 10.0}
    with pytest.raises(study_mod.DseError, match=r"frontier: nothing fits: LUT: at least [\d,]+ at every option, limit 10 \("):
        study_mod.predicted_front(plan.target, worker, {"LUT": 1.0})


def test_pareto_set_over_lut_and_bram_equals_the_real_builds_and_the_sampler_builds_it(tmp_path, worker):
    storage = f"sqlite:///{tmp_path}/dse.db"
    grid = study_mod.prepare(write_config(tmp_path, REDUCED), storage=storage, worker=worker)
    study_mod.run(grid)
    built = [(t.user_attrs["max_cycles"], t.user_attrs["LUT"], t.user_attrs["BRAM_18K"]) for t in grid.study.get_trials()]
    expected = sorted({b for b in built if not any(all(q[k] <= b[k] for k in range(3)) and q != b for q in built)})
    three = REDUCED.replace("name: tfc-reduced", "name: tfc-three").replace(
        "objectives: [throughput_fps, LUT]", "objectives: [throughput_fps, LUT, BRAM_18K]").replace(
        "sampler: grid", "sampler: frontier\nn_trials: 100")
    plan = study_mod.prepare(write_config(tmp_path, three, "three.yaml"), storage=storage, worker=worker)
    _, points = study_mod.predicted_front(plan.target, worker, None)
    assert sorted((p.max_cycles, p.resources["LUT"], p.resources["BRAM_18K"]) for p in points) == expected
    assert len(expected) > 2 and plan.n_trials == len(expected)
    study_mod.run(plan)
    trials = plan.study.get_trials()
    assert sorted((t.user_attrs["max_cycles"], t.user_attrs["LUT"], t.user_attrs["BRAM_18K"]) for t in trials) == expected
    assert len(plan.study.best_trials) == len(expected)  # Optuna's 3-objective front: every built point


def test_frontier_sampler_builds_exactly_the_front_and_finn_confirms_it(tmp_path, worker):
    text = (ROOT / "configs" / "tfc-w1a1-grid.yaml").read_text().replace("name: tfc-w1a1-grid", "name: tfc-frontier")
    text = text.replace("sampler: grid", "sampler: frontier\nn_trials: 50")
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert plan.grid and plan.n_trials == 6  # the 6-point front, not 50 trials
    stats = study_mod.run(plan)
    assert stats.completed == 6 and stats.failed == 0
    trials = plan.study.get_trials()
    assert len(trials) == 6
    for t in trials:
        for r in ("LUT", "BRAM_18K", "URAM", "DSP", "throughput_fps"):
            assert t.user_attrs[r] == pytest.approx(t.user_attrs[f"predicted_{r}"], rel=1e-12)
    assert len(plan.study.best_trials) == 6  # every built point is on the real front
    again = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert again.n_trials == 0


def test_nearest_order_builds_the_points_closest_to_a_target_first(tmp_path, worker):
    text = (ROOT / "configs" / "tfc-w1a1-grid.yaml").read_text().replace("name: tfc-w1a1-grid", "name: tfc-near")
    text = text.replace("sampler: grid", "sampler: frontier\nsampler_options: {target_fps: 400000}\nn_trials: 2")
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    study_mod.run(plan)
    fps = sorted(round(t.user_attrs["throughput_fps"]) for t in plan.study.get_trials())
    assert fps == [390625, 510204]


def test_dse_frontier_cli_json_and_table(tmp_path):
    storage = f"sqlite:///{tmp_path}/dse.db"
    done = subprocess.run([DSE, "frontier", str(ROOT / "configs" / "tfc-w1a1-grid.yaml"), "--format", "json", "--storage", storage],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)
    assert len(points) == 6
    for p in points:
        assert {"throughput_fps", "LUT", "BRAM_18K", "URAM", "DSP", "folding_config"} <= set(p)
        assert p["folding_config"]["MVAU_hls_0"]["PE"] in (4, 16, 64)
    assert [p["throughput_fps"] for p in points] == sorted((p["throughput_fps"] for p in points), reverse=True)
    assert not Path(tmp_path / "dse.db").exists()  # nothing was written to the storage
    table = subprocess.run([DSE, "frontier", str(ROOT / "configs" / "tfc-w1a1-grid.yaml"), "--cost", "LUT=1,BRAM_18K=100",
                            "--storage", storage], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and "throughput vs LUT + 100*BRAM_18K" in table.stdout
    assert "this is the exact front within them" in table.stderr


def test_dse_frontier_refuses_what_it_cannot_compute_in_one_line(tmp_path):
    setfolding = write_config(tmp_path, "name: sf\nmodel: tfc-w1a1\ndevice: Pynq-Z1\ntarget_fps: {min: 1, max: 100}\n")
    for args, message in [
        ([str(setfolding)], "the exact front needs per-layer PE/SIMD knobs"),
        ([str(ROOT / "configs" / "tfc-w1a1-grid.yaml"), "--cost", "FF=1"], "--cost: 'FF=1' is not RESOURCE=WEIGHT"),
        ([str(ROOT / "configs" / "tfc-w1a1-grid.yaml"), "--format", "xml"], "--format: 'xml' is not one of table, csv, json"),
    ]:
        done = subprocess.run([DSE, "frontier", *args, "--storage", f"sqlite:///{tmp_path}/dse.db"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr


def test_dse_frontier_best_writes_what_finn_needs_and_refusals_are_one_line(tmp_path):
    storage = f"sqlite:///{tmp_path}/dse.db"
    grid = str(ROOT / "configs" / "tfc-w1a1-grid.yaml")
    done = subprocess.run([DSE, "frontier", grid, "--best", "--folding", str(tmp_path / "fold.json"),
                           "--build-config", str(tmp_path / "build.json"), "--format", "json", "--storage", storage],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (best,) = json.loads(done.stdout)
    everything = json.loads(subprocess.run([DSE, "frontier", grid, "--format", "json", "--storage", storage],
                                           capture_output=True, text=True, timeout=300).stdout)
    assert best == max(everything, key=lambda p: p["throughput_fps"])
    assert json.loads((tmp_path / "fold.json").read_text()) == best["folding_config"]
    build = json.loads((tmp_path / "build.json").read_text())
    assert build["folding_config_file"] == str((tmp_path / "fold.json").resolve()) and build["steps"]
    text = (ROOT / "configs" / "tfc-w1a1-grid.yaml").read_text()
    latency = write_config(tmp_path, text.replace("objectives: [throughput_fps, LUT]", "objectives: [latency_ns, LUT]"), "lat.yaml")
    tight = write_config(tmp_path, text + "constraints: {caps: {LUT: 100}}\n", "tight.yaml")
    assert "objectives: [throughput_fps, LUT]" in text
    for args, message in [
        ([str(latency)], "lat.yaml: frontier: objectives: latency_ns is not computed"),
        ([str(tight)], "tight.yaml: frontier: nothing fits: LUT: at least"),
        ([grid, "--folding", "x.json"], "--folding/--build-config: only with --best"),
    ]:
        done = subprocess.run([DSE, "frontier", *args, "--storage", storage], capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr


def test_dse_run_and_status_say_why_nothing_fits(tmp_path):
    storage = f"sqlite:///{tmp_path}/dse.db"
    text = (ROOT / "configs" / "tfc-w1a1-grid.yaml").read_text().replace("name: tfc-w1a1-grid", "name: tight")
    tight = write_config(tmp_path, text.replace("sampler: grid", "sampler: random\nn_trials: 2") + "constraints: {caps: {LUT: 100}}\n")
    done = subprocess.run([DSE, "run", str(tight), "--storage", storage], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tight: nothing fits: LUT: at least" in done.stderr and "limit 100" in done.stderr
    assert "Pareto front of" not in done.stdout  # no empty table
    status = subprocess.run([DSE, "status", "tight", "--storage", storage], capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and "tight: nothing fits: LUT: at least" in status.stdout


def test_tables_show_memory_choices_and_json_gives_the_folding_as_structure(tmp_path):
    """Two front points that differ only in ram_style are told apart in every output."""
    storage = f"sqlite:///{tmp_path}/dse.db"
    path = write_config(tmp_path, REDUCED)
    csv = subprocess.run([DSE, "frontier", str(path), "--format", "csv", "--storage", storage],
                         capture_output=True, text=True, timeout=300)
    assert csv.returncode == 0, csv.stderr
    import csv as csv_mod
    import io

    rows = list(csv_mod.DictReader(io.StringIO(csv.stdout)))
    assert rows and {"throughput_fps", "LUT", "BRAM_18K", "folding", "folding_config"} <= set(rows[0])
    for row in rows:
        folding = json.loads(row["folding_config"])
        for node in ("MVAU_hls_0", "MVAU_hls_1"):
            shown = {"block": "bram", "distributed": "lutram"}[folding[node]["ram_style"]]
            assert f"{node}:" in row["folding"] and shown in row["folding"].split(f"{node}:")[1].split(" ")[0]
    run = subprocess.run([DSE, "run", str(path), "--storage", storage], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    pareto = subprocess.run([DSE, "pareto", "tfc-reduced", "--format", "json", "--storage", storage],
                            capture_output=True, text=True, timeout=300)
    records = json.loads(pareto.stdout)
    assert records and all(isinstance(r["folding_config"], dict) and "MVAU_hls_0" in r["folding_config"] for r in records)
