"""Design-space files: structure errors are one line naming the file, the key and the reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.errors import DseError
from dse.spacefile import load_space_file, parse_space_text

MINIMAL = "model: tfc-w1a1\ndevice: Pynq-Z1\n"


def err(text: str) -> str:
    with pytest.raises(DseError) as info:
        parse_space_text(text, "f.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("f.yaml: ")
    return message


def test_minimal_file_gets_defaults():
    spec = parse_space_text(MINIMAL)
    assert spec.objectives == ["throughput_fps", "LUT"]
    assert spec.sampler == "tpe" and spec.n_trials == 50 and spec.clock_ns == 10.0
    assert spec.finn.steps == "estimate+bnn" and spec.layers is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("model: [unclosed\n", "not valid YAML (line"),
        (MINIMAL + "colour: red\n", "colour: unknown key"),
        ("device: Pynq-Z1\n", "model: Field required"),
        (MINIMAL + "n_trials: 0\n", "n_trials: Input should be greater than or equal to 1"),
        (MINIMAL + "n_trials: -3\n", "n_trials"),
        (MINIMAL + "clock_ns: fast\n", "clock_ns: Input should be a valid number"),
        (MINIMAL + "objectives: [speed]\n", "unknown objective 'speed'"),
        (MINIMAL + "sampler: magic\n", "unknown sampler 'magic'"),
        (MINIMAL + "layers:\n  - match: {}\n    PE: all\n", "layers[0].match: give op_type and/or name"),
        (MINIMAL + "layers:\n  - match: {op_type: MVAU}\n    PE: [0, 2]\n", "layers[0].PE"),
        (MINIMAL + "layers:\n  - match: {op_type: MVAU}\n    PE: some\n",
         "layers[0].PE: 'some' is not valid: it should be 'all', a list or a mapping"),
        (MINIMAL + "layers:\n  - match: {op_type: MVAU}\n    PE: [1, x]\n", "layers[0].PE[1]: Input should be a valid integer"),
        (MINIMAL + "layers:\n  - match: {op_type: MVAU}\n    PE: {min: a, max: 4}\n", "layers[0].PE.min: Input should be a valid integer"),
        (MINIMAL + "constraints: {caps: {LUT: lots}}\n", "caps.LUT: 'lots' is not valid: it should be a number or a mapping"),
        (MINIMAL + "clock_ns: fast\nn_trials: 0\nlayers:\n  - match: {op_type: MVAU}\n    PE: some\n    SIMD: some\n",
         "(and 3 more problems)"),
        (MINIMAL + "layers:\n  - match: {op_type: MVAU}\n    ram_style: []\n", "layers[0].ram_style: empty list"),
        (MINIMAL + "constraints: {caps: {speed: 3}}\n", "unknown metric 'speed'"),
        (MINIMAL + "target_fps: {min: 10, max: 1}\n", "min is larger than max"),
        (MINIMAL + "target_fps: {min: 1, max: 10}\nlayers:\n  - match: {op_type: MVAU}\n    PE: all\n", "SetFolding picks PE/SIMD"),
        (MINIMAL + "sampler: grid\ntarget_fps: {min: 1, max: 10}\n", "grid sampler needs per-layer knobs"),
        (MINIMAL + "budget: {FF: 3}\n", "budget"),
        (MINIMAL + "!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
    ],
)
def test_bad_files_fail_in_one_line(text, expected):
    assert expected in err(text)


def test_files_on_disk(tmp_path):
    with pytest.raises(DseError, match="design-space file not found"):
        load_space_file(tmp_path / "missing.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x89PNG\x00\x01\xff\xfe")
    with pytest.raises(DseError, match="not a text file"):
        load_space_file(binary)
    good = tmp_path / "my-space.yaml"
    good.write_text(MINIMAL)
    loaded = load_space_file(good)
    assert loaded.name == "my-space" and len(loaded.sha256) == 64


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["model", "device", "layers", "PE", "match", "op_type", "n_trials", "sampler",
                         "objectives", "constraints", "caps", "finn", "steps", "target_fps", "min", "max", "x"]),
        children, max_size=4),
    max_leaves=12,
))
def test_any_yaml_is_a_spec_or_one_clean_error(data):
    import yaml

    text = yaml.safe_dump(data)
    try:
        parse_space_text(text, "f.yaml")
    except DseError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("f.yaml: ")
