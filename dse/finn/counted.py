"""dse's count of a design: FINN's own estimators over what FINN really builds, plus what they miss.

FINN's estimate reports (``estimate_layer_resources.json``) are written before FINN inserts
its data-width converters and FIFOs, and some estimators leave out what decides whether a
design fits (an RTL MVAU's LUTs are 0, its distributed-RAM weights appear nowhere). The
*counted* level is:

* the graph as FINN's ``step_set_fifo_depths`` builds it without simulation
  (``auto_fifo_strategy: force_minimal_fifos``, build_dataflow_steps.py): ``InsertDWC``, then
  ``InsertFIFO(create_shallow_fifos=True)`` with the depths the nodes ask for (2 unless a node
  says otherwise), then ``SpecializeLayers`` - every node, converter and FIFO estimated by
  FINN's own estimators (FIFOs by finn-plus's fitted ``resource_models.py``);
* plus the corrections of each op family (:class:`dse.finn.ops.Correction`), each with its
  source and measured error.

FIFO depths sized by simulation (Vivado's XSI) are usually deeper: the FIFO share of the
count is a lower bound. Cycles and throughput stay FINN's: the count adds resources only.

Runs in the FINN worker. Two entry points:

* :func:`count` - one folded graph, with FINN's real transformations (a trial);
* :func:`edge_cost` / :func:`boundary_cost` - what those transformations insert on one
  stream, computed from the two ends (the frontier's tables; tests check both agree).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from dse.finn import ops
from dse.metrics import RESOURCES

def _raw(inst: Any, fpgapart: str) -> dict[str, float]:
    res = inst.node_res_estimation(fpgapart)
    return {r: float(res.get(r, 0)) for r in RESOURCES}


def node_count(op_type: str, inst: Any, fpgapart: str, model: Any) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """One node at the counted level: FINN's estimate plus its op family's corrections.

    Returns (counted resources, {correction name: resources added}).
    """
    counted = _raw(inst, fpgapart)
    added: dict[str, dict[str, float]] = {}
    family = ops.model_of(op_type)
    for correction in family.corrections if family is not None else ():
        if not correction.applies(op_type):
            continue
        amount = float(correction.amount(inst, fpgapart, model))
        if amount:
            counted[correction.resource] += amount
            added[correction.name] = {correction.resource: amount}
    return counted, added


def insert(model: Any, fpgapart: str) -> Any:
    """A copy of a folded graph as FINN's FIFO step builds it without simulation.

    ``step_set_fifo_depths`` with ``force_minimal_fifos`` (build_dataflow_steps.py): ``InsertDWC``,
    ``InsertFIFO(create_shallow_fifos=True)``, ``SpecializeLayers``. Inserted nodes get names
    that say where they are (:func:`_inserted_names`); the others keep theirs.
    """
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    original = {n.name for n in model.graph.node}
    work = copy.deepcopy(model)
    work = work.transform(InsertDWC())
    work = work.transform(InsertFIFO(create_shallow_fifos=True))
    work = work.transform(SpecializeLayers(fpgapart))
    names = _inserted_names(work, original)
    for index, node in enumerate(work.graph.node):
        if index in names:
            node.name = names[index]
    return work


def count(model: Any, fpgapart: str, inserted: Any = None) -> dict[str, Any]:
    """dse's count of one folded FINN graph (the model is not changed).

    ``inserted``: the graph :func:`insert` made of it, if the caller has it already.
    Returns ``{"nodes": {name: {"op_type", "finn": res, "counted": res, "added": {kind: res}}},
    "total": res, "finn_total": res, "added": {kind: res}}``: ``finn`` is FINN's own estimate
    of the node as ``estimate_layer_resources.json`` has it (0 for inserted nodes, which that
    report does not have), ``counted`` what dse counts.
    """
    from finn.util.basic import getHWCustomOp
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node

    original = {n.name for n in model.graph.node}
    work = inserted if inserted is not None else insert(model, fpgapart)
    nodes: dict[str, Any] = {}
    total = {r: 0.0 for r in RESOURCES}
    finn_total = {r: 0.0 for r in RESOURCES}
    added_total: dict[str, dict[str, float]] = {}
    for node in work.graph.node:
        if not (is_hls_node(node) or is_rtl_node(node)):
            continue
        inst = getHWCustomOp(node)
        counted, added = node_count(node.op_type, inst, fpgapart, work)
        is_inserted = node.name not in original
        if is_inserted:
            kind = "dwc" if node.op_type.startswith("StreamingDataWidthConverter") else "fifo"
            added = {kind: dict(counted)}
        finn = {r: 0.0 for r in RESOURCES} if is_inserted else _raw(inst, fpgapart)
        nodes[node.name] = {"op_type": node.op_type, "finn": finn, "counted": counted, "added": added}
        for r in RESOURCES:
            total[r] += counted[r]
            finn_total[r] += finn[r]
        for kind, res in added.items():
            bucket = added_total.setdefault(kind, {r: 0.0 for r in RESOURCES})
            for r, v in res.items():
                bucket[r] += v
    return {"nodes": nodes, "total": total, "finn_total": finn_total, "added": added_total}


def with_synthesis(count: dict[str, Any], synthesized: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The synth level of a design: each node open synthesis counted, or its count with the reason.

    Returns ``{"nodes": {name: {"op_type", "finn", "counted", "synth": res | None, "reason"}},
    "total": res, "counted_total": res, "finn_total": res, "synth_nodes": [names]}``.
    """
    nodes: dict[str, Any] = {}
    total = {r: 0.0 for r in RESOURCES}
    done = []
    for name, entry in count["nodes"].items():
        result = synthesized.get(name) or {"error": "not synthesized"}
        synth = None if "error" in result else {r: float(result[r]) for r in RESOURCES}
        if synth is not None:
            done.append(name)
        nodes[name] = {**{k: entry[k] for k in ("op_type", "finn", "counted")}, "synth": synth,
                       "reason": result.get("error"),
                       **{k: result[k] for k in ("LUTRAM", "FF", "seconds", "cached") if k in result}}
        for r in RESOURCES:
            total[r] += (synth or entry["counted"])[r]
    return {"nodes": nodes, "total": total, "counted_total": count["total"], "finn_total": count["finn_total"],
            "synth_nodes": done}


def _inserted_names(model: Any, original: set[str]) -> dict[int, str]:
    """Readable names for inserted nodes: ``DWC:MVAU_hls_0>MVAU_hls_1``, ``FIFO:in>MVAU_hls_0``,
    ``FIFO:MVAU_hls_0>MVAU_hls_1@producer`` (the FIFO before a converter).

    FINN's own names for them come from ``GiveUniqueNodeNames`` (``StreamingFIFO_rtl_3``),
    which say nothing about where they are.
    """
    out: dict[int, str] = {}  # by position in the graph (protobuf objects have no stable identity)

    def walk_back(tensor: str) -> str:
        producer = model.find_producer(tensor)
        while producer is not None and producer.name not in original:
            producer = model.find_producer(producer.input[0])
        return producer.name if producer is not None else "in"

    def walk_forward(tensor: str) -> str:
        consumers = model.find_consumers(tensor) or []
        while consumers and consumers[0].name not in original:
            consumers = model.find_consumers(consumers[0].output[0]) or []
        return consumers[0].name if consumers else "out"

    seen: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        if node.name in original:
            continue
        kind = "DWC" if node.op_type.startswith("StreamingDataWidthConverter") else "FIFO"
        # the FIFO before a converter holds the producer's stream, the one after it the consumer's
        before = model.find_producer(node.input[0])
        after = (model.find_consumers(node.output[0]) or [None])[0]
        side = ""
        if kind == "FIFO" and before is not None and before.name not in original:
            side = "@consumer"  # after a converter: the consumer's stream width
        elif kind == "FIFO" and after is not None and after.name not in original:
            side = "@producer"  # before a converter: the producer's stream width
        name = f"{kind}:{walk_back(node.input[0])}>{walk_forward(node.output[0])}{side}"
        seen[name] = seen.get(name, 0) + 1
        out[index] = name if seen[name] == 1 else f"{name}#{seen[name]}"
    return out


# -- one stream at a time (the frontier's tables) ----------------------------------------------


def _depths(inst: Any, attr: str, index: int) -> int:
    depths = list(inst.get_nodeattr(attr))
    return int(depths[min(index, len(depths) - 1)])


def port(inst: Any, side: str, index: int) -> tuple[Any, ...]:
    """What a stream end contributes to the cost of its stream: shapes, width, type, FIFO depth.

    Two foldings with the same port cost the same on that stream.
    """
    if side == "out":
        return (tuple(int(d) for d in inst.get_folded_output_shape(index)),
                tuple(int(d) for d in inst.get_normal_output_shape(index)),
                int(inst.get_outstream_width(index)), inst.get_output_datatype(index).name,
                _depths(inst, "outFIFODepths", index))
    return (tuple(int(d) for d in inst.get_folded_input_shape(index)),
            tuple(int(d) for d in inst.get_normal_input_shape(index)),
            int(inst.get_instream_width(index)), inst.get_input_datatype(index).name,
            _depths(inst, "inFIFODepths", index))


def _fifo(depth: int, folded: tuple[int, ...], normal: tuple[int, ...], dtype: str, fpgapart: str) -> dict[str, float]:
    # insert_fifo.py: depth, folded_shape, normal_shape, dataType, ram_style "auto"; specialized
    # to StreamingFIFO_rtl (specialize_layers.py: the RTL variant when there is one)
    return _estimate("StreamingFIFO_rtl", fpgapart, depth=depth, folded_shape=list(folded),
                     normal_shape=list(normal), dataType=dtype, ram_style="auto")


@lru_cache(maxsize=None)
def _estimate_cached(op_type: str, fpgapart: str, attrs: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, float], ...]:
    from onnx import helper as oh

    from finn.util.basic import getHWCustomOp

    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in attrs}
    node = oh.make_node(op_type, ["i"], ["o"], domain="finn.custom_op.fpgadataflow.rtl", backend="fpgadataflow",
                        **values)
    return tuple(_raw(getHWCustomOp(node), fpgapart).items())


def _estimate(op_type: str, fpgapart: str, **attrs: Any) -> dict[str, float]:
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()))
    return dict(_estimate_cached(op_type, fpgapart, key))


def _add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {r: a.get(r, 0.0) + b.get(r, 0.0) for r in RESOURCES}


@lru_cache(maxsize=None)
def edge_cost(out_port: tuple[Any, ...], in_port: tuple[Any, ...], fpgapart: str) -> tuple[tuple[str, float], ...]:
    """What FINN inserts on the stream from a producer's ``out_port`` to a consumer's ``in_port``.

    As ``InsertDWC`` (insert_dwc.py: a converter when the folded innermost dimensions differ,
    inWidth/outWidth the two stream widths) then ``InsertFIFO(create_shallow_fifos=True)``
    (insert_fifo.py: a FIFO on every stream between HW nodes, depth the larger of the two
    ends' FIFO depths; a converter's own ends ask for 2).
    """
    p_folded, p_normal, p_width, dtype, p_depth = out_port
    c_folded, c_normal, c_width, _, c_depth = in_port
    if p_folded[-1] == c_folded[-1]:
        total = _fifo(max(p_depth, c_depth), p_folded, p_normal, dtype, fpgapart)
        return tuple(total.items())
    dwc = _estimate("StreamingDataWidthConverter_rtl", fpgapart, inShape=list(p_normal), outShape=list(c_normal),
                    inWidth=p_width, outWidth=c_width, dataType=dtype)
    # the converter's own folded output shape is the consumer's folded input shape (same width)
    total = _add(_add(dwc, _fifo(max(p_depth, 2), p_folded, p_normal, dtype, fpgapart)),
                 _fifo(max(2, c_depth), c_folded, c_normal, dtype, fpgapart))
    return tuple(total.items())


def boundary_cost(end_port: tuple[Any, ...], fpgapart: str) -> dict[str, float]:
    """The FIFO ``InsertFIFO`` puts at a graph input or output (insert_fifo.py: depth at least 2)."""
    folded, normal, _, dtype, depth = end_port
    return _fifo(max(depth, 2), folded, normal, dtype, fpgapart)


def streams(model: Any) -> tuple[list[tuple[str, int, str, int]], list[tuple[str, str, int]]]:
    """The dataflow graph's streams: ``(producer, out index, consumer, in index)`` between its nodes, and
    the graph's ends ``("in" | "out", node, index)`` - where FINN's transformations insert."""
    from finn.util.fpgadataflow import is_fpgadataflow_node

    # insert_dwc.py / insert_fifo.py: every dataflow node takes part, estimated or not (an
    # unspecialized Shuffle has no estimate, yet converters and FIFOs are inserted around it)
    hw = {n.name for n in model.graph.node if is_fpgadataflow_node(n)}
    inner, ends = [], []
    for node in model.graph.node:
        if node.name not in hw:
            continue
        for out_idx, tensor in enumerate(node.output):
            for consumer in model.find_consumers(tensor) or []:
                if consumer.name in hw:
                    inner.append((node.name, out_idx, consumer.name, list(consumer.input).index(tensor)))
    for graph_in in model.graph.input:
        first = model.find_consumer(graph_in.name)
        if first is not None and first.name in hw:
            ends.append(("in", first.name, list(first.input).index(graph_in.name)))
    for graph_out in model.graph.output:
        last = model.find_producer(graph_out.name)
        if last is not None and last.name in hw:
            ends.append(("out", last.name, list(last.output).index(graph_out.name)))
    return inner, ends
