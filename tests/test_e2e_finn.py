"""End to end with real FINN builds: the study, its metrics, its Pareto front, reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse.analysis import pareto_rows
from dse.models import sha256_of


def _complete(plan):
    return plan.study.get_trials(states=(TrialState.COMPLETE,))


def test_metrics_equal_finn_report_files(tfc_study):
    trials = _complete(tfc_study)
    assert len(trials) == 6
    for t in trials:
        report = Path(t.user_attrs["trial_dir"]) / "report"
        perf = json.loads((report / "estimate_network_performance.json").read_text())
        total = json.loads((report / "estimate_layer_resources.json").read_text())["total"]
        counted = json.loads((report / "counted_resources.json").read_text())["total"]
        # FINN's own numbers, verbatim; the plain names hold dse's count (the default fidelity)
        assert t.user_attrs["fidelity"] == "counted"
        assert t.user_attrs["throughput_fps"] == t.user_attrs["finn_throughput_fps"] == perf["estimated_throughput_fps"]
        assert t.user_attrs["latency_ns"] == t.user_attrs["finn_latency_ns"] == perf["estimated_latency_ns"]
        assert t.user_attrs["max_cycles"] == perf["max_cycles"]
        for res in ("LUT", "BRAM_18K", "URAM", "DSP"):
            assert t.user_attrs[f"finn_{res}"] == total[res]
            assert t.user_attrs[res] == counted[res] >= total[res]
        assert t.user_attrs["LUT"] > total["LUT"]  # converters and FIFOs FINN's estimate leaves out
        assert t.values == [perf["estimated_throughput_fps"], counted["LUT"]]
        budget = {"LUT": 53200, "BRAM_18K": 280, "DSP": 220}
        for res, cap in budget.items():
            assert t.user_attrs[f"utilization_{res}"] == pytest.approx(counted[res] / cap)
        assert t.user_attrs["feasible"] == all(v <= 0 for v in t.constraints.values())


def test_folding_config_is_what_finn_applied_and_matches_params(tfc_study):
    space = tfc_study.target.space
    for t in _complete(tfc_study):
        report = Path(t.user_attrs["trial_dir"]) / "report"
        applied = json.loads((report / "applied_folding_config.json").read_text())
        assert t.user_attrs["folding_config"] == applied
        for knob in space.knobs:
            value = knob.values[t.params[knob.param]] if knob.ordinal else t.params[knob.param]
            assert applied[knob.node][knob.attr] == value


def test_pareto_rows_are_the_non_dominated_feasible_trials(tfc_study):
    front = pareto_rows(tfc_study.study)
    assert len(front) >= 1
    points = [(t.user_attrs["throughput_fps"], t.user_attrs["LUT"], t.number) for t in _complete(tfc_study) if t.user_attrs["feasible"]]

    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    expected = {p[2] for p in points if not any(dominates(q, p) for q in points)}
    assert {row["number"] for row in front} == expected
    assert [row["throughput_fps"] for row in front] == sorted((row["throughput_fps"] for row in front), reverse=True)
    rows = [(row["throughput_fps"], row["LUT"]) for row in front]
    for a in rows:
        assert not any(dominates(b, a) for b in rows)


def test_study_is_a_plain_optuna_study(tfc_study):
    url = tfc_study.storage
    loaded = optuna.load_study(study_name="tfc-small", storage=url)
    assert len(loaded.trials) == 6
    assert loaded.metric_names == ["throughput_fps", "LUT"]
    out = subprocess.run(
        [str(Path(sys.executable).with_name("optuna")), "best-trials", "--study-name", "tfc-small", "--storage", url, "-f", "json"],
        capture_output=True, text=True, check=True,
    )
    assert len(json.loads(out.stdout)) == len(pareto_rows(loaded))


def test_study_attrs_make_it_reproducible(tfc_study):
    attrs = tfc_study.study.user_attrs
    cfg = attrs["finn_build_config"]
    assert Path(cfg["model_path"]).is_absolute()
    assert sha256_of(cfg["model_path"]) == attrs["model_sha256"]
    assert cfg["steps"][-1] == "step_generate_estimate_reports"
    assert attrs["space_text"] == Path(attrs["space_file"]).read_text()
    assert attrs["sampler"] == "random" and attrs["seed"] == 1
    for package in ("dse", "finn-plus", "qonnx", "optuna"):
        assert attrs["versions"][package]


REBUILD = textwrap.dedent(
    """
    # Plain finn-plus, as a user would run it: no dse code is imported here.
    import json, os, sys
    os.environ["FINN_BUILD_DIR"] = sys.argv[3]
    import finn.xsi
    finn.xsi.SimEngine = object                   # no Vivado on this machine
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as bc
    build.get_vivado_root = lambda: "none"
    cfg_dict = json.load(open(sys.argv[1]))
    model = cfg_dict.pop("model_path")
    cfg_dict["output_dir"] = sys.argv[2]
    cfg = bc.DataflowBuildConfig.from_dict(cfg_dict)
    sys.exit(build.build_dataflow_cfg(model, cfg))
    """
)


def test_exported_trial_rebuilds_with_plain_finn(tfc_study, tmp_path):
    best = max(_complete(tfc_study), key=lambda t: t.user_attrs["throughput_fps"])
    folding, build_cfg = tmp_path / "folding.json", tmp_path / "build.json"
    subprocess.run(
        [str(Path(sys.executable).with_name("dse")), "export", "tfc-small", "--trial", str(best.number),
         "--folding", str(folding), "--build-config", str(build_cfg), "--storage", tfc_study.storage],
        check=True, capture_output=True,
    )
    script = tmp_path / "rebuild.py"
    script.write_text(REBUILD)
    out_dir = tmp_path / "out"
    subprocess.run([sys.executable, str(script), str(build_cfg), str(out_dir), str(tmp_path / "tmp")],
                   check=True, capture_output=True)
    perf = json.loads((out_dir / "report" / "estimate_network_performance.json").read_text())
    total = json.loads((out_dir / "report" / "estimate_layer_resources.json").read_text())["total"]
    assert perf["estimated_throughput_fps"] == best.user_attrs["throughput_fps"]
    assert perf["max_cycles"] == best.user_attrs["max_cycles"]
    for res in ("LUT", "BRAM_18K", "URAM", "DSP"):
        assert total[res] == best.user_attrs[f"finn_{res}"]


def test_a_space_may_ask_for_finns_raw_numbers(tmp_path, worker):
    """fidelity: {level: finn}: the plain names are FINN's report numbers (no count is made), and the
    run says what they leave out."""
    from dse import study as study_mod
    from tests.conftest import TFC_SMALL, write_config

    config = write_config(tmp_path, TFC_SMALL.replace("n_trials: 6", "n_trials: 2") + "fidelity: {level: finn}\n")
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert any("FINN's raw estimate" in note and "may not fit" in note for note in plan.notes)
    assert study_mod.run(plan).completed == 2
    for t in _complete(plan):
        report = Path(t.user_attrs["trial_dir"]) / "report"
        total = json.loads((report / "estimate_layer_resources.json").read_text())["total"]
        assert t.user_attrs["fidelity"] == "finn" and not (report / "counted_resources.json").exists()
        for res in ("LUT", "BRAM_18K", "URAM", "DSP"):
            assert t.user_attrs[res] == t.user_attrs[f"finn_{res}"] == total[res]
    plan.close()
