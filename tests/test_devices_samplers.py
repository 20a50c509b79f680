"""Devices from FINN's platform tables, samplers by name, and the zoo."""

from __future__ import annotations

import optuna
import pytest

from dse.errors import DseError
from dse.finn.devices import resolve_device
from dse.models import ZOO, export_model, sha256_of
from dse.samplers import QueueSampler, make_sampler


def test_boards_and_parts_resolve_to_finn_budgets():
    board = resolve_device("Pynq-Z1")
    assert board.part == "xc7z020clg400-1"
    assert board.budget == {"LUT": 53200.0, "BRAM_18K": 280.0, "URAM": 0.0, "DSP": 220.0}
    part = resolve_device("xc7z020clg400-1")
    assert part.budget == board.budget
    assert resolve_device("U250").budget["LUT"] == 4 * 375000  # summed over SLRs
    assert resolve_device("pynq-z1", {"LUT": 1000}).budget["LUT"] == 1000


def test_parts_without_a_table_need_a_budget():
    with pytest.raises(DseError, match="FINN has no resource table for 'KV260_SOM'; give budget"):
        resolve_device("KV260_SOM")
    full = {"LUT": 117120, "BRAM_18K": 288, "URAM": 64, "DSP": 1248}
    assert resolve_device("KV260_SOM", full).budget == full
    with pytest.raises(DseError, match="device: unknown board or part 'nope'"):
        resolve_device("nope")


@pytest.mark.parametrize("name, cls", [
    ("random", optuna.samplers.RandomSampler), ("grid", QueueSampler), ("frontier", QueueSampler),
    ("tpe", optuna.samplers.TPESampler), ("nsga2", optuna.samplers.NSGAIISampler),
    ("gp", optuna.samplers.GPSampler), ("optuna.samplers.QMCSampler", optuna.samplers.QMCSampler),
])
def test_samplers_by_name(name, cls):
    assert isinstance(make_sampler(name, seed=3), cls)


def test_bad_samplers_and_options_are_one_line():
    with pytest.raises(DseError, match="cannot import 'nowhere.Sampler'"):
        make_sampler("nowhere.Sampler", 0)
    with pytest.raises(DseError, match="is not an Optuna sampler class"):
        make_sampler("optuna.study.Study", 0)
    with pytest.raises(DseError, match="sampler_options: tpe rejected them"):
        make_sampler("tpe", 0, {"bogus": 1})


@pytest.mark.parametrize("name", ["tfc-w2a2", "sfc-w1a1", "lfc-w1a1", "cnv-w2a2"])
def test_zoo_exports_offline_and_deterministically(name, tmp_path):
    assert name in ZOO
    a = export_model(name, tmp_path / "a.onnx")
    b = export_model(name, tmp_path / "b.onnx")
    assert sha256_of(a) == sha256_of(b)
    import onnx

    graph = onnx.load(str(a)).graph
    assert any(n.op_type in ("Quant", "BipolarQuant") for n in graph.node)  # QONNX, not float


def test_a_queue_sampler_never_invents_a_point(tmp_path):
    study = optuna.create_study(sampler=QueueSampler(), storage=f"sqlite:///{tmp_path}/q.db")
    study.enqueue_trial({"x": 3})
    study.optimize(lambda t: t.suggest_int("x", 0, 9), n_trials=1)
    assert study.trials[0].params == {"x": 3}
    trial = study.ask()
    with pytest.raises(RuntimeError, match="queue-only study asked for a new value of x"):
        trial.suggest_int("x", 0, 9)
