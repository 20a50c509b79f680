"""Prefix reuse: trials that run only FINN's folding-dependent steps give exactly the numbers
of a full, uncached FINN build; the cache is keyed by content and never trusts a bad entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse import study as study_mod
from dse.finn.worker import _valid_prefix
from tests.conftest import write_config

REPORTS = (
    "estimate_network_performance.json",
    "estimate_layer_resources.json",
    "estimate_layer_cycles.json",
    "estimate_layer_config_alternatives.json",
    "op_and_param_counts.json",
    "applied_folding_config.json",
)


def _same_reports(a: Path, b: Path) -> None:
    for name in REPORTS:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text()), name
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _compare_with_full_builds(plan, worker, tmp_path, count):
    trials = [t for t in plan.study.get_trials() if t.state.name == "COMPLETE"][:count]
    assert trials
    for t in trials:
        folding = json.loads((Path(t.user_attrs["trial_dir"]) / "folding_config.json").read_text())
        full = worker.build(plan.target.model_path, tmp_path / f"full{t.number}", plan.target.build_config, folding, {})
        assert full["ok"], full
        _same_reports(Path(t.user_attrs["trial_dir"]) / "report", Path(full["report_dir"]))


def test_tfc_with_custom_preprocessing_steps_is_bit_identical(tfc_study, worker, tmp_path):
    assert "add_preproc_divide_by_255" in tfc_study.target.build_config["steps"][0]
    assert tfc_study.target.prefix_dir is not None and tfc_study.target.hoisted
    _compare_with_full_builds(tfc_study, worker, tmp_path, 3)


def test_tfc_with_plain_estimate_steps_is_bit_identical(tmp_path, worker):
    text = """
    name: tfc-plain
    model: tfc-w1a1
    device: Pynq-Z1
    finn: {steps: estimate}
    sampler: random
    n_trials: 2
    """
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert plan.target.hoisted  # the folding touches nothing the bit-width minimization reads
    study_mod.run(plan)
    plan.target.hoisted = False  # the unhoisted tail (FINN's own order) must agree as well
    plan.n_trials = 2
    study_mod.run(plan)
    _compare_with_full_builds(plan, worker, tmp_path, 4)


def test_cnv_is_bit_identical(cnv_plan, worker, tmp_path):
    cnv_plan.n_trials = 1
    study_mod.run(cnv_plan)
    _compare_with_full_builds(cnv_plan, worker, tmp_path, 1)


@pytest.mark.parametrize("net", ["mobilenet-tiny", "resnet-tiny", "conv1d-tiny", "mlp-float", "mlp-rtl"])
def test_finn_plus_benchmark_flows_are_bit_identical(tmp_path, worker, net):
    """Each network with its finn-plus flow's steps (mobilenetv1's has no target_fps step): the
    hoisted tail from the cached prefix writes the reports of a full, uncached finn-plus build."""
    from dse.models import FLOWS

    flow = FLOWS[net]
    text = f"""
    name: {net}
    model: {net}
    device: {flow.board}
    finn:
      steps: {json.dumps(list(flow.steps))}
      standalone_thresholds: {json.dumps(flow.standalone_thresholds)}
    layers:
      - match: {{op_type: "*"}}
        PE: all
        SIMD: all
      - match: {{op_type: MVAU}}
        ram_style: [block, distributed]
    sampler: random
    n_trials: 2
    """
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert plan.target.hoisted, plan.target.hoist_blocker
    study_mod.run(plan)
    _compare_with_full_builds(plan, worker, tmp_path, 2)
    plan.close()


def test_a_changed_knob_is_a_new_key_and_a_corrupt_entry_is_rebuilt(tmp_path, worker):
    base = """
    name: keyed
    model: tfc-w1a1
    device: Pynq-Z1
    finn: {minimize_bit_width: true}
    sampler: random
    n_trials: 1
    """
    storage = f"sqlite:///{tmp_path}/dse.db"
    first = study_mod.prepare(write_config(tmp_path, base), storage=storage, worker=worker)
    other = study_mod.prepare(write_config(tmp_path, base.replace("true", "false").replace("keyed", "keyed2")),
                              storage=storage, worker=worker)
    assert first.target.prefix_dir.name != other.target.prefix_dir.name
    same = study_mod.prepare(write_config(tmp_path, base.replace("n_trials: 1", "n_trials: 2")), storage=storage, worker=worker)
    assert same.target.prefix_dir == first.target.prefix_dir
    # corrupt the cached model: detected by its manifest, set aside, rebuilt - never used
    onnx = first.target.prefix_dir / "intermediate_models" / "step_specialize_layers.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100])
    assert not _valid_prefix(first.target.prefix_dir)
    worker.close()  # a fresh worker, as after a restart: nothing held in memory
    again = study_mod.prepare(write_config(tmp_path, base), storage=storage, worker=worker)
    assert _valid_prefix(again.target.prefix_dir)
    assert list(again.target.prefix_dir.parent.glob(f"{again.target.prefix_dir.name}.corrupt.*"))
    study_mod.run(again)
    assert again.study.get_trials()[-1].state.name == "COMPLETE"
    # a half-written entry (no manifest) is never used either
    (again.target.prefix_dir / "manifest.json").unlink()
    assert not _valid_prefix(again.target.prefix_dir)


def test_two_workers_racing_for_one_key_publish_one_sound_entry(tfc_study, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from dse.finn.worker import FinnWorker

    cache = tmp_path / "prefix" / "samekey"
    workers = [FinnWorker(tmp_path / f"tmp{i}", tmp_path / f"w{i}.log") for i in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(
                lambda w: w.probe(tfc_study.target.model_path, tfc_study.target.build_config, cache), workers))
    finally:
        for w in workers:
            w.close()
    assert all(r["ok"] for r in results)
    assert results[0]["nodes"] == results[1]["nodes"]
    assert _valid_prefix(cache)
    assert not list(cache.parent.glob("samekey.tmp*"))  # the loser cleaned up after itself


def test_finn_output_goes_to_the_trial_log_not_the_terminal(tfc_study):
    for t in tfc_study.study.get_trials():
        log = (Path(t.user_attrs["trial_dir"]) / "build_dataflow.log").read_text()
        assert "Running step: step_apply_folding_config" in log
        assert "Running step: step_generate_estimate_reports" in log
