"""A custom FINN build step used by the tests to make some real builds fail on purpose."""


def fail_if_wide(model, cfg):
    """Raise inside FINN when MVAU_hls_0 has PE >= 8 (a stand-in for any FINN error)."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.name == "MVAU_hls_0" and getCustomOp(node).get_nodeattr("PE") >= 8:
            raise RuntimeError("synthetic failure: PE of MVAU_hls_0 is 8 or more")
    return model


def _wide(model) -> bool:
    from qonnx.custom_op.registry import getCustomOp

    return any(n.name == "MVAU_hls_0" and getCustomOp(n).get_nodeattr("PE") >= 8 for n in model.graph.node)


def crash_if_wide(model, cfg):
    """Kill the FINN process outright (as a segfault or the OOM killer would)."""
    import os

    if _wide(model):
        os.abort()
    return model


def hang_if_wide(model, cfg):
    """Never finish in time (a stand-in for a build that runs away)."""
    import time

    if _wide(model):
        time.sleep(120)
    return model


def slow(model, cfg):
    """Make every build take a couple of seconds, so a signal surely lands mid-build."""
    import time

    time.sleep(2)
    return model
