"""Space logic on synthetic graph descriptions (no FINN): counting, grids, selectors, errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.errors import DseError
from dse.space import WEIGHT_STREAM_LIMIT, build_space, divisors
from dse.spacefile import parse_space_text


def mvau(name, mh, mw, bits=1, producer=None, consumers=()):
    return {"name": name, "op_type": "MVAU_hls", "kind": "mvau", "MH": mh, "MW": mw, "weight_bits": bits,
            "binary_weights": bits == 1, "producer": producer, "consumers": list(consumers),
            "categorical": {"ram_style": ["auto", "block", "distributed", "ultra"], "resType": ["auto", "dsp", "lut"],
                            "mem_mode": ["dynamic", "external", "internal_decoupled", "internal_embedded"]}}


def swg(name, channels, kernel=9, depthwise=False, consumers=()):
    return {"name": name, "op_type": "ConvolutionInputGenerator_rtl", "kind": "swg", "IFMChannels": channels,
            "kernel": kernel, "depthwise": depthwise, "producer": None, "consumers": list(consumers),
            "categorical": {"ram_style": ["auto", "block", "distributed", "ultra"]}}


def spec(layers_yaml: str = "", extra: str = ""):
    return parse_space_text(f"model: x\ndevice: Pynq-Z1\n{extra}" + (f"layers:\n{layers_yaml}" if layers_yaml else ""))


def test_divisors():
    assert divisors(12) == [1, 2, 3, 4, 6, 12]
    assert divisors(1) == [1]
    assert divisors(784)[-3:] == [196, 392, 784]


def test_default_space_folds_every_mvau_and_respects_weight_stream():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64, producer="MVAU_hls_0")]
    space = build_space(spec(), nodes, "f", has_uram=False)
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


def test_swg_follows_the_mvau_it_feeds():
    nodes = [swg("SWG_0", 64, consumers=["MVAU_hls_0"]), mvau("MVAU_hls_0", 64, 576, producer="SWG_0")]
    space = build_space(spec(), nodes, "f", has_uram=False)
    simd = next(k for k in space.knobs if k.attr == "SIMD")
    assert simd.values == divisors(64) + [576]
    for value, option in zip(simd.values, simd.options):
        if value == 576:
            assert option["SWG_0"] == {"SIMD": 64, "parallel_window": 1}
        else:
            assert option["SWG_0"] == {"SIMD": value, "parallel_window": 0}


def test_explicit_values_are_checked_against_each_layer():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64)]
    with pytest.raises(DseError, match=r"f: layers\[0\]\.PE: 4 is not a valid PE for MVAU_hls_1 \(valid: 1, 2, 5, 10\)"):
        build_space(spec("  - match: {op_type: MVAU}\n    PE: [1, 4]\n"), nodes, "f", has_uram=False)
    with pytest.raises(DseError, match=r"layers\[0\]\.match: selects no node"):
        build_space(spec("  - match: {name: Conv*}\n    PE: all\n"), nodes, "f", has_uram=False)
    with pytest.raises(DseError, match=r"no valid SIMD of MVAU_hls_0 lies in \[5, 6\]"):
        build_space(spec("  - match: {name: MVAU_hls_0}\n    SIMD: {min: 5, max: 6}\n"), nodes, "f", has_uram=False)


def test_later_rules_override_and_single_values_are_fixed():
    nodes = [mvau("MVAU_hls_0", 64, 784), mvau("MVAU_hls_1", 10, 64)]
    layers = "  - match: {op_type: MVAU}\n    PE: all\n  - match: {name: MVAU_hls_1}\n    PE: [5]\n    mem_mode: [internal_embedded]\n"
    space = build_space(spec(layers), nodes, "f", has_uram=False)
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
    space = build_space(spec(), [mvau("MVAU_hls_0", 64, 784)], "f", has_uram=False)
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
    space = build_space(spec(), [mvau("MVAU_hls_0", mh, mw, bits)], "f", has_uram=True)
    count = 0
    for point in space.grid():
        folding = space.folding_from_params(point)["MVAU_hls_0"]
        pe, simd = folding.get("PE", 1), folding.get("SIMD", 1)
        assert mh % pe == 0 and mw % simd == 0 and pe * simd * bits <= WEIGHT_STREAM_LIMIT
        count += 1
    assert count == space.grid_size()
