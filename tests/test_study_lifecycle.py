"""Studies over time, with real FINN builds: grids, resume, changed spaces, failures, Ctrl-C."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse import study as study_mod
from dse.errors import DseError
from tests.finn_steps import estimate_steps_with
from tests.conftest import write_config

DSE = str(Path(sys.executable).with_name("dse"))

GRID = """
name: tiny-grid
model: tfc-w1a1
device: Pynq-Z1
layers:
  - match: {name: MVAU_hls_0}
    PE: [4, 8]
    SIMD: [16, 49]
  - match: {name: "MVAU_hls_[123]"}
    PE: [2]
    SIMD: [8]
  - match: {name: MVAU_hls_1}
    SIMD: [8, 16]
objectives: [throughput_fps, LUT]
sampler: grid
"""


def _keys(study):
    return Counter(json.dumps(t.params, sort_keys=True) for t in study.get_trials())


def test_grid_runs_every_valid_point_exactly_once_then_stops(tmp_path, worker):
    config = write_config(tmp_path, GRID)
    storage = f"sqlite:///{tmp_path}/dse.db"
    plan = study_mod.prepare(config, storage=storage, worker=worker)
    size = plan.target.space.grid_size()
    assert size == 2 * 2 * 2 == plan.n_trials
    stats = study_mod.run(plan)
    assert stats.completed == size
    keys = _keys(plan.study)
    assert len(keys) == size and set(keys.values()) == {1}
    foldings = {json.dumps(t.user_attrs["folding_config"], sort_keys=True) for t in plan.study.trials}
    assert len(foldings) == size
    again = study_mod.prepare(config, storage=storage, worker=worker)
    assert again.n_trials == 0
    assert len(again.study.trials) == size


def test_rerun_tops_up_without_losing_or_duplicating(tmp_path, worker):
    config = write_config(tmp_path, GRID.replace("sampler: grid", "sampler: tpe\nn_trials: 2"))
    storage = f"sqlite:///{tmp_path}/dse.db"
    study_mod.run(study_mod.prepare(config, storage=storage, worker=worker))
    plan = study_mod.prepare(config, storage=storage, worker=worker, n_trials=4)
    assert plan.n_trials == 2
    study_mod.run(plan)
    trials = plan.study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_a_changed_space_is_refused_and_a_new_name_works(tmp_path, worker):
    storage = f"sqlite:///{tmp_path}/dse.db"
    config = write_config(tmp_path, GRID.replace("sampler: grid", "sampler: random\nn_trials: 1"))
    study_mod.run(study_mod.prepare(config, storage=storage, worker=worker))
    changed = write_config(tmp_path, GRID.replace("PE: [2]", "PE: [1]").replace("sampler: grid", "sampler: random\nn_trials: 1"))
    with pytest.raises(DseError, match="was made from a different design space; use --study NEW_NAME"):
        study_mod.prepare(changed, storage=storage, worker=worker)
    assert len(optuna.load_study(study_name="tiny-grid", storage=storage).trials) == 1
    plan = study_mod.prepare(changed, storage=storage, worker=worker, study_name="tiny-grid-pe1")
    assert plan.n_trials == 1


def test_failing_builds_are_categorized_and_the_study_goes_on(tmp_path, worker):
    steps = estimate_steps_with("tests.finn_steps.fail_if_wide")
    text = GRID.replace("name: tiny-grid", "name: failing\nfinn:\n  steps: " + json.dumps(steps))
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert not plan.target.hoisted  # a custom step in the tail: FINN's own order is kept
    stats = study_mod.run(plan)
    assert stats.completed == 4 and stats.failed == 4
    failed = plan.study.get_trials(states=(TrialState.FAIL,))
    for t in failed:
        assert t.user_attrs["error_category"] == "transform"
        assert t.user_attrs["error_step"] == "fail_if_wide"
        assert "PE of MVAU_hls_0 is 8 or more" in t.user_attrs["error_message"]
        assert t.user_attrs["error_hint"]
    assert {t.params["MVAU_hls_0.PE_idx"] for t in failed} == {1}
    out = subprocess.run([DSE, "status", "failing", "--storage", plan.storage], capture_output=True, text=True)
    assert out.returncode == 0 and "4 x transform: synthetic failure" in out.stdout


def test_an_unexpected_error_in_a_trial_is_unknown_and_the_study_goes_on(tmp_path, worker, monkeypatch):
    """A bug outside FINN (a stand-in: reading one trial's metrics raises) fails only that trial."""
    from dse import objective

    real = objective.read_metrics
    calls = []

    def read_metrics_with_a_bug(report):
        calls.append(report)
        if len(calls) == 2:
            raise ZeroDivisionError("division by zero")
        return real(report)

    monkeypatch.setattr(objective, "read_metrics", read_metrics_with_a_bug)
    plan = study_mod.prepare(write_config(tmp_path, GRID.replace("tiny-grid", "buggy")), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    stats = study_mod.run(plan)
    assert stats.completed == 7 and stats.failed == 1 and stats.failures == {"unknown": 1}
    (failed,) = plan.study.get_trials(states=(TrialState.FAIL,))
    assert failed.user_attrs["error_category"] == "unknown"
    assert failed.user_attrs["error_message"] == "ZeroDivisionError: division by zero"
    assert "report it" in failed.user_attrs["error_hint"]


def test_a_model_finn_cannot_build_fails_before_any_study(tmp_path, worker):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sin", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model_path = tmp_path / "sin.onnx"
    onnx.save(helper.make_model(graph), model_path)
    config = write_config(tmp_path, f"name: sin\nmodel: {model_path}\ndevice: Pynq-Z1\nfinn: {{steps: estimate}}\n")
    storage = f"sqlite:///{tmp_path}/dse.db"
    with pytest.raises(DseError, match=r"model: FINN cannot build"):
        study_mod.prepare(config, storage=storage, worker=worker)
    assert optuna.get_all_study_summaries(storage) == []
    (tmp_path / "junk.onnx").write_text("not onnx")
    config = write_config(tmp_path, f"name: junk\nmodel: {tmp_path / 'junk.onnx'}\ndevice: Pynq-Z1\n")
    with pytest.raises(DseError, match="is not an ONNX file"):
        study_mod.prepare(config, storage=storage, worker=worker)


def test_two_databases_in_one_folder_never_share_a_study_folder(tmp_path, worker):
    """Study folders are named after the study: a second database beside the first, with a study
    of the same name, would have overwritten the first one's trial folders."""
    config = write_config(tmp_path, GRID.replace("sampler: grid", "sampler: random\nn_trials: 1"))
    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    plan = study_mod.prepare(config, storage=first, worker=worker)
    study_mod.run(plan)
    plan.close()
    report = next((tmp_path / "tiny-grid" / "trials").glob("*/report/estimate_layer_resources.json"))
    before = report.read_bytes()
    with pytest.raises(DseError) as caught:
        study_mod.prepare(config, storage=second, worker=worker)
    assert str(caught.value) == (
        f"{tmp_path / 'tiny-grid'} holds the trials of study 'tiny-grid' in sqlite:///{tmp_path / 'a.db'}; "
        f"give this study another name (--study NAME) or keep each SQLite database in a folder of its own")
    assert optuna.get_all_study_names(second) == []
    plan = study_mod.prepare(config, storage=second, study_name="tiny-grid-b", worker=worker)  # the way out
    plan.close()
    plan = study_mod.prepare(config, storage=first, worker=worker)  # its own database: resumed as before
    plan.close()
    assert report.read_bytes() == before
    (tmp_path / "a.db").unlink()  # a folder whose database is gone is taken over
    plan = study_mod.prepare(config, storage=second, worker=worker)
    plan.close()
    assert (tmp_path / "tiny-grid" / ".storage").read_text() == f"sqlite:///{tmp_path / 'b.db'}\n"


def test_a_failing_check_inside_finn_names_its_line_and_keeps_finns_log(tmp_path, worker):
    """FINN logs an empty ``ERROR:`` for a bare assert: the message comes from its traceback."""
    from dse.finn import adapter

    steps = adapter.BNN_PRE_POST_STEPS + list(adapter.ESTIMATE_STEPS)
    steps.insert(steps.index("step_tidy_up") + 1, "tests.finn_steps.bare_assert")
    config = write_config(tmp_path, f"name: bare\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nfinn: {{steps: {steps}}}\n")
    with pytest.raises(DseError) as caught:
        study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    found = re.fullmatch(r".*/space.yaml: model: FINN cannot build 'tfc-w1a1' \(at bare_assert\): AssertionError at line \d+: "
                         r"assert model.graph.node\[0\].op_type == \"NoSuchOp\" \(FINN's log: (.+\.failed\.log)\)", str(caught.value))
    assert found, str(caught.value)
    assert "AssertionError" in Path(found.group(1)).read_text()


@pytest.mark.parametrize("step, message", [
    ("step_streamlin", "step_streamlin is not one of FINN's steps (did you mean step_streamline?)"),
    ("tests.finn_steps.no_such_step",
     "tests.finn_steps.no_such_step cannot be imported: module 'tests.finn_steps' has no attribute 'no_such_step'"),
    ("no_such_module.step_x", "no_such_module.step_x cannot be imported: No module named 'no_such_module'"),
])
def test_a_step_finn_cannot_find_is_named_before_any_build(tmp_path, worker, step, message):
    from dse.finn import adapter

    steps = adapter.BNN_PRE_POST_STEPS + list(adapter.ESTIMATE_STEPS)
    steps.insert(steps.index("step_streamline") + 1, step)
    config = write_config(tmp_path, f"name: typo\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nfinn: {{steps: {steps}}}\n")
    with pytest.raises(DseError) as caught:
        study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert str(caught.value) == f"{config}: finn.steps: {message}"
    assert not (tmp_path / "typo").exists()


def test_target_fps_mode_lets_finn_fold_and_records_its_folding(tmp_path, worker):
    text = """
    name: setfolding
    model: tfc-w1a1
    device: Pynq-Z1
    target_fps: {min: 1000, max: 1000000, mvau_wwidth_max: [36, 1000]}
    sampler: random
    n_trials: 3
    """
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    study_mod.run(plan)
    for t in plan.study.get_trials():
        assert t.state == TrialState.COMPLETE
        assert 1000 <= t.params["target_fps"] <= 1e6
        assert t.user_attrs["finn_overrides"]["target_fps"] == t.params["target_fps"]
        assert t.user_attrs["folding_config"]["MVAU_hls_0"]["PE"] >= 1


def _start_and_signal(tmp_path, signals, monkeypatch):
    """Start `dse run` on a space with 2-second builds; once a build runs, send ``signals``."""
    text = TWO_POINTS.format(name="signals", steps=_steps_with("tests.finn_steps.slow"))
    text = text.replace("sampler: grid", "sampler: random\nn_trials: 4").replace("PE: [4, 8]", "PE: all")
    config = write_config(tmp_path, text)
    storage = f"sqlite:///{tmp_path}/dse.db"
    cmd = [DSE, "run", str(config), "--storage", storage]
    # the test's own FINN step (tests/finn_steps.py) must be importable by the CLI's worker
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            states = Counter(t.state for t in optuna.load_study(study_name="signals", storage=storage).get_trials())
        except KeyError:
            continue
        if states[TrialState.COMPLETE] >= 1 and states[TrialState.RUNNING] == 1:
            break
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.2)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    trials = optuna.load_study(study_name="signals", storage=storage).get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return cmd, storage, trials


def _resume(cmd, storage):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Running step" not in done.stdout + done.stderr  # FINN's output stays in the logs
    trials = optuna.load_study(study_name="signals", storage=storage).get_trials()
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 4
    return done, trials


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_lets_the_running_build_finish_then_resume_tops_up(tmp_path, sig, monkeypatch):
    cmd, storage, trials = _start_and_signal(tmp_path, [sig], monkeypatch)
    assert all(t.state == TrialState.COMPLETE for t in trials)  # nothing failed or lost
    _, after = _resume(cmd, storage)
    assert len(after) == 4


def test_a_second_ctrl_c_stops_at_once_and_the_trial_is_requeued(tmp_path, monkeypatch):
    cmd, storage, trials = _start_and_signal(tmp_path, [signal.SIGINT, signal.SIGINT], monkeypatch)
    interrupted = [t for t in trials if t.user_attrs.get("error_category") == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].state == TrialState.FAIL
    done, after = _resume(cmd, storage)
    assert f"re-queued interrupted trial {interrupted[0].number}" in done.stderr
    retry = [t for t in after if t.user_attrs.get("retry_of") == interrupted[0].number]
    assert len(retry) == 1 and retry[0].params == interrupted[0].params


def test_a_configuration_already_built_is_reused_not_rebuilt(tmp_path, worker):
    text = GRID.replace("sampler: grid", "sampler: random\nn_trials: 3")
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    study_mod.run(plan)
    first = plan.study.get_trials()[0]
    plan.study.enqueue_trial(first.params)
    plan.n_trials = 1
    study_mod.run(plan)
    again = plan.study.get_trials()[-1]
    assert again.state == TrialState.COMPLETE
    assert again.user_attrs["reused_from"] == first.number
    assert again.values == first.values
    assert again.user_attrs["folding_config"] == first.user_attrs["folding_config"]
    assert again.user_attrs["trial_dir"] == first.user_attrs["trial_dir"]  # no new build folder
    assert not (Path(first.user_attrs["trial_dir"]).parent / str(again.number)).exists()


TWO_POINTS = """
name: {name}
model: tfc-w1a1
device: Pynq-Z1
finn:
  steps: {steps}
layers:
  - match: {{name: MVAU_hls_0}}
    PE: [4, 8]
    SIMD: [16]
sampler: grid
"""


def _steps_with(step: str) -> str:
    from dse.finn.adapter import BNN_PRE_POST_STEPS, ESTIMATE_STEPS

    steps = BNN_PRE_POST_STEPS + ESTIMATE_STEPS
    steps.insert(steps.index("step_apply_folding_config") + 1, step)
    return json.dumps(steps)


def test_a_crashing_build_fails_only_its_trial(tmp_path, worker):
    text = TWO_POINTS.format(name="crashing", steps=_steps_with("tests.finn_steps.crash_if_wide"))
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    stats = study_mod.run(plan)
    assert (stats.completed, stats.failed) == (1, 1)
    failed = plan.study.get_trials(states=(TrialState.FAIL,))[0]
    assert failed.user_attrs["error_category"] == "crash"
    assert failed.params["MVAU_hls_0.PE_idx"] == 1


def test_trial_timeout_stops_a_runaway_build(tmp_path, worker):
    text = TWO_POINTS.format(name="hanging", steps=_steps_with("tests.finn_steps.hang_if_wide"))
    plan = study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db",
                             worker=worker, trial_timeout=15)
    started = time.time()
    stats = study_mod.run(plan)
    assert time.time() - started < 90
    assert (stats.completed, stats.failed) == (1, 1)
    failed = plan.study.get_trials(states=(TrialState.FAIL,))[0]
    assert failed.user_attrs["error_category"] == "timeout"
    assert "15 s" in failed.user_attrs["error_message"]


def test_a_changed_model_file_is_refused_on_resume(tmp_path, worker):
    from dse.models import resolve_model

    model = tmp_path / "net.onnx"
    model.write_bytes(resolve_model("tfc-w1a1").read_bytes())
    text = GRID.replace("model: tfc-w1a1", f"model: {model}").replace("sampler: grid", "sampler: random\nn_trials: 1")
    config = write_config(tmp_path, text)
    storage = f"sqlite:///{tmp_path}/dse.db"
    study_mod.run(study_mod.prepare(config, storage=storage, worker=worker))
    model.write_bytes(resolve_model("tfc-w2a2").read_bytes())  # same path, other network
    with pytest.raises(DseError, match="was built from another version of"):
        study_mod.prepare(config, storage=storage, worker=worker)


BIG = """
name: {name}
model: tfc-w1a1
device: Pynq-Z1
sampler: {sampler}
sampler_options: {options}
n_trials: 4
"""


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_run_proposes_new_points_reproducibly(tmp_path, worker, sampler):
    """Topping a study up must not spend the new budget on copies of the first run's points."""
    runs = []
    for copy in ("a", "b"):  # the same seed and the same history give the same points
        config = write_config(tmp_path, BIG.format(name=f"resume-{sampler}-{copy}", sampler=sampler, options="{}"), f"{copy}.yaml")
        storage = f"sqlite:///{tmp_path}/{copy}.db"
        study_mod.run(study_mod.prepare(config, storage=storage, worker=worker))
        plan = study_mod.prepare(config, storage=storage, worker=worker, n_trials=8)
        study_mod.run(plan)
        trials = plan.study.get_trials()
        assert len(trials) == 8 and not any("reused_from" in t.user_attrs for t in trials)
        first, second = {json.dumps(t.params, sort_keys=True) for t in trials[:4]}, [json.dumps(t.params, sort_keys=True) for t in trials[4:]]
        assert not first & set(second)
        assert trials[0].user_attrs["sampler"]["seed"] != trials[4].user_attrs["sampler"]["seed"]
        runs.append([t.params for t in trials])
    assert runs[0] == runs[1]


def test_sampler_from_the_command_line_gets_none_of_the_files_options(tmp_path):
    """--sampler random on an NSGA-II file: its population_size is not handed to random; a bad
    option for the file's own sampler fails before any FINN work."""
    text = BIG.format(name="override", sampler="nsga2", options="{population_size: 4}")
    config = write_config(tmp_path, text)

    class NoFinn:
        def probe(self, *args):
            raise AssertionError("FINN work before the sampler was checked")

        def close(self):
            pass

    bad = write_config(tmp_path, text.replace("population_size: 4", "populaton_size: 4"), "bad.yaml")
    with pytest.raises(DseError, match=r"sampler_options: nsga2 rejected them: .*populaton_size"):
        study_mod.prepare(bad, storage=f"sqlite:///{tmp_path}/x.db", worker=NoFinn())
    with pytest.raises(AssertionError, match="FINN work"):  # random is accepted: FINN's turn comes
        study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/x.db", worker=NoFinn(), sampler="random")


def test_a_run_in_which_every_trial_failed_exits_non_zero_with_the_reason(tmp_path):
    text = TWO_POINTS.format(name="all-fail", steps=_steps_with("tests.finn_steps.fail_if_wide")).replace(
        "PE: [4, 8]", "PE: [8, 16]")
    config = write_config(tmp_path, text)
    root = str(Path(__file__).parents[1])
    done = subprocess.run([DSE, "run", str(config), "--storage", f"sqlite:///{tmp_path}/dse.db"],
                          capture_output=True, text=True, timeout=600, cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: all 2 trial(s) of this run failed; transform: synthetic failure"), done.stderr
    assert "-> FINN could not lower" in last


def test_one_time_work_is_announced_only_when_it_happens(tmp_path):
    """The first run says it builds FINN's prefix; a later run reads it without starting FINN."""
    config = write_config(tmp_path, GRID)
    storage = f"sqlite:///{tmp_path}/dse.db"
    first = subprocess.run([DSE, "run", str(config), "--storage", storage], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "building FINN's folding-independent steps once" in first.stderr
    log = tmp_path / "tiny-grid" / "worker.log"
    before = log.read_text()
    again = subprocess.run([DSE, "run", str(config), "--storage", storage], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "building FINN" not in again.stderr and "exporting" not in again.stderr
    assert "already has all its trials; nothing to run" in again.stderr
    assert log.read_text() == before  # no FINN process was started


def test_a_failed_validation_leaves_no_study_folder(tmp_path, worker):
    text = GRID.replace("PE: [4, 8]", "PE: [3]")  # 3 is not a valid PE of MVAU_hls_0
    with pytest.raises(DseError, match=r"layers\[0\]\.PE: 3 is not a valid PE for MVAU_hls_0"):
        study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert not (tmp_path / "tiny-grid").exists()
    assert not list((tmp_path / "prefix").glob("*.tmp.*"))
