"""Scaling of many workers on one Postgres study, and the storage's own cost per trial.

SYNTHETIC objective (no FINN): each trial sleeps a fixed time, then writes what a dse trial
writes (about 30 user attrs and 4 constraints). Workers are separate processes using dse's
own storage layer (``DseStorage``: heartbeats, study-wide trial gate, retries) and Optuna's
``study.optimize``, exactly as ``dse run --jobs N`` workers do.

1. Throughput with 1, 2, 4, 8 workers on Postgres: trials/s over the span from the first
   trial's start to the last trial's end (process start-up excluded), and the scaling
   efficiency tps(N) / (N * tps(1)). The objective sleeps, so 8 workers fit on 2 cores.
2. Storage overhead per trial, single process, zero-duration objective: ms per trial on
   SQLite (dse's WAL settings) and Postgres, minus the same loop on Optuna's in-memory storage.

    .venv/bin/python bench/workers.py                 # needs Postgres on 127.0.0.1:5432
    .venv/bin/python bench/workers.py --trial-seconds 0.5 --trials-per-worker 12
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse.storage import NoMoreTrials, open_storage  # noqa: E402
from dse.study import admit_below  # noqa: E402

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ATTRS = ["throughput_fps", "latency_ns", "max_cycles", "LUT", "BRAM_18K", "URAM", "DSP", "utilization"]


def objective(seconds: float):
    def run(trial: optuna.Trial) -> tuple[float, float]:
        pe = trial.suggest_int("MVAU_0.PE_idx", 0, 5)
        simd = trial.suggest_int("MVAU_0.SIMD_idx", 0, 5)
        if seconds:
            time.sleep(seconds)
        for i, key in enumerate(ATTRS * 3 + ["folding_config", "trial_dir", "build_seconds", "feasible", "constraints", "x"]):
            trial.set_user_attr(f"{key}_{i}", float(pe * simd + i))
        for res in ("LUT", "BRAM_18K", "URAM", "DSP"):
            trial.set_constraint(f"budget_{res}", -0.5)
        return float(pe + simd), float(pe * simd)

    return run


def worker(url: str, name: str, total: int, seconds: float, start: multiprocessing.Barrier) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    store = open_storage(url, heartbeat=10)
    study = optuna.load_study(study_name=name, storage=store, sampler=optuna.samplers.RandomSampler())
    store.admit = admit_below(store, total)
    start.wait()
    try:
        study.optimize(objective(seconds), gc_after_trial=False)
    except NoMoreTrials:
        pass


def fresh_database() -> tuple[str, str]:
    name = f"dse_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    admin = sqlalchemy.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def scaling(jobs: int, per_worker: int, seconds: float) -> tuple[float, int, int]:
    """Trials/s with ``jobs`` workers; also the number of trials and of distinct trial numbers."""
    db, url = fresh_database()
    try:
        total = jobs * per_worker
        optuna.create_study(study_name="bench", storage=open_storage(url), directions=["maximize", "minimize"])
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(jobs)
        procs = [ctx.Process(target=worker, args=(url, "bench", total, seconds, barrier)) for _ in range(jobs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        trials = optuna.load_study(study_name="bench", storage=url).get_trials()
        span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
        return len(trials) / span, len(trials), sum(t.state.name == "COMPLETE" for t in trials)
    finally:
        drop_database(db)


def overhead(url: str | None, n: int) -> float:
    """Seconds per zero-duration trial on this storage (None: Optuna's in-memory storage)."""
    storage = open_storage(url) if url else None
    study = optuna.create_study(study_name=f"o-{uuid.uuid4().hex[:6]}", storage=storage,
                                directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    started = time.perf_counter()
    study.optimize(objective(0.0), n_trials=n, gc_after_trial=False)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial-seconds", type=float, default=0.25)
    parser.add_argument("--trials-per-worker", type=int, default=16)
    parser.add_argument("--overhead-trials", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    print(f"SYNTHETIC objective: {args.trial_seconds:.2f} s sleep + dse's ~30 attribute writes per trial; "
          f"Postgres, {args.trials_per_worker} trials per worker")
    print(f"{'workers':>7} {'trials':>6} {'trials/s':>9} {'speed-up':>9} {'efficiency':>10}")
    base = None
    for jobs in (1, 2, 4, 8):
        tps, n, complete = scaling(jobs, args.trials_per_worker, args.trial_seconds)
        assert n == complete == jobs * args.trials_per_worker, (n, complete)  # the gate is exact
        base = base or tps
        print(f"{jobs:>7} {n:>6} {tps:>9.2f} {tps / base:>8.2f}x {tps / (jobs * base):>9.0%}")

    n = args.overhead_trials
    memory = statistics.median(overhead(None, n) for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = statistics.median(overhead(f"sqlite:///{tmp}/bench.db", n) for _ in range(3))
    db, url = fresh_database()
    try:
        postgres = statistics.median(overhead(url, n) for _ in range(3))
    finally:
        drop_database(db)
    print(f"\nstorage overhead per trial ({n} zero-duration trials, median of 3, minus in-memory {memory * 1e3:.1f} ms):")
    print(f"  SQLite   {(sqlite - memory) * 1e3:7.1f} ms")
    print(f"  Postgres {(postgres - memory) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
