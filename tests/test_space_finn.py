"""Property over real FINN graphs: every value the space can suggest is a valid FINN folding.

For TFC-w1a1 and CNV-w1a1 (specialized by FINN itself), every option of every knob is applied
to the FINN node(s) it assigns and checked with FINN's own node code: folded shapes hold the
whole tensor, cycle estimates exist, FINN's asserts do not fire, coupled nodes agree on the
stream width, and MVAU weight streams stay within FINN's 8191-bit limit.
"""

from __future__ import annotations

import math

import pytest

from dse import study as study_mod
from dse.space import WEIGHT_STREAM_LIMIT
from tests.conftest import write_config

def _check_space(plan):
    from dse.finn import adapter

    adapter.load_finn(plan.target.prefix_dir.parent / "finn_tmp")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(str(plan.target.prefix_dir / "intermediate_models" / "step_specialize_layers.onnx"))
    nodes = {n.name: n for n in model.graph.node}
    folding_attrs = ("PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode")
    original = {
        name: {a: getCustomOp(n).get_nodeattr(a) for a in folding_attrs if a in getCustomOp(n).get_nodeattr_types()}
        for name, n in nodes.items()
    }
    checked = 0
    space = plan.target.space
    for knob in space.knobs:
        pair = next((k for k in space.knobs if k.param == knob.pair), None)
        contexts = [{}] if pair is None else [{pair.param: v} for v in pair.values]
        for chosen in contexts:
            n_valid = knob.count(chosen)
            for index in range(n_valid):
                assign = dict(knob.options[index])
                if pair is not None:
                    pair_assign = pair.options[pair.values.index(chosen[pair.param])]
                    for node, attrs in pair_assign.items():
                        assign = {**assign, node: {**pair_assign[node], **assign.get(node, {})}}
                for name, attrs in assign.items():
                    inst = getCustomOp(nodes[name])
                    for attr, value in {**original[name], **attrs}.items():
                        inst.set_nodeattr(attr, value)
                for name in assign:
                    inst = getCustomOp(nodes[name])
                    node = nodes[name]
                    assert math.prod(inst.get_folded_input_shape()) == math.prod(inst.get_normal_input_shape()), name
                    assert math.prod(inst.get_folded_output_shape()) == math.prod(inst.get_normal_output_shape()), name
                    assert inst.get_exp_cycles() > 0
                    if node.op_type.startswith("MVAU"):
                        assert inst.get_nodeattr("MH") % inst.get_nodeattr("PE") == 0
                        assert inst.get_nodeattr("MW") % inst.get_nodeattr("SIMD") == 0
                        assert inst.get_instream_width(1) <= WEIGHT_STREAM_LIMIT
                    if node.op_type.startswith("ConvolutionInputGenerator"):
                        inst.select_impl_style()  # FINN's own SIMD/parallel_window asserts
                        consumer = model.find_consumers(node.output[0])[0]
                        if not any(k.node == name for k in space.knobs):  # its consumer drives it: no DWC
                            assert inst.get_outstream_width() == getCustomOp(consumer).get_instream_width(0)
                checked += 1
            if pair is not None and n_valid < len(knob.values):
                # the first PE left out really would overflow the weight stream
                inst = getCustomOp(nodes[knob.node])
                inst.set_nodeattr("PE", knob.values[n_valid])
                assert inst.get_instream_width(1) > WEIGHT_STREAM_LIMIT
    return checked


def test_every_tfc_option_is_a_valid_finn_folding(tfc_study):
    assert _check_space(tfc_study) > 100


def test_every_cnv_option_is_a_valid_finn_folding(cnv_plan):
    space = cnv_plan.target.space
    # the rule (op_type "*") folds each SWG on its own, and an MVAU takes any SIMD of its rows
    swgs = [k for k in space.knobs if k.node.startswith("ConvolutionInputGenerator")]
    assert swgs and all(k.attr == "SIMD" for k in swgs)
    simd = next(k for k in space.knobs if k.param == "MVAU_hls_1.SIMD_idx")
    assert {9, 36, 64, 576} <= set(simd.values)
    assert _check_space(cnv_plan) > 300


def test_cnv_space_is_huge_but_counted(cnv_plan):
    assert cnv_plan.target.space.grid_size() > 10**15


@pytest.mark.parametrize("rule, message", [
    ("resType: [lut, dsp]", r"layers\[0\]\.resType: 'dsp' is not built by FINN for MVAU_hls_0: binary weights"),
    ("ram_style: [ultra]", r"layers\[0\]\.ram_style: 'ultra' needs URAM, and xc7z020clg400-1 has none"),
])
def test_binary_layers_never_offer_dsp_and_pynq_never_ultra(tmp_path, worker, rule, message):
    from dse.errors import DseError

    text = f"name: bad\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nlayers:\n  - match: {{op_type: MVAU}}\n    {rule}\n"
    with pytest.raises(DseError, match=message):
        study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/x.db", worker=worker)


class _NoFinn:
    """A FINN worker that must not be used: the error has to come before any FINN work."""

    def probe(self, *args):
        raise AssertionError("FINN was asked to build the prefix")

    def close(self):
        pass


@pytest.mark.parametrize("rule, message", [
    ("ram_style: [ultra]", r"space.yaml: layers\[0\]\.ram_style: 'ultra' needs URAM"),
    ("PE: all\n  - match: {op_type: MVU}\n    PE: all", r"layers\[1\]\.match\.op_type: no FINN op with folding knobs matches 'MVU'"),
])
def test_device_rules_and_unknown_ops_are_refused_before_finn(tmp_path, rule, message):
    from dse.errors import DseError

    text = f"name: bad\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nlayers:\n  - match: {{op_type: MVAU}}\n    {rule}\n"
    with pytest.raises(DseError, match=message):
        study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/x.db", worker=_NoFinn())


def test_vivado_steps_are_refused_before_finn(tmp_path, monkeypatch):
    from dse.errors import DseError

    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    steps = ["step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw",
             "step_create_dataflow_partition", "step_specialize_layers", "step_apply_folding_config",
             "step_minimize_bit_width", "step_generate_estimate_reports", "step_generate_hardware",
             "step_create_stitched_ip"]
    text = f"name: bad\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nfinn:\n  steps: {steps}\n"
    with pytest.raises(DseError, match=r"space.yaml: finn.steps: step_generate_hardware needs Vivado/Vitis"):
        study_mod.prepare(write_config(tmp_path, text), storage=f"sqlite:///{tmp_path}/x.db", worker=_NoFinn())


def test_the_op_model_knows_finns_op_types(worker, tmp_path):
    """dse.finn.ops.FINN_OP_TYPES is finn-plus's registry: a FINN upgrade that adds ops fails here."""
    from dse.finn import adapter, ops

    adapter.load_finn(tmp_path)
    import finn.custom_op.fpgadataflow as hw

    assert ops.FINN_OP_TYPES == set(hw.custom_op)
