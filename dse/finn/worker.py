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

import contextlib
import copy
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Iterator

from dse.finn import adapter
from dse.finn.reports import COUNT_STEP, COUNTED_REPORT


class WorkerCrashed(Exception):
    """The FINN process died (segfault, out of memory, killed) during a call."""


class WorkerTimeout(Exception):
    """A call ran past its time limit; the FINN process was stopped."""


def _init(build_dir: str, log_path: str) -> None:
    # Ctrl-C belongs to the CLI, which decides what to do with the running trial.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)  # FINN prints progress and rich tracebacks: keep them out of the terminal
    os.dup2(log, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    adapter.load_finn(build_dir)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the dse process that owns it dies.

    A worker killed with SIGKILL cannot close its pool; without this its FINN process would
    keep building a trial that the heartbeat has already handed to another worker.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the orphan finishes its one build and exits
        pass


_SPECIALIZED = f"intermediate_models/{adapter.PREFIX_LAST_STEP}.onnx"
#: Specialized prefix models held by this worker process, by cache folder.
_MODELS: dict[str, Any] = {}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _valid_prefix(cache: Path) -> bool:
    """A published prefix entry whose manifest matches its files (else: partial or corrupt)."""
    try:
        manifest = json.loads((cache / "manifest.json").read_text())
        json.loads((cache / "nodes.json").read_text())
        hoisted = cache / adapter.HOISTED_MODEL
        if manifest.get("hoisted_sha256") and _file_sha256(hoisted) != manifest["hoisted_sha256"]:
            return False
        return _file_sha256(cache / _SPECIALIZED) == manifest["sha256"]
    except (OSError, ValueError, KeyError):
        return False


def cached_probe(cache_dir: str | Path) -> dict[str, Any] | None:
    """What :func:`_probe` returns for a sound published prefix entry, read without FINN; else None."""
    cache = Path(cache_dir)
    if not _valid_prefix(cache):
        return None
    return {"ok": True, "nodes": json.loads((cache / "nodes.json").read_text()), "cached": True}


def _ready() -> bool:
    return True


def _probe(model_path: str, build_config: dict[str, Any], cache_dir: str) -> dict[str, Any]:
    """Make sure the prefix entry ``cache_dir`` exists and is sound; return its node list.

    Entries are built in a private folder and published with one atomic rename, so workers
    racing for the same key never see a half-written entry; a corrupt one is set aside and
    rebuilt, never used.
    """
    from dse.finn import graph

    cache = Path(cache_dir)
    cached = cached_probe(cache)
    if cached is not None:
        return cached
    if cache.exists():
        os.replace(cache, cache.with_name(f"{cache.name}.corrupt.{os.getpid()}.{time.time_ns()}"))
        for hoisted in (False, True):
            _MODELS.pop(f"{cache}|{hoisted}", None)
    bad_step = adapter.unresolvable_step(build_config)
    if bad_step is not None:
        return {"ok": False, "setting": "finn.steps", "message": bad_step}
    work = cache.with_name(f"{cache.name}.tmp.{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    result = adapter.run_build(
        model_path,
        str(work),
        build_config,
        stop_step=adapter.PREFIX_LAST_STEP,
        save_intermediate_models=True,
    )
    failed_log = cache.with_name(f"{cache.name}.failed.log")
    if not result["ok"]:
        with contextlib.suppress(OSError):  # FINN's log is all a user has to go on: keep it
            shutil.copyfile(work / "build_dataflow.log", failed_log)
            result["log"] = str(failed_log)
        shutil.rmtree(work, ignore_errors=True)  # nothing half-built is left behind
        return result
    failed_log.unlink(missing_ok=True)
    for onnx in (work / "intermediate_models").glob("*.onnx"):
        if onnx.name != Path(_SPECIALIZED).name:
            onnx.unlink()  # only the last prefix model is reused (CNV: ~70 MB saved)
    nodes = graph.describe_nodes(str(work / _SPECIALIZED))
    (work / "nodes.json").write_text(json.dumps(nodes, indent=1))
    manifest = {"sha256": _file_sha256(work / _SPECIALIZED), "build_config": build_config}
    if adapter.minimize_hoistable(build_config):
        from qonnx.core.modelwrapper import ModelWrapper

        minimized = adapter.hoist_minimize(ModelWrapper(str(work / _SPECIALIZED)), build_config)
        minimized.save(str(work / adapter.HOISTED_MODEL))
        manifest["hoisted_sha256"] = _file_sha256(work / adapter.HOISTED_MODEL)
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))  # written last
    try:
        os.replace(work, cache)
    except OSError:  # another worker published the same key first: equally good
        shutil.rmtree(work, ignore_errors=True)
    return {"ok": True, "nodes": nodes, "cached": False}


def _prefix_model(prefix_dir: str, hoisted: bool) -> Any:
    from qonnx.core.modelwrapper import ModelWrapper

    key = f"{prefix_dir}|{hoisted}"
    if key not in _MODELS:
        if not _valid_prefix(Path(prefix_dir)):
            raise RuntimeError(f"prefix cache entry {prefix_dir} is missing or corrupt")
        name = adapter.HOISTED_MODEL if hoisted else _SPECIALIZED
        _MODELS[key] = ModelWrapper(str(Path(prefix_dir) / name))
    return _MODELS[key]



def _build(
    model_path: str,
    output_dir: str,
    build_config: dict[str, Any],
    folding_config: dict[str, Any] | None,
    overrides: dict[str, Any],
    prefix_dir: str | None,
    hoisted: bool,
    counted: bool = False,
) -> dict[str, Any]:
    if prefix_dir is None:
        return adapter.run_build(model_path, output_dir, build_config, folding_config, **overrides)
    model = copy.deepcopy(_prefix_model(prefix_dir, hoisted))
    result = adapter.run_tail(model, output_dir, build_config, folding_config, hoisted, **overrides)
    final = result.pop("model", None)
    if counted and result["ok"]:
        from dse.finn.counted import count

        try:
            report = count(final, build_config["fpga_part"])
        except Exception as exc:  # noqa: BLE001 - FINN's insertion refused this graph: the trial fails, said why
            return {**result, "ok": False, "failed_step": COUNT_STEP,
                    "message": f"dse's count (FINN's InsertDWC/InsertFIFO) failed: {type(exc).__name__}: {exc}"}
        Path(result["report_dir"], COUNTED_REPORT).write_text(json.dumps(report, indent=1))
    return result


def _synth(
    prefix_dir: str, hoisted: bool, build_config: dict[str, Any], folding_config: dict[str, Any], output_dir: str,
    cache_dir: str, node_timeout: float,
) -> dict[str, Any]:
    """One design at the synth level: FINN's tail, dse's count, open synthesis of its RTL nodes."""
    from dse.finn import counted, synth

    model = copy.deepcopy(_prefix_model(prefix_dir, hoisted))
    result = adapter.run_tail(model, output_dir, build_config, folding_config, hoisted)
    final = result.pop("model", None)
    if not result["ok"]:
        return result
    part = build_config["fpga_part"]
    inserted = counted.insert(final, part)
    count = counted.count(final, part, inserted)
    synthesized = synth.synthesize(inserted, part, float(build_config["synth_clk_period_ns"]), cache_dir, node_timeout)
    return {**result, **counted.with_synthesis(count, synthesized)}


def _estimate(prefix_dir: str, hoisted: bool, fpgapart: str, base: Any, variants: Any, counted: bool = False) -> dict[str, Any]:
    from dse.finn.estimates import estimate_nodes

    return estimate_nodes(_prefix_model(prefix_dir, hoisted), fpgapart, base, variants, counted)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without re-running the caller's script in them.

    "spawn" children normally import ``__main__``; a user's script without an
    ``if __name__ == "__main__"`` guard would then run again inside the worker and kill it.
    The worker needs nothing from ``__main__``, so it is hidden while the process starts.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class FinnWorker:
    """One FINN process, started on first use and restarted after a crash."""

    def __init__(self, build_dir: str | Path, log_path: str | Path):
        self.build_dir = str(Path(build_dir).resolve())
        self.log_path = str(Path(log_path).resolve())
        self._pool: ProcessPoolExecutor | None = None

    def _call(self, fn: Any, *args: Any, timeout: float | None = None) -> Any:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self.build_dir, self.log_path),
            )
            try:  # start-up (FINN import) is not part of any call's time limit
                with _main_module_hidden():
                    self._pool.submit(_ready).result()
            except BrokenProcessPool:
                self.close()
                raise WorkerCrashed(f"the FINN process failed to start (see {self.log_path})") from None
        try:
            return self._pool.submit(fn, *args).result(timeout=timeout)
        except BrokenProcessPool:
            self.close()
            raise WorkerCrashed(f"the FINN process died (see {self.log_path})") from None
        except FutureTimeout:
            self.close()  # the only way to stop a build that is still running
            raise WorkerTimeout(f"the build ran past {timeout:g} s and was stopped") from None

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
        prefix_dir: str | Path | None = None,
        timeout: float | None = None,
        hoisted: bool = False,
        counted: bool = False,
    ) -> dict[str, Any]:
        """One build: only the folding-dependent tail from the cached prefix ``prefix_dir``
        (see :func:`dse.finn.adapter.run_tail`; ``hoisted``: start from the prefix model whose
        bit widths are already minimized), or a full finn-plus build without a prefix.
        ``counted``: also write dse's count of the built graph (:data:`COUNTED_REPORT`)."""
        prefix = str(prefix_dir) if prefix_dir is not None else None
        return self._call(
            _build, model_path, str(output_dir), build_config, folding_config, overrides, prefix, hoisted, counted,
            timeout=timeout,
        )

    def estimate(
        self, prefix_dir: str | Path, hoisted: bool, fpgapart: str, base: dict[str, Any], variants: list[dict[str, Any]],
        counted: bool = False,
    ) -> dict[str, Any]:
        """FINN's per-node estimates on the prefix model for many attribute variants, at FINN's
        raw level or counted (see :func:`dse.finn.estimates.estimate_nodes`)."""
        return self._call(_estimate, str(prefix_dir), hoisted, fpgapart, base, variants, counted)

    def synth(
        self, prefix_dir: str | Path, hoisted: bool, build_config: dict[str, Any], folding_config: dict[str, Any],
        output_dir: str | Path, cache_dir: str | Path, node_timeout: float,
    ) -> dict[str, Any]:
        """One design at the synth level (see :func:`dse.finn.counted.with_synthesis`)."""
        return self._call(_synth, str(prefix_dir), hoisted, build_config, folding_config, str(output_dir),
                          str(cache_dir), node_timeout)

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
