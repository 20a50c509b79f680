"""The Optuna internals dse relies on, pinned: a new Optuna that changes them fails here, loudly,
instead of silently breaking resume, heartbeats or exactly-once queues (pyproject pins optuna 5.x)."""

from __future__ import annotations

import inspect

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState


def test_the_major_version_dse_is_tested_with():
    assert optuna.__version__.split(".")[0] == "5"


def test_queued_points_are_kept_in_fixed_params_until_they_run(tmp_path):
    """dse.study._point_key reads a WAITING trial's params from the ``fixed_params`` system attr."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/x.db")
    study.enqueue_trial({"a": 1})
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.params == {} and waiting.system_attrs["fixed_params"] == {"a": 1}
    assert isinstance(waiting._trial_id, int)  # dse.study._recover marks leftovers by trial id
    assert isinstance(study._storage, optuna.storages.BaseStorage)


def test_heartbeat_internals_dse_extends_are_there():
    """dse.storage.DseStorage overrides RDBStorage._get_stale_trial_ids and queries Optuna's models;
    dse.study._replaced reads the ``retry_history`` system attr the retry callback writes."""
    assert inspect.signature(RDBStorage._get_stale_trial_ids).parameters.keys() == {"self", "study_id"}
    from optuna.storages._rdb import models

    assert hasattr(models.TrialHeartbeatModel, "heartbeat") and hasattr(models.TrialModel, "trial_id")
    assert "retry_history" in inspect.getsource(RetryHeartbeatStaleTrialCallback)


def test_the_pareto_front_function_behind_best_trials(tmp_path):
    """dse.analysis.status counts the front from trials it already fetched with this function."""
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    study = optuna.create_study(directions=["maximize", "minimize"], storage=f"sqlite:///{tmp_path}/p.db")
    for x, y, c in [(1, 1, 0.0), (2, 2, 0.0), (3, 1, 1.0), (0, 3, 0.0)]:
        trial = study.ask()
        trial.set_constraint("c", c)
        study.tell(trial, [x, y])
    trials = study.get_trials()
    got = _get_pareto_front_trials_by_trials(trials, study.directions, consider_constraint=True)
    assert sorted(t.number for t in got) == sorted(t.number for t in study.best_trials) == [0, 1]
