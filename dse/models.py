"""Offline model zoo: the BNN-PYNQ networks from ``brevitas_examples`` with random weights.

Random weights are enough to explore resources and throughput: FINN's estimates depend on
layer shapes and bit widths, not on weight values. Nothing is ever downloaded.

Example::

    from dse.models import export_model
    export_model("tfc-w1a1", "studies/models/tfc-w1a1.onnx")
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from dse.errors import DseError


@dataclass(frozen=True)
class ZooModel:
    """One network of the zoo: its brevitas config name and its input shape."""

    brevitas_name: str
    input_shape: tuple[int, ...]


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
}

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


def _export(entry: ZooModel, path: Path, seed: int) -> None:
    import torch
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg
    from qonnx.util.cleanup import cleanup

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    # pretrained=False: the default downloads weights, which is neither possible nor needed.
    model, _ = model_with_cfg(entry.brevitas_name, pretrained=False)
    model.eval()
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        # dynamo=False: torch>=2.9 defaults to the dynamo exporter (opset 18 + side file),
        # which gives FINN slightly different graphs.
        export_qonnx(model, torch.randn(entry.input_shape), tmp, opset_version=13, dynamo=False)
        cleanup(tmp, out_file=tmp)
        os.replace(tmp, path)  # atomic: a reader never sees a half-written model
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_model(spec: str, model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """Turn a zoo name or a file path into an absolute path of an existing ONNX file.

    Zoo models are exported once into ``model_dir`` and reused afterwards.
    """
    if spec in ZOO:
        target = (model_dir / f"{spec}.onnx").resolve()
        if not target.exists():
            export_model(spec, target)
        return target
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise DseError(
            f"model {spec!r} is neither a zoo model ({', '.join(sorted(ZOO))}) nor an existing file"
        )
    return path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
