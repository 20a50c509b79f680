"""Issue 18, on tiny networks of a user's own (exported here) and real FINN.

* embedded weights (``mem_mode: internal_embedded``) are no stream: an HLS MVAU past FINN's
  8191-bit weight-stream limit is offered with them, and FINN's node code and HLS code
  generation take it;
* ``ram_style: ultra`` and both memory modes in one rule: only the valid pairs are offered;
* with no ``finn:`` block a user's network gets FINN's estimate steps (a signed input stops
  BNN-PYNQ's steps, with a hint), a zoo network its own flow;
* ``model:`` is relative to the design-space file, and a missing one names the path tried.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from dse import frontier
from dse import study as study_mod
from dse.errors import DseError
from dse.finn import adapter
from dse.space import WEIGHT_STREAM_LIMIT
from tests.conftest import write_config


def _export(module, shape, path: Path) -> Path:
    import torch
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup

    path.parent.mkdir(parents=True, exist_ok=True)
    export_qonnx(module.eval(), torch.randn(*shape), str(path), opset_version=13, dynamo=False)
    cleanup(str(path), out_file=str(path))
    return path


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """A user's networks, each in its own file: a CNN (signed 8-bit input, 4-bit conv) and an MLP
    whose first layer has 288 inputs and 16 outputs with 4-bit weights (the issue's MVAU shape)."""
    import torch
    from torch import nn

    import brevitas.nn as qnn
    from dse.nets import IntAct, Mlp, WeightPerTensor, _conv2d, _relu

    class Cnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant = qnn.QuantIdentity(act_quant=IntAct, bit_width=8, return_quant_tensor=True)
            self.conv, self.bn, self.act = _conv2d(3, 8, 3, 4), nn.BatchNorm2d(8), _relu(4)
            self.fc = qnn.QuantLinear(8 * 8 * 8, 10, bias=False, weight_quant=WeightPerTensor, weight_bit_width=4)

        def forward(self, x):
            return self.fc(self.act(self.bn(self.conv(self.quant(x)))).flatten(1))

    base = tmp_path_factory.mktemp("user_models")
    torch.manual_seed(0)
    cnn = _export(Cnn(), (1, 3, 8, 8), base / "nets" / "cnn.onnx")
    mlp = _export(Mlp(288, (16,), 4, wbits=4, abits=4, input_bits=8), (1, 288), base / "nets" / "mlp288.onnx")
    return {"cnn": cnn, "mlp": mlp}


def _relative(path: Path, start: Path) -> Path:
    import os

    return Path(os.path.relpath(path, start))


def _finn_model(plan):
    adapter.load_finn(plan.target.prefix_dir.parent / "finn_tmp")
    from qonnx.core.modelwrapper import ModelWrapper

    path = plan.target.prefix_dir / (adapter.HOISTED_MODEL if plan.target.hoisted
                                     else "intermediate_models/step_specialize_layers.onnx")
    return ModelWrapper(str(path))


def test_embedded_weights_past_the_stream_limit_are_offered_and_built_by_finn(user_models, tmp_path, worker):
    """The issue's MVAU (SIMD 288 x PE 8 x 4 bit = 9216 bits) with embedded weights, in a rule that
    also offers URAM: every offered option passes FINN's node checks and HLS code generation."""
    space_dir = tmp_path / "spaces"
    space_dir.mkdir()
    head = textwrap.dedent(f"""\
        name: mlp288
        model: {_relative(user_models["mlp"], space_dir)}
        device: ZCU104
        finn:
          specialize_layers_config: {{Defaults: {{preferred_impl_style: [hls, [MVAU]]}}}}
        """)
    config = write_config(space_dir, head + textwrap.dedent("""\
        layers:
          - match: {op_type: "*"}
            PE: all
            SIMD: all
          - match: {op_type: MVAU}
            ram_style: [block, ultra]
            mem_mode: [internal_decoupled, internal_embedded]
        """))
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker, create=False)
    space = plan.target.space
    model = _finn_model(plan)
    from qonnx.custom_op.registry import getCustomOp

    nodes = {n.name: n for n in model.graph.node}
    fpgapart, clk = plan.target.build_config["fpga_part"], plan.target.build_config["synth_clk_period_ns"]
    for name, attrs in space.fixed.items():
        for attr, value in attrs.items():
            getCustomOp(nodes[name]).set_nodeattr(attr, value)
    wide = set()  # (PE, SIMD) past the weight-stream limit, all embedded
    pairs = set()
    for knobs in frontier.units_of(space):
        touched = {n for k in knobs for o in k.options for n in o}
        saved = {n: {a: getCustomOp(nodes[n]).get_nodeattr(a) for k in knobs for o in k.options for a in o.get(n, {})}
                 for n in touched}
        for option in frontier._options(knobs):
            for name, attrs in option.assign.items():
                for attr, value in attrs.items():
                    getCustomOp(nodes[name]).set_nodeattr(attr, value)
            for name in option.assign:
                node, inst = nodes[name], getCustomOp(nodes[name])
                assert math.prod(inst.get_folded_output_shape()) == math.prod(inst.get_normal_output_shape())
                assert inst.get_exp_cycles() > 0
                inst.node_res_estimation(fpgapart)
                if node.op_type.endswith("_hls"):
                    inst.get_ap_int_max_w()  # FINN raises above its 8191-bit ap_int limit
                if node.op_type == "MVAU_hls":
                    pe, simd, mode = (inst.get_nodeattr(a) for a in ("PE", "SIMD", "mem_mode"))
                    style = inst.get_nodeattr("ram_style")
                    pairs.add((style, mode))
                    assert style != "ultra" or mode == "internal_decoupled"
                    bits = pe * simd * inst.get_input_datatype(1).bitwidth()
                    if bits > WEIGHT_STREAM_LIMIT:
                        assert mode == "internal_embedded" and inst.get_instream_width(1) == 0
                        wide.add((pe, simd))
                        # FINN's HLS code generation (C++ and Tcl; Vitis HLS itself is not run)
                        codegen = tmp_path / "hls" / f"{name}_{pe}_{simd}_{style}"
                        codegen.mkdir(parents=True)
                        inst.set_nodeattr("code_gen_dir_ipgen", str(codegen))
                        inst.code_generation_ipgen(model, fpgapart, clk)
                        assert (codegen / f"top_{name}.cpp").is_file()
        for name, attrs in saved.items():
            for attr, value in attrs.items():
                getCustomOp(nodes[name]).set_nodeattr(attr, value)
    assert (8, 288) in wide and (16, 288) in wide, wide  # 9216 and 18432 bits of embedded weights
    assert pairs == {("block", "internal_decoupled"), ("block", "internal_embedded"), ("ultra", "internal_decoupled")}
    # the issue's own request: SIMD 288 x PE 8 with embedded weights is one fixed, valid point
    issue = write_config(space_dir, head + textwrap.dedent("""\
        layers:
          - match: {name: MVAU_hls_0}
            SIMD: [288]
            PE: [8]
            mem_mode: [internal_embedded]
        """), "issue.yaml")
    fixed = study_mod.prepare(issue, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker, create=False).target.space
    assert fixed.fixed["MVAU_hls_0"] == {"SIMD": 288, "PE": 8, "mem_mode": "internal_embedded"}


def test_a_users_signed_input_cnn_runs_with_no_finn_block(user_models, tmp_path, worker):
    config = write_config(tmp_path, f"""
        name: cnn
        model: {user_models["cnn"]}
        device: Pynq-Z1
        sampler: random
        n_trials: 1
        """)
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    assert plan.target.build_config["steps"] == adapter.ESTIMATE_STEPS
    stats = study_mod.run(plan)
    assert stats.completed == 1 and stats.failed == 0
    # BNN-PYNQ's steps stop FINN on its signed input: the one-line error says what to try
    bnn = write_config(tmp_path, config.read_text().replace("name: cnn", "name: cnn-bnn")
                       + "finn: {steps: estimate+bnn}\n", "bnn.yaml")
    with pytest.raises(DseError) as caught:
        study_mod.prepare(bnn, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker)
    message = str(caught.value)
    assert "(at step_minimize_bit_width_initial): AssertionError" in message and "\n" not in message
    assert message.endswith("; hint: the steps add BNN-PYNQ's divide-by-255 input and top-1 output "
                            "(finn.steps: estimate+bnn), made for the BNN-PYNQ networks' unsigned pixels; "
                            "try finn.steps: estimate")


def test_a_zoo_network_with_no_finn_block_uses_its_flow(tmp_path, worker):
    from dse.models import FLOWS

    config = write_config(tmp_path, "model: mlp-rtl\ndevice: ZCU104\n")
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", worker=worker, create=False)
    flow = FLOWS["mlp-rtl"]
    build = plan.target.build_config
    assert build["steps"] == list(flow.steps)
    assert build["standalone_thresholds"] is True and build["mvau_wwidth_max"] == flow.options["mvau_wwidth_max"]
    assert any(k.node.startswith("MVAU_rtl") for k in plan.target.space.knobs)
    # a BNN-PYNQ network keeps BNN-PYNQ's steps
    from dse.spacefile import parse_space_text

    assert parse_space_text("model: tfc-w1a1\ndevice: Pynq-Z1\n").finn.steps == "estimate+bnn"


def test_model_is_relative_to_the_design_space_file(user_models, tmp_path, worker, monkeypatch):
    spaces = tmp_path / "project" / "spaces"
    spaces.mkdir(parents=True)
    relative = _relative(user_models["cnn"], spaces)
    config = write_config(spaces, f"name: rel\nmodel: {relative}\ndevice: Pynq-Z1\nsampler: random\nn_trials: 1\n")
    storage = f"sqlite:///{tmp_path}/dse.db"
    for cwd in (tmp_path, spaces, Path("/")):
        monkeypatch.chdir(cwd)
        plan = study_mod.prepare(Path(config).resolve(), storage=storage, worker=worker, create=False)
        assert Path(plan.target.model_path).read_bytes() == user_models["cnn"].read_bytes()
    monkeypatch.chdir(spaces.parent)
    plan = study_mod.prepare(Path("spaces") / "space.yaml", storage=storage, worker=worker, create=False)
    assert Path(plan.target.model_path).read_bytes() == user_models["cnn"].read_bytes()
    # a missing model names the absolute path tried
    missing = write_config(spaces, "name: gone\nmodel: ../models/missing.onnx\ndevice: Pynq-Z1\n", "gone.yaml")
    with pytest.raises(DseError) as caught:
        study_mod.prepare(Path("spaces") / "gone.yaml", storage=storage, worker=worker, create=False)
    tried = (spaces / ".." / "models" / "missing.onnx").resolve()
    assert str(caught.value).startswith(f"{Path('spaces') / 'gone.yaml'}: model: ")
    assert f"({tried} does not exist)" in str(caught.value), str(caught.value)
    assert missing.is_file()
