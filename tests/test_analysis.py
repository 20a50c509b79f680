"""The notebook API, ``dse report`` and the example notebook, on real FINN studies.

Every answer is checked against a reference computed here from the raw trial values
(user attrs), and the study's own front against Optuna's ``study.best_trials``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from optuna.trial import TrialState

import dse
from dse import study as study_mod
from dse.errors import DseError
from tests.finn_steps import estimate_steps_with
from tests.conftest import ROOT, write_config

DSE = str(Path(sys.executable).with_name("dse"))

# Some builds fail inside FINN (PE >= 8 on the first MVAU) and a LUT cap makes some infeasible.
MIXED = """
name: mixed
model: tfc-w1a1
device: Pynq-Z1
finn:
  steps: {steps}
layers:
  - match: {{op_type: MVAU}}
    PE: all
    SIMD: all
constraints: {{caps: {{LUT: 12000}}}}
objectives: [throughput_fps, LUT]
sampler: random
seed: 5
n_trials: 24
"""
FAILING_STEPS = estimate_steps_with("tests.finn_steps.fail_if_wide")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, worker):
    base = tmp_path_factory.mktemp("mixed")
    config = write_config(base, MIXED.format(steps=json.dumps(FAILING_STEPS)))
    storage = f"sqlite:///{base}/dse.db"
    plan = study_mod.prepare(config, storage=storage, worker=worker)
    study_mod.run(plan)
    other = study_mod.prepare(config, storage=storage, worker=worker, study_name="mixed-tpe", sampler="tpe", n_trials=10)
    study_mod.run(other)
    results = dse.open_study("mixed", storage)
    trials = results.study.get_trials()
    states = {t.state for t in trials}
    feasible = [t.user_attrs.get("feasible") for t in trials if t.state == TrialState.COMPLETE]
    # the study has what the tests need: failures, feasible and infeasible trials
    assert TrialState.FAIL in states and True in feasible and False in feasible
    return {"results": results, "storage": storage, "config": config, "base": base}


def _raw(results, feasible_only=True):
    return [t for t in results.study.get_trials() if t.state == TrialState.COMPLETE
            and (t.user_attrs["feasible"] or not feasible_only)]


def _dominates(a, b, maximise):
    better_or_equal = all((x >= y) if m else (x <= y) for x, y, m in zip(a, b, maximise))
    return better_or_equal and a != b


def _brute_front(trials, metrics, maximise):
    values = {t.number: tuple(t.user_attrs[m] for m in metrics) for t in trials}
    return {n for n, v in values.items() if not any(_dominates(w, v, maximise) for w in values.values())}


def test_trials_has_one_row_per_trial_with_raw_values(mixed):
    results = mixed["results"]
    frame = results.trials()
    trials = results.study.get_trials()
    assert list(frame["number"]) == [t.number for t in trials]
    assert {"number", "state", "throughput_fps", "LUT", "feasible", "duration_s", "error_category", "folding"} <= set(frame.columns)
    assert any(c.startswith("params_MVAU_hls_0.") for c in frame.columns)
    for t, row in zip(trials, frame.to_dict("records")):
        assert row["state"] == t.state.name
        assert row["duration_s"] == pytest.approx(t.duration.total_seconds())
        for key, value in t.params.items():
            assert row[f"params_{key}"] == value
        if t.state == TrialState.COMPLETE:
            assert row["LUT"] == t.user_attrs["LUT"] and row["feasible"] == t.user_attrs["feasible"]
        else:
            assert row["error_category"] == t.user_attrs["error_category"] == "transform"


def test_pareto_of_the_study_objectives_is_optunas_best_trials(mixed):
    results = mixed["results"]
    front = results.pareto()
    assert sorted(front["number"]) == sorted(t.number for t in results.study.best_trials)
    assert list(front["throughput_fps"]) == sorted(front["throughput_fps"], reverse=True)
    assert (front["feasible"] == True).all()  # noqa: E712
    # and it is the front a brute force finds among the feasible trials
    assert set(front["number"]) == _brute_front(_raw(results), ["throughput_fps", "LUT"], [True, False])


@pytest.mark.parametrize("objectives, maximise, feasible_only", [
    (["throughput_fps", "BRAM_18K"], [True, False], True),
    (["throughput_fps", "LUT"], [True, False], False),
    ({"latency_ns": "minimize", "DSP": "minimize", "LUT": "minimize"}, [False, False, False], True),
])
def test_pareto_of_other_metrics_matches_a_brute_force_reference(mixed, objectives, maximise, feasible_only):
    results = mixed["results"]
    front = results.pareto(objectives, feasible_only=feasible_only)
    expected = _brute_front(_raw(results, feasible_only), list(objectives), maximise)
    assert set(front["number"]) == expected


def test_top_summary_and_folding(mixed):
    results = mixed["results"]
    raw = _raw(results)
    top = results.top(4, "LUT")
    assert list(top["LUT"]) == sorted(t.user_attrs["LUT"] for t in raw)[:4]
    fastest = results.top(1, "throughput_fps").iloc[0]
    assert fastest["throughput_fps"] == max(t.user_attrs["throughput_fps"] for t in raw)
    summary = results.summary()
    done = _raw(results, feasible_only=False)
    failed = [t for t in results.study.get_trials() if t.state == TrialState.FAIL]
    assert summary["complete"] == len(done) and summary["failed"] == len(failed)
    assert summary["success_rate"] == pytest.approx(len(done) / (len(done) + len(failed)))
    luts = np.array([t.user_attrs["LUT"] for t in done])
    row = summary["metrics"].loc["LUT"]
    assert (row["min"], row["max"]) == (luts.min(), luts.max())
    assert row["mean"] == pytest.approx(luts.mean()) and row["std"] == pytest.approx(luts.std(ddof=1))
    failures = summary["failures"].set_index("category")
    assert failures.loc["transform", "count"] == len(failed)
    assert "FINN could not lower" in failures.loc["transform", "hint"]
    assert "PE of MVAU_hls_0 is 8 or more" in failures.loc["transform", "example"]
    number = int(fastest["number"])
    assert results.folding(number) == results.study.trials[number].user_attrs["folding_config"]
    with pytest.raises(DseError, match="has no trial 999"):
        results.folding(999)
    with pytest.raises(DseError, match=rf"trial {failed[0].number} of 'mixed' has no folding: it is FAIL"):
        results.folding(failed[0].number)
    with pytest.raises(DseError, match="unknown metric 'speed'"):
        results.top(3, "speed")


def _hv2d(points, ref_fps, ref_lut):
    """Hypervolume of (fps up, LUT down) points by a plain sweep: the test's own reference."""
    area, best_fps = 0.0, 0.0
    for lut, fps in sorted((lut, fps) for fps, lut in points if fps > ref_fps and lut < ref_lut):
        if fps > best_fps:
            area += (fps - best_fps) * (ref_lut - lut)
            best_fps = fps
    return area


def test_hypervolume_and_its_history(mixed):
    results = mixed["results"]
    budget = results.study.user_attrs["device"]["budget"]["LUT"]
    assert results.reference() == {"throughput_fps": 0.0, "LUT": budget}
    points = [(t.user_attrs["throughput_fps"], t.user_attrs["LUT"]) for t in _raw(results)]
    assert results.hypervolume() == pytest.approx(_hv2d(points, 0.0, budget), rel=1e-9)
    assert results.hypervolume({"LUT": 10000.0}) == pytest.approx(_hv2d(points, 0.0, 10000.0), rel=1e-9)
    history = results.hypervolume_history()
    finished = [t for t in results.study.get_trials() if t.state.is_finished()]
    assert list(history["number"]) == [t.number for t in finished]
    assert list(history["hypervolume"]) == sorted(history["hypervolume"])  # never falls
    first_five = [(t.user_attrs["throughput_fps"], t.user_attrs["LUT"]) for t in _raw(results) if t.number <= finished[4].number]
    assert history["hypervolume"].iloc[4] == pytest.approx(_hv2d(first_five, 0.0, budget), rel=1e-9)
    assert history["hypervolume"].iloc[-1] == pytest.approx(results.hypervolume())


def test_compare_two_studies_of_one_space(mixed, tfc_study):
    results = mixed["results"]
    table = results.compare("mixed-tpe")  # found in the study's own storage, not the default one
    assert table.equals(results.compare("mixed-tpe", mixed["storage"]))
    assert list(table.index) == ["mixed", "mixed-tpe"]
    assert list(table["sampler"]) == ["random", "tpe"]
    assert table["combined_front_share"].sum() == pytest.approx(1.0)
    tpe = dse.open_study("mixed-tpe", mixed["storage"])
    assert table.loc["mixed-tpe", "trials"] == 10 and table.loc["mixed-tpe", "pareto"] == len(tpe.pareto())
    assert table.loc["mixed", "hypervolume"] == pytest.approx(results.hypervolume())
    with pytest.raises(DseError, match="come from different design spaces"):
        results.compare(dse.open_study("tfc-small", tfc_study.storage))


def test_plots_are_plotly_figures_that_export_to_png(mixed, tmp_path):
    results = mixed["results"]
    fig = results.plot_pareto()
    front_trace = [t for t in fig.data if t.name.startswith("Pareto front")][0]
    assert sorted(n for n, _ in front_trace.customdata) == sorted(results.pareto()["number"])
    assert any(t.name.startswith("infeasible") for t in fig.data)
    png = tmp_path / "pareto.png"
    fig.write_image(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # the real study's LUT budget and cap as lines on the LUT axis
    budget = results.study.user_attrs["device"]["budget"]["LUT"]
    lines = {(s.name, s.x0) for s in fig.layout.shapes if s.xref == "x"}
    assert {(f"Pynq-Z1 budget: LUT <= {budget:,.0f} LUTs", budget), ("cap: LUT <= 12,000 LUTs", 12000.0)} <= lines
    history = results.plot_hypervolume()
    box = budget * results.ideal()["throughput_fps"]  # the share of the box from (0 fps, budget) to (best fps, 0 LUTs)
    assert list(history.data[0].y) == pytest.approx(list(results.hypervolume_history()["hypervolume"] / box * 100))


def test_dse_report_writes_one_self_contained_page(mixed, tmp_path):
    out = tmp_path / "report.html"
    done = subprocess.run([DSE, "report", "mixed", "-o", str(out), "--storage", mixed["storage"]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "<script src=" not in page and "plotly" in page  # plotly.js inlined: opens offline
    front = mixed["results"].pareto()
    assert f"Pareto configurations ({len(front)})" in page
    for folding in front["folding"]:
        assert folding.split()[0] in page
    assert "Failures by category" in page and "FINN could not lower" in page
    bad = subprocess.run([DSE, "report", "nope", "-o", str(out), "--storage", mixed["storage"]], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"error: no study named 'nope' in {mixed['storage']} (studies: mixed, mixed-tpe)"]


def test_the_example_notebook_runs_against_a_real_study(mixed, monkeypatch, tmp_path):
    monkeypatch.setenv("DSE_STUDY", "mixed")
    monkeypatch.setenv("DSE_STORAGE", mixed["storage"])
    nb = nbformat.read(ROOT / "examples" / "explore_study.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    results = mixed["results"]
    summary = results.summary()
    assert f"{summary['complete']} complete, {summary['failed']} failed" in text
    assert f"{results.hypervolume()}" in text
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    fastest = int(results.pareto().iloc[0]["number"])
    shown = ast.literal_eval(nb.cells[-1].outputs[-1]["data"]["text/plain"])  # the last cell: MVAU foldings
    assert shown == {k: v for k, v in results.folding(fastest).items() if k.startswith("MVAU")} and shown


def test_folding_summary_shows_a_generator_folded_on_its_own():
    from dse.analysis import folding_summary

    folding = {"ConvolutionInputGenerator_rtl_0": {"SIMD": 64, "parallel_window": 1},
               "ConvolutionInputGenerator_rtl_1": {"SIMD": 2, "parallel_window": 0},
               "MVAU_hls_1": {"PE": 1, "SIMD": 9, "ram_style": "block"}}
    assert folding_summary(folding) == ("ConvolutionInputGenerator_rtl_0:s64,window ConvolutionInputGenerator_rtl_1:s2 "
                                        "MVAU_hls_1:1x9,bram")
