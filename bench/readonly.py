"""How fast the read-only commands answer, against ``python -c "import optuna"`` in the same run.

Builds (once, in a temporary folder) a study of the TFC-w1a1 grid space (192 real FINN estimate
builds, ~20 s), then times ``dse status``, ``dse status STUDY``, ``dse pareto STUDY`` and
``dse export`` and the bare Optuna import, interleaved, and prints each command's median and its
ratio to the import (issue 13's goal: at most 3x). With ``--postgres SERVER_URL`` the same study
is also built in a temporary database on that server (dropped afterwards) and timed there.
With ``--scale N`` a study holding the 192 trials N times (copied with Optuna's ``add_trials``)
is timed too, beside Optuna's own read of it (``load_study(...).trials``).

    .venv/bin/python bench/readonly.py --repeat 7 --postgres postgresql+psycopg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started


@contextmanager
def server_database(server: str) -> Iterator[str]:
    """A fresh database on the Postgres server at ``server``, dropped afterwards."""
    import sqlalchemy

    name = f"dse_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def commands(label: str, storage: str, tmp: str) -> dict[str, list[str]]:
    dse = str(BIN / "dse")
    print(f"building the study on {label} (192 FINN estimate builds)...", flush=True)
    timed([dse, "run", "configs/tfc-w1a1-grid.yaml", "--storage", storage])
    return {
        f"dse status ({label})": [dse, "status", "--storage", storage],
        f"dse status tfc-w1a1-grid ({label})": [dse, "status", "tfc-w1a1-grid", "--storage", storage],
        f"dse pareto tfc-w1a1-grid ({label})": [dse, "pareto", "tfc-w1a1-grid", "--storage", storage],
        f"dse export tfc-w1a1-grid --trial 0 ({label})": [dse, "export", "tfc-w1a1-grid", "--trial", "0", "--folding",
                                                          f"{tmp}/folding.json", "--storage", storage],
    }


def scaled(source_storage: str, storage: str, times: int) -> dict[str, list[str]]:
    """A copy of the study with its trials ``times`` over (in its own database, so the other
    rows keep timing the one study), and the commands that read it."""
    import optuna

    name = f"tfc-w1a1-grid-x{times}"
    source = optuna.load_study(study_name="tfc-w1a1-grid", storage=source_storage)
    print(f"copying its trials into {name} ({len(source.trials) * times} trials)...", flush=True)
    copy = optuna.create_study(study_name=name, storage=storage, directions=source.directions)
    for key, value in source.user_attrs.items():
        copy.set_user_attr(key, value)
    copy.add_trials(source.trials * times)
    dse = str(BIN / "dse")
    read = f"import optuna; optuna.load_study(study_name={name!r}, storage={storage!r}).trials"
    return {
        f"dse status {name}": [dse, "status", name, "--storage", storage],
        f"dse pareto {name}": [dse, "pareto", name, "--storage", storage],
        f"optuna load_study({name!r}).trials": [sys.executable, "-c", read],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", metavar="SERVER_URL", help="also time a study on this Postgres server")
    parser.add_argument("--scale", type=int, default=0, metavar="N", help="also time a study of N x 192 trials (SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dse-readonly-") as tmp:
        with server_database(args.postgres) if args.postgres else nullcontext() as pg:
            timings = {"python -c 'import optuna'": [sys.executable, "-c", "import optuna"]}
            timings.update(commands("SQLite", f"sqlite:///{tmp}/dse.db", tmp))
            if args.scale:
                timings.update(scaled(f"sqlite:///{tmp}/dse.db", f"sqlite:///{tmp}/scaled.db", args.scale))
            if pg is not None:
                timings.update(commands("Postgres", pg, tmp))
            times: dict[str, list[float]] = {name: [] for name in timings}
            for _ in range(args.repeat):  # interleaved: a busy moment hits every command alike
                for name, command in timings.items():
                    times[name].append(timed(command))
    base = statistics.median(times["python -c 'import optuna'"])
    flags = (f" --postgres {args.postgres}" if args.postgres else "") + (f" --scale {args.scale}" if args.scale else "")
    print(f"\n$ .venv/bin/python bench/readonly.py --repeat {args.repeat}{flags}\n")
    print("| command | median s | / import optuna |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.2f} | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
