"""FINN's hardware ops as data: one :class:`OpModel` per op family of finn-plus 1.6.1.

This is the only module that knows op-type strings. Each entry says which folding knobs the
family has, which values FINN accepts (read from finn-plus's own code, cited per rule), which
neighbour is coupled to it, and how a value becomes node attributes. The rest of ``dse``
asks :func:`model_of`; adding an op is one entry here and its test.

Two halves, both plain functions of data:

* ``bounds`` (run in the FINN worker, on FINN's node instance): the candidate values of each
  folding knob, as FINN's ``SetFolding`` enumerates them (divisors of the folded dimension).
  :func:`describe` then drops the values FINN refuses for that node alone (HLS stream widths,
  folded-shape asserts) and records the facts the space's rules need.
* ``choices`` rules (run by :mod:`dse.space`, no FINN): which categorical values
  (``ram_style``, ``resType``, ``mem_mode``) FINN builds on this node and device, and the
  node attributes each value sets.

Example::

    >>> from dse.finn.ops import DeviceFacts, model_of
    >>> node = {"impl": "rtl", "choices": {"resType": ["auto", "dsp", "lut"]}}
    >>> model_of("MVAU_rtl").choice_values(node, "resType", DeviceFacts("xczu7ev-ffvc1156-2-e", has_uram=True))[0]
    ['auto', 'dsp']
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Callable

#: finn.util.basic.MAX_ALLOWED_AP_INT_W: the widest ap_int an HLS op may use. HLSBackend.
#: get_ap_int_max_w raises above it (input and output streams; the MVAU also checks its
#: weight stream). RTL ops have no such limit (set_folding.py: "this technically only applies
#: to HLS components").
HLS_STREAM_LIMIT = 8191
#: Folding (ordinal) knobs; categorical knobs follow.
FOLD_ATTRS = ("PE", "SIMD")
CHOICE_ATTRS = ("ram_style", "resType", "mem_mode")
#: Memory modes a space may offer ("external"/"dynamic" need another build flow and driver).
INTERNAL_MEM_MODES = ("internal_decoupled", "internal_embedded")
#: Versal families (finn.util.basic.is_versal).
_VERSAL_PREFIXES = ("xcvc", "xcve", "xcvp", "xcvm", "xqvc", "xqvm", "xqrvc", "xcv80")
_BINARY = {"BINARY", "BIPOLAR"}


def divisors(n: int) -> list[int]:
    """Sorted divisors of ``n``: ``divisors(12) == [1, 2, 3, 4, 6, 12]``."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def is_versal(part: str) -> bool:
    """finn.util.basic.is_versal, without importing FINN."""
    return part.lower().startswith(_VERSAL_PREFIXES)


@dataclass(frozen=True)
class DeviceFacts:
    """What the validity rules need to know of the target device."""

    part: str
    has_uram: bool

    @property
    def versal(self) -> bool:
        return is_versal(self.part)


#: A rule: (node facts, device) -> {refused value: FINN's reason}; values not named are fine.
Rule = Callable[[dict[str, Any], DeviceFacts], dict[str, str]]


@dataclass(frozen=True)
class Needs:
    """A categorical value FINN builds only together with some values of another knob of the node.

    ``ram_style: ultra`` needs ``mem_mode: internal_decoupled``: the space offers the value when
    the node may take an allowed value of ``other``, and then only in those combinations (one
    knob over the valid pairs when both are searched).
    """

    attr: str
    value: str
    other: str
    allowed: tuple[str, ...]
    reason: str
    #: whether it holds on a device (default: on every device)
    on: Callable[[DeviceFacts], bool] = lambda device: True

    def ok(self, values: dict[str, Any]) -> bool:
        """Whether one combination of the node's values (``{attr: value}``) is built by FINN."""
        return values.get(self.attr) != self.value or values.get(self.other) in self.allowed


@dataclass(frozen=True)
class Correction:
    """What FINN's estimate of an op family leaves out, added at the counted fidelity.

    ``amount(inst, fpgapart, model)`` runs in the FINN worker on FINN's node instance (the model
    holds its weights); it may be negative where FINN over-counts. ``source`` says where FINN's
    gap is and where the number comes from; ``error`` what it was measured against.
    """

    name: str
    resource: str
    #: op-type suffixes it applies to (``("_rtl",)``); empty: every op type of the family
    impls: tuple[str, ...]
    amount: Callable[[Any, str, Any], float]
    source: str
    error: str

    def applies(self, op_type: str) -> bool:
        return not self.impls or op_type.endswith(self.impls)


@dataclass(frozen=True)
class OpModel:
    """One FINN hardware op family.

    ``folds``: ordinal knobs in the order they are suggested (an MVAU's PE after its SIMD, so
    PE's range can be cut to the weight stream left). ``swg``: how a sliding-window generator
    feeding this op follows it, when no rule folds the generator itself (``"dense"``: the
    MVAU's SIMD sets it; ``"depthwise"``: the PE, and the SIMD's window parallelism, of a
    VVAU/Pool set it, always). ``choice_attrs``: virtual
    categorical knobs mapped to other attributes (Thresholding_rtl's ``ram_style`` is FINN's
    ``depth_trigger_*`` pair).
    """

    family: str
    op_types: tuple[str, ...]
    folds: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    bounds: Callable[[Any], dict[str, list[int]]] = lambda inst: {}
    swg: str | None = None
    rules: tuple[tuple[str, Rule], ...] = ()
    choice_attrs: dict[str, Callable[[str, DeviceFacts], dict[str, Any]]] = field(default_factory=dict)
    #: allowed values of virtual categorical knobs (FINN has no attribute of that name)
    virtual_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    facts: Callable[[Any], dict[str, Any]] = lambda inst: {}
    #: bits per PE*SIMD element of the widest joint stream of an HLS node (weights, or the
    #: VVAU's input window), for FINN's HLS stream limit on PE*SIMD together
    pair_bits: Callable[[Any], int | None] = lambda inst: None
    #: the same when the weights are embedded (mem_mode internal_embedded: FINN streams no
    #: weights), and the bits per SIMD alone that FINN's HLS code still holds (see :func:`stream_bits`)
    embedded_pair_bits: Callable[[Any], int | None] = lambda inst: None
    embedded_simd_bits: Callable[[Any], int | None] = lambda inst: None
    #: categorical values FINN builds only with some values of another knob (URAM weights)
    needs: tuple[Needs, ...] = ()
    #: a sliding-window generator: its consumer may drive it (``swg``); when it has a knob of
    #: its own, its whole window at once (``parallel_window``) is one more SIMD value
    driven_by_consumer: bool = False
    #: data inputs whose folded shape FINN checks (elementwise ops fold both operands)
    data_inputs: int = 1
    #: what FINN's estimate of this family leaves out, added at the counted fidelity
    corrections: tuple[Correction, ...] = ()

    def matches(self, op_type: str) -> bool:
        return any(fnmatch.fnmatchcase(op_type, p) for p in self.op_types)

    def choice_values(self, node: dict[str, Any], attr: str, device: DeviceFacts,
                      offered: dict[str, list[Any]] | None = None) -> tuple[list[str], dict[str, str]]:
        """FINN's allowed values of ``attr`` on ``node`` that it builds on ``device``, and why others are not.

        ``offered``: the values the space offers on this node for its other knobs (a knob not
        in it keeps the node's own value); a value that :attr:`needs` another knob's value is
        refused only when none of the offered values is one it needs.
        """
        allowed = list(node["choices"].get(attr, []))
        refused: dict[str, str] = {}
        if attr == "mem_mode":
            for value in allowed:
                if value not in INTERNAL_MEM_MODES:
                    refused[value] = "external weights need another build flow and driver"
        if attr == "ram_style" and not device.has_uram:
            refused["ultra"] = f"the device {device.part} has no URAM"
        for rule_attr, rule in self.rules:
            if rule_attr == attr:
                for value, reason in rule(node, device).items():
                    refused.setdefault(value, reason)
        for need in self.active_needs(device):
            if need.attr == attr:
                others = (offered or {}).get(need.other) or [node.get("attrs", {}).get(need.other)]
                known = [o for o in others if o is not None]
                if known and not any(o in need.allowed for o in known):
                    refused.setdefault(need.value, need.reason)
        return [v for v in allowed if v not in refused], {v: r for v, r in refused.items() if v in allowed}

    def active_needs(self, device: DeviceFacts) -> list[Needs]:
        """The :attr:`needs` that hold on ``device``."""
        return [need for need in self.needs if need.on(device)]

    def assign(self, attr: str, value: Any, device: DeviceFacts) -> dict[str, Any]:
        """The node attributes one value of a knob sets."""
        if attr in self.choice_attrs:
            return self.choice_attrs[attr](value, device)
        return {attr: value}


# -- bounds: SetFolding's candidates (transformation/fpgadataflow/set_folding.py) --------------


def _channels(inst: Any) -> int:
    """SetFolding's limit of PE ops: NumChannels, else the last output dimension."""
    try:
        return int(inst.get_nodeattr("NumChannels"))
    except AttributeError:
        return int(inst.get_normal_output_shape()[-1])


def _in_channels(inst: Any) -> int:
    """SetFolding's limit of SIMD ops: NumChannels, else the last input dimension."""
    try:
        return int(inst.get_nodeattr("NumChannels"))
    except AttributeError:
        return int(inst.get_normal_input_shape()[-1])


def _pe_bounds(inst: Any) -> dict[str, list[int]]:
    return {"PE": divisors(_channels(inst))}


def _simd_bounds(inst: Any) -> dict[str, list[int]]:
    return {"SIMD": divisors(_in_channels(inst))}


def _common_divisors(values: list[int]) -> list[int]:
    return divisors(math.gcd(*values))


def _layernorm_bounds(inst: Any) -> dict[str, list[int]]:
    # set_folding.py: LayerNorm_rtl only takes SIMD with dim // SIMD > 12
    dim = int(inst.get_normal_input_shape()[-1])
    return {"SIMD": [s for s in divisors(dim) if dim // s > 12] or [1]}


def _io_divisors(inst: Any) -> list[int]:
    return divisors(math.gcd(int(inst.get_normal_input_shape()[-1]), int(inst.get_normal_output_shape()[-1])))


def _reshape_bounds(inst: Any) -> dict[str, list[int]]:
    # PE folds the input and the output stream: it must divide both last dimensions
    # (custom_op/fpgadataflow/reshape.py get_folded_input_shape / get_folded_output_shape)
    return {"PE": _io_divisors(inst)}


def _shuffle_bounds(inst: Any) -> dict[str, list[int]]:
    # SIMD divides the innermost input and output dimension (shuffle.py, inner_shuffle.py,
    # outer_shuffle.py get_folded_*_shape); their NumChannels attribute is a default, not a shape
    return {"SIMD": _io_divisors(inst)}


def _generic_bounds(inst: Any) -> dict[str, list[int]]:
    # an op SetFolding does not know (Crop, Requant, HWSoftmax, Upsample, Pad1D, ...): fold the
    # innermost dimension; describe() keeps only the values FINN's node code accepts
    types = inst.get_nodeattr_types()
    return {attr: _io_divisors(inst) for attr in FOLD_ATTRS if attr in types}


def _mvau_bounds(inst: Any) -> dict[str, list[int]]:
    mw = int(inst.get_nodeattr("MW"))
    simd = divisors(mw)
    if inst.onnx_node.op_type.endswith("_hls"):
        # hls/matrixvectoractivation_hls.py defines(): assert SIMD >= MW / 1024 at HLS codegen
        simd = [s for s in simd if s * 1024 >= mw]
    return {"SIMD": simd, "PE": divisors(int(inst.get_nodeattr("MH")))}


def _weight_facts(inst: Any) -> dict[str, Any]:
    wdt = inst.get_input_datatype(1)
    return {"weight_bits": int(wdt.bitwidth()), "binary_weights": wdt.name in _BINARY}


def _swg_facts(inst: Any) -> dict[str, Any]:
    return {
        "IFMChannels": int(inst.get_nodeattr("IFMChannels")),
        "kernel": int(math.prod(inst.get_nodeattr("ConvKernelDim"))),
        "depthwise": bool(inst.get_nodeattr("depthwise")),
    }


# -- rules: what FINN refuses to build ------------------------------------------------------


def _binary_no_dsp(node: dict[str, Any], device: DeviceFacts) -> dict[str, str]:
    # XNOR-popcount layers are LUT logic; FINN's DSP estimate for them is meaningless
    return {"dsp": "binary weights are XNOR logic, not DSP multiplies"} if node.get("binary_weights") else {}


def _rtl_dsp_only(node: dict[str, Any], device: DeviceFacts) -> dict[str, str]:
    # rtl/matrixvectoractivation_rtl.py _resolve_dsp_version and rtl/vectorvectoractivation_rtl.py
    # _resolve_dsp_version: "LUT-based RTL-MVU/VVU implementation currently not supported!"
    if node.get("impl") != "rtl":
        return {}
    return {"lut": "FINN has no LUT-based RTL implementation of this op (HDL generation refuses it)"}


def _rtl_streams_weights(node: dict[str, Any], device: DeviceFacts) -> dict[str, str]:
    # rtl/matrixvectoractivation_rtl.py code_generation_ipi wires a weight memory only for
    # internal_decoupled (or dynamic/external): the RTL MVU/VVU reads its weights as a stream
    if node.get("impl") != "rtl":
        return {}
    return {"internal_embedded": "FINN's RTL MVU/VVU streams its weights: use internal_decoupled"}


#: matrixvectoractivation.py / vectorvectoractivation_rtl.py: URAM weights are streamed by the
#: memstream (internal_decoupled); on non-Versal parts they must be runtime-writeable (the option
#: sets runtime_writeable_weights=1, see _weights_ram_style).
_URAM_NEEDS_DECOUPLED = Needs("ram_style", "ultra", "mem_mode", ("internal_decoupled",),
                              "URAM weights need mem_mode internal_decoupled (offer mem_mode internal_decoupled)")
#: hls/thresholding_hls.py code_generation_ipgen: URAM thresholds need Versal with
#: internal_embedded, or runtime_writeable_weights=1 with internal_decoupled.
_URAM_THRESHOLDS_NEED_DECOUPLED = Needs(
    "ram_style", "ultra", "mem_mode", ("internal_decoupled",),
    "URAM thresholds off Versal need mem_mode internal_decoupled (FINN cannot initialize URAM from the bitfile)",
    on=lambda device: not device.versal,
)


def _weights_ram_style(value: str, device: DeviceFacts) -> dict[str, Any]:
    # matrixvectoractivation.py:1056, hls/thresholding_hls.py:184: "Layer with URAM weights
    # must have runtime_writeable_weights=1 if Ultrascale device is targeted"
    if value == "ultra" and not device.versal:
        return {"ram_style": "ultra", "runtime_writeable_weights": 1}
    return {"ram_style": value}


#: Thresholding_rtl has no ram_style: rtl/thresholding_rtl.py picks each threshold memory by
#: depth: BRAM when depth_trigger_bram <= depth < depth_trigger_uram, URAM when depth >=
#: depth_trigger_uram, the cheapest primitive when both are 0.
_THRESHOLD_TRIGGERS = {
    "auto": {"depth_trigger_bram": 0, "depth_trigger_uram": 0},
    "block": {"depth_trigger_bram": 1, "depth_trigger_uram": 2**31 - 1},
    "ultra": {"depth_trigger_bram": 0, "depth_trigger_uram": 1},
}


def _threshold_rtl_ram(value: str, device: DeviceFacts) -> dict[str, Any]:
    return dict(_THRESHOLD_TRIGGERS[value])


# -- corrections: what FINN's estimate leaves out (the counted fidelity) ----------------------


def _weights_in_lutram(inst: Any, fpgapart: str) -> bool:
    """Weights streamed from a memstream that FINN counts in neither BRAM nor URAM: LUTRAM."""
    return (inst.get_nodeattr("mem_mode") == "internal_decoupled" and not inst.bram_estimation(fpgapart)
            and not inst.uram_estimation(fpgapart))


def _lutram_weights(inst: Any, fpgapart: str, model: Any) -> float:
    # FINN's HLS MVAU/VVAU lut_estimation (hls/matrixvectoractivation_hls.py:88-91) counts
    # distributed weights as PE*SIMD*W*ceil(WMEM/64) LUTs (64-bit LUTRAM per LUT6). The RTL MVU/VVU
    # keeps its weights in the same memstream, yet rtl/matrixvectoractivation_rtl.py:179 (and the
    # VVU's) return 0 LUT while bram_estimation returns 0 for distributed (FINN issue #1309): the
    # weights appear nowhere. Counted here whenever FINN puts them in neither BRAM nor URAM.
    if not _weights_in_lutram(inst, fpgapart):
        return 0.0
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    bits = int(inst.get_input_datatype(1).bitwidth())
    return float(pe * simd * bits * math.ceil(inst.calc_wmem() / 64))


#: Least-squares fits (relative error) of Yosys synthesis of 116 MVAU_rtl configurations on xczu7ev
#: (docs/calibration/rtl_mvau.md): the MVU core, a + b*PE + c*PE*SIMD + d*PE*SIMD*(abits + wbits) ...
RTL_MVU_CORE_FIT = (25.0, 42.80, 6.36, 1.38)
#: ... and the memstream's logic (its LUTRAM weights apart), a + b*weight_width + c*deep, with
#: weight_width = PE*SIMD*wbits and deep = weight_width*(ceil(WMEM/512) - 1) for LUTRAM weights
#: (the read multiplexers of memories deeper than one RAM512X1S), else 0.
RTL_MEMSTREAM_FIT = (30.0, 2.96, 0.66)


def rtl_datapath_luts(inst: Any, fpgapart: str) -> float:
    """LUTs of an RTL MVU/VVU's core and weight-stream logic (:data:`RTL_MVU_CORE_FIT`, :data:`RTL_MEMSTREAM_FIT`)."""
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    wbits = int(inst.get_input_datatype(1).bitwidth())
    width = int(inst.get_input_datatype(0).bitwidth()) + wbits
    a, b, c, d = RTL_MVU_CORE_FIT
    core = a + b * pe + c * pe * simd + d * pe * simd * width
    stream = 0.0
    if inst.get_nodeattr("mem_mode") == "internal_decoupled":
        weight_width = pe * simd * wbits
        deep = weight_width * (math.ceil(inst.calc_wmem() / 512) - 1) if _weights_in_lutram(inst, fpgapart) else 0
        m0, m1, m2 = RTL_MEMSTREAM_FIT
        stream = m0 + m1 * weight_width + m2 * deep
    return float(round(core + stream))


def _rtl_dsp_lanes(inst: Any, fpgapart: str, model: Any) -> float:
    # rtl/matrixvectoractivation_rtl.py:183 dsp_estimation assumes 4 PEs per DSP48: ceil(PE/4)*SIMD.
    # finn-rtllib/mvu/mvu.sv:141 packs NUM_LANES = 1 + (A_WIDTH - !NARROW_WEIGHTS - W) / (W + A - 1)
    # PEs into one DSP (A_WIDTH 25 on DSP48E1, 27 on DSP48E2) and builds SIMD*ceil(PE/NUM_LANES):
    # 2 lanes at 8x8 bits, where FINN counts half the DSPs. DSP58 (Versal) keeps FINN's number.
    from finn.util.basic import get_dsp_block

    block = get_dsp_block(fpgapart)
    if block not in ("DSP48E1", "DSP48E2"):
        return 0.0
    wbits, abits = int(inst.get_input_datatype(1).bitwidth()), int(inst.get_input_datatype(0).bitwidth())
    a_width = 27 if block == "DSP48E2" else 25
    # NARROW_WEIGHTS as matrixvectoractivation_rtl.py generate_hdl sets it: no weight at the type's minimum
    weights = model.get_initializer(inst.onnx_node.input[1]) if model is not None else None
    wdt = inst.get_input_datatype(1)
    narrow = 0 if weights is None or float(weights.min()) == wdt.min() else 1
    lanes = 1 if a_width == wbits else 1 + (a_width - (1 - narrow) - wbits) // (wbits + abits - 1)
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    return float(simd * math.ceil(pe / lanes) - inst.dsp_estimation(fpgapart))


_RTL_WEIGHTS = Correction(
    "rtl_weights", "LUT", ("_rtl",), _lutram_weights,
    source="FINN's HLS formula PE*SIMD*W*ceil(WMEM/64) for the weights FINN counts in no BRAM/URAM "
           "(its RTL MVAU/VVAU estimate them at 0 LUT, FINN issue #1309)",
    error="Yosys' LUTRAM for finn-rtllib's memstream: equal in 52 of 58 configurations, 2x in the rest "
          "(memories of depth <= 32 pack into RAM32M16); docs/calibration/rtl_mvau.md",
)
_RTL_MVU_DATAPATH = Correction(
    "rtl_datapath", "LUT", ("_rtl",), lambda inst, part, model: rtl_datapath_luts(inst, part),
    source="FINN's RTL MVAU/VVAU lut_estimation returns 0; fits of Yosys synthesis of finn-rtllib's MVU core "
           "and memstream logic (docs/calibration/rtl_mvau.md)",
    error="median 3%, 90th percentile 11%, worst 33% (299 LUT) against Yosys over 116 MVAU_rtl configurations "
          "(xczu7ev); Yosys counts are upper bounds of Vivado's (no SRL mapping); VVAU_rtl (Versal only) is not "
          "measured: the MVU fits stand for it",
)
_RTL_MVU_DSP = Correction(
    "rtl_dsp_lanes", "DSP", ("MVAU_rtl",), _rtl_dsp_lanes,
    source="finn-rtllib mvu.sv packs NUM_LANES PEs per DSP48 (2 at 8x8 bits), FINN's estimate assumes 4",
    error="equals Yosys' DSP48E2 count in 116 of 116 configurations, FINN's in 84 (docs/calibration/rtl_mvau.md)",
)


# -- the table -------------------------------------------------------------------------------

OPS: tuple[OpModel, ...] = (
    OpModel(
        "MVAU", ("MVAU_hls", "MVAU_rtl"), folds=("SIMD", "PE"), choices=("ram_style", "resType", "mem_mode"),
        bounds=_mvau_bounds,
        swg="dense", facts=_weight_facts,
        rules=(("resType", _rtl_dsp_only), ("resType", _binary_no_dsp), ("mem_mode", _rtl_streams_weights)),
        needs=(_URAM_NEEDS_DECOUPLED,),
        choice_attrs={"ram_style": _weights_ram_style},
        # hls/matrixvectoractivation_hls.py get_ap_int_max_w: the weight stream PE*SIMD*W
        # (matrixvectoractivation.py get_instream_width(1): 0 bits when internal_embedded) and
        # the single-PE weight entry SIMD*W; set_folding.py limits PE only for internal_decoupled
        pair_bits=lambda i: int(i.get_input_datatype(1).bitwidth()),
        embedded_simd_bits=lambda i: int(i.get_input_datatype(1).bitwidth()),
        corrections=(_RTL_WEIGHTS, _RTL_MVU_DATAPATH, _RTL_MVU_DSP),
    ),
    OpModel(
        "VVAU", ("VVAU_hls", "VVAU_rtl"), folds=("SIMD", "PE"), choices=("ram_style", "resType", "mem_mode"),
        # set_folding.py: PE divides Channels, SIMD the kernel window prod(Kernel)
        bounds=lambda i: {"SIMD": divisors(int(math.prod(i.get_nodeattr("Kernel")))),
                          "PE": divisors(int(i.get_nodeattr("Channels")))},
        swg="depthwise", facts=_weight_facts,
        rules=(("resType", _rtl_dsp_only), ("resType", _binary_no_dsp), ("mem_mode", _rtl_streams_weights)),
        needs=(_URAM_NEEDS_DECOUPLED,),
        choice_attrs={"ram_style": _weights_ram_style},
        # the input window stream is PE*SIMD activations, the weight stream PE*SIMD weights
        # (vectorvectoractivation.py get_instream_width: no weight stream when internal_embedded)
        pair_bits=lambda i: max(int(i.get_input_datatype(0).bitwidth()), int(i.get_input_datatype(1).bitwidth())),
        embedded_pair_bits=lambda i: int(i.get_input_datatype(0).bitwidth()),
        corrections=(_RTL_WEIGHTS, _RTL_MVU_DATAPATH),
    ),
    OpModel("Pool", ("Pool_hls",), folds=("PE",), bounds=lambda i: {"PE": divisors(int(i.get_nodeattr("Channels")))},
            swg="depthwise"),
    OpModel(
        "ConvolutionInputGenerator", ("ConvolutionInputGenerator_rtl",), folds=("SIMD",), choices=("ram_style",),
        bounds=lambda i: {"SIMD": divisors(int(i.get_nodeattr("IFMChannels")))}, facts=_swg_facts,
        driven_by_consumer=True,
    ),
    OpModel(
        "Thresholding", ("Thresholding_hls",), folds=("PE",), choices=("ram_style", "mem_mode"), bounds=_pe_bounds,
        needs=(_URAM_THRESHOLDS_NEED_DECOUPLED,), choice_attrs={"ram_style": _weights_ram_style},
    ),
    OpModel(
        "Thresholding", ("Thresholding_rtl",), folds=("PE",), choices=("ram_style",), bounds=_pe_bounds,
        choice_attrs={"ram_style": _threshold_rtl_ram}, virtual_values={"ram_style": tuple(_THRESHOLD_TRIGGERS)},
    ),
    # elementwise_binary.py get_folded_input_shape: PE divides the last dimension of the output
    # and of each operand not broadcast along it
    OpModel("ElementwiseBinary", ("Elementwise*_hls", "Elementwise*_rtl"), folds=("PE",), bounds=_pe_bounds,
            data_inputs=2),
    OpModel("DuplicateStreams", ("DuplicateStreams_hls",), folds=("PE",), bounds=_pe_bounds),
    OpModel("ReplicateStream", ("ReplicateStream_hls",), folds=("PE",), bounds=_pe_bounds),
    OpModel("GlobalAccPool", ("GlobalAccPool_hls",), folds=("PE",), bounds=_pe_bounds),
    OpModel("Squeeze", ("Squeeze_hls", "Unsqueeze_hls"), folds=("PE",), bounds=_pe_bounds),
    OpModel("PWPolyF", ("PWPolyF_rtl",), folds=("PE",), bounds=_pe_bounds),
    OpModel("Reshape", ("Reshape_rtl",), folds=("PE",), bounds=_reshape_bounds),
    OpModel("LabelSelect", ("LabelSelect_hls",), folds=("PE",), bounds=lambda i: {"PE": divisors(int(i.get_nodeattr("Labels")))}),
    OpModel("FMPadding", ("FMPadding_rtl", "FMPadding_Pixel_hls"), folds=("SIMD",), bounds=_simd_bounds),
    OpModel("StreamingConcat", ("StreamingConcat_hls", "StreamingSplit_hls"), folds=("SIMD",),
            bounds=lambda i: {"SIMD": _common_divisors([int(c) for c in i.get_nodeattr("ChannelsPerStream")])}),
    OpModel("LayerNorm", ("LayerNorm_rtl",), folds=("SIMD",), bounds=_layernorm_bounds),
    OpModel("Shuffle", ("InnerShuffle_rtl", "OuterShuffle_hls"), folds=("SIMD",), bounds=_shuffle_bounds),
    # last: every other HLS/RTL op with a PE or SIMD attribute (stream plumbing has none)
    OpModel("Other", ("*_hls", "*_rtl"), folds=FOLD_ATTRS, bounds=_generic_bounds),
)

#: The families with their own entry (for error messages and layer-rule checks).
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(m.family for m in OPS if m.family != "Other"))


def model_of(op_type: str) -> OpModel | None:
    """The op model of a (specialized) FINN op type, or None for ops without knobs."""
    for model in OPS:
        if model.matches(op_type):
            return model
    return None


#: finn-plus 1.6.1's hardware op types before specialization (finn.custom_op.fpgadataflow's
#: registry; a test compares it with the installed FINN), so layer rules can be checked without
#: importing FINN. Specialized op types add ``_hls``/``_rtl``.
FINN_OP_TYPES: frozenset[str] = frozenset("""
    ConvolutionInputGenerator Crop DNNContainer DuplicateStreams ElementwiseAbsDiff ElementwiseAdd ElementwiseAnd
    ElementwiseBitShift ElementwiseBitwiseAnd ElementwiseBitwiseOr ElementwiseBitwiseXor ElementwiseDiv
    ElementwiseEqual ElementwiseGreater ElementwiseGreaterOrEqual ElementwiseLess ElementwiseLessOrEqual
    ElementwiseMax ElementwiseMul ElementwiseOr ElementwiseSub ElementwiseXor FMPadding FMPadding_Pixel
    GlobalAccPool HWSoftmax HWWhere InnerShuffle LabelSelect LayerNorm Lookup MVAU MergeMultiHeads OuterShuffle
    PWPolyF Pad1D Pool ReplicateStream Requant Reshape ScaledDotProductAttention SelectToken Shuffle SplitMultiHeads
    Squeeze StreamingConcat StreamingDataWidthConverter StreamingDataflowPartition StreamingFIFO StreamingSplit
    Thresholding Unsqueeze UpsampleNearestNeighbour VVAU
""".split())


#: How tables show a searched categorical value next to ``PExSIMD`` (FINN's defaults show nothing:
#: ram_style auto, resType lut/auto, mem_mode internal_decoupled).
SHORT_VALUES: dict[str, dict[Any, str]] = {
    "ram_style": {"block": "bram", "distributed": "lutram", "ultra": "uram"},
    "resType": {"dsp": "dsp"},
    "mem_mode": {"internal_embedded": "embedded", "external": "external", "dynamic": "dynamic"},
    # a sliding-window generator streaming its whole window at once
    "parallel_window": {1: "window"},
    # Thresholding_rtl's memory choice (see _THRESHOLD_TRIGGERS)
    "depth_trigger_uram": {1: "uram"},
    "depth_trigger_bram": {1: "bram"},
}


def short_choices(attrs: dict[str, Any]) -> list[str]:
    """The non-default memory/implementation choices of one node's folding, e.g. ``["bram", "dsp"]``."""
    return [SHORT_VALUES[a][v] for a, v in attrs.items() if a in SHORT_VALUES and v in SHORT_VALUES[a]]


def known_pattern(pattern: str) -> bool:
    """Whether a layer rule's ``op_type`` pattern can select any FINN hardware op (or family).

    ``MVAU`` matches ``MVAU_hls``/``MVAU_rtl``; globs are allowed; ``*`` matches everything.
    """
    names = {*FINN_OP_TYPES, *(f"{n}_{impl}" for n in FINN_OP_TYPES for impl in ("hls", "rtl")), *FAMILIES}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


# -- the worker side: FINN's node instance -> plain facts ------------------------------------


def _stream_widths_ok(inst: Any) -> bool:
    widths = [int(inst.get_instream_width(0)), int(inst.get_outstream_width(0))]
    return max(widths) <= HLS_STREAM_LIMIT


def _accepts(inst: Any, hls: bool, data_inputs: int) -> bool:
    """FINN's own checks for one folding of a node: folded shapes, cycles, HLS stream widths."""
    try:
        for index in range(data_inputs):
            inst.get_folded_input_shape(index)
        inst.get_folded_output_shape(0)
        if int(inst.get_exp_cycles()) <= 0:
            return False
        return _stream_widths_ok(inst) if hls else True
    except Exception:  # noqa: BLE001 - an assert or error in FINN's node code: FINN refuses it
        return False


def describe(model: Any, node: Any, inst: Any) -> dict[str, Any]:
    """Plain facts about one specialized HW node: its family, valid folding values, choices.

    Runs in the FINN worker. Fold values are SetFolding's candidates that FINN's own node code
    accepts with every other folding attribute at 1.
    """
    op = model_of(node.op_type)
    producer = model.find_producer(node.input[0])
    types = inst.get_nodeattr_types()
    info: dict[str, Any] = {
        "name": node.name,
        "op_type": node.op_type,
        "family": op.family if op else None,
        "impl": "rtl" if node.op_type.endswith("_rtl") else "hls" if node.op_type.endswith("_hls") else "",
        "producer": producer.name if producer is not None else None,
        "consumers": [c.name for c in (model.find_consumers(node.output[0]) or [])],
        "choices": {},
        "folds": {},
        "attrs": {a: inst.get_nodeattr(a) for a in (*FOLD_ATTRS, *CHOICE_ATTRS) if a in types},
    }
    if op is None:
        return info
    info.update(op.facts(inst))
    for attr in op.choices:
        spec = types.get(attr)
        if spec is not None and len(spec) > 3 and spec[3]:
            info["choices"][attr] = sorted(spec[3])
        elif attr in op.virtual_values:
            info["choices"][attr] = list(op.virtual_values[attr])
    hls = info["impl"] == "hls"
    folds = [a for a in op.folds if a in types]
    saved = {a: inst.get_nodeattr(a) for a in folds}
    try:
        for attr, candidates in op.bounds(inst).items():
            for other in folds:
                inst.set_nodeattr(other, 1)
            ok = []
            for value in candidates:
                inst.set_nodeattr(attr, value)
                if _accepts(inst, hls, min(op.data_inputs, len(node.input))):
                    ok.append(value)
            if ok:  # else FINN refuses every value (e.g. a stream too wide even at 1): no knob
                info["folds"][attr] = ok
    finally:
        for attr, value in saved.items():
            inst.set_nodeattr(attr, value)
    info["pair_bits"] = op.pair_bits(inst) if hls else None
    info["embedded_pair_bits"] = op.embedded_pair_bits(inst) if hls else None
    info["embedded_simd_bits"] = op.embedded_simd_bits(inst) if hls else None
    return info


def stream_bits(node: dict[str, Any], mem_mode: Any) -> tuple[int | None, int | None]:
    """The bits per ``PE*SIMD`` and per ``SIMD`` alone that FINN's 8191-bit HLS limit holds a
    node (as :func:`describe` gives it) to under ``mem_mode``; None: no such limit.

    Streamed weights (internal_decoupled, and the modes the space does not offer) count
    ``PE*SIMD*W``; embedded weights (internal_embedded) are no stream: FINN reports a 0-bit
    weight stream and its HLS code generation takes an MVAU of ``SIMD 288 x PE 8 x 4 bit``.
    A description without the embedded facts (a prefix cached by an older dse) keeps the
    streamed limit for every mode.
    """
    if mem_mode == "internal_embedded" and "embedded_pair_bits" in node:
        return node["embedded_pair_bits"], node.get("embedded_simd_bits")
    return node.get("pair_bits"), None
