"""Read the specialized FINN graph: which nodes can be folded, and within which limits.

The result is plain data (lists of dicts) so that :mod:`dse.space` can build the search space
without importing FINN, and so it can be stored on the study for reproducibility.
"""

from __future__ import annotations

import math
from typing import Any


#: Ops whose only folding knob is PE over their channel count (as in FINN's SetFolding).
PE_OPS = {
    "Thresholding_hls",
    "Thresholding_rtl",
    "LabelSelect_hls",
    "Reshape_rtl",
    "DuplicateStreams_hls",
    "GlobalAccPool_hls",
    "Squeeze_hls",
    "Unsqueeze_hls",
}
#: Ops whose only folding knob is SIMD over their channel count.
SIMD_OPS = {"FMPadding_rtl", "FMPadding_Pixel_hls"}
#: Categorical node attributes a design space may choose, with FINN's allowed values.
CATEGORICAL_ATTRS = ("ram_style", "resType", "mem_mode")
_BINARY = {"BINARY", "BIPOLAR"}


def _allowed(inst: Any, attr: str) -> list[str] | None:
    spec = inst.get_nodeattr_types().get(attr)
    if spec is None:
        return None
    allowed = spec[3] if len(spec) > 3 else None
    return sorted(allowed) if allowed else [inst.get_nodeattr(attr)]


def _pe_limit(node: Any, inst: Any) -> int:
    if node.op_type == "LabelSelect_hls":
        return int(inst.get_nodeattr("Labels"))
    if node.op_type == "Reshape_rtl":
        # PE folds both the input and the output stream, so it must divide both widths.
        return math.gcd(int(inst.get_nodeattr("inp_shape")[-1]), int(inst.get_nodeattr("out_shape")[-1]))
    try:
        return int(inst.get_nodeattr("NumChannels"))
    except AttributeError:
        return int(inst.get_normal_output_shape()[-1])


def describe_nodes(model_path: str) -> list[dict[str, Any]]:
    """One dict per HW node of a specialized model, in graph order.

    Keys: ``name``, ``op_type``, ``kind`` (mvau, vvau, swg, pool, pe, simd or other),
    ``producer``, ``consumers``, the folding limits of that kind, and ``categorical``
    (attribute -> FINN's allowed values). Call :func:`dse.finn.adapter.load_finn` first.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(model_path)
    nodes = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        producer = model.find_producer(node.input[0])
        info: dict[str, Any] = {
            "name": node.name,
            "op_type": node.op_type,
            "kind": "other",
            "producer": producer.name if producer is not None else None,
            "consumers": [c.name for c in (model.find_consumers(node.output[0]) or [])],
            "categorical": {
                attr: values
                for attr in CATEGORICAL_ATTRS
                if (values := _allowed(inst, attr)) is not None
            },
        }
        op = node.op_type
        if op.startswith("MVAU_"):
            wdt = inst.get_input_datatype(1)
            info.update(
                kind="mvau",
                MH=int(inst.get_nodeattr("MH")),
                MW=int(inst.get_nodeattr("MW")),
                weight_bits=int(wdt.bitwidth()),
                binary_weights=wdt.name in _BINARY,
            )
        elif op.startswith("VVAU_"):
            wdt = inst.get_input_datatype(1)
            info.update(
                kind="vvau",
                Channels=int(inst.get_nodeattr("Channels")),
                weight_bits=int(wdt.bitwidth()),
                binary_weights=wdt.name in _BINARY,
            )
        elif op == "ConvolutionInputGenerator_rtl":
            info.update(
                kind="swg",
                IFMChannels=int(inst.get_nodeattr("IFMChannels")),
                kernel=int(math.prod(inst.get_nodeattr("ConvKernelDim"))),
                depthwise=bool(inst.get_nodeattr("depthwise")),
            )
        elif op == "Pool_hls":
            info.update(kind="pool", Channels=int(inst.get_nodeattr("Channels")))
        elif op in PE_OPS:
            info.update(kind="pe", pe_max=_pe_limit(node, inst))
        elif op in SIMD_OPS:
            info.update(kind="simd", simd_max=int(inst.get_nodeattr("NumChannels")))
        nodes.append(info)
    return nodes
