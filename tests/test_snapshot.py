"""dse.snapshot reads Optuna's tables directly: it must read exactly what Optuna reads, on SQLite
and Postgres, write nothing, and hand other schema revisions to Optuna itself."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse.analysis import Results, pareto_rows, status
from dse.errors import DseError
from dse import snapshot as snapshot_mod
from dse.snapshot import SCHEMA_REVISION, Reader, StudySnapshot

DSE = str(Path(sys.executable).with_name("dse"))


def _fill(url: str) -> None:
    """Two studies with every kind of row Optuna stores: each state, constraints, non-finite
    values, intermediate values, every distribution, nested attrs, metric names."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="mixed", storage=url, directions=["maximize", "minimize"])
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["throughput_fps", "LUT"])
    study.set_user_attr("objectives", ["throughput_fps", "LUT"])
    study.set_user_attr("device", {"name": "Pynq-Z1", "budget": {"LUT": 53200}})
    for i, (fps, lut, over) in enumerate([(10.0, 5.0, 0.0), (20.0, 9.0, 0.0), (30.0, 8.0, 1.0), (math.inf, 12.0, 0.0)]):
        trial = study.ask()
        trial.suggest_int("MVAU_0.PE_idx", 0, 3)
        trial.suggest_float("x", 0.1, 10.0, log=True)
        trial.suggest_categorical("MVAU_0.ram_style", ["auto", "block", None])
        trial.set_constraint("LUT", over)
        for key, value in {"throughput_fps": min(fps, 1e9), "LUT": lut, "feasible": over <= 0,
                           "folding_config": {"MVAU_0": {"PE": 2 ** i, "ram_style": "auto"}}}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, [fps, lut])
    failed = study.ask()
    failed.set_user_attr("error_category", "timeout")
    failed.set_user_attr("error_message", "build exceeded 1 s")
    failed.set_user_attr("error_hint", "raise --trial-timeout")
    study.tell(failed, state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.PRUNED)
    study.ask()  # left RUNNING
    study.enqueue_trial({"MVAU_0.PE_idx": 2})  # WAITING
    single = optuna.create_study(study_name="single", storage=url)  # intermediate values: single-objective only
    for values in ([1.0, math.inf, -math.inf], [float("nan")]):
        trial = single.ask()
        for step, value in enumerate(values):
            trial.report(value, step)
        single.tell(trial, state=TrialState.PRUNED)


def _same_as_optuna(url: str) -> None:
    with Reader(url) as reader:
        assert reader.names() == optuna.get_all_study_names(url) == ["mixed", "single"]
        for name in reader.names():
            snapshot, study = reader.study(name), optuna.load_study(study_name=name, storage=url)
            assert isinstance(snapshot, StudySnapshot)
            assert _comparable(snapshot.trials) == _comparable(study.trials)  # every field of every trial
            assert snapshot.directions == study.directions
            assert snapshot.user_attrs == study.user_attrs
            assert snapshot.system_attrs == study._storage.get_study_system_attrs(study._study_id)
            assert snapshot.metric_names == study.metric_names
            assert [t.number for t in snapshot.best_trials] == [t.number for t in study.best_trials]
            assert status(snapshot) == status(study)
    mixed = optuna.load_study(study_name="mixed", storage=url)
    assert {t.state for t in mixed.trials} == set(TrialState)  # the fixture has every state
    assert [row["number"] for row in pareto_rows(mixed)] == [3, 1, 0]  # inf first; 2 breaks its constraint


def _comparable(trials: list) -> list:
    """FrozenTrials as dicts, NaN made comparable (NaN != NaN would fail equal trials)."""
    return [{k: repr(v) if k.endswith("intermediate_values") else v for k, v in vars(t).items()} for t in trials]


def test_it_reads_what_optuna_reads_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/dse.db"
    _fill(url)
    _same_as_optuna(url)


def test_it_reads_what_optuna_reads_on_postgres(pg_url):
    _fill(pg_url)
    with Reader(pg_url) as reader:
        assert type(reader._db).__name__ == "_Postgres"  # psycopg itself, not SQLAlchemy
    _same_as_optuna(pg_url)


def test_it_reads_what_optuna_reads_through_sqlalchemy(tmp_path, monkeypatch):
    """Databases other than SQLite and Postgres (MySQL, ...) are read through SQLAlchemy."""
    url = f"sqlite:///{tmp_path}/dse.db"
    _fill(url)
    monkeypatch.setattr(snapshot_mod, "sqlite_path", lambda url: None)  # not the sqlite3 path, then
    with Reader(url) as reader:
        assert type(reader._db).__name__ == "_Server"
    _same_as_optuna(url)


def test_the_schema_read_is_the_head_of_the_installed_optuna(tmp_path):
    """An Optuna upgrade that changes its tables fails here, not in users' read-only commands."""
    optuna.create_study(storage=f"sqlite:///{tmp_path}/fresh.db")
    with sqlite3.connect(tmp_path / "fresh.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_REVISION,)]


def test_it_writes_nothing(tmp_path):
    path = tmp_path / "dse.db"
    _fill(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:  # as dse's own runs leave it (dse.storage._fast_sqlite)
        db.execute("PRAGMA journal_mode=WAL")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for args in (["status"], ["status", "mixed"], ["pareto", "mixed", "--format", "json"], ["pareto", "single"]):
        done = subprocess.run([DSE, *args, "--storage", f"sqlite:///{path}"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # SQLite's own shared-memory files may appear beside a WAL database; nothing else may change
    assert {k: v for k, v in after.items() if not k.endswith(("-wal", "-shm"))} == before


def test_another_schema_revision_is_read_by_optuna_itself(tmp_path):
    path = tmp_path / "dse.db"
    _fill(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:  # as an older Optuna left it
        db.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    done = subprocess.run([DSE, "status", "--storage", f"sqlite:///{path}"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "optuna storage upgrade" in done.stderr  # Optuna's own advice, not a misread


def test_errors_are_one_line(tmp_path, pg_url):
    url = f"sqlite:///{tmp_path}/dse.db"
    _fill(url)
    with Reader(url) as reader, pytest.raises(DseError, match=r"no study named 'nope' .*studies: mixed, single"):
        reader.study("nope")
    with Reader(pg_url) as reader:  # a server database without Optuna's tables: no studies, none made
        assert reader.names() == []
        with pytest.raises(DseError, match="studies: none"):
            reader.study("x")
    bad = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(DseError, match=r"^storage postgresql\+psycopg://postgres@127.0.0.1:5432/no_such_database: .*"):
        Reader(bad)


def test_results_work_on_a_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path}/dse.db"
    _fill(url)
    with Reader(url) as reader:
        snapshot = Results(reader.study("mixed"))
    study = Results(optuna.load_study(study_name="mixed", storage=url))
    assert snapshot.pareto().equals(study.pareto())
    assert snapshot.folding(1) == study.folding(1) == {"MVAU_0": {"PE": 2, "ram_style": "auto"}}


@pytest.mark.parametrize("args", [["status"], ["pareto", "mixed", "--format", "csv"], ["export", "mixed", "--trial", "1"]])
def test_read_only_commands_import_no_writer_machinery(tmp_path, args):
    """What made them slow (issue 13): FINN/torch, pandas, alembic, Optuna's ORM, SQLAlchemy on SQLite.
    Checked by module, not by time: timings belong in bench/readonly.py."""
    url = f"sqlite:///{tmp_path}/dse.db"
    _fill(url)
    if args[0] == "export":
        args = [*args, "--folding", str(tmp_path / "f.json")]
    code = ("import sys; from dse.cli import main; main(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'finn', 'torch', 'qonnx', 'pandas', 'alembic', "
            "'sqlalchemy', 'plotly', 'moocore'} | ({'optuna.storages._rdb.models'} & set(sys.modules))))")
    done = subprocess.run([sys.executable, "-c", code, *args, "--storage", url], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
