"""Custom FINN build steps the tests insert to make some real builds fail, crash, hang or slow down."""


def estimate_steps_with(step: str) -> list[str]:
    """dse's default ``estimate+bnn`` steps with ``step`` (e.g. ``"tests.finn_steps.slow"``) right after the folding."""
    from dse.finn import adapter

    steps = adapter.BNN_PRE_POST_STEPS + list(adapter.ESTIMATE_STEPS)
    at = steps.index("step_apply_folding_config") + 1
    return steps[:at] + [step] + steps[at:]


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


def bare_assert(model, cfg):
    """Fail one of FINN's own kind of checks: a bare ``assert``, whose exception has no message."""
    assert model.graph.node[0].op_type == "NoSuchOp"
    return model
