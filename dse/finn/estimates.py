"""FINN's own per-node estimators, evaluated for many candidate attribute settings at once.

Runs inside the FINN worker process, on the cached prefix model (the model every trial's tail
starts from). For one node with given attributes, ``get_exp_cycles`` and
``node_res_estimation`` are exactly what FINN's ``step_generate_estimate_reports`` writes
into ``estimate_layer_cycles.json`` and ``estimate_layer_resources.json`` for that node; the
network's totals are their sums and its ``max_cycles`` their maximum.
"""

from __future__ import annotations

import copy
from typing import Any

from dse.metrics import RESOURCES
Assign = dict[str, dict[str, Any]]


def _node_estimate(inst: Any, fpgapart: str) -> dict[str, float]:
    res = inst.node_res_estimation(fpgapart)
    return {"cycles": int(inst.get_exp_cycles()), **{k: float(res.get(k, 0)) for k in RESOURCES}}


def estimate_nodes(model: Any, fpgapart: str, base: Assign, variants: list[Assign]) -> dict[str, Any]:
    """Estimates of every HW node under ``base``, and of the nodes each variant touches.

    Returns ``{"order": [node names in graph order], "base": {node: est},
    "variants": [{node: est} for each variant]}``; ``est`` has ``cycles`` and the resources.
    The model is not changed.
    """
    from finn.util.basic import getHWCustomOp
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node

    model = copy.deepcopy(model)
    insts = {n.name: getHWCustomOp(n) for n in model.graph.node if is_hls_node(n) or is_rtl_node(n)}
    for node, attrs in base.items():
        if node in insts:
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
    out: dict[str, Any] = {"order": list(insts), "base": {n: _node_estimate(i, fpgapart) for n, i in insts.items()}}
    results = []
    for variant in variants:
        saved = {n: {a: insts[n].get_nodeattr(a) for a in attrs} for n, attrs in variant.items()}
        for node, attrs in variant.items():
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
        results.append({n: _node_estimate(insts[n], fpgapart) for n in variant})
        for node, attrs in saved.items():
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
    out["variants"] = results
    return out
