"""Studies read in one pass, for the commands that only read (``status``, ``pareto``, ``export``, ``report``).

Optuna's ``RDBStorage`` readies a database for writing before it reads a row: alembic's
revision check and the ORM's mapped classes cost ~0.3 s, and every trial then comes back
through the ORM. A reader needs none of it, so this module reads Optuna's tables with plain
SELECTs in one transaction (a consistent snapshot even while workers write) and builds the
very ``FrozenTrial`` objects Optuna would. :class:`StudySnapshot` answers the read-only part
of ``optuna.Study`` that :mod:`dse.analysis` uses.

The tables are Optuna's schema at alembic revision :data:`SCHEMA_REVISION`. A database at
any other revision is read through Optuna itself (slower, and with Optuna's own message when
it is too old); ``tests/test_snapshot.py`` checks that both ways read the same trials and
that :data:`SCHEMA_REVISION` is the head of the Optuna that is installed.

Example::

    from dse.snapshot import Reader
    with Reader("sqlite:///studies/dse.db") as reader:
        for name in reader.names():
            print(name, len(reader.study(name).trials))
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Container
from urllib.parse import quote

from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DseError
from dse.storage_url import check_readable, mask_url, sqlite_path, storage_url

#: Optuna's schema this module reads (``alembic_version.version_num`` of Optuna 5's tables).
SCHEMA_REVISION = "v3.2.0.a"
#: How Optuna stores values that are not finite numbers (``value_type`` columns).
_SPECIAL = {"INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}


class StudySnapshot:
    """One study as it stood when read: the read-only part of ``optuna.Study``."""

    def __init__(self, name: str, directions: list[StudyDirection], user_attrs: dict[str, Any],
                 system_attrs: dict[str, Any], trials: list[FrozenTrial]) -> None:
        self.study_name = name
        self.directions = directions
        self.user_attrs = user_attrs
        self.system_attrs = system_attrs
        self.trials = trials

    @property
    def metric_names(self) -> list[str] | None:
        return self.system_attrs.get("study:metric_names")  # where Study.set_metric_names keeps them

    def get_trials(self, deepcopy: bool = False, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self.trials if states is None or t.state in states]

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The feasible non-dominated complete trials, as ``optuna.Study.best_trials`` computes them."""
        from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

        return _get_pareto_front_trials_by_trials(self.get_trials(states=(TrialState.COMPLETE,)), self.directions,
                                                  consider_constraint=True)


class _SQLite:
    """A SQLite file through the standard library (SQLAlchemy's import alone costs ~60 ms):
    opened read-only, in one read transaction, which is a snapshot in WAL mode."""

    key = "key"

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None)
        self._db.execute("BEGIN")

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._db.execute(sql, params).fetchall()

    def has_table(self, name: str) -> bool:
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name", {"name": name}))

    def close(self) -> None:
        self._db.close()


class _Postgres:
    """Postgres through psycopg itself (what SQLAlchemy would load anyway, without SQLAlchemy's
    ~70 ms import): one read-only REPEATABLE READ transaction, a snapshot while workers write."""

    key = "key"

    def __init__(self, url: str) -> None:
        import psycopg

        # an SQLAlchemy URL is a libpq URI once the driver name is gone (user, password, host, port, ?params)
        self._db = psycopg.connect(re.sub(r"^postgresql\+psycopg://", "postgresql://", url), connect_timeout=30)
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._db.execute(re.sub(r":(\w+)", r"%(\1)s", sql), params).fetchall()  # psycopg's placeholders

    def has_table(self, name: str) -> bool:
        return bool(self.rows("SELECT to_regclass(:name) IS NOT NULL", {"name": name})[0][0])

    def close(self) -> None:
        self._db.close()


class _Server:
    """Any other database (MySQL, ...) through SQLAlchemy, in one REPEATABLE READ transaction."""

    def __init__(self, url: str) -> None:
        import sqlalchemy

        self._sqlalchemy = sqlalchemy
        self._engine = sqlalchemy.create_engine(url)
        self.key = self._engine.dialect.identifier_preparer.quote("key")  # a reserved word in MySQL
        try:
            self._conn = self._engine.connect()
            if self._engine.dialect.name != "sqlite":  # in-memory SQLite has no isolation levels
                self._conn = self._conn.execution_options(isolation_level="REPEATABLE READ")
            self._conn.begin()
        except Exception:
            self._engine.dispose()
            raise

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return list(self._conn.execute(self._sqlalchemy.text(sql), params))

    def has_table(self, name: str) -> bool:
        return self._sqlalchemy.inspect(self._conn).has_table(name)

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


class Reader:
    """Read-only access to the studies of a storage URL; errors are one line naming the masked URL.

    No table, file or folder is ever created: a missing SQLite file is an error
    (:func:`dse.storage_url.check_readable`).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = storage_url(url)
        check_readable(self.url)
        path = sqlite_path(self.url)
        self._db: _SQLite | _Postgres | _Server | None = None
        try:
            if path is not None:
                self._db = _SQLite(path)
            elif re.match(r"postgresql(\+psycopg)?://", self.url):
                self._db = _Postgres(self.url)
            else:
                self._db = _Server(self.url)
            self._has_tables = self._db.has_table("alembic_version")
            found = self._db.rows("SELECT version_num FROM alembic_version", {}) if self._has_tables else []
        except Exception as exc:  # the drivers raise many kinds; all mean "cannot read this storage"
            self.close()
            raise DseError(f"storage {mask_url(self.url)}: {mask_url(_first_line(exc))}") from None
        revision = found[0][0] if found else None
        #: Optuna's own reading, when the schema is not the one read here (see the module's docstring)
        self._optuna = None if revision in (SCHEMA_REVISION, None) else _OptunaFallback(self.url)

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def names(self) -> list[str]:
        """The study names, oldest first (as ``optuna.get_all_study_names``)."""
        if self._optuna is not None:
            return self._optuna.names()
        if not self._has_tables:
            return []
        return [row[0] for row in self._rows("SELECT study_name FROM studies ORDER BY study_id")]

    def study(self, name: str) -> Any:
        """The study ``name`` (a :class:`StudySnapshot`), or one line listing the studies there."""
        if self._optuna is not None:
            return self._optuna.study(name)
        found = self._rows("SELECT study_id FROM studies WHERE study_name = :name", name=name) if self._has_tables else []
        if not found:
            known = ", ".join(self.names()) or "none"
            raise DseError(f"no study named {name!r} in {mask_url(self.url)} (studies: {known})")
        return self._read(name, found[0][0])

    # -- the tables

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        try:
            return self._db.rows(sql, params)
        except Exception as exc:
            raise DseError(f"storage {mask_url(self.url)}: {mask_url(_first_line(exc))}") from None

    def _per_trial(self, table: str, columns: str, study_id: int, order: str = "x.trial_id") -> list[Any]:
        return self._rows(f"SELECT x.trial_id, {columns} FROM {table} x JOIN trials t ON t.trial_id = x.trial_id "
                          f"WHERE t.study_id = :id ORDER BY {order}", id=study_id)

    def _read(self, name: str, study_id: int) -> StudySnapshot:
        directions = [StudyDirection[d] for (d,) in self._rows(
            "SELECT direction FROM study_directions WHERE study_id = :id ORDER BY objective", id=study_id)]
        key_column = self._db.key
        attrs = {kind: {k: json.loads(v) for k, v in self._rows(
            f"SELECT {key_column}, value_json FROM study_{kind}_attributes WHERE study_id = :id", id=study_id)}
            for kind in ("user", "system")}
        rows = self._rows("SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
                          "WHERE study_id = :id ORDER BY trial_id", id=study_id)
        trials: dict[int, dict[str, Any]] = {
            trial_id: {"number": number, "state": TrialState[state], "value": None, "values": None,
                       "datetime_start": _datetime(start), "datetime_complete": _datetime(complete),
                       "params": {}, "distributions": {}, "user_attrs": {}, "system_attrs": {},
                       "intermediate_values": {}, "trial_id": trial_id}
            for trial_id, number, state, start, complete in rows
        }
        values: dict[int, dict[int, float]] = {}
        for trial_id, objective, value, kind in self._per_trial("trial_values", "x.objective, x.value, x.value_type", study_id):
            values.setdefault(trial_id, {})[objective] = _SPECIAL.get(kind, value)
        for trial_id, by_objective in values.items():
            trials[trial_id]["values"] = [by_objective[i] for i in sorted(by_objective)]
        known: dict[str, BaseDistribution] = {}  # one decoded distribution per distinct JSON
        for trial_id, param, value, text in self._per_trial(
                "trial_params", "x.param_name, x.param_value, x.distribution_json", study_id, "x.param_id"):
            distribution = known.get(text) or known.setdefault(text, json_to_distribution(text))
            trials[trial_id]["params"][param] = distribution.to_external_repr(value)
            trials[trial_id]["distributions"][param] = distribution
        for kind in ("user", "system"):
            for trial_id, key, text in self._per_trial(f"trial_{kind}_attributes", f"x.{key_column}, x.value_json", study_id):
                trials[trial_id][f"{kind}_attrs"][key] = json.loads(text)
        for trial_id, step, value, kind in self._per_trial(
                "trial_intermediate_values", "x.step, x.intermediate_value, x.intermediate_value_type", study_id):
            trials[trial_id]["intermediate_values"][step] = _SPECIAL.get(kind, value)
        return StudySnapshot(name, directions, attrs["user"], attrs["system"],
                             [FrozenTrial(**fields) for fields in trials.values()])


class _OptunaFallback:
    """The same answers through Optuna's own storage, for a schema this module does not read."""

    def __init__(self, url: str) -> None:
        from dse.storage import open_storage

        self._store = open_storage(url, existing=True)

    def names(self) -> list[str]:
        import optuna

        return optuna.get_all_study_names(self._store)

    def study(self, name: str) -> Any:
        from dse.storage import load_study

        return load_study(name, self._store)


def _datetime(value: Any) -> datetime | None:
    """SQLite hands DATETIME columns back as text; other databases as datetimes."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
