"""The op model on the network classes users bring, each with its finn-plus benchmark flow.

Tiny Brevitas networks (``dse.nets``: depthwise-separable conv, residual add, 1D conv, an MLP
with a float input, RTL MVAUs with standalone thresholds), built by FINN with the steps of
the finn-plus flow of the real network they stand for. For each:

* every value the space offers passes FINN: each option of each unit of coupled knobs is
  applied to FINN's specialized model and checked with FINN's own node code (folded shapes,
  cycles, resource estimates, HLS stream widths) and, for RTL nodes, FINN's HDL generation,
  which needs no Vivado;
* the exact frontier's predictions equal real FINN builds.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest

from dse import frontier
from dse.finn import ops
from dse import study as study_mod
from dse.finn.reports import read_metrics
from dse.models import FLOWS
from tests.conftest import write_config

NETS = [n for n in ["mobilenet-tiny", "resnet-tiny", "conv1d-tiny", "mlp-float", "mlp-rtl"] if n in __import__("os").environ.get("DSE_NETS", "mobilenet-tiny resnet-tiny conv1d-tiny mlp-float mlp-rtl").split()]
#: Options checked per unit at most (sampled, extremes always included): units with several
#: categorical knobs have hundreds of combinations.
MAX_OPTIONS = 120


#: Categorical knobs asked of every family that has them (the space keeps, per node, what FINN builds).
#: HLS MVAU/VVAU search both memory modes: URAM only with internal_decoupled, and FINN's stream
#: limit on PE*SIMD only for streamed (not embedded) weights (issue 18).
CHOICES = {
    "MVAU_hls": "resType: [lut, dsp]\n    ram_style: {ram}\n    mem_mode: [internal_decoupled, internal_embedded]",
    "MVAU_rtl": "resType: [auto, dsp]\n    ram_style: {ram}\n    mem_mode: [internal_decoupled]",
    "VVAU_hls": "resType: [lut, dsp]\n    ram_style: {ram}\n    mem_mode: [internal_decoupled, internal_embedded]",
    "Thresholding_hls": "ram_style: [block, distributed]\n    mem_mode: [internal_decoupled, internal_embedded]",
    "Thresholding_rtl": "ram_style: [auto, block]",
}


def _space_text(net: str, op_types: set[str] = frozenset(), ultra: bool = True) -> str:
    flow = FLOWS[net]
    # URAM weights off Versal need runtime_writeable_weights=1, which FINN's bit-width
    # minimization reads: such a space is built, but has no exact frontier
    from dse.finn.devices import resolve_device

    uram = resolve_device(flow.board).budget["URAM"] > 0
    ram = "[auto, block, distributed, ultra]" if ultra and uram else "[auto, block, distributed]"
    options = "".join(f"  {k}: {v}\n" for k, v in flow.options.items())
    layers = "".join(f"  - match: {{op_type: {family}}}\n    {text.format(ram=ram)}\n"
                     for family, text in CHOICES.items() if family in op_types)
    return textwrap.dedent(f"""\
        name: {net}
        model: {net}
        device: {flow.board}
        finn:
          steps: {list(flow.steps)}
          standalone_thresholds: {str(flow.standalone_thresholds).lower()}
        """) + options + textwrap.dedent("""\
        layers:
          - match: {op_type: "*"}
            PE: all
            SIMD: all
        """) + layers + "objectives: [throughput_fps, LUT]\n"


@pytest.fixture(scope="module")
def plans(tmp_path_factory, worker):
    """Each network's prepared spaces, with and without URAM weights (FINN's prefix built once)."""
    out = {}
    for net in NETS:
        base = tmp_path_factory.mktemp(net)
        plan = study_mod.prepare(write_config(base, _space_text(net)), storage=f"sqlite:///{base}/dse.db",
                                 worker=worker, create=False)
        nodes = json.loads((plan.target.prefix_dir / "nodes.json").read_text())
        families = {n["op_type"] for n in nodes}
        for ultra in (True, False):
            path = write_config(base, _space_text(net, families, ultra), f"space-{ultra}.yaml")
            out[net, ultra] = study_mod.prepare(path, storage=f"sqlite:///{base}/dse.db", worker=worker, create=False)
    return out


def _finn_accepts(model, inst, node, fpgapart: str, clk: float, codegen: Path) -> None:
    """FINN's own checks of one node's folding; raises what FINN raises."""
    import math

    assert math.prod(inst.get_folded_output_shape()) == math.prod(inst.get_normal_output_shape()), node.name
    assert inst.get_exp_cycles() > 0, node.name
    inst.node_res_estimation(fpgapart)
    if node.op_type.endswith("_hls"):
        inst.get_ap_int_max_w()  # FINN raises above its 8191-bit ap_int limit
    if node.op_type.endswith("_rtl"):
        codegen.mkdir(parents=True, exist_ok=True)
        inst.set_nodeattr("code_gen_dir_ipgen", str(codegen))
        inst.generate_hdl(model, fpgapart, clk)


@pytest.mark.parametrize("net", NETS)
def test_every_offered_value_passes_finn_including_hdl_generation(plans, net, tmp_path):
    from dse.finn import adapter

    plan = plans[net, True]
    adapter.load_finn(tmp_path / "finn_tmp")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    path = plan.target.prefix_dir / (adapter.HOISTED_MODEL if plan.target.hoisted else "intermediate_models/step_specialize_layers.onnx")
    model = ModelWrapper(str(path))
    nodes = {n.name: n for n in model.graph.node}
    fpgapart = plan.target.build_config["fpga_part"]
    clk = plan.target.build_config["synth_clk_period_ns"]
    space = plan.target.space
    for name, attrs in space.fixed.items():
        for attr, value in attrs.items():
            getCustomOp(nodes[name]).set_nodeattr(attr, value)
    rng = random.Random(0)
    checked = 0
    families = set()
    for knobs in frontier.units_of(space):
        options = frontier._options(knobs)
        if len(options) > MAX_OPTIONS:
            options = [options[0], options[-1], *rng.sample(options[1:-1], MAX_OPTIONS - 2)]
        touched = {n for o in options for n in o.assign}
        saved = {n: {a: getCustomOp(nodes[n]).get_nodeattr(a) for o in options for a in o.assign.get(n, {})} for n in touched}
        for option in options:
            for node_name, values in option.assign.items():
                inst = getCustomOp(nodes[node_name])
                for attr, value in values.items():
                    inst.set_nodeattr(attr, value)
            for node_name in option.assign:
                node = nodes[node_name]
                try:
                    _finn_accepts(model, getCustomOp(node), node, fpgapart, clk, tmp_path / "hdl" / node_name)
                except Exception as exc:  # noqa: BLE001 - report the option FINN refused
                    pytest.fail(f"{net}: FINN refuses {option.assign} on {node_name}: {type(exc).__name__}: {exc}")
                families.add(node.op_type)
            checked += 1
        for node_name, values in saved.items():
            for attr, value in values.items():
                getCustomOp(nodes[node_name]).set_nodeattr(attr, value)
    assert checked >= len(space.knobs)
    # every node FINN estimates (HLS/RTL) with a folding attribute is in the space, none is left
    # at FINN's defaults (an unspecialized Shuffle is folded by FINN only after the estimates)
    offered = {n for k in space.knobs for o in k.options for n in o} | set(space.fixed)
    for node in model.graph.node:
        inst = getCustomOp(node)
        estimated = node.op_type.endswith(("_hls", "_rtl"))
        if estimated and any(a in inst.get_nodeattr_types() for a in ("PE", "SIMD")) and node.name not in offered:
            pytest.fail(f"{net}: {node.name} ({node.op_type}) has a PE/SIMD attribute but no knob")


@pytest.mark.parametrize("net", NETS)
def test_frontier_predictions_equal_real_builds(plans, net, tmp_path, worker):
    plan = plans[net, False]
    assert plan.target.hoisted, plan.target.hoist_blocker
    # every resource weighs: an RTL MVAU's LUT estimate is 0, so a LUT-only front can be one point
    table, points = study_mod.predicted_front(plan.target, worker, {"LUT": 1.0, "BRAM_18K": 100.0, "URAM": 400.0, "DSP": 100.0})
    assert len(points) >= 2
    picked = frontier.spread(points)[:3]
    for i, point in enumerate(picked):
        result = worker.build(
            plan.target.model_path, tmp_path / str(i), plan.target.build_config, {"Defaults": {}, **point.folding}, {},
            prefix_dir=plan.target.prefix_dir, hoisted=plan.target.hoisted, counted=True,
        )
        assert result["ok"], result
        metrics = read_metrics(Path(result["report_dir"]))
        assert metrics["fidelity"] == "counted"
        assert metrics["max_cycles"] == point.max_cycles, (net, point.folding)
        for resource, value in point.resources.items():  # dse's count: the frontier's tables equal FINN's insertion
            assert metrics[resource] == pytest.approx(value), (net, resource)
        for resource, value in point.finn_resources.items():  # and FINN's own numbers, verbatim
            assert metrics[f"finn_{resource}"] == pytest.approx(value), (net, resource)


def _expected_count(model, fpgapart: str) -> dict[str, float]:
    """dse's count, computed here from its definition: FINN's own estimators on the graph after FINN's
    InsertDWC / InsertFIFO(create_shallow_fifos=True) / SpecializeLayers, plus the stated corrections."""
    import math

    from qonnx.custom_op.registry import getCustomOp

    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    model = model.transform(InsertDWC()).transform(InsertFIFO(create_shallow_fifos=True))
    model = model.transform(SpecializeLayers(fpgapart))
    total = {r: 0.0 for r in ("LUT", "BRAM_18K", "URAM", "DSP")}
    for node in model.graph.node:
        if not node.op_type.endswith(("_hls", "_rtl")):
            continue
        inst = getCustomOp(node)
        for r, v in inst.node_res_estimation(fpgapart).items():
            if r in total:
                total[r] += v
        model_ops = ops.model_of(node.op_type)
        for correction in model_ops.corrections if model_ops else ():
            if correction.applies(node.op_type):
                total[correction.resource] += correction.amount(inst, fpgapart, model)
        if node.op_type in ("MVAU_rtl", "VVAU_rtl") and inst.get_nodeattr("mem_mode") == "internal_decoupled" \
                and not inst.bram_estimation(fpgapart) and not inst.uram_estimation(fpgapart):
            # weights FINN puts in no BRAM/URAM: LUTRAM by FINN's HLS formula PE*SIMD*W*ceil(WMEM/64)
            pe, simd, bits = inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD"), inst.get_input_datatype(1).bitwidth()
            weights = next(c for c in model_ops.corrections if c.name == "rtl_weights")
            assert weights.amount(inst, fpgapart, model) == pe * simd * bits * math.ceil(inst.calc_wmem() / 64)
    return total


@pytest.mark.parametrize("net", NETS)
def test_count_equals_finn_estimators_after_finns_converters_and_fifos(plans, net, tmp_path, worker):
    """A trial's count (its counted_resources.json) against the definition, on the frontier's extremes."""
    from dse.finn import adapter

    adapter.load_finn(tmp_path / "finn_tmp")
    from qonnx.core.modelwrapper import ModelWrapper

    from finn.transformation.general import ApplyConfig

    plan = plans[net, False]
    _, points = study_mod.predicted_front(plan.target, worker, {"LUT": 1.0, "BRAM_18K": 100.0, "URAM": 400.0, "DSP": 100.0})
    fpgapart = plan.target.build_config["fpga_part"]
    for i, point in enumerate([points[0], points[-1]]):
        folding = {"Defaults": {}, **point.folding}
        result = worker.build(plan.target.model_path, tmp_path / str(i), plan.target.build_config, folding, {},
                              prefix_dir=plan.target.prefix_dir, hoisted=plan.target.hoisted, counted=True)
        assert result["ok"], result
        report = json.loads((Path(result["report_dir"]) / "counted_resources.json").read_text())
        (tmp_path / f"fold{i}.json").write_text(json.dumps(folding))
        model = ModelWrapper(str(plan.target.prefix_dir / adapter.HOISTED_MODEL))
        model = model.transform(ApplyConfig(str(tmp_path / f"fold{i}.json")))
        expected = _expected_count(model, fpgapart)
        assert report["total"] == pytest.approx(expected), (net, i)
        finn_total = json.loads((Path(result["report_dir"]) / "estimate_layer_resources.json").read_text())["total"]
        assert report["finn_total"] == pytest.approx({r: float(v) for r, v in finn_total.items()})
        assert report["total"]["LUT"] > finn_total["LUT"]  # FINN's estimate leaves converters and FIFOs out


def test_specialize_layers_config_reaches_finn_and_the_prefix_key(tmp_path, worker):
    """finn-plus's flows choose HLS or RTL per layer with a specialize-layers file; inline works too."""
    flow = FLOWS["mlp-rtl"]
    base = textwrap.dedent(f"""\
        model: mlp-rtl
        device: {flow.board}
        finn:
          steps: {list(flow.steps)}
          standalone_thresholds: true
        """)
    (tmp_path / "hls.json").write_text(json.dumps({"Defaults": {"preferred_impl_style": ["hls", ["MVAU"]]}}))
    variants = {
        "default": "",
        "file": "  specialize_layers_config_file: hls.json\n",
        "inline": "  specialize_layers_config:\n    Defaults: {preferred_impl_style: [hls, [MVAU]]}\n",
    }
    plans = {}
    for name, extra in variants.items():
        path = write_config(tmp_path, base + extra, f"{name}.yaml")
        plans[name] = study_mod.prepare(path, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker, create=False)
    ops = {name: {k.node.rsplit("_", 1)[0] for k in p.target.space.knobs} for name, p in plans.items()}
    assert "MVAU_rtl" in ops["default"] and "MVAU_hls" not in ops["default"]
    assert "MVAU_hls" in ops["file"] and "MVAU_rtl" not in ops["file"]
    # the same content, from a file or inline, is the same prefix; another choice is another prefix
    assert plans["file"].target.prefix_dir == plans["inline"].target.prefix_dir != plans["default"].target.prefix_dir
    with pytest.raises(study_mod.DseError, match=r"bad.yaml: finn.specialize_layers_config_file: .*missing.json cannot be read"):
        study_mod.prepare(write_config(tmp_path, base + "  specialize_layers_config_file: missing.json\n", "bad.yaml"),
                          storage=f"sqlite:///{tmp_path}/dse.db", worker=worker, create=False)


def test_the_prefix_is_shared_by_studies_of_the_same_content(tmp_path, worker):
    """Two study names, one model and FINN settings: the second study reuses the first one's prefix."""
    text = "model: mlp-float\ndevice: Pynq-Z1\nfinn:\n  steps: " + json.dumps(list(FLOWS["mlp-float"].steps)) + "\n"
    storage = f"sqlite:///{tmp_path}/dse.db"
    first = study_mod.prepare(write_config(tmp_path, "name: one\n" + text, "one.yaml"), storage=storage, worker=worker)
    stamp = (first.target.prefix_dir / "manifest.json").stat().st_mtime_ns
    second = study_mod.prepare(write_config(tmp_path, "name: two\n" + text, "two.yaml"), storage=storage, worker=worker)
    assert second.target.prefix_dir == first.target.prefix_dir
    assert (second.target.prefix_dir / "manifest.json").stat().st_mtime_ns == stamp  # not rebuilt
    first.close()
    second.close()
