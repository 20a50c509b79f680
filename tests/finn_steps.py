"""A custom FINN build step used by the tests to make some real builds fail on purpose."""


def fail_if_wide(model, cfg):
    """Raise inside FINN when MVAU_hls_0 has PE >= 8 (a stand-in for any FINN error)."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.name == "MVAU_hls_0" and getCustomOp(node).get_nodeattr("PE") >= 8:
            raise RuntimeError("synthetic failure: PE of MVAU_hls_0 is 8 or more")
    return model
