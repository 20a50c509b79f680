"""A long-lived FINN process: FINN is imported once, builds run there, not in the CLI.

FINN redirects ``sys.stdout``/``stderr`` and reconfigures logging on every build, and takes
~4 s to import; a separate process keeps the user's terminal clean, pays the import once,
and confines a crash to the build that caused it.

Example::

    with FinnWorker(build_dir="studies/finn_tmp", log_path="studies/worker.log") as worker:
        nodes = worker.probe(model_path, build_config, cache_dir)
        result = worker.build(model_path, out_dir, build_config, folding_config, {})
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any


class WorkerCrashed(Exception):
    """The FINN process died (segfault, out of memory, killed) during a call."""


def _init(build_dir: str, log_path: str) -> None:
    # Ctrl-C belongs to the CLI, which decides what to do with the running trial.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)  # FINN prints progress and rich tracebacks: keep them out of the terminal
    os.dup2(log, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    from dse.finn import adapter

    adapter.load_finn(build_dir)


def _probe(model_path: str, build_config: dict[str, Any], cache_dir: str) -> dict[str, Any]:
    from dse.finn import adapter, graph

    cache = Path(cache_dir)
    described = cache / "nodes.json"
    if described.exists():
        return {"ok": True, "nodes": json.loads(described.read_text()), "cached": True}
    work = cache.with_name(cache.name + f".tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    result = adapter.run_build(
        model_path,
        str(work),
        build_config,
        stop_step=adapter.PREFIX_LAST_STEP,
        save_intermediate_models=True,
    )
    if not result["ok"]:
        return result
    specialized = work / "intermediate_models" / f"{adapter.PREFIX_LAST_STEP}.onnx"
    nodes = graph.describe_nodes(str(specialized))
    (work / "nodes.json").write_text(json.dumps(nodes, indent=1))
    try:
        os.replace(work, cache)  # atomic publish; a racing worker's copy is equally good
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return {"ok": True, "nodes": nodes, "cached": False}


def _build(
    model_path: str,
    output_dir: str,
    build_config: dict[str, Any],
    folding_config: dict[str, Any] | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    from dse.finn import adapter

    return adapter.run_build(model_path, output_dir, build_config, folding_config, **overrides)


class FinnWorker:
    """One FINN process, started on first use and restarted after a crash."""

    def __init__(self, build_dir: str | Path, log_path: str | Path):
        self.build_dir = str(Path(build_dir).resolve())
        self.log_path = str(Path(log_path).resolve())
        self._pool: ProcessPoolExecutor | None = None

    def _call(self, fn: Any, *args: Any) -> Any:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self.build_dir, self.log_path),
            )
        try:
            return self._pool.submit(fn, *args).result()
        except BrokenProcessPool:
            self.close()
            raise WorkerCrashed(f"the FINN process died (see {self.log_path})") from None

    def probe(self, model_path: str, build_config: dict[str, Any], cache_dir: str | Path) -> dict[str, Any]:
        """Run the folding-independent prefix once (cached in ``cache_dir``); describe its nodes."""
        return self._call(_probe, model_path, build_config, str(cache_dir))

    def build(
        self,
        model_path: str,
        output_dir: str | Path,
        build_config: dict[str, Any],
        folding_config: dict[str, Any] | None,
        overrides: dict[str, Any],
    ) -> dict[str, Any]:
        """One full finn-plus build; see :func:`dse.finn.adapter.run_build`."""
        return self._call(_build, model_path, str(output_dir), build_config, folding_config, overrides)

    def close(self) -> None:
        if self._pool is not None:
            # kill rather than wait: a build may run for minutes and its result is not wanted
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "FinnWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
