"""FINN's own per-node estimators, evaluated for many candidate attribute settings at once.

Runs inside the FINN worker process, on the cached prefix model (the model every trial's tail
starts from). For one node with given attributes, ``get_exp_cycles`` and
``node_res_estimation`` are exactly what FINN's ``step_generate_estimate_reports`` writes
into ``estimate_layer_cycles.json`` and ``estimate_layer_resources.json`` for that node; the
network's totals are their sums and its ``max_cycles`` their maximum.

At the counted fidelity (:mod:`dse.finn.counted`) each node also carries its op family's
corrections and the FIFO FINN puts at a graph end it sits on, and the result lists every
stream between HW nodes with what FINN inserts on it (converters, FIFOs) for each pair of
its two ends' states: a stream's cost depends on both nodes' foldings.
"""

from __future__ import annotations

import copy
from typing import Any

from dse.finn import counted as counting
from dse.metrics import RESOURCES

Assign = dict[str, dict[str, Any]]


def _node_estimate(op_type: str, inst: Any, fpgapart: str, counted: bool, model: Any) -> dict[str, Any]:
    """``cycles``, the resources at the level asked for, and FINN's own numbers under ``finn``."""
    raw = inst.node_res_estimation(fpgapart)
    finn = {k: float(raw.get(k, 0)) for k in RESOURCES}
    res = counting.node_count(op_type, inst, fpgapart, model)[0] if counted else finn
    return {"cycles": int(inst.get_exp_cycles()), **res, "finn": finn}


class _Ports:
    """The distinct states of every stream end, numbered per end (``"out:0"``, ``"in:1"``)."""

    def __init__(self, inner: list[tuple[str, int, str, int]], ends: list[tuple[str, str, int]]):
        self.ends: dict[str, list[tuple[str, int]]] = {}
        for producer, out_idx, consumer, in_idx in inner:
            self.ends.setdefault(producer, []).append(("out", out_idx))
            self.ends.setdefault(consumer, []).append(("in", in_idx))
        self.boundary: dict[str, list[tuple[str, int]]] = {}
        for side, node, index in ends:
            self.boundary.setdefault(node, []).append(("in" if side == "in" else "out", index))
        self.states: dict[tuple[str, str, int], list[tuple[Any, ...]]] = {}

    def annotate(self, name: str, inst: Any, est: dict[str, Any], fpgapart: str) -> None:
        """Add the node's stream-end states to ``est`` and its graph-end FIFOs to its resources."""
        ports = {}
        for side, index in self.ends.get(name, []):
            state = counting.port(inst, side, index)
            known = self.states.setdefault((name, side, index), [])
            if state not in known:
                known.append(state)
            ports[f"{side}:{index}"] = known.index(state)
        est["ports"] = ports
        for side, index in self.boundary.get(name, []):
            for r, v in counting.boundary_cost(counting.port(inst, side, index), fpgapart).items():
                est[r] += v


def estimate_nodes(model: Any, fpgapart: str, base: Assign, variants: list[Assign], counted: bool = False) -> dict[str, Any]:
    """Estimates of every HW node under ``base``, and of the nodes each variant touches.

    Returns ``{"order": [node names in graph order], "base": {node: est},
    "variants": [{node: est} for each variant], "streams": [...]}``; ``est`` has ``cycles``
    and the resources. ``counted``: dse's count per node (see the module docstring); each
    ``est`` then has ``ports`` (its stream ends' state numbers) and ``streams`` lists
    ``{"producer", "out", "consumer", "in", "cost"}`` with ``cost[a][b]`` the resources FINN
    inserts for producer state ``a`` and consumer state ``b``. The model is not changed.
    """
    from finn.util.basic import getHWCustomOp
    from finn.util.fpgadataflow import is_fpgadataflow_node, is_hls_node, is_rtl_node

    model = copy.deepcopy(model)
    nodes = {n.name: n for n in model.graph.node if is_hls_node(n) or is_rtl_node(n)}
    insts = {name: getHWCustomOp(n) for name, n in nodes.items()}
    # dataflow nodes FINN does not estimate (an unspecialized Shuffle): only their stream ends count
    unestimated = {n.name: getHWCustomOp(n) for n in model.graph.node if is_fpgadataflow_node(n) and n.name not in nodes}
    for node, attrs in base.items():
        if node in insts:
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
    inner, ends = counting.streams(model) if counted else ([], [])
    ports = _Ports(inner, ends)

    def estimate(name: str) -> dict[str, Any]:
        est = _node_estimate(nodes[name].op_type, insts[name], fpgapart, counted, model)
        if counted:
            ports.annotate(name, insts[name], est, fpgapart)
        return est

    out: dict[str, Any] = {"order": list(insts), "base": {n: estimate(n) for n in insts}}
    for name, inst in unestimated.items() if counted else ():
        zero = {r: 0.0 for r in RESOURCES}
        out["base"][name] = {"cycles": 0, **zero, "finn": dict(zero)}
        ports.annotate(name, inst, out["base"][name], fpgapart)
    results = []
    for variant in variants:
        saved = {n: {a: insts[n].get_nodeattr(a) for a in attrs} for n, attrs in variant.items()}
        for node, attrs in variant.items():
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
        results.append({n: estimate(n) for n in variant})
        for node, attrs in saved.items():
            for attr, value in attrs.items():
                insts[node].set_nodeattr(attr, value)
    out["variants"] = results
    out["streams"] = [
        {"producer": p, "out": i, "consumer": c, "in": j,
         "cost": [[dict(counting.edge_cost(a, b, fpgapart)) for b in ports.states[(c, "in", j)]]
                  for a in ports.states[(p, "out", i)]]}
        for p, i, c, j in inner
    ]
    return out
