"""The plots and the report page on small synthetic studies (no FINN: Optuna studies carrying the
user attrs ``dse run`` records), checked on the figure objects themselves."""

from __future__ import annotations

import re
import textwrap
import warnings

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from dse import report
from dse.analysis import Limit, Results
from dse.metrics import METRICS

BUDGET = {"LUT": 53200.0, "BRAM_18K": 280.0, "URAM": 0.0, "DSP": 220.0}
FOLDING = {"MVAU_hls_0": {"PE": 16, "SIMD": 49}, "MVAU_hls_1": {"PE": 8, "SIMD": 16}}

# (throughput_fps, LUT, BRAM_18K): the numbers among them (1,785,714.2857 and 781,250 frames/s)
POINTS = [
    (781250.0, 6292.0, 12.0), (1785714.2857, 11000.0, 30.0), (250000.0, 3100.0, 4.0), (120000.0, 2900.0, 9.0),
    (3571428.5714, 18000.0, 60.0),  # over the LUT cap: infeasible
    (500000.0, 7000.0, 3.0), (2000.0, 2100.0, 2.0), (900000.0, 9000.0, 20.0),
    (4000000.0, 60000.0, 140.0),  # over the device's LUT budget too
]


def _space(objectives: list[str], caps: str) -> str:
    return textwrap.dedent(f"""
        name: synthetic
        model: tfc-w1a1
        device: Pynq-Z1
        layers:
          - match: {{op_type: MVAU}}
            PE: all
            SIMD: all
        constraints: {{caps: {caps}}}
        objectives: [{', '.join(objectives)}]
        sampler: random
        """)


def _study(objectives: list[str], caps: dict[str, float], caps_text: str, points=POINTS, failures=("transform", "transform", None)) -> Results:
    """A study as ``dse run`` leaves it: user attrs on the study and on every trial, constraints for Optuna."""
    study = optuna.create_study(directions=[METRICS[m].direction for m in objectives], study_name=f"synthetic-{len(objectives)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objectives)
    for key, value in {
        "model": "tfc-w1a1", "objectives": objectives, "sampler": "random", "clock_ns": 10.0,
        "space_text": _space(objectives, caps_text), "space_key": "synthetic",
        "device": {"name": "Pynq-Z1", "part": "xc7z020clg400-1", "board": "Pynq-Z1", "budget": BUDGET},
    }.items():
        study.set_user_attr(key, value)
    distributions = {"MVAU_hls_0.PE": IntDistribution(1, 64)}
    for i, (fps, lut, bram) in enumerate(points):
        metrics = {"throughput_fps": fps, "latency_ns": 1e9 / fps * 3, "max_cycles": 1e8 / fps, "LUT": lut,
                   "BRAM_18K": bram, "URAM": 0.0, "DSP": 0.0}
        metrics["utilization"] = max(metrics[r] / b for r, b in BUDGET.items() if b > 0)
        constraints = {f"budget_{r}": (metrics[r] / b - 1 if b > 0 else metrics[r]) for r, b in BUDGET.items()}
        constraints.update({f"max_{m}": metrics[m] / cap - 1 for m, cap in caps.items()})
        study.add_trial(create_trial(
            state=TrialState.COMPLETE, values=[metrics[m] for m in objectives], params={"MVAU_hls_0.PE": 1 + i},
            distributions=distributions, constraints=constraints,
            user_attrs={**metrics, "folding_config": FOLDING, "constraints": constraints,
                        "feasible": all(v <= 0 for v in constraints.values())},
        ))
    for category in failures:
        attrs = {"error_category": category, "error_message": "boom", "error_hint": "hint"} if category else {}
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs=attrs))
    return Results(study)


@pytest.fixture
def two():
    return _study(["throughput_fps", "LUT"], {"LUT": 12000.0}, "{LUT: 12000}")


@pytest.fixture
def three():
    return _study(["throughput_fps", "LUT", "BRAM_18K"], {"utilization": 0.8, "BRAM_18K": 50.0}, "{utilization: 0.8, BRAM_18K: 50}")


def _trace(fig, prefix):
    return next(t for t in fig.data if (t.name or "").startswith(prefix))


def _lines(fig):
    """Budget and cap lines: (legend name, shown in the legend, axis ref, value)."""
    out = []
    for s in fig.layout.shapes:
        if s.x0 == s.x1 and "domain" not in s.xref:
            out.append((s.name, s.showlegend, s.xref, s.x0))
        else:
            out.append((s.name, s.showlegend, s.yref, s.y0))
    return out


def test_results_limits_are_the_enforced_budget_and_the_caps(two, three):
    assert two.limits() == [*(Limit(r, "budget", v) for r, v in BUDGET.items()), Limit("LUT", "max", 12000.0)]
    assert Limit("utilization", "max", 0.8) in three.limits() and Limit("BRAM_18K", "max", 50.0) in three.limits()
    assert Limit("LUT", "max", 12000.0).broken_by(18000.0) and not Limit("LUT", "max", 12000.0).broken_by(12000.0)


def test_two_objectives_front_is_a_staircase_with_units_budget_lines_and_formatted_hover(two):
    fig = two.plot_pareto()
    front = two.pareto()
    line = _trace(fig, "Pareto front")
    assert line.mode == "lines+markers" and line.line.shape == "hv"  # LUT (x) is minimized: across, then up
    assert sorted(n for n, _ in line.customdata) == sorted(front["number"])
    # axes carry units, also the log one
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text.startswith("throughput_fps (frames/s)")
    assert "log scale" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.title.text.startswith("LUT (LUTs)")
    # the device budget and the cap on the LUT axis, named in the legend
    lines = _lines(fig)
    assert ("Pynq-Z1 budget: LUT <= 53,200 LUTs", True, "x", 53200.0) in lines
    assert ("cap: LUT <= 12,000 LUTs", True, "x", 12000.0) in lines
    assert not [v for _, _, axis, v in lines if axis == "y"]  # nothing limits throughput here
    # hover: the trial, each objective as tables write it, its folding
    fastest = front.iloc[0]
    text = line.hovertext[list(line.customdata[:, 0]).index(fastest["number"])]
    assert f"trial {fastest['number']}" in text and "(feasible)" in text
    assert "throughput_fps: 1,785,714 frames/s" in text and "LUT: 11,000 LUTs" in text
    assert "MVAU_hls_0:16x49" in text and "e+" not in text
    assert line.hovertemplate == "%{hovertext}<extra></extra>"
    # the infeasible points say which limit they break
    infeasible = _trace(fig, "infeasible")
    assert len(infeasible.x) == 2 and all("cap: LUT <= 12,000 LUTs" in t for t in infeasible.hovertext)
    assert any("breaks Pynq-Z1 budget: LUT <= 53,200 LUTs" in t for t in infeasible.hovertext)


def test_three_objectives_are_a_scatter_matrix_never_a_staircase(three):
    fig = three.plot_pareto()
    assert not [t for t in fig.data if t.type == "scatter" and "lines" in (t.mode or "")]
    sploms = [t for t in fig.data if t.type == "splom"]
    assert sploms and all(t.type == "splom" for t in fig.data)
    front = _trace(fig, "Pareto front")
    assert front.type == "splom" and sorted(front.customdata[:, 0]) == sorted(three.pareto()["number"])
    labels = [d.label for d in front.dimensions]
    assert labels[0].startswith("throughput_fps (frames/s)") and labels[1].startswith("LUT (LUTs)")
    assert labels[2].startswith("BRAM_18K (18 Kb BRAMs)")
    assert fig.layout.xaxis.title.text == labels[0] and fig.layout.yaxis3.title.text == labels[2]
    assert "BRAM_18K: " in front.hovertext[0] and "throughput_fps: " in front.hovertext[0]
    lines = _lines(fig)
    # LUT is dimension 2: x2 in the panel below it, y2 in the panel left of it; one legend entry per limit
    lut_budget = [line for line in lines if line[0] == "Pynq-Z1 budget: LUT <= 53,200 LUTs"]
    assert {(axis, v) for _, _, axis, v in lut_budget} == {("x2", 53200.0), ("y2", 53200.0)}
    assert [shown for _, shown, _, _ in lut_budget].count(True) == 1
    share = [line for line in lines if line[0] == "utilization cap 80.0%: LUT <= 42,560 LUTs"]
    assert share and all(v == pytest.approx(42560.0) for *_, v in share)
    assert {v for name, _, axis, v in lines if name == "cap: BRAM_18K <= 50 18 Kb BRAMs"} == {50.0}
    assert not [line for line in lines if line[2] in ("x", "y")]  # nothing limits throughput


def test_a_study_without_complete_trials_says_why(two):
    study = _study(["throughput_fps", "LUT"], {"LUT": 12000.0}, "{LUT: 12000}", points=[],
                   failures=("transform", "transform", "folding", None))
    for fig in (study.plot_pareto(), study.plot_hypervolume()):
        texts = [a.text for a in fig.layout.annotations]
        assert "no completed trial yet: 4 failed (transform 2, folding 1, lost 1)" in texts
        assert not fig.data


def test_hypervolume_is_a_share_of_the_reference_box(two):
    fig = two.plot_hypervolume()
    history = two.hypervolume_history()
    box = BUDGET["LUT"] * 1785714.2857  # 0 fps and the LUT budget to the best feasible throughput and no LUTs
    assert list(fig.data[0].y) == pytest.approx(list(history["hypervolume"] / box * 100))
    assert 0 < fig.data[0].y[-1] <= 100 and fig.layout.yaxis.ticksuffix == "%"
    assert "% of the reference box" in fig.layout.yaxis.title.text
    title = fig.layout.title.text
    assert f"{two.hypervolume() / box:.1%}" in title
    assert "throughput_fps 0 frames/s" in title and "LUT 53,200 LUTs (the Pynq-Z1 budget)" in title
    assert not re.search(r"\d[TGMk]\b|e\+", title)


def test_report_formats_numbers_and_explains_infeasible(two, three, tmp_path):
    for results in (two, three):
        page = report.render(results)
        assert not re.search(r"\d\.\d+e[+-]\d", page.split("<div class='plots'>")[0] + page.split("</div>\n</div>")[-1])
        assert "Feasibility: device budget and caps" in page
        assert "<td>Pynq-Z1 budget: LUT &lt;= 53,200 LUTs</td>" in page
        assert "% of the box from the reference" in page
    page = report.render(two)
    tables = page.split("Pareto configurations")[1]
    assert "<td>1,785,714</td>" in tables and "<td>781,250</td>" in tables  # one format in one column
    assert "throughput_fps (frames/s)" in tables
    # the LUT cap explains both infeasible trials
    assert re.search(r"<td>cap: LUT &lt;= 12,000 LUTs</td>\s*<td>LUT \(LUTs\)</td>\s*<td>12,000</td>\s*<td>2</td>", page)
    assert "2 of the 9 complete trials break at least one" in page
    three_page = report.render(three)
    assert "utilization cap 80.0%: LUT &lt;= 42,560 LUTs" in three_page
