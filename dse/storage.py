"""Optuna's RDB storage made fit for many workers (the URLs and their folders: ``dse.storage_url``).

:class:`DseStorage` is Optuna's ``RDBStorage`` with three additions, all on the one code path
Optuna itself uses, so ``study.optimize``, heartbeats and the dashboard work unchanged:

- dropped connections (a Postgres restart, a killed backend, a network blip) are retried
  with backoff instead of killing the worker; a retried finish whose first attempt did
  commit counts as done, and a trial left RUNNING without any heartbeat (its worker lost
  the answer of the commit that started it) is failed and re-queued like a stale one;
- ``study_lock(name)``: a Postgres advisory lock that serializes the coordination steps of
  workers starting at the same time (create the study, re-queue, enqueue the grid);
- ``admit``: a gate on trials the *sampler* would create (queued trials are always served).
  A grid refuses them all (workers only consume the queue: each point exactly once); a
  sampler run admits them while the study-wide count is below ``n_trials``, under the lock,
  so N workers on M hosts stop at exactly ``n_trials``.

Example::

    from dse.storage import open_storage
    store = open_storage("postgresql+psycopg://postgres@127.0.0.1/dse", heartbeat=10)
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import optuna
import sqlalchemy
import sqlalchemy.orm
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DseError
from dse.storage_url import check_readable, mask_url, sqlite_path, storage_url

#: How long a worker keeps retrying a storage call across a lost connection.
RETRY_SECONDS = 300.0
#: A trial whose worker stopped sending heartbeats is re-queued at most this many times.
MAX_RETRY = 3


class NoMoreTrials(Exception):
    """The gate refused a new sampler trial: the queue is empty and the budget is spent."""


def _connection_lost(exc: BaseException) -> bool:
    """True for errors that mean "the database went away", not "the request was wrong".

    Walks the whole chain: Optuna wraps errors in ``StorageInternalError``, and its
    ``_get_trials`` catches an ``OperationalError`` itself (it takes it for an over-long IN
    list) and queries again on the dead session, which raises ``PendingRollbackError``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                                sqlalchemy.exc.PendingRollbackError)):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


class DseStorage(RDBStorage):
    """``RDBStorage`` that retries lost connections, locks coordination, and gates new trials."""

    def __init__(self, url: str, *, retry_seconds: float = RETRY_SECONDS, **kwargs: Any) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        #: called with the study id before the sampler may create a trial; None admits all
        self.admit: Callable[[int], bool] | None = None
        self._local = threading.local()
        #: per study: when this process last looked for RUNNING trials without any heartbeat,
        #: and those it found (trial id -> when it first saw it without one)
        self._beatless: dict[int, tuple[float, dict[int, float]]] = {}
        super().__init__(url, **kwargs)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_local", None)
        state["admit"] = None
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._local = threading.local()

    def _retry(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if getattr(self._local, "busy", False):  # an inner call of a retried call: the outer retries
            return method(self, *args, **kwargs)
        self._local.busy = True
        try:
            deadline = time.monotonic() + self.retry_seconds
            delay = 0.25
            while True:
                try:
                    return method(self, *args, **kwargs)
                except Exception as exc:
                    if not _connection_lost(exc):
                        raise
                    if time.monotonic() + delay > deadline:
                        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
                        raise DseError(
                            f"storage {mask_url(self.url)}: connection lost for {self.retry_seconds:.0f} s: "
                            f"{mask_url(reason)}"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    self.engine.dispose()  # drop pooled connections to the old server
        finally:
            self._local.busy = False

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        # Optuna creates a sampler trial with no template; queued trials and heartbeat
        # retries come with one and are never refused.
        if template_trial is not None or self.admit is None:
            return self._retry(RDBStorage._create_new_trial, study_id, template_trial)
        with self.study_lock(f"study-id-{study_id}"):
            if not self.admit(study_id):
                raise NoMoreTrials
            return self._retry(RDBStorage._create_new_trial, study_id, None)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        attempts = 0

        def call(self: DseStorage) -> bool:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and state.is_finished():
                # The first attempt may have committed before its connection died: the trial
                # already holds exactly this outcome, which is success, not "update a finished trial".
                now = RDBStorage.get_trial(self, trial_id)
                if now.state == state and (values is None or list(now.values or []) == list(values)):
                    return True
            return RDBStorage.set_trial_state_values(self, trial_id, state, values)

        return self._retry(call)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials (heartbeat too old), plus RUNNING trials that never had a heartbeat.

        A worker's first heartbeat follows right after its trial turns RUNNING. A trial with
        none after the grace period lost its worker in between: the worker died, or the
        commit that made it RUNNING went through but its answer was lost with the connection,
        so the worker moved on to another trial. Optuna ignores such trials; they would stay
        RUNNING for ever. Timed with this process's own clock: no clock skew between hosts.
        Looked for at most every third of the grace period: Optuna asks before every trial,
        and the extra query cost ~20 ms a trial on Postgres (bench/workers.py).
        """
        stale = self._retry(RDBStorage._get_stale_trial_ids, study_id)
        grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 0)
        now = time.monotonic()
        checked, since = self._beatless.get(study_id, (-math.inf, {}))
        if now - checked >= grace / 3:
            found = self._retry(_beatless_running, study_id)
            since = {t: since.get(t, now) for t in found}
            self._beatless[study_id] = (now, since)
        return stale + [t for t, first in since.items() if now - first > grace and t not in stale]

    @contextlib.contextmanager
    def study_lock(self, name: str) -> Iterator[None]:
        """Serialize a critical section across processes and hosts (Postgres advisory lock).

        Other databases have one runner per study (see ``dse.study``), so nothing to lock.
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        key = _lock_key(name)
        conn = self._retry(lambda self: self.engine.connect())
        try:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            yield
        finally:
            # The server drops the lock with the session, so a lost connection cannot leak it.
            with contextlib.suppress(Exception):
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()


def _lock_key(name: str) -> int:
    """The 64-bit Postgres advisory-lock key of a named critical section."""
    return int.from_bytes(hashlib.sha256(f"dse:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def _table_creation_lock(url: str, engine_kwargs: dict[str, Any]) -> Iterator[None]:
    """On Postgres, one process at a time runs Optuna's table creation (``RDBStorage.__init__``).

    Workers started together on an empty database would each issue ``CREATE TYPE``/``CREATE
    TABLE``; the losers fail with "already exists" (DuplicateObject, DuplicateTable or a
    UniqueViolation on the catalog, depending on timing). Behind the lock, the later ones
    find the tables and create nothing.
    """
    if not url.startswith("postgresql"):
        yield
        return
    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key("create-tables")})
            conn.commit()
            yield
    finally:  # closing the session (dispose) releases the lock, also after an error
        engine.dispose()


def _beatless_running(storage: RDBStorage, study_id: int) -> list[int]:
    from optuna.storages._rdb import models

    beat = models.TrialHeartbeatModel
    with sqlalchemy.orm.Session(storage.engine) as session:
        rows = (
            session.query(models.TrialModel.trial_id)
            .outerjoin(beat, beat.trial_id == models.TrialModel.trial_id)
            .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING,
                    beat.trial_heartbeat_id.is_(None))
            .all()
        )
    return [row[0] for row in rows]


def _retried(name: str) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    def call(self: DseStorage, *args: Any, **kwargs: Any) -> Any:
        return self._retry(method, *args, **kwargs)

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


# Every call Optuna's cached storage, samplers, heartbeat thread and study make on the backend.
for _name in (
    "create_new_study", "set_study_user_attr", "set_study_system_attr", "get_study_id_from_name",
    "get_study_name_from_id", "get_study_directions", "get_study_user_attrs", "get_study_system_attrs",
    "get_all_studies", "_set_trial_param", "set_trial_param", "get_trial_param",
    "get_trial_id_from_study_id_trial_number", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial", "get_all_trials", "_get_trials",
    "get_best_trial", "_get_best_trial_id", "record_heartbeat",
):
    setattr(DseStorage, _name, _retried(_name))


def open_storage(url: str | None = None, *, heartbeat: float | None = None, existing: bool = False) -> DseStorage:
    """An Optuna RDB storage; every failure becomes one line naming the masked URL.

    ``heartbeat`` (seconds) turns on Optuna's heartbeats on a server database: a trial whose
    worker stops beating for 3 intervals is failed and re-queued (``RetryHeartbeatStaleTrialCallback``).
    ``existing``: for commands that only read: a SQLite file that does not exist is an error,
    not a new empty database (a typo in --storage would otherwise show "no studies").
    """
    url = storage_url(url)
    engine_kwargs: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if existing:
        check_readable(url)
    if path is not None:
        if path.parent and not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DseError(f"storage {url}: cannot create {path.parent}: {exc.strerror}") from None
        engine_kwargs = {"connect_args": {"timeout": 30.0}}
    elif not url.startswith("sqlite"):
        # check each pooled connection before use: after a server restart the pool is stale
        engine_kwargs = {"pool_pre_ping": True}
        if heartbeat is not None:
            with _quiet_experimental():
                kwargs = {
                    "heartbeat_interval": max(1, round(heartbeat)),
                    "grace_period": max(3, round(3 * heartbeat)),
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
                }
    if existing and _has_optuna_tables(url):
        kwargs["skip_table_creation"] = True  # ~0.3 s a reader does not need
    for attempt in range(10):
        try:
            with _quiet_experimental(), _table_creation_lock(url, engine_kwargs):
                storage = DseStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            break
        except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot use this storage"
            if isinstance(exc, sqlalchemy.exc.IntegrityError) and attempt < 9:
                # other server databases (no advisory lock): workers starting together on an
                # empty database race to create Optuna's tables; the loser finds them on retry
                time.sleep(0.2 * (attempt + 1))
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DseError(f"storage {mask_url(url)}: {mask_url(reason)}") from None
    if url.startswith("sqlite"):
        _fast_sqlite(storage)
    return storage


def _has_optuna_tables(url: str) -> bool:
    """Whether a SQLite database already holds Optuna's tables (a server database: assume not)."""
    if not url.startswith("sqlite:///"):
        return False
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'version_info'").fetchone() is not None
    except sqlite3.Error:
        return False


def load_study(name: str, storage: str | DseStorage | None = None) -> optuna.Study:
    """Load an existing study (from a URL, or an open storage) or fail with one line listing the studies there."""
    store = storage if isinstance(storage, DseStorage) else open_storage(storage, existing=True)
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError:
        names = optuna.get_all_study_names(store)
        known = ", ".join(names) if names else "none"
        raise DseError(f"no study named {name!r} in {mask_url(store.url)} (studies: {known})") from None


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():  # heartbeat_interval is experimental since 2.9, yet the way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _fast_sqlite(storage: RDBStorage) -> None:
    """WAL journal + synchronous=NORMAL: a trial writes ~30 attributes, one commit each.

    With SQLite's default (rollback journal, fsync on every commit) that costs more than the
    FINN build itself. WAL keeps every commit atomic and survives a crash of any process;
    only a power cut can lose the last commits. Readers (dashboard, notebooks) no longer
    block the writer.
    """

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections opened before the listener get replaced
