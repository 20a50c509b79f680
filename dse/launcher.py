"""``dse run --jobs N``: N worker processes on this host, all on one server-database study.

Each worker is a plain ``dse run ... --jobs 1`` (so a worker started by hand on another host
is the same thing). The launcher only starts them, forwards Ctrl-C / SIGTERM (each worker
then finishes its build, or stops at once on the second signal), and watches the study for
progress. Workers get their own session so that a terminal's Ctrl-C reaches them once,
through the launcher, not twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


@dataclass
class Outcome:
    """How the workers ended."""

    exit_codes: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    interrupted: bool = False
    completed: int = 0
    failed: int = 0

    def failures(self) -> list[str]:
        """One line per worker that did not exit cleanly, with the last line of its log."""
        lines = []
        for index, (code, log) in enumerate(zip(self.exit_codes, self.logs)):
            if code != 0:
                how = f"signal {-code}" if code < 0 else f"code {code}"
                lines.append(f"worker {index} exited with {how}: {_last_line(log)} (log: {log})")
        return lines


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "no output"


def run_workers(
    argv: list[str],
    jobs: int,
    storage_url: str,
    study: optuna.Study,
    log_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Start ``jobs`` copies of ``dse <argv> --worker-index i`` and wait for all of them.

    ``on_progress(completed, failed)`` is called as this run's trials finish (polled from
    the study, so trials built by workers on other hosts count too).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DSE_STORAGE": storage_url}  # not on the command line: ps shows that
    before = {t.number for t in study.get_trials(deepcopy=False, states=_FINISHED)}
    outcome = Outcome()
    procs: list[subprocess.Popen[bytes]] = []
    for index in range(jobs):
        log = log_dir / f"worker-{index}.log"
        with open(log, "ab") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dse.cli", *argv, "--worker-index", str(index)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            ))
        outcome.logs.append(log)

    def forward(signum: int, _frame: Any) -> None:
        outcome.interrupted = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, forward)
    try:
        while any(proc.poll() is None for proc in procs):
            time.sleep(1.0)
            _count(study, before, outcome, on_progress)
        _count(study, before, outcome, on_progress)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    outcome.exit_codes = [proc.returncode for proc in procs]
    return outcome


def _count(study: optuna.Study, before: set[int], outcome: Outcome, on_progress: Callable[[int, int], None] | None) -> None:
    try:
        finished = [t for t in study.get_trials(deepcopy=False, states=_FINISHED) if t.number not in before]
    except Exception:  # the database is briefly away: the workers retry; progress can wait
        return
    outcome.completed = sum(1 for t in finished if t.state == TrialState.COMPLETE)
    outcome.failed = len(finished) - outcome.completed
    if on_progress is not None:
        on_progress(outcome.completed, outcome.failed)
