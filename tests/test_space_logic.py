"""Space logic on synthetic graph descriptions (no FINN): counting, grids, selectors, errors."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.errors import DseError
from dse.finn.ops import DeviceFacts
from dse.space import WEIGHT_STREAM_LIMIT, build_space, divisors
from dse.spacefile import parse_space_text

PYNQ = DeviceFacts("xc7z020clg400-1", has_uram=False)
ZCU104 = DeviceFacts("xczu7ev-ffvc1156-2-e", has_uram=True)
RAM_STYLES = ["auto", "block", "distributed", "ultra"]


def node(name, op_type, family, folds, producer=None, consumers=(), choices=None, **facts):
    """A node as dse.finn.ops.describe gives it (what FINN's node code accepts is in ``folds``)."""
    return {"name": name, "op_type": op_type, "family": family, "impl": op_type.rsplit("_", 1)[-1],
            "producer": producer, "consumers": list(consumers), "choices": choices or {}, "folds": folds,
            "attrs": {}, "pair_bits": None, **facts}


def mvau(name, mh, mw, bits=1, producer=None, consumers=(), impl="hls"):
    # hls/matrixvectoractivation_hls.py get_ap_int_max_w: PE*SIMD*W streamed, SIMD*W embedded
    hls = impl == "hls"
    return node(name, f"MVAU_{impl}", "MVAU", {"SIMD": divisors(mw), "PE": divisors(mh)}, producer, consumers,
                {"ram_style": RAM_STYLES, "resType": ["auto", "dsp", "lut"],
                 "mem_mode": ["dynamic", "external", "internal_decoupled", "internal_embedded"]},
                weight_bits=bits, binary_weights=bits == 1, pair_bits=bits if hls else None,
                embedded_pair_bits=None, embedded_simd_bits=bits if hls else None)


def swg(name, channels, kernel=9, depthwise=False, consumers=(), producer=None):
    return node(name, "ConvolutionInputGenerator_rtl", "ConvolutionInputGenerator", {"SIMD": divisors(channels)},
                producer, consumers, {"ram_style": RAM_STYLES}, IFMChannels=channels, kernel=kernel, depthwise=depthwise)


def vvau(name, channels, kernel=9, producer=None, bits=4):
    return node(name, "VVAU_hls", "VVAU", {"SIMD": divisors(kernel), "PE": divisors(channels)}, producer, (),
                {"ram_style": RAM_STYLES, "resType": ["auto", "dsp", "lut"],
                 "mem_mode": ["external", "internal_decoupled", "internal_embedded"]},
                weight_bits=bits, binary_weights=False, pair_bits=bits, embedded_pair_bits=4, embedded_simd_bits=None)


def spec(layers_yaml: str = "", extra: str = ""):
    return parse_space_text(f"model: x\ndevice: Pynq-Z1\n{extra}" + (f"layers:\n{layers_yaml}" if layers_yaml else ""))


def test_divisors():
    assert divisors(12) == [1, 2, 3, 4, 6, 12]
    assert divisors(1) == [1]
    assert divisors(784)[-3:] == [196, 392, 784]


def test_default_space_folds_every_mvau_and_respects_weight_stream():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64, producer="MVAU_hls_0")]
    space = build_space(spec(), nodes, "f", PYNQ)
    params = [k.param for k in space.knobs]
    assert params == ["MVAU_hls_0.SIMD_idx", "MVAU_hls_0.PE_idx", "MVAU_hls_1.SIMD_idx", "MVAU_hls_1.PE_idx"]
    points = list(space.grid())
    assert len(points) == space.grid_size()
    expected = sum(1 for p, s in itertools.product(divisors(64), divisors(784)) if p * s <= WEIGHT_STREAM_LIMIT)
    expected *= len(divisors(10)) * len(divisors(64))
    assert len(points) == expected
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)
    for p in points[:: max(1, len(points) // 500)]:
        folding = space.folding_from_params(p)
        for node, attrs in folding.items():
            assert attrs["PE"] * attrs["SIMD"] <= WEIGHT_STREAM_LIMIT


def test_a_swg_no_rule_names_follows_the_mvau_it_feeds():
    nodes = [swg("SWG_0", 64, consumers=["MVAU_hls_0"]), mvau("MVAU_hls_0", 64, 576, producer="SWG_0")]
    space = build_space(spec("  - match: {op_type: MVAU}\n    SIMD: all\n"), nodes, "f", PYNQ)
    (simd,) = [k for k in space.knobs if k.attr == "SIMD"]
    assert simd.node == "MVAU_hls_0" and simd.values == divisors(64) + [576]
    for value, option in zip(simd.values, simd.options):
        if value == 576:
            assert option["SWG_0"] == {"SIMD": 64, "parallel_window": 1}
        else:
            assert option["SWG_0"] == {"SIMD": value, "parallel_window": 0}


def test_a_swg_a_rule_folds_is_free_of_its_mvau_as_in_setfolding():
    """FINN's SetFolding folds a dense generator on its own and gives the MVAU any SIMD of its
    rows (SIMD 9 on 64 channels): the default space offers the same, so its front holds those designs."""
    nodes = [swg("SWG_0", 64, consumers=["MVAU_hls_0"]), mvau("MVAU_hls_0", 64, 576, producer="SWG_0")]
    space = build_space(spec(), nodes, "f", PYNQ)
    knobs = {k.node: k for k in space.knobs if k.attr == "SIMD"}
    assert knobs["MVAU_hls_0"].values == divisors(576)  # 9, 18, 36, ... too
    assert all(set(option) == {"MVAU_hls_0"} for option in knobs["MVAU_hls_0"].options)
    generator = knobs["SWG_0"]
    assert generator.values == divisors(64) + [576]
    for value, option in zip(generator.values, generator.options):
        assert option == {"SWG_0": {"SIMD": 64, "parallel_window": 1} if value == 576 else {"SIMD": value, "parallel_window": 0}}


def test_explicit_values_are_checked_against_each_layer():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64)]
    with pytest.raises(DseError, match=r"f: layers\[0\]\.PE: 4 is not a valid PE for MVAU_hls_1 \(valid: 1, 2, 5, 10\)"):
        build_space(spec("  - match: {op_type: MVAU}\n    PE: [1, 4]\n"), nodes, "f", PYNQ)
    with pytest.raises(DseError, match=r"layers\[0\]\.match: selects no node"):
        build_space(spec("  - match: {name: Conv*}\n    PE: all\n"), nodes, "f", PYNQ)
    with pytest.raises(DseError, match=r"no valid SIMD of MVAU_hls_0 lies in \[5, 6\]"):
        build_space(spec("  - match: {name: MVAU_hls_0}\n    SIMD: {min: 5, max: 6}\n"), nodes, "f", PYNQ)


def test_later_rules_override_and_single_values_are_fixed():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64)]
    layers = "  - match: {op_type: MVAU}\n    PE: all\n  - match: {name: MVAU_hls_1}\n    PE: [5]\n    mem_mode: [internal_embedded]\n"
    space = build_space(spec(layers), nodes, "f", PYNQ)
    assert [k.param for k in space.knobs] == ["MVAU_hls_0.PE_idx"]
    assert space.fixed == {"MVAU_hls_1": {"PE": 5, "mem_mode": "internal_embedded"}}


class _FixedTrial:
    """Stands in for optuna.Trial in a pure-logic test: always picks the highest allowed index."""

    def __init__(self):
        self.params = {}

    def suggest_int(self, name, low, high):
        self.params[name] = high
        return high

    def suggest_categorical(self, name, choices):
        self.params[name] = choices[-1]
        return choices[-1]


def test_suggest_cuts_pe_range_to_fit_the_chosen_simd():
    space = build_space(spec(), [mvau("MVAU_hls_0", 64, 784)], "f", PYNQ)
    trial = _FixedTrial()
    folding, overrides = space.suggest(trial)
    assert overrides == {}
    assert folding["MVAU_hls_0"] == {"SIMD": 784, "PE": 8}  # 8 * 784 <= 8191 < 16 * 784
    assert space.folding_from_params(trial.params) == folding
    with pytest.raises(ValueError):
        space.folding_from_params({**trial.params, "MVAU_hls_0.PE_idx": 6})


@settings(max_examples=60, deadline=None)
@given(mh=st.integers(1, 300), mw=st.integers(1, 3000), bits=st.sampled_from([1, 2, 4, 8]))
def test_every_grid_point_divides_and_fits(mh, mw, bits):
    space = build_space(spec(), [mvau("MVAU_hls_0", mh, mw, bits)], "f", ZCU104)
    count = 0
    for point in space.grid():
        folding = space.folding_from_params(point)["MVAU_hls_0"]
        pe, simd = folding.get("PE", 1), folding.get("SIMD", 1)
        assert mh % pe == 0 and mw % simd == 0 and pe * simd * bits <= WEIGHT_STREAM_LIMIT
        count += 1
    assert count == space.grid_size()


def test_rtl_mvau_never_offers_lut_and_has_no_hls_stream_limit():
    nodes = [mvau("MVAU_rtl_0", 64, 784, bits=4, impl="rtl")]
    with pytest.raises(DseError, match=r"'lut' is not built by FINN for MVAU_rtl_0: FINN has no LUT-based RTL"):
        build_space(spec("  - match: {op_type: MVAU}\n    resType: [lut, dsp]\n"), nodes, "f", ZCU104)
    space = build_space(spec(), nodes, "f", ZCU104)
    assert space.grid_size() == len(divisors(64)) * len(divisors(784))  # 64 * 784 * 4 bits > 8191: still offered
    hls = build_space(spec(), [mvau("MVAU_hls_0", 64, 784, bits=4)], "f", ZCU104)
    assert hls.grid_size() < space.grid_size()


def test_uram_weights_are_runtime_writeable_off_versal_and_refused_without_uram():
    nodes = [mvau("MVAU_hls_0", 64, 784, bits=4)]
    layers = "  - match: {op_type: MVAU}\n    ram_style: [block, ultra]\n"
    space = build_space(spec(layers), nodes, "f", ZCU104)
    knob = next(k for k in space.knobs if k.attr == "ram_style")
    assert knob.options[1] == {"MVAU_hls_0": {"ram_style": "ultra", "runtime_writeable_weights": 1}}
    versal = build_space(spec(layers), nodes, "f", DeviceFacts("xcvc1902-vsva2197-2MP-e-S", has_uram=True))
    assert next(k for k in versal.knobs if k.attr == "ram_style").options[1] == {"MVAU_hls_0": {"ram_style": "ultra"}}
    with pytest.raises(DseError, match=r"layers\[0\]\.ram_style: 'ultra' needs URAM, and xc7z020clg400-1 has none"):
        build_space(spec(layers), nodes, "f", PYNQ)
    with pytest.raises(DseError, match=r"'ultra' is not built by FINN for MVAU_hls_0: URAM weights need mem_mode "
                                       r"internal_decoupled"):
        build_space(spec(layers + "    mem_mode: [internal_embedded]\n"), nodes, "f", ZCU104)


def test_vvau_simd_puts_its_depthwise_generator_in_parallel_window_mode():
    nodes = [swg("SWG_0", 16, kernel=9, depthwise=True, consumers=["VVAU_hls_0"]), vvau("VVAU_hls_0", 16, producer="SWG_0")]
    space = build_space(spec(), nodes, "f", PYNQ)
    assert [k.param for k in space.knobs] == ["VVAU_hls_0.SIMD_idx", "VVAU_hls_0.PE_idx"]
    for point in space.grid():
        folding = space.folding_from_params(point)
        pe, simd = folding["VVAU_hls_0"]["PE"], folding["VVAU_hls_0"]["SIMD"]
        assert folding["SWG_0"] == {"SIMD": pe, "parallel_window": int(simd > 1)}
    assert space.grid_size() == len(divisors(16)) * len(divisors(9))


def test_unknown_op_types_in_rules_are_refused_before_finn():
    from dse.space import check_rules

    with pytest.raises(DseError, match=r"f: layers\[0\]\.match\.op_type: no FINN op with folding knobs matches 'MVU'"):
        check_rules(spec("  - match: {op_type: MVU}\n    PE: all\n"), "f", PYNQ)
    for known in ("MVAU", "MVAU_rtl", "ElementwiseAdd", "ElementwiseAdd_hls", "Thresholding", "VVAU*", "*"):
        check_rules(spec(f"  - match: {{op_type: '{known}'}}\n    PE: all\n"), "f", PYNQ)


def test_elementwise_and_thresholding_get_their_knobs():
    add = node("ElementwiseAdd_hls_0", "ElementwiseAdd_hls", "ElementwiseBinary", {"PE": [1, 2, 4, 8]})
    thr = node("Thresholding_rtl_0", "Thresholding_rtl", "Thresholding", {"PE": [1, 2, 4]},
               choices={"ram_style": ["auto", "block", "ultra"]})
    layers = "  - match: {op_type: '*'}\n    PE: all\n  - match: {op_type: Thresholding}\n    ram_style: [auto, block]\n"
    space = build_space(spec(layers), [add, thr], "f", PYNQ)
    assert [k.param for k in space.knobs] == ["ElementwiseAdd_hls_0.PE_idx", "Thresholding_rtl_0.PE_idx",
                                              "Thresholding_rtl_0.ram_style"]
    assert space.knobs[2].options[1] == {"Thresholding_rtl_0": {"depth_trigger_bram": 1, "depth_trigger_uram": 2**31 - 1}}


def test_only_finns_raw_fidelity_is_said_to_under_count():
    from types import SimpleNamespace

    from dse.study import fidelity_notes

    (note,) = fidelity_notes(SimpleNamespace(fidelity="finn"))
    assert "RTL MVAU/VVAU LUTs" in note and "converters" in note and "may not fit" in note
    assert fidelity_notes(SimpleNamespace(fidelity="counted")) == []


def test_rtl_mvau_weights_are_always_streamed():
    nodes = [mvau("MVAU_rtl_0", 64, 784, bits=4, impl="rtl"), mvau("MVAU_hls_1", 10, 64, bits=4)]
    space = build_space(spec("  - match: {op_type: MVAU}\n    mem_mode: [internal_decoupled, internal_embedded]\n"),
                        nodes, "f", ZCU104)
    assert space.fixed["MVAU_rtl_0"] == {"mem_mode": "internal_decoupled"}
    assert next(k for k in space.knobs if k.attr == "mem_mode").node == "MVAU_hls_1"
    with pytest.raises(DseError, match="MVAU_rtl_0: FINN's RTL MVU/VVU streams its weights"):
        build_space(spec("  - match: {name: MVAU_rtl_0}\n    mem_mode: [internal_embedded]\n"), nodes, "f", ZCU104)


# -- issue 18: embedded weights are no stream; URAM only with internal_decoupled --------------

DECOUPLED, EMBEDDED = "internal_decoupled", "internal_embedded"


def _valid_for_finn(pe, simd, bits, ram_style, mem_mode):
    """FINN's rules the space must keep (hls/matrixvectoractivation_hls.py get_ap_int_max_w,
    matrixvectoractivation.py get_instream_width(1) and generate_hdl): streamed weights within
    8191 bits, embedded ones only their single-PE entry SIMD*W; URAM weights streamed."""
    streamed = mem_mode != EMBEDDED
    if streamed and pe * simd * bits > WEIGHT_STREAM_LIMIT or simd * bits > WEIGHT_STREAM_LIMIT:
        return False
    return ram_style != "ultra" or mem_mode == DECOUPLED


def _points(space, name):
    """Every grid point of ``space`` as FINN attributes (pe, simd, ram_style, mem_mode) of ``name``."""
    out = []
    for params in space.grid():
        attrs = space.folding_from_params(params)[name]
        out.append((attrs.get("PE", 1), attrs.get("SIMD", 1), attrs.get("ram_style"), attrs.get("mem_mode")))
    return out


def test_embedded_weights_are_not_held_to_the_weight_stream_limit():
    """The issue's layer: SIMD 288 x PE 8 x 4 bit = 9216 bits, which FINN builds with embedded weights."""
    nodes = [mvau("MVAU_hls_1", 16, 288, bits=4)]
    fixed = "  - match: {name: MVAU_hls_1}\n    SIMD: [288]\n    PE: [8]\n"
    space = build_space(spec(fixed + "    mem_mode: [internal_embedded]\n"), nodes, "f", ZCU104)
    assert space.knobs == [] and space.fixed == {"MVAU_hls_1": {"SIMD": 288, "PE": 8, "mem_mode": EMBEDDED}}
    with pytest.raises(DseError, match=r"layers\[0\]\.SIMD: no SIMD of MVAU_hls_1 fits FINN's 8191-bit HLS stream limit$"):
        build_space(spec(fixed + "    mem_mode: [internal_decoupled]\n"), nodes, "f", ZCU104)
    with pytest.raises(DseError, match=r"no SIMD of MVAU_hls_1 fits FINN's 8191-bit HLS stream limit with mem_mode "
                                       r"internal_decoupled"):
        build_space(spec(fixed + "    mem_mode: [internal_decoupled, internal_embedded]\n"), nodes, "f", ZCU104)
    # every PE and SIMD with embedded weights; the weight stream's limit with decoupled ones
    both = build_space(spec("  - match: {op_type: MVAU}\n    PE: all\n    SIMD: all\n"
                            "    mem_mode: [internal_decoupled, internal_embedded]\n"), nodes, "f", ZCU104)
    assert [k.param for k in both.knobs] == ["MVAU_hls_1.mem_mode", "MVAU_hls_1.SIMD_idx", "MVAU_hls_1.PE_idx"]
    points = _points(both, "MVAU_hls_1")
    assert len(points) == len(set(points)) == both.grid_size()
    assert {p[3] for p in points if p[:2] == (16, 288)} == {EMBEDDED}
    expected = {(p, s, None, m) for p in divisors(16) for s in divisors(288) for m in (DECOUPLED, EMBEDDED)
                if _valid_for_finn(p, s, 4, None, m)}
    assert set(points) == expected
    trial = _FixedTrial()  # the last categorical value (embedded) and the highest index allowed
    folding, _ = both.suggest(trial)
    assert folding["MVAU_hls_1"] == {"mem_mode": EMBEDDED, "SIMD": 288, "PE": 16}
    assert both.folding_from_params(trial.params) == folding
    with pytest.raises(ValueError):  # 288 x 16 is refused with decoupled weights
        both.folding_from_params({**trial.params, "MVAU_hls_1.mem_mode": DECOUPLED})


def test_the_frontier_enumerates_the_same_valid_points():
    from dse import frontier

    nodes = [mvau("MVAU_hls_0", 16, 288, bits=4), mvau("MVAU_hls_1", 8, 16, bits=4, producer="MVAU_hls_0")]
    layers = ("  - match: {op_type: MVAU}\n    PE: all\n    SIMD: all\n    ram_style: [block, ultra]\n"
              "    mem_mode: [internal_decoupled, internal_embedded]\n")
    space = build_space(spec(layers), nodes, "f", ZCU104)
    grid = {tuple(sorted(p.items())) for p in space.grid()}
    units = frontier.units_of(space)
    options = [frontier._options(knobs) for knobs in units]
    assert len(units) == 2 and math.prod(len(o) for o in options) == len(grid) == space.grid_size()
    for unit in options:
        for option in unit:
            (name, attrs), = option.assign.items()
            assert _valid_for_finn(attrs["PE"], attrs["SIMD"], 4, attrs["ram_style"], attrs["mem_mode"]), option


def test_uram_with_both_mem_modes_offers_only_the_valid_pairs():
    nodes = [mvau("MVAU_hls_0", 64, 784, bits=4)]
    layers = "  - match: {op_type: MVAU}\n    ram_style: [block, ultra]\n    mem_mode: [internal_decoupled, internal_embedded]\n"
    space = build_space(spec(layers), nodes, "f", ZCU104)
    (knob,) = [k for k in space.knobs if not k.ordinal]
    assert knob.param == "MVAU_hls_0.ram_style+mem_mode"
    assert knob.values == ["block+internal_decoupled", "block+internal_embedded", "ultra+internal_decoupled"]
    assert knob.options[2] == {"MVAU_hls_0": {"ram_style": "ultra", "runtime_writeable_weights": 1, "mem_mode": DECOUPLED}}
    points = _points(space, "MVAU_hls_0")
    assert {(r, m) for _, _, r, m in points} == {("block", DECOUPLED), ("block", EMBEDDED), ("ultra", DECOUPLED)}
    assert all(_valid_for_finn(*p[:2], 4, *p[2:]) for p in points)
    # a URAM-only rule with both modes: the one valid pair, fixed
    only = build_space(spec(layers.replace("[block, ultra]", "[ultra]")), nodes, "f", ZCU104)
    assert only.fixed["MVAU_hls_0"] == {"ram_style": "ultra", "runtime_writeable_weights": 1, "mem_mode": DECOUPLED}
    # HLS thresholds: URAM needs internal_decoupled off Versal only
    thr = node("Thresholding_hls_0", "Thresholding_hls", "Thresholding", {"PE": [1, 2, 4]},
               choices={"ram_style": ["block", "distributed", "ultra"], "mem_mode": [DECOUPLED, EMBEDDED]})
    rule = "  - match: {op_type: Thresholding}\n    ram_style: [block, ultra]\n    mem_mode: [internal_decoupled, internal_embedded]\n"
    assert [k.param for k in build_space(spec(rule), [thr], "f", ZCU104).knobs] == ["Thresholding_hls_0.ram_style+mem_mode"]
    versal = DeviceFacts("xcvc1902-vsva2197-2MP-e-S", has_uram=True)
    assert [k.param for k in build_space(spec(rule), [thr], "f", versal).knobs] == ["Thresholding_hls_0.ram_style",
                                                                                 "Thresholding_hls_0.mem_mode"]


@settings(max_examples=80, deadline=None)
@given(mh=st.integers(1, 64), mw=st.integers(1, 1200), bits=st.sampled_from([1, 2, 4, 8]),
       styles=st.lists(st.sampled_from(["auto", "block", "distributed", "ultra"]), min_size=1, max_size=3, unique=True),
       modes=st.lists(st.sampled_from([DECOUPLED, EMBEDDED]), min_size=1, max_size=2, unique=True))
def test_mvau_spaces_offer_exactly_the_combinations_finn_builds(mh, mw, bits, styles, modes):
    nodes = [mvau("MVAU_hls_0", mh, mw, bits)]
    layers = f"  - match: {{op_type: MVAU}}\n    PE: all\n    SIMD: all\n    ram_style: {styles}\n    mem_mode: {modes}\n"
    expected = {(p, s, r, m) for p in divisors(mh) for s in divisors(mw) for r in styles for m in modes
                if _valid_for_finn(p, s, bits, r, m)}
    if "ultra" in styles and DECOUPLED not in modes:
        with pytest.raises(DseError, match="URAM weights need mem_mode internal_decoupled"):
            build_space(spec(layers), nodes, "f", ZCU104)
        return
    try:
        space = build_space(spec(layers), nodes, "f", ZCU104)
    except DseError as exc:  # only when a mode the rule asks for has no folding FINN builds
        assert "HLS stream limit" in str(exc) and any(all(e[3] != m for e in expected) for m in modes)
        return
    points = _points(space, "MVAU_hls_0")
    assert len(points) == space.grid_size()
    assert set(points) == expected
