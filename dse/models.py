"""Offline model zoo: the BNN-PYNQ networks from ``brevitas_examples`` and the tiny
networks of :mod:`dse.nets`, with random weights.

Random weights are enough to explore resources and throughput: FINN's estimates depend on
layer shapes and bit widths, not on weight values. Nothing is ever downloaded.

``mobilenet-v1`` is MobileNet-v1 w4a4 at its real size (224x224, 1000 classes), built with
the same flow as ``mobilenet-tiny``: its one-time FINN prefix takes minutes, not seconds.

The :mod:`dse.nets` entries carry the FINN flow they are built with (``ZooModel.flow``, also
in :data:`FLOWS`): finn-plus's benchmark flow for the real network they stand for, cut after
``step_generate_estimate_reports``.

Example::

    from dse.models import FLOWS, export_model
    export_model("tfc-w1a1", "studies/models/tfc-w1a1.onnx")
    FLOWS["resnet-tiny"].steps  # finn-plus's resnet18.yml steps, cut after the estimates
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse.errors import DseError
from dse.finn.adapter import ESTIMATE_STEPS


_LIB = "finn.builder.custom_step_library."
#: finn-plus's default estimate flow (``estimate_only_dataflow_steps``).
_DEFAULT_ESTIMATE_STEPS = tuple(ESTIMATE_STEPS)
#: finn-plus's steps from the initial bit-width minimization to the estimates, as resnet18.yml
#: and vgg10.yml list them after their own front ends
_ESTIMATE_TAIL = _DEFAULT_ESTIMATE_STEPS[_DEFAULT_ESTIMATE_STEPS.index("step_minimize_bit_width_initial"):]


@dataclass(frozen=True)
class FinnFlow:
    """The FINN settings a zoo network is built with: a finn-plus flow cut after the estimates.

    ``source`` names the finn-plus flow (``finn/benchmarking/dut/*.yml``) whose step strings
    ``steps`` repeats, with the steps that flow's pre-converted model file needed prepended.
    """

    source: str
    steps: tuple[str, ...]
    standalone_thresholds: bool
    board: str
    #: further ``DataflowBuildConfig`` keys the flow sets (e.g. cybsec's ``mvau_wwidth_max``)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ZooModel:
    """One network of the zoo: its brevitas config name and its input shape.

    ``brevitas_name`` is a ``brevitas_examples.bnn_pynq`` config when ``source`` is
    ``"bnn_pynq"``, a key of :data:`dse.nets.NETS` when it is ``"dse.nets"``.
    """

    brevitas_name: str
    input_shape: tuple[int, ...]
    source: str = "bnn_pynq"
    #: QONNX datatype annotated on the graph input when the network has no input quantizer
    #: (its input is integer data, e.g. ``"UINT8"`` pixels)
    input_datatype: str | None = None
    flow: FinnFlow | None = None


#: finn-plus's mobilenetv1.yml flow, cut after the estimates (mobilenet-tiny and mobilenet-v1).
_MOBILENET_FLOW = FinnFlow(
    "finn/benchmarking/dut/mobilenetv1.yml",
    # the yml's model file is already FINN-ONNX with pre/post-processing and tidied
    # ("_pre_post_tidy"): its steps start at the custom streamlining
    (
        f"{_LIB}general.add_postproc_top1",
        "step_qonnx_to_finn",
        "step_tidy_up",
        f"{_LIB}mobilenet.step_mobilenet_streamline",
        f"{_LIB}mobilenet.step_mobilenet_lower_convs",
        f"{_LIB}mobilenet.step_mobilenet_convert_to_hw_layers_separate_th",
        "step_minimize_bit_width_initial",
        "step_create_dataflow_partition",
        "step_specialize_layers",
        # no step_target_fps_parallelization in this flow: target_fps has no effect
        "step_apply_folding_config",
        "step_minimize_bit_width",
        "step_generate_estimate_reports",
    ),
    # unset in the yml; its convert step makes every threshold standalone anyway
    standalone_thresholds=False,
    board="ZCU102",
)


ZOO: dict[str, ZooModel] = {
    "tfc-w1a1": ZooModel("tfc_1w1a", (1, 1, 28, 28)),
    "tfc-w1a2": ZooModel("tfc_1w2a", (1, 1, 28, 28)),
    "tfc-w2a2": ZooModel("tfc_2w2a", (1, 1, 28, 28)),
    "sfc-w1a1": ZooModel("sfc_1w1a", (1, 1, 28, 28)),
    "sfc-w1a2": ZooModel("sfc_1w2a", (1, 1, 28, 28)),
    "sfc-w2a2": ZooModel("sfc_2w2a", (1, 1, 28, 28)),
    "lfc-w1a1": ZooModel("lfc_1w1a", (1, 1, 28, 28)),
    "lfc-w1a2": ZooModel("lfc_1w2a", (1, 1, 28, 28)),
    "cnv-w1a1": ZooModel("cnv_1w1a", (1, 3, 32, 32)),
    "cnv-w1a2": ZooModel("cnv_1w2a", (1, 3, 32, 32)),
    "cnv-w2a2": ZooModel("cnv_2w2a", (1, 3, 32, 32)),
    "mobilenet-tiny": ZooModel("MobileNetTiny", (1, 3, 16, 16), "dse.nets", "UINT8", _MOBILENET_FLOW),
    # the real MobileNet-v1 w4a4 (224x224, 32..1024 channels, 1000 classes): minutes, not seconds
    "mobilenet-v1": ZooModel("mobilenet_v1", (1, 3, 224, 224), "dse.nets", "UINT8", _MOBILENET_FLOW),
    "resnet-tiny": ZooModel(
        "ResNetTiny", (1, 3, 8, 8), "dse.nets", "UINT8",
        FinnFlow(
            "finn/benchmarking/dut/resnet18.yml",
            (
                "step_qonnx_to_finn",
                "step_tidy_up",
                f"{_LIB}resnet.step_resnet_tidy",
                f"{_LIB}resnet.step_resnet_streamline",
                "step_convert_to_hw",
                f"{_LIB}resnet.step_resnet_convert_to_hw",
                *_ESTIMATE_TAIL,
            ),
            standalone_thresholds=True,
            board="ZCU104",
        ),
    ),
    "conv1d-tiny": ZooModel(
        "Conv1dTiny", (1, 2, 64), "dse.nets", None,
        FinnFlow(
            "finn/benchmarking/dut/vgg10.yml",
            # the yml's model file is already FINN-ONNX with a TopK ("_tidy")
            (
                f"{_LIB}general.add_postproc_top1",
                "step_qonnx_to_finn",
                "step_tidy_up",
                f"{_LIB}conv1d.step_pre_streamline",
                "step_streamline",
                "step_convert_to_hw",
                f"{_LIB}conv1d.step_convert_final_layers",
                *_ESTIMATE_TAIL,
            ),
            standalone_thresholds=True,
            board="ZCU104",
        ),
    ),
    "mlp-float": ZooModel(
        "mlp_float", (1, 64), "dse.nets", None,
        FinnFlow(
            "finn/benchmarking/dut/kws.yml",
            (f"{_LIB}general.add_postproc_top1", *_DEFAULT_ESTIMATE_STEPS),
            standalone_thresholds=False,
            board="Pynq-Z1",
        ),
    ),
    "mlp-rtl": ZooModel(
        "mlp_rtl", (1, 64), "dse.nets", "INT8",
        FinnFlow(
            "finn/benchmarking/dut/cybsec.yml",
            _DEFAULT_ESTIMATE_STEPS,
            standalone_thresholds=True,
            board="ZCU104",
            options={"mvau_wwidth_max": 80},
        ),
    ),
}

#: The FINN flow of each zoo network that has one.
FLOWS: dict[str, FinnFlow] = {name: entry.flow for name, entry in ZOO.items() if entry.flow is not None}


def default_finn(model: str) -> dict[str, Any]:
    """The FINN settings a design space on ``model`` gets when its file gives no ``finn.steps``.

    A user's network (a file): FINN's estimate steps (``"estimate"``). A zoo network with a
    flow: that flow (its steps, ``standalone_thresholds`` and options). The BNN-PYNQ networks:
    ``"estimate+bnn"``, FINN's estimate steps after BNN-PYNQ's divide-by-255 input and top-1
    output, which only they want (a signed input stops FINN's bit-width minimization).

    >>> default_finn("my/net.onnx"), default_finn("tfc-w1a1")
    ({'steps': 'estimate'}, {'steps': 'estimate+bnn'})
    """
    entry = ZOO.get(model)
    if entry is None:
        return {"steps": "estimate"}
    if entry.flow is None:
        return {"steps": "estimate+bnn"}
    flow = entry.flow
    return {"steps": list(flow.steps), "standalone_thresholds": flow.standalone_thresholds, **flow.options}


#: Where exported zoo models are cached, relative to the working directory.
DEFAULT_MODEL_DIR = Path("studies") / "models"


def export_model(name: str, path: str | Path, seed: int = 0) -> Path:
    """Export zoo model ``name`` as a cleaned QONNX file at ``path`` and return the path.

    The export is deterministic for a given seed (same bytes, same sha256).
    """
    if name not in ZOO:
        raise DseError(f"unknown model {name!r}; known: {', '.join(sorted(ZOO))}")
    entry = ZOO[name]
    # torch and brevitas warn about CUDA and optional kernels on import: noise for our users
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    with warnings.catch_warnings():  # scoped: the caller's own warning filters stay as they were
        warnings.filterwarnings("ignore", module="brevitas")
        warnings.filterwarnings("ignore", module="torch")
        _export(entry, Path(path), seed)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _export(entry: ZooModel, path: Path, seed: int) -> None:
    import logging

    # torch warns at import that it finds no CUDA runtime: true, and irrelevant to an export
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    import torch
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = _build(entry)
    model.eval()
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.fchmod(fd, 0o644 & ~_umask())  # mkstemp's 0600 would make the model unreadable to others
    os.close(fd)
    try:
        # dynamo=False: torch>=2.9 defaults to the dynamo exporter (opset 18 + side file),
        # which gives FINN slightly different graphs.
        export_qonnx(model, torch.randn(entry.input_shape), tmp, opset_version=13, dynamo=False)
        cleanup(tmp, out_file=tmp)
        if entry.input_datatype is not None:
            _annotate_input(tmp, entry.input_datatype)
        os.replace(tmp, path)  # atomic: a reader never sees a half-written model
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _build(entry: ZooModel) -> Any:
    """A fresh torch module for ``entry`` (random weights from torch's current seed)."""
    if entry.source == "dse.nets":
        from dse.nets import NETS

        return NETS[entry.brevitas_name]()
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    # pretrained=False: the default downloads weights, which is neither possible nor needed.
    model, _ = model_with_cfg(entry.brevitas_name, pretrained=False)
    return model


def _annotate_input(path: str, datatype: str) -> None:
    """Annotate the graph input of the QONNX file at ``path`` with a QONNX datatype."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(path)
    model.set_tensor_datatype(model.graph.input[0].name, DataType[datatype])
    model.save(path)


def zoo_file(name: str, model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """Where zoo model ``name`` is (or will be) exported."""
    return model_dir / f"{name}.onnx"


def resolve_model(spec: str, model_dir: Path = DEFAULT_MODEL_DIR, base: str | Path | None = None) -> Path:
    """Turn a zoo name or a file path into an absolute path of an existing ONNX file.

    Zoo models are exported once into ``model_dir`` and reused afterwards. A relative path is
    relative to ``base`` (the design-space file's folder), else to the working directory.
    """
    if spec in ZOO:
        target = zoo_file(spec, model_dir).resolve()
        if not target.exists():
            export_model(spec, target)
        return target
    path = Path(spec).expanduser()
    path = (Path(base) / path if base is not None else path).resolve()
    if not path.is_file():
        raise DseError(
            f"model {spec!r} is neither a zoo model ({', '.join(sorted(ZOO))}) nor an existing file "
            f"({path} {'is not a file' if path.exists() else 'does not exist'})"
        )
    return path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
