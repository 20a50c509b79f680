"""Many workers on one Postgres study: exactly-once grids, budgets, SIGKILL, Ctrl-C, lost connections.

Every test gets a fresh database on the local PostgreSQL server and drops it afterwards.
Workers are real ``dse run`` processes with real FINN builds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from dse import study as study_mod
from dse.errors import DseError
from tests.finn_steps import estimate_steps_with
from tests.conftest import ADMIN_URL, write_config

ROOT = Path(__file__).resolve().parents[1]
DSE = str(Path(sys.executable).with_name("dse"))

GRID16 = """
name: {name}
model: tfc-w1a1
device: Pynq-Z1
{finn}
layers:
  - match: {{name: MVAU_hls_0}}
    PE: [4, 8]
    SIMD: [16, 49]
  - match: {{name: "MVAU_hls_[123]"}}
    PE: [2]
    SIMD: [8]
  - match: {{name: MVAU_hls_1}}
    SIMD: [8, 16]
  - match: {{name: MVAU_hls_2}}
    PE: [2, 4]
objectives: [throughput_fps, LUT]
sampler: grid
"""
SLOW_STEPS = estimate_steps_with("tests.finn_steps.slow")


def grid16(name: str, slow: bool = False) -> str:
    finn = f"finn:\n  steps: {json.dumps(SLOW_STEPS)}" if slow else ""
    return GRID16.format(name=name, finn=finn)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Workers find the tests' FINN steps and keep their study folders in tmp_path."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("DSE_ARTIFACTS", str(tmp_path / "studies"))
    return {**os.environ}


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


@pytest.fixture
def launched():
    """Launchers a test starts; whatever is left of them (and their workers) is killed at the end."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            for pid in children:
                subprocess.run(["pkill", "-9", "-P", pid])
                subprocess.run(["kill", "-9", pid])
            proc.kill()
            proc.wait()


def _keys(trials) -> Counter:
    return Counter(json.dumps(t.params, sort_keys=True) for t in trials)


def _complete(trials):
    return [t for t in trials if t.state == TrialState.COMPLETE]


def _load(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def _wait_for(name: str, url: str, ok, timeout: float = 240.0) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            trials = _load(name, url).get_trials()
        except KeyError:
            continue
        if ok(trials):
            return trials
    raise AssertionError(f"timed out waiting on study {name}")


def _run_within(plan, seconds: float = 300.0):
    """``study.run(plan)``, failing the test instead of hanging it if the run never ends."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(stats=study_mod.run(plan)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the run did not end within {seconds:.0f} s"
    assert "stats" in result, "the run raised (see the thread's traceback above)"
    return result["stats"]


def test_grid_on_four_workers_evaluates_every_point_exactly_once(tmp_path, pg_url, env, worker):
    config = write_config(tmp_path, grid16("grid16"))
    done = subprocess.run([DSE, "run", str(config), "--storage", pg_url, "--jobs", "4"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert "on 4 workers" in done.stderr and "Pareto front of grid16" in done.stdout
    trials = _load("grid16", pg_url).get_trials()
    # the same points as one worker on SQLite, each exactly once, and nothing more
    reference = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/ref.db", worker=worker)
    study_mod.run(reference)
    expected = _keys(reference.study.get_trials())
    assert len(expected) == 16 and set(expected.values()) == {1}
    assert _keys(trials) == expected
    assert len(trials) == 16 and all(t.state == TrialState.COMPLETE for t in trials)
    assert not any("reused_from" in t.user_attrs for t in trials)  # each point built once, not twice
    # the workers really shared the work (each wrote a log and built something)
    logs = sorted((tmp_path / "studies" / "grid16" / "workers").glob("worker-*.log"))
    assert len(logs) == 4


def test_sampler_budget_is_exact_across_workers_and_hosts(tmp_path, pg_url, env, launched):
    text = grid16("budget").replace("sampler: grid", "sampler: random\nn_trials: 7")
    config = write_config(tmp_path, text)
    # two "hosts": two launchers with two workers each, started together on the same study
    cmd = [DSE, "run", str(config), "--storage", pg_url, "--jobs", "2"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    launched.extend(procs)
    for proc in procs:
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    study = _load("budget", pg_url)
    assert len(study.trials) == 7
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len(study.user_attrs["space_key"]) == 64  # created once, by whichever came first


def test_sigkill_of_a_worker_loses_nothing_and_builds_nothing_twice(tmp_path, pg_url, env, launched):
    config = write_config(tmp_path, grid16("killed", slow=True))
    launcher = subprocess.Popen(
        [DSE, "run", str(config), "--storage", pg_url, "--jobs", "3", "--heartbeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    launched.append(launcher)
    _wait_for("killed", pg_url, lambda ts: len(_complete(ts)) >= 2 and any(t.state == TrialState.RUNNING for t in ts))
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(launcher.pid), "-f", "dse.cli"], capture_output=True, text=True).stdout.split()]
    assert len(workers) == 3
    victim = workers[0]
    finn = [int(p) for p in subprocess.run(["pgrep", "-P", str(victim), "-f", "multiprocessing.spawn"],
                                           capture_output=True, text=True).stdout.split()]
    os.kill(victim, signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, stderr  # the study finished: a dead worker is reported, not fatal
    assert "worker 0 exited with signal 9" in stderr
    assert finn  # the victim had its FINN process ...
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(pid) for pid in finn):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in finn)  # ... which went with it: no orphan building a re-queued trial
    trials = _load("killed", pg_url).get_trials()
    complete = _complete(trials)
    assert len(_keys(complete)) == 16 and set(_keys(complete).values()) == {1}  # every point, once
    lost = [t for t in trials if t.state == TrialState.FAIL]
    assert len(lost) <= 1  # the trial the victim was building (if it had one)
    for t in lost:
        retry = [c for c in complete if c.system_attrs.get("failed_trial") == t.number]
        # the queued point (fixed_params): a worker killed while its trial was still being given
        # its params leaves only some of them in t.params
        assert len(retry) == 1 and retry[0].params == t.system_attrs["fixed_params"]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    status = subprocess.run([DSE, "status", "killed", "--storage", pg_url], capture_output=True, text=True, env=env)
    assert status.returncode == 0
    if lost:
        assert "1 x lost: its worker stopped sending heartbeats" in status.stdout


def test_ctrl_c_stops_every_worker_cleanly_and_the_same_command_resumes(tmp_path, pg_url, env, launched):
    config = write_config(tmp_path, grid16("ctrlc", slow=True))
    cmd = [DSE, "run", str(config), "--storage", pg_url, "--jobs", "2"]
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    launched.append(launcher)
    _wait_for("ctrlc", pg_url, lambda ts: len(_complete(ts)) >= 2 and any(t.state == TrialState.RUNNING for t in ts))
    launcher.send_signal(signal.SIGINT)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 2 and "run the same command again to resume" in stderr, stderr
    assert "Traceback" not in stderr
    trials = _load("ctrlc", pg_url).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]  # running builds finished
    assert not [t for t in trials if t.state == TrialState.FAIL]
    assert 2 <= len(_complete(trials)) < 16
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    trials = _load("ctrlc", pg_url).get_trials()
    assert len(trials) == 16 and set(_keys(trials).values()) == {1}
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_dropped_connections_are_retried_and_the_study_completes(tmp_path, pg_url, worker, env):  # env: study folders in tmp_path
    """Every connection of the test database is killed every 0.4 s while the grid runs."""
    config = write_config(tmp_path, grid16("dropped"))
    database = pg_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    killed = []

    def terminator() -> None:
        with admin.connect() as conn:
            while not stop.wait(0.4):
                rows = conn.execute(sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ), {"d": database}).fetchall()
                killed.extend(rows)

    plan = study_mod.prepare(config, storage=pg_url, worker=worker)
    thread = threading.Thread(target=terminator, daemon=True)
    thread.start()
    try:
        stats = _run_within(plan)
    finally:
        stop.set()
        thread.join()
        admin.dispose()
    assert len(killed) >= 5  # connections really were dropped, many times
    assert stats.completed == 16 and stats.failed == 0
    trials = _load("dropped", pg_url).get_trials()
    assert len(trials) == 16 and set(_keys(trials).values()) == {1}


def test_a_configuration_already_complete_is_reused_not_rebuilt(tmp_path, pg_url, worker, env):  # env: study folders in tmp_path
    text = grid16("dedup").replace("sampler: grid", "sampler: random\nseed: 3\nn_trials: 6")
    text = text.replace("SIMD: [16, 49]", "SIMD: [16]").replace("SIMD: [8, 16]", "SIMD: [8]").replace("PE: [2, 4]", "PE: [2]")
    plan = study_mod.prepare(write_config(tmp_path, text), storage=pg_url, worker=worker)
    assert plan.target.space.grid_size() == 2
    study_mod.run(plan)
    trials = _load("dedup", pg_url).get_trials()
    built = [t for t in trials if "reused_from" not in t.user_attrs]
    reused = [t for t in trials if "reused_from" in t.user_attrs]
    assert len(trials) == 6 and len(built) == len(_keys(trials)) <= 2 and len(reused) >= 4
    by_number = {t.number: t for t in built}
    for t in reused:
        twin = by_number[t.user_attrs["reused_from"]]
        assert t.params == twin.params and t.values == twin.values
        assert t.user_attrs["folding_config"] == twin.user_attrs["folding_config"]


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path):
    config = write_config(tmp_path, grid16("lite"))
    done = subprocess.run([DSE, "run", str(config), "--storage", f"sqlite:///{tmp_path}/dse.db", "--jobs", "2"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --jobs 2: SQLite cannot hand a queued trial to exactly one of several processes; use a server "
        "database (--storage postgresql+psycopg://USER@HOST/DB) or --jobs 1"
    ]
    assert not (tmp_path / "dse.db").exists()


def test_a_second_runner_on_a_sqlite_study_is_refused(tmp_path, worker):
    config = write_config(tmp_path, grid16("busy"))
    lock = tmp_path / "busy" / ".runner.lock"
    lock.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"), str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DseError, match="is being run by another dse process; a SQLite study takes one runner"):
            study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    finally:
        holder.kill()
        holder.wait()
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    plan.close()


# A worker that opens the storage, its table creation held back after it has looked for the
# tables (SQLAlchemy's ``before_create`` comes after that check, and first in line: before
# the enum types' own check). Worker i waits i seconds, so worker 0 has created everything
# while the others, having seen no tables, are about to create them again.
OPEN_LATE = """
import sys, time, sqlalchemy
from optuna.storages._rdb import models
from dse.errors import DseError
from dse.storage import open_storage
url, index = sys.argv[1], int(sys.argv[2])
sqlalchemy.event.listen(models.BaseModel.metadata, "before_create", lambda *a, **k: time.sleep(index), insert=True)
print("ready", flush=True)
sys.stdin.readline()
try:
    open_storage(url)
    print("opened")
except DseError as exc:
    print(exc)
"""


def test_workers_starting_together_on_an_empty_database_all_open_it(pg_url):
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_LATE, pg_url, str(i)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for i in range(3)]
    for proc in procs:  # all imported and waiting
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert results == ["opened"] * 3
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:  # Optuna's tables, made once
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM version_info")).scalar() == 1
    engine.dispose()


def test_a_finish_whose_commit_went_through_before_the_connection_died_counts_as_done(pg_url, monkeypatch):
    """The answer to a commit is lost with its connection: the retry finds the trial finished."""
    from optuna.storages import RDBStorage

    from dse.storage import open_storage

    store = open_storage(pg_url)
    study = optuna.create_study(storage=store, directions=["maximize", "minimize"])
    trial = study.ask()
    real = RDBStorage.set_trial_state_values
    calls = []

    def commit_then_lose_the_answer(self, trial_id, state, values=None):
        calls.append(state)
        result = real(self, trial_id, state, values)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        return result

    monkeypatch.setattr(RDBStorage, "set_trial_state_values", commit_then_lose_the_answer)
    assert store.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [3.0, 4.0]) is True
    assert len(calls) == 1  # the retry saw the outcome already stored and did not write again
    frozen = store.get_trial(trial._trial_id)
    assert frozen.state == TrialState.COMPLETE and frozen.values == [3.0, 4.0]
    # a different outcome is still refused: only the very same finish is taken as done
    monkeypatch.setattr(RDBStorage, "set_trial_state_values", real)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        store.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def test_a_trial_left_running_without_a_heartbeat_is_failed_requeued_and_built(tmp_path, pg_url, worker, env):  # env: study folders in tmp_path
    """A worker set a queued trial RUNNING, lost the answer with its connection and moved on."""
    config = write_config(tmp_path, grid16("orphan"))
    plan = study_mod.prepare(config, storage=pg_url, worker=worker, heartbeat=1)
    waiting = plan.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    orphan = waiting[3]
    assert plan.store.set_trial_state_values(orphan._trial_id, TrialState.RUNNING)  # never gets a heartbeat
    stats = _run_within(plan, 120)
    plan.close()
    trials = _load("orphan", pg_url).get_trials()
    complete = _complete(trials)
    assert stats.completed == 16 and len(_keys(complete)) == 16 and set(_keys(complete).values()) == {1}
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.number == orphan.number
    (retry,) = [t for t in complete if t.system_attrs.get("failed_trial") == orphan.number]
    assert retry.params == orphan.system_attrs["fixed_params"]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def _pg_restart() -> None:
    """Restart the local PostgreSQL server (fast shutdown: every connection is cut)."""
    import shutil

    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("needs a Debian PostgreSQL cluster on this machine (pg_ctlcluster)")
    (version,) = [p.name for p in Path("/etc/postgresql").iterdir()]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, timeout=120)


def test_a_postgres_restart_mid_study_is_ridden_out(tmp_path, pg_url, env, launched):
    config = write_config(tmp_path, grid16("restart", slow=True))
    launcher = subprocess.Popen([DSE, "run", str(config), "--storage", pg_url, "--jobs", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    launched.append(launcher)
    _wait_for("restart", pg_url, lambda ts: len(_complete(ts)) >= 2 and any(t.state == TrialState.RUNNING for t in ts))
    _pg_restart()  # the server is gone for a few seconds, mid-build
    _, stderr = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, stderr
    assert "exited with" not in stderr  # no worker died of it
    trials = _load("restart", pg_url).get_trials()
    assert len(trials) == 16 and set(_keys(trials).values()) == {1}
    assert all(t.state == TrialState.COMPLETE for t in trials)
