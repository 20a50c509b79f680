"""optuna-dashboard on a dse storage, with its gaps around Optuna 5's named constraints closed.

optuna-dashboard 0.21 reads a trial's feasibility only from the system attr ``constraints``
(Optuna < 5's list), while Optuna 5's ``trial.set_constraint(name, value)`` stores
``constraints:<name>``: unpatched, the dashboard shows every trial as feasible, and its
"Best Trials" (computed on its server) include trials over the budget. Both are patched here,
in the serving process only: nothing extra is stored, and ``trial.constraints`` stays as
Optuna 5 defines it. Every workaround for optuna-dashboard lives in this module.
"""

from __future__ import annotations

from typing import Any


def _feasible(trial: Any) -> bool:
    return all(value <= 0 for value in trial.constraints.values())


def patch_constraints() -> None:
    """Make optuna-dashboard 0.21 read Optuna 5's named constraints (idempotent)."""
    import optuna_dashboard._app as app
    import optuna_dashboard._serializer as serializer

    if getattr(serializer, "_dse_patched", False):
        return
    serialize_trial = serializer.serialize_frozen_trial

    def serialize_frozen_trial(study_id: int, trial: Any, study_system_attrs: dict[str, Any]) -> Any:
        out = serialize_trial(study_id, trial, study_system_attrs)
        if not out["constraints"] and trial.constraints:
            # the page's plots grey out a trial when any value is > 0 (its Optuna < 5 reading)
            out["constraints"] = [trial.constraints[name] for name in sorted(trial.constraints)]
        return out

    pareto_front = app.get_pareto_front_trials

    def get_pareto_front_trials(trials: list[Any], directions: list[Any]) -> list[Any]:
        # the server's best trials: the front of the feasible trials, as Optuna's study.best_trials
        return pareto_front([t for t in trials if _feasible(t)], directions)

    serializer.serialize_frozen_trial = serialize_frozen_trial  # serialize_study_detail looks it up here
    app.get_pareto_front_trials = get_pareto_front_trials
    serializer._dse_patched = True


def serve(storage: Any, host: str, port: int, artifact_dir: Any) -> None:
    """Run optuna-dashboard (blocking) on ``storage`` with the artifact store in ``artifact_dir``."""
    import optuna_dashboard
    from optuna.artifacts import FileSystemArtifactStore

    patch_constraints()
    optuna_dashboard.run_server(storage, host=host, port=port, artifact_store=FileSystemArtifactStore(artifact_dir))
