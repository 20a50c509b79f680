"""FINN-aware search space: only valid foldings exist in it.

:func:`build_space` turns the design-space file plus FINN's description of the specialized
graph (:func:`dse.finn.graph.describe_nodes`) into :class:`Knob` s. A knob is one Optuna
parameter; each of its options assigns FINN node attributes, so coupled nodes move together:

* MVAU ``PE`` divides ``MH``, ``SIMD`` divides ``MW``, and ``PE*SIMD*weight_bits`` stays within
  FINN's weight-stream limit (8191 bits); ``PE`` is suggested after ``SIMD`` with its range cut
  to the values that fit.
* A sliding-window generator (SWG) feeding an MVAU has no knob of its own: the MVAU's SIMD
  option sets it, so stream widths match (SIMD dividing the channels, or the full window with
  ``parallel_window=1``). A depthwise SWG follows the PE of the Pool/VVAU it feeds.
* PE/SIMD of other ops divide their channel count; ``resType=dsp`` is never offered for
  binary weights; ``ram_style=ultra`` only on devices with URAM.

PE/SIMD knobs are ordinal: the parameter ``<node>.<attr>_idx`` is an index into the sorted
valid values (samplers learn that larger means more parallel). Categorical knobs are named
``<node>.<attr>``.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

from dse.errors import DseError
from dse.spacefile import DesignSpaceFile, FoldSpec, Range

#: FINN's MAX_ALLOWED_AP_INT_W: widest weight stream an MVAU may have (bits).
WEIGHT_STREAM_LIMIT = 8191
#: Memory modes offered (external ones need a different build flow).
MEM_MODES = ("internal_decoupled", "internal_embedded")
#: Above this many points an exhaustive grid is refused.
GRID_LIMIT = 100_000

Assign = dict[str, dict[str, Any]]


def divisors(n: int) -> list[int]:
    """Sorted divisors of ``n``: ``divisors(12) == [1, 2, 3, 4, 6, 12]``."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@dataclass
class Knob:
    """One Optuna parameter. ``options[i]`` assigns node attributes; ``values[i]`` labels it."""

    param: str
    node: str
    attr: str
    values: list[Any]
    options: list[Assign]
    ordinal: bool
    #: For an MVAU PE knob: the SIMD knob it shares the weight-stream budget with.
    pair: str | None = None
    pair_budget: int | None = None

    def count(self, chosen: dict[str, Any]) -> int:
        """How many options are valid given the values already chosen (a prefix if paired)."""
        if self.pair is None or self.pair not in chosen:
            return len(self.values)
        return sum(1 for v in self.values if v * chosen[self.pair] <= self.pair_budget)


@dataclass
class Space:
    """The compiled search space of one design-space file on one specialized graph."""

    knobs: list[Knob]
    fixed: Assign = field(default_factory=dict)
    target_fps: tuple[float, float] | None = None
    wwidth_choices: list[int] | None = None

    # -- Optuna -------------------------------------------------------------------------
    def suggest(self, trial: Any) -> tuple[Assign, dict[str, Any]]:
        """Ask ``trial`` for every knob; return (folding assignments, FINN build overrides)."""
        chosen: dict[str, Any] = {}
        indices: dict[str, Any] = {}
        for knob in self.knobs:
            if knob.ordinal:
                high = knob.count(chosen) - 1
                index = trial.suggest_int(knob.param, 0, high)
            else:
                index = knob.values.index(trial.suggest_categorical(knob.param, knob.values))
            indices[knob.param] = index
            chosen[knob.param] = knob.values[index]
        return self._assign(indices), self._overrides(trial)

    def _overrides(self, trial: Any) -> dict[str, Any]:
        if self.target_fps is None:
            return {}
        low, high = self.target_fps
        out: dict[str, Any] = {"target_fps": trial.suggest_float("target_fps", low, high, log=True)}
        if self.wwidth_choices:
            out["mvau_wwidth_max"] = (
                trial.suggest_categorical("mvau_wwidth_max", self.wwidth_choices)
                if len(self.wwidth_choices) > 1
                else self.wwidth_choices[0]
            )
        return out

    def _assign(self, indices: dict[str, int]) -> Assign:
        out: Assign = {name: dict(attrs) for name, attrs in self.fixed.items()}
        for knob in self.knobs:
            for node, attrs in knob.options[indices[knob.param]].items():
                out.setdefault(node, {}).update(attrs)
        return out

    def folding_from_params(self, params: dict[str, Any]) -> Assign:
        """Assignments for stored trial params; ``ValueError`` if they are not a valid point."""
        indices: dict[str, int] = {}
        chosen: dict[str, Any] = {}
        for knob in self.knobs:
            if knob.param not in params:
                raise ValueError(f"missing parameter {knob.param}")
            raw = params[knob.param]
            index = raw if knob.ordinal else knob.values.index(raw)
            if not 0 <= index < knob.count(chosen):
                raise ValueError(f"{knob.param}={raw} is not valid here")
            indices[knob.param] = index
            chosen[knob.param] = knob.values[index]
        return self._assign(indices)

    # -- exhaustive ----------------------------------------------------------------------
    def grid_size(self) -> int:
        """Number of valid points, counted per independent group (never by listing them)."""
        if self.target_fps is not None:
            raise DseError("target_fps spaces are continuous: they have no finite grid")
        dependents: dict[str, list[Knob]] = {}
        for knob in self.knobs:
            if knob.pair is not None:
                dependents.setdefault(knob.pair, []).append(knob)
        total = 1
        for knob in self.knobs:
            if knob.pair is not None:
                continue  # counted with the knob it is paired with
            deps = dependents.get(knob.param, [])
            total *= sum(math.prod(d.count({knob.param: v}) for d in deps) for v in knob.values)
        return total

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every valid point as Optuna params (indices / categorical values), in a fixed order."""
        def walk(i: int, chosen: dict[str, Any], params: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if i == len(self.knobs):
                yield dict(params)
                return
            knob = self.knobs[i]
            for index in range(knob.count(chosen)):
                chosen[knob.param] = knob.values[index]
                params[knob.param] = index if knob.ordinal else knob.values[index]
                yield from walk(i + 1, chosen, params)
            chosen.pop(knob.param, None)
            params.pop(knob.param, None)

        yield from walk(0, {}, {})

    def attributes(self) -> dict[str, set[Any]]:
        """Every node attribute this space may set, with every value it may take."""
        out: dict[str, set[Any]] = {}
        for assign in [self.fixed, *(o for k in self.knobs for o in k.options)]:
            for attrs in assign.values():
                for attr, value in attrs.items():
                    out.setdefault(attr, set()).add(value)
        return out

    def minimize_hoistable(self, safe_attrs: set[str], safe_mem_modes: set[str]) -> bool:
        """True when no folding of this space touches what FINN's bit-width minimization reads."""
        if self.target_fps is not None:
            return False  # SetFolding reads the weight bit widths: minimization must come after
        attrs = self.attributes()
        return set(attrs) <= safe_attrs and attrs.get("mem_mode", set()) <= safe_mem_modes

    def describe(self) -> list[dict[str, Any]]:
        """JSON-able summary (stored on the study): each knob with its values."""
        return [{"param": k.param, "values": k.values} for k in self.knobs]


# -- compilation ------------------------------------------------------------------------


def _op_matches(op_type: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(op_type, pattern) or fnmatch.fnmatchcase(op_type, pattern + "_*")


def _select(spec: FoldSpec, valid: list[int], where: str, node: str, attr: str) -> list[int]:
    if spec == "all":
        return list(valid)
    if isinstance(spec, Range):
        chosen = [v for v in valid if spec.min <= v <= spec.max]
        if not chosen:
            raise DseError(f"{where}: no valid {attr} of {node} lies in [{spec.min}, {spec.max}] (valid: {_fmt(valid)})")
        return chosen
    for value in spec:
        if value not in valid:
            raise DseError(f"{where}: {value} is not a valid {attr} for {node} (valid: {_fmt(valid)})")
    return sorted(set(spec))


def _fmt(values: list[Any]) -> str:
    text = ", ".join(str(v) for v in values[:12])
    return text + (", ..." if len(values) > 12 else "")


def build_space(
    spec: DesignSpaceFile,
    nodes: list[dict[str, Any]],
    origin: str,
    has_uram: bool,
) -> Space:
    """Compile the design-space ``spec`` on the FINN graph ``nodes``; errors name ``origin``."""
    by_name = {n["name"]: n for n in nodes}
    rules = spec.layers
    if rules is None:  # default: fold every node FINN lets us fold
        from dse.spacefile import LayerRule, Selector

        rules = [] if spec.target_fps else [LayerRule(match=Selector(op_type="*"), PE="all", SIMD="all")]

    # Resolve which rule decides each (node, attribute): the last matching rule that sets it.
    decided: dict[tuple[str, str], tuple[Any, str]] = {}
    for i, rule in enumerate(rules):
        where = f"{origin}: layers[{i}]"
        matched = [
            n for n in nodes
            if (rule.match.op_type is None or _op_matches(n["op_type"], rule.match.op_type))
            and (rule.match.name is None or fnmatch.fnmatchcase(n["name"], rule.match.name))
        ]
        if not matched:
            raise DseError(f"{where}.match: selects no node (nodes: {_fmt([n['name'] for n in nodes])})")
        for attr in ("PE", "SIMD", "ram_style", "resType", "mem_mode"):
            value = getattr(rule, attr)
            if value is None:
                continue
            takers = [n for n in matched if _has_attr(n, attr, by_name)]
            if not takers and not (rule.match.op_type == "*" and attr in ("PE", "SIMD")):
                raise DseError(f"{where}.{attr}: none of the selected nodes has a free {attr} knob")
            for n in takers:
                decided[(n["name"], attr)] = (value, f"{where}.{attr}")

    knobs: list[Knob] = []
    fixed: Assign = {}

    def add(node: str, attr: str, values: list[Any], options: list[Assign], ordinal: bool, **kw: Any) -> Knob | None:
        if len(values) == 1:
            for name, attrs in options[0].items():
                fixed.setdefault(name, {}).update(attrs)
            return None
        knob = Knob(f"{node}.{attr}_idx" if ordinal else f"{node}.{attr}", node, attr, values, options, ordinal, **kw)
        knobs.append(knob)
        return knob

    for n in nodes:
        name, kind = n["name"], n["kind"]
        pe_spec = decided.get((name, "PE"))
        simd_spec = decided.get((name, "SIMD"))
        if kind == "mvau":
            simd_valid, simd_opts = _mvau_simd_options(n, by_name)
            pe_valid = divisors(n["MH"])
            simd_vals = _select(simd_spec[0], simd_valid, simd_spec[1], name, "SIMD") if simd_spec else None
            pe_vals = _select(pe_spec[0], pe_valid, pe_spec[1], name, "PE") if pe_spec else None
            budget = WEIGHT_STREAM_LIMIT // n["weight_bits"]
            simd_knob = None
            if simd_vals:
                # SIMD values that leave room for at least the smallest PE
                min_pe = pe_vals[0] if pe_vals else 1
                simd_vals = [s for s in simd_vals if s * min_pe <= budget]
                if not simd_vals:
                    raise DseError(f"{(simd_spec or pe_spec)[1]}: no SIMD of {name} fits FINN's {WEIGHT_STREAM_LIMIT}-bit weight stream")
                simd_knob = add(name, "SIMD", simd_vals, [simd_opts[s] for s in simd_vals], True)
            if pe_vals:
                simd_fixed = simd_vals[0] if simd_vals and simd_knob is None else 1
                pe_vals = [p for p in pe_vals if p * simd_fixed <= budget] if simd_knob is None else pe_vals
                if not pe_vals:
                    raise DseError(f"{pe_spec[1]}: no PE of {name} fits FINN's {WEIGHT_STREAM_LIMIT}-bit weight stream")
                pair = {"pair": simd_knob.param, "pair_budget": budget} if simd_knob else {}
                add(name, "PE", pe_vals, [{name: {"PE": p}} for p in pe_vals], True, **pair)
        elif kind in ("pool", "vvau") and pe_spec:
            valid = divisors(n["Channels"])
            vals = _select(pe_spec[0], valid, pe_spec[1], name, "PE")
            swg = _dw_swg(n, by_name)
            opts = [{name: {"PE": p}, **({swg: {"SIMD": p, "parallel_window": 0}} if swg else {})} for p in vals]
            add(name, "PE", vals, opts, True)
        elif kind == "pe" and pe_spec:
            vals = _select(pe_spec[0], divisors(n["pe_max"]), pe_spec[1], name, "PE")
            add(name, "PE", vals, [{name: {"PE": p}} for p in vals], True)
        elif kind in ("simd", "swg") and simd_spec and _has_attr(n, "SIMD", by_name):
            limit = n["simd_max"] if kind == "simd" else n["IFMChannels"]
            vals = _select(simd_spec[0], divisors(limit), simd_spec[1], name, "SIMD")
            extra = {"parallel_window": 0} if kind == "swg" else {}
            add(name, "SIMD", vals, [{name: {"SIMD": s, **extra}} for s in vals], True)
        for attr in ("ram_style", "resType", "mem_mode"):
            choice = decided.get((name, attr))
            if choice is None:
                continue
            allowed = _categorical_allowed(n, attr, has_uram)
            for value in choice[0]:
                if value not in allowed:
                    raise DseError(f"{choice[1]}: {value!r} is not allowed for {name} (allowed: {', '.join(allowed)})")
            vals = list(dict.fromkeys(choice[0]))
            add(name, attr, vals, [{name: {attr: v}} for v in vals], False)

    target = None
    wwidth = None
    if spec.target_fps is not None:
        target = (spec.target_fps.min, spec.target_fps.max)
        wwidth = spec.target_fps.mvau_wwidth_max
    return Space(knobs=knobs, fixed=fixed, target_fps=target, wwidth_choices=wwidth)


def _has_attr(n: dict[str, Any], attr: str, by_name: dict[str, Any]) -> bool:
    kind = n["kind"]
    if attr in ("ram_style", "resType", "mem_mode"):
        return attr in n["categorical"]
    if attr == "PE":
        return kind in ("mvau", "pool", "vvau", "pe")
    # SIMD: an SWG's SIMD follows the node it feeds when that node is an MVAU/Pool/VVAU
    if kind == "swg":
        return not any(by_name[c]["kind"] in ("mvau", "pool", "vvau") for c in n["consumers"] if c in by_name)
    return kind in ("mvau", "simd")


def _mvau_simd_options(n: dict[str, Any], by_name: dict[str, Any]) -> tuple[list[int], dict[int, Assign]]:
    """Valid SIMD values of an MVAU and what each sets (including a coupled SWG producer)."""
    name, mw = n["name"], n["MW"]
    producer = by_name.get(n["producer"]) if n["producer"] else None
    if producer is None or producer["kind"] != "swg" or producer["depthwise"]:
        return divisors(mw), {s: {name: {"SIMD": s}} for s in divisors(mw)}
    channels = producer["IFMChannels"]
    options: dict[int, Assign] = {
        s: {name: {"SIMD": s}, producer["name"]: {"SIMD": s, "parallel_window": 0}}
        for s in divisors(channels)
        if mw % s == 0
    }
    if producer["kernel"] > 1 and mw == producer["kernel"] * channels:
        # the whole window per cycle: SWG streams SIMD=C channels of all K*K pixels at once
        options[mw] = {name: {"SIMD": mw}, producer["name"]: {"SIMD": channels, "parallel_window": 1}}
    return sorted(options), options


def _dw_swg(n: dict[str, Any], by_name: dict[str, Any]) -> str | None:
    producer = by_name.get(n["producer"]) if n["producer"] else None
    if producer is not None and producer["kind"] == "swg" and producer["depthwise"]:
        return producer["name"]
    return None


def _categorical_allowed(n: dict[str, Any], attr: str, has_uram: bool) -> list[str]:
    allowed = list(n["categorical"].get(attr, []))
    if attr == "resType" and n.get("binary_weights"):
        allowed = [v for v in allowed if v == "lut"]  # DSP estimates of XNOR layers are absurd
    if attr == "ram_style" and not has_uram:
        allowed = [v for v in allowed if v != "ultra"]  # FINN would still estimate URAM
    if attr == "mem_mode":
        allowed = [v for v in allowed if v in MEM_MODES]
    return allowed
