"""Read the specialized FINN graph: which nodes can be folded, and within which limits.

The result is plain data (lists of dicts, see :func:`dse.finn.ops.describe`) so that
:mod:`dse.space` can build the search space without importing FINN, and so it can be cached
with the prefix and stored on the study for reproducibility.
"""

from __future__ import annotations

from typing import Any

from dse.finn import ops


def describe_nodes(model_path: str) -> list[dict[str, Any]]:
    """One dict per HW node of a specialized model, in graph order (FINN must be loaded)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(model_path)
    return [ops.describe(model, node, getCustomOp(node)) for node in model.graph.node]
