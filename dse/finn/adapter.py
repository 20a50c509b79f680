"""The only place that bends finn-plus 1.6.1 into running estimate builds without Vivado.

Every workaround for a finn-plus quirk lives here, each with the reason. Everything else in
``dse`` calls :func:`load_finn` (or a function of this module) before touching ``finn``.

Example::

    from dse.finn.adapter import load_finn, run_build
    load_finn("/tmp/finn_build_dir")
    result = run_build(model_path, output_dir, build_config, folding_config)
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

#: The estimate-only step list of finn-plus 1.6.1 (``estimate_only_dataflow_steps``), copied so
#: that spaces can be validated without importing FINN (a 4 s import).
ESTIMATE_STEPS: list[str] = [
    "step_qonnx_to_finn",
    "step_tidy_up",
    "step_streamline",
    "step_convert_to_hw",
    "step_minimize_bit_width_initial",
    "step_create_dataflow_partition",
    "step_specialize_layers",
    "step_target_fps_parallelization",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
]

#: Pre/post-processing the BNN-PYNQ networks need (as in finn-plus's ``dut/bnn-pynq.yml``):
#: the input becomes UINT8 pixels (no float Thresholding) and the output a top-1 LabelSelect.
BNN_PRE_POST_STEPS: list[str] = [
    "finn.builder.custom_step_library.general.add_preproc_divide_by_255",
    "finn.builder.custom_step_library.general.add_postproc_top1",
]

#: The last step whose output does not depend on folding; node names are final after it.
PREFIX_LAST_STEP = "step_specialize_layers"

_LOADED = False


def load_finn(build_dir: str | os.PathLike[str]) -> None:
    """Import finn-plus's builder with the no-Vivado workarounds applied (idempotent)."""
    global _LOADED
    if _LOADED:
        return
    # Workaround 1: get_settings() raises "Could not find global settings" unless FINN's
    # settings are bootstrapped; FINN_BUILD_DIR is the lightest way (its codegen scratch dir,
    # which estimate steps leave empty).
    os.environ.setdefault("FINN_BUILD_DIR", str(Path(build_dir).resolve()))
    Path(os.environ["FINN_BUILD_DIR"]).mkdir(parents=True, exist_ok=True)
    # Workaround 2: build_dataflow_cfg re-raises every exception when PYTEST_CURRENT_TEST is
    # set (it would skip writing its failure metadata); our tests run builds in workers that
    # inherit that variable, and must see FINN behave as it does for users.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    import finn.xsi

    # Workaround 3: build_dataflow_steps does `from finn.xsi import SimEngine` at import time,
    # which calls ensure_available() and raises without XILINX_VIVADO and a compiled xsi.so.
    # Estimate steps never simulate, so a placeholder class is enough. Must precede the import.
    if "XILINX_VIVADO" not in os.environ:
        finn.xsi.SimEngine = object  # type: ignore[attr-defined]
    import finn.builder.build_dataflow as build

    # Workaround 4: exit_buildflow() calls get_vivado_root(), which raises without
    # XILINX_VIVADO *after* all steps ran, losing time_per_step.json and metadata_builder.json.
    # (A fake XILINX_VIVADO path would also work but changes some cycle-model branches.)
    if "XILINX_VIVADO" not in os.environ:
        build.get_vivado_root = lambda: "no_vivado"  # type: ignore[assignment]
    # Workaround 5 (packaging): finn-plus imports psutil without declaring it; dse's
    # pyproject.toml depends on psutil for that reason.
    _LOADED = True


def versions() -> dict[str, str]:
    """Versions of the packages that decide a build's numbers."""
    out = {}
    for package in ("finn-plus", "qonnx", "brevitas", "optuna", "torch", "onnx"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover - broken installs only
            out[package] = "missing"
    return out


def make_config(build_config: dict[str, Any], **overrides: Any) -> Any:
    """A finn-plus ``DataflowBuildConfig`` from a plain dict (the study's ``finn_build_config``)."""
    import finn.builder.build_dataflow_config as bc

    data = {k: v for k, v in build_config.items() if k != "model_path"}
    data.update(overrides)
    return bc.DataflowBuildConfig.from_dict(data)


_STEP_LINE = re.compile(r"Running step: (\S+) \[(\d+)/(\d+)\]")
_ERROR_LINE = re.compile(r"FINN (?:INTERNAL COMPILER )?ERROR: (.*)")


def _failure_from_log(log_path: Path) -> tuple[str | None, str]:
    """The step that was running and FINN's error message, read from build_dataflow.log.

    build_dataflow_cfg catches every exception and only returns -1; its log is the one
    place that says which step failed and why.
    """
    if not log_path.exists():
        return None, "FINN failed before writing its build log"
    text = log_path.read_text(errors="replace")
    steps = _STEP_LINE.findall(text)
    errors = _ERROR_LINE.findall(text)
    step = steps[-1][0] if steps else None
    message = errors[-1].strip() if errors else ""
    return step, message or _failure_from_traceback(text) or "FINN build failed (see build_dataflow.log)"


#: The failing line of the innermost frame in the box Rich draws a traceback in (FINN writes
#: one to its log for internal errors): "│ ❱ 336 │   │   │   assert (x >= 0).all()   │".
_TRACEBACK_CODE = re.compile(r"❱\s*(\d+)\s*(.*)")


def _failure_from_traceback(text: str) -> str | None:
    """The exception and failing source line of the last traceback in a FINN log, or None.

    FINN logs ``ERROR: {exc}``, which is empty for a bare ``assert`` (finn-plus 1.6.1's own
    checks are many); what failed is then only in the traceback that follows.
    """
    box_end = text.rfind("╰")
    if box_end < 0:
        return None
    box, after = text[:box_end], text[box_end:].splitlines()[1:]
    exception = next((line.strip() for line in after if line.strip()), None)
    if exception is None:
        return None
    codes = _TRACEBACK_CODE.findall(box)
    if not codes:
        return exception
    line, code = codes[-1]
    return f"{exception} at line {line}: {' '.join(code.replace('│', ' ').split())}"


#: Steps that set the folding. step_target_fps_parallelization runs FINN's SetFolding only
#: when a target_fps is given (build_dataflow_steps.py: `if target_cycles_per_frame is not
#: None`); without one it changes nothing.
FOLDING_STEPS = ("step_target_fps_parallelization", "step_apply_folding_config")
#: Steps that only read the model and write reports (nothing later sees a change).
REPORT_STEPS = ("step_generate_estimate_reports",)
#: Steps that need Vivado, Vitis HLS or XSI (finn-plus 1.6.1: finn/util/hls.py, vivado.py and
#: finn.xsi need XILINX_VIVADO); an estimate-only machine refuses them before any FINN work.
VIVADO_STEPS = (
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_generate_hardware",
    "step_create_stitched_ip",
    "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis",
    "step_prepare_synthesis",
    "step_synthesize_bitfile",
    "step_vivado_power_estimation",
    "step_deployment_package",
)
#: Steps that generate or build hardware (a failure there is a synthesis-stage failure).
HARDWARE_STEPS = ("step_hw_codegen", *VIVADO_STEPS)
#: Folding attributes that FINN's bit-width minimization never reads (checked against
#: finn-plus 1.6.1: it reads mem_mode only to test for external/dynamic weights, and
#: runtime_writeable_weights). When a study's folding sets only these, the minimization
#: gives the same result before or after folding, so it runs once in the prefix.
MINIMIZE_SAFE_ATTRS = {
    "PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode", "depth_trigger_bram", "depth_trigger_uram",
}
MINIMIZE_SAFE_MEM_MODES = {"internal_decoupled", "internal_embedded"}
HOISTED_MODEL = "hoisted_minimize_bit_width.onnx"


def _prepare_output(output_dir: str, folding_config: dict[str, Any] | None, overrides: dict[str, Any]) -> Path:
    """Create the build folder; write the folding config there and point FINN at it."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if folding_config is not None:
        folding_file = out / "folding_config.json"
        folding_file.write_text(json.dumps(folding_config, indent=2, sort_keys=True))
        overrides["folding_config_file"] = str(folding_file)
    return out


def _outcome(out: Path, started: float, step: str | None = None, message: str | None = None) -> dict[str, Any]:
    """The result dict of a build: ``ok``, ``seconds``, ``report_dir`` (+ failure details)."""
    result: dict[str, Any] = {
        "ok": message is None,
        "seconds": time.perf_counter() - started,
        "report_dir": str(out / "report"),
    }
    if message is not None:
        result.update(failed_step=step, message=message)
    return result


def unresolvable_step(build_config: dict[str, Any]) -> str | None:
    """Why the first of the config's steps FINN cannot resolve to a function fails; None if all do.

    FINN resolves the whole list when a build starts and its error blames no step (a dotted
    path with a wrong last name even escapes as a bare AttributeError); this names the step,
    and for a misspelt FINN step, the nearest FINN step.
    """
    import difflib

    import finn.builder.build_dataflow as build
    from finn.builder.build_dataflow_steps import build_dataflow_step_lookup

    cfg = make_config(build_config, output_dir="unused")  # only read for its step options
    for step in build_config["steps"]:
        try:
            build.resolve_build_steps(cfg, partial=False, list_as_input=[step])
        except Exception as exc:  # noqa: BLE001 - FINN raises several kinds; all mean "not a step"
            close = difflib.get_close_matches(step, list(build_dataflow_step_lookup), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            if "." not in step:
                return f"{step} is not one of FINN's steps{hint}"
            cause = exc.__cause__ or exc
            return f"{step} cannot be imported: {str(cause).strip() or type(cause).__name__}{hint}"
    return None


def step_name(step: Any) -> str:
    """A step's own name: ``"finn.builder.custom_step_library.x.step_y"`` -> ``"step_y"``."""
    return str(step).rsplit(".", 1)[-1]


def vivado_step(steps: list[str]) -> str | None:
    """The first step that needs Vivado/Vitis when this machine has none, else None."""
    if os.environ.get("XILINX_VIVADO"):
        return None
    return next((s for s in steps if s in VIVADO_STEPS), None)


def tail_steps(build_config: dict[str, Any], hoisted: bool = False) -> list[str]:
    """The steps after :data:`PREFIX_LAST_STEP` (without the minimization if it was hoisted)."""
    steps = list(build_config["steps"])
    tail = steps[steps.index(PREFIX_LAST_STEP) + 1 :]
    return [s for s in tail if s != "step_minimize_bit_width"] if hoisted else tail


def minimize_hoistable(build_config: dict[str, Any]) -> bool:
    """Whether FINN's bit-width minimization may run once before the folding (in the prefix).

    True when the tail is the folding step(s), then ``step_minimize_bit_width``, then anything:
    nothing but folding runs between specialization and the minimization, so moving it before
    the folding changes nothing when the folding only sets attributes it never reads
    (:data:`MINIMIZE_SAFE_ATTRS`; the caller checks that). Decided from what the steps are,
    not from one exact list (finn-plus's mobilenetv1 flow has no target_fps step).
    """
    tail = tail_steps(build_config)
    if "step_minimize_bit_width" not in tail:
        return False
    head = tail[: tail.index("step_minimize_bit_width")]
    return bool(head) and all(s in FOLDING_STEPS for s in head) and "step_apply_folding_config" in head


def estimate_only_tail(build_config: dict[str, Any]) -> bool:
    """Whether the hoisted tail's estimates are final right after the folding (the frontier's premise)."""
    tail = tail_steps(build_config, hoisted=True)
    return minimize_hoistable(build_config) and all(s in FOLDING_STEPS or s in REPORT_STEPS for s in tail) \
        and any(s in REPORT_STEPS for s in tail)


def hoist_minimize(model: Any, build_config: dict[str, Any]) -> Any:
    """Run FINN's ``step_minimize_bit_width`` on the specialized prefix model."""
    from finn.builder.build_dataflow_steps import step_minimize_bit_width

    return step_minimize_bit_width(model, make_config(build_config))


def run_tail(
    model: Any,
    output_dir: str,
    build_config: dict[str, Any],
    folding_config: dict[str, Any] | None,
    hoisted: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the folding-dependent steps on a specialized in-memory ``model`` (consumed).

    Same result as :func:`run_build` with the same settings (tested bit for bit), minus the
    prefix: FINN's own step functions run in FINN's order, and FINN's own logging setup sends
    their output to ``output_dir/build_dataflow.log`` as a full build would. A successful
    result also holds the final ``model`` (for dse's count; not picklable across processes).
    """
    import finn.builder.build_dataflow as build

    out = _prepare_output(output_dir, folding_config, overrides)
    started = time.perf_counter()
    step_name = None
    try:
        cfg = make_config(build_config, output_dir=str(out), **overrides)
        build.setup_logging(cfg)
        for step in build.resolve_build_steps(cfg, partial=False, list_as_input=tail_steps(build_config, hoisted)):
            step_name = step.__name__
            print(f"Running step: {step_name} [tail]")
            model = step(model, cfg)
    except Exception as exc:  # noqa: BLE001 - any FINN failure fails this trial only
        import logging

        logging.getLogger("build_dataflow").error("FINN ERROR: %s\n%s", exc, traceback.format_exc())
        return _outcome(out, started, step_name, (str(exc).strip() or type(exc).__name__).splitlines()[0])
    return {**_outcome(out, started), "model": model}


def run_build(
    model_path: str,
    output_dir: str,
    build_config: dict[str, Any],
    folding_config: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Run one finn-plus build; return ``{"ok", "seconds", "report_dir", "failed_step", "message"}``.

    ``build_config`` is a ``DataflowBuildConfig.from_dict`` mapping; ``folding_config`` is
    written to ``output_dir/folding_config.json`` and used as ``folding_config_file``.
    """
    import finn.builder.build_dataflow as build

    out = _prepare_output(output_dir, folding_config, overrides)
    started = time.perf_counter()
    try:
        cfg = make_config(build_config, output_dir=str(out), **overrides)
        rc = build.build_dataflow_cfg(model_path, cfg)
    except Exception as exc:  # config errors raise before FINN's own try-block
        return _outcome(out, started, None, f"{type(exc).__name__}: {exc}".splitlines()[0])
    if rc == 0:
        return _outcome(out, started)
    return _outcome(out, started, *_failure_from_log(out / "build_dataflow.log"))
