"""FINN-aware search space: only valid foldings exist in it.

:func:`build_space` turns the design-space file plus FINN's description of the specialized
graph (:func:`dse.finn.graph.describe_nodes`) into :class:`Knob` s. What each op can fold and
which values FINN accepts come from the op model (:mod:`dse.finn.ops`); this module only
combines them. A knob is one Optuna parameter; each of its options assigns FINN node
attributes, so coupled nodes move together:

* PE/SIMD values are the ones FINN's SetFolding would try (divisors of the folded dimension)
  that FINN's node code accepts; on HLS nodes ``PE*SIMD*bits`` of the weight (or window)
  stream stays within FINN's 8191-bit limit, with ``PE`` suggested after ``SIMD`` and its
  range cut to the values that fit. Embedded weights (``mem_mode: internal_embedded``) are
  no stream, so the limit holds only with streamed ones: when a node's mem_mode is searched
  and the limit differs between its values, the mem_mode knob is suggested first and the
  PE/SIMD ranges follow it. RTL nodes have no such limit.
* A sliding-window generator (SWG) feeding an MVAU that a rule gives a SIMD folds on its own,
  as in FINN's SetFolding: SIMD dividing its channels, or its whole window with
  ``parallel_window=1``, while the MVAU takes any SIMD of its rows (FINN joins the streams with
  a data-width converter). One that no rule names follows the MVAU's SIMD (streams match). A
  depthwise SWG follows the PE of the Pool/VVAU it feeds, and a VVAU's SIMD > 1 puts it in
  ``parallel_window`` mode (as SetFolding does).
* Categorical knobs (``ram_style``, ``resType``, ``mem_mode``) offer only what FINN builds on
  that node and device; a refused value is one line with FINN's reason. Values FINN builds
  only together (URAM weights need ``internal_decoupled``) become one knob over the valid
  pairs, ``<node>.ram_style+mem_mode`` with values such as ``ultra+internal_decoupled``.

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
from dse.finn import ops
from dse.finn.ops import DeviceFacts, divisors  # noqa: F401  (divisors: part of this module's API)
from dse.spacefile import DesignSpaceFile, FoldSpec, Range

#: FINN's MAX_ALLOWED_AP_INT_W: widest stream an HLS node may have (bits).
WEIGHT_STREAM_LIMIT = ops.HLS_STREAM_LIMIT
#: Above this many points an exhaustive grid is refused.
GRID_LIMIT = 100_000

Assign = dict[str, dict[str, Any]]


@dataclass
class Knob:
    """One Optuna parameter. ``options[i]`` assigns node attributes; ``values[i]`` labels it.

    An ordinal knob may depend on knobs suggested before it (FINN's HLS stream limit): its
    valid values are the prefix ``values[:count(chosen)]``. Categorical knobs never depend on
    others (Optuna's categorical choices cannot change between trials); values FINN builds
    only together are one categorical knob over the valid pairs.
    """

    param: str
    node: str
    attr: str
    values: list[Any]
    options: list[Assign]
    ordinal: bool
    #: For an HLS MVAU/VVAU PE knob: the SIMD knob it shares the stream budget with
    #: (``value * SIMD <= budget``).
    pair: str | None = None
    pair_budget: int | None = None
    #: The knob whose value decides the budget (the node's mem_mode: embedded weights are no
    #: stream), and the budget under each of its values (None: no limit).
    mode: str | None = None
    budgets: dict[Any, int | None] | None = None

    def count(self, chosen: dict[str, Any]) -> int:
        """How many options are valid given the values already chosen (a prefix if limited)."""
        budget = self.pair_budget
        if self.mode is not None:
            if self.mode not in chosen:
                return len(self.values)
            budget = self.budgets[chosen[self.mode]]  # type: ignore[index]
        if budget is None:
            return len(self.values)
        if self.pair is not None and self.pair not in chosen:
            return len(self.values)
        factor = chosen[self.pair] if self.pair is not None else 1
        return sum(1 for v in self.values if v * factor <= budget)

    def depends_on(self) -> list[str]:
        """The params of the knobs this knob's valid values depend on."""
        return [p for p in (self.pair, self.mode) if p is not None]


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
        parent = {k.param: k.param for k in self.knobs}

        def find(param: str) -> str:
            while parent[param] != param:
                param = parent[param]
            return param

        for knob in self.knobs:  # knobs that depend on each other form one group
            for other in knob.depends_on():
                parent[find(knob.param)] = find(other)
        groups: dict[str, list[Knob]] = {}
        for knob in self.knobs:
            groups.setdefault(find(knob.param), []).append(knob)

        def count(knobs: list[Knob], chosen: dict[str, Any]) -> int:
            knob, rest = knobs[0], knobs[1:]
            if not rest:  # the last knob is counted, not walked
                return knob.count(chosen)
            total = 0
            for value in knob.values[: knob.count(chosen)]:
                total += count(rest, {**chosen, knob.param: value})
            return total

        return math.prod(count(knobs, {}) for knobs in groups.values())

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

    def hoist_blocker(self, safe_attrs: set[str], safe_mem_modes: set[str]) -> str | None:
        """Why FINN's bit-width minimization cannot run before this space's foldings, or None."""
        if self.target_fps is not None:
            return "target_fps: FINN's SetFolding reads the weight bit widths, so the minimization must follow it"
        attrs = self.attributes()
        unsafe = sorted(set(attrs) - safe_attrs)
        if unsafe:
            return f"the space sets {', '.join(unsafe)}, which FINN's bit-width minimization reads"
        modes = sorted(attrs.get("mem_mode", set()) - safe_mem_modes)
        if modes:
            return f"mem_mode {', '.join(modes)} changes what FINN's bit-width minimization does"
        return None

    def describe(self) -> list[dict[str, Any]]:
        """JSON-able summary (stored on the study): each knob with its values."""
        return [{"param": k.param, "values": k.values} for k in self.knobs]


# -- compilation ------------------------------------------------------------------------


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


def check_rules(spec: DesignSpaceFile, origin: str, device: DeviceFacts) -> None:
    """What can be refused before any FINN work: unknown op types, URAM on a device without it."""
    for i, rule in enumerate(spec.layers or []):
        pattern = rule.match.op_type
        if pattern is not None and not ops.known_pattern(pattern):
            raise DseError(f"{origin}: layers[{i}].match.op_type: no FINN op with folding knobs matches "
                           f"{pattern!r} (known: {', '.join(ops.FAMILIES)})")
        if rule.ram_style and "ultra" in rule.ram_style and not device.has_uram:
            raise DseError(f"{origin}: layers[{i}].ram_style: 'ultra' needs URAM, and {device.part} has none")


def build_space(
    spec: DesignSpaceFile,
    nodes: list[dict[str, Any]],
    origin: str,
    device: DeviceFacts,
) -> Space:
    """Compile the design-space ``spec`` on the FINN graph ``nodes``; errors name ``origin``."""
    check_rules(spec, origin, device)
    by_name = {n["name"]: n for n in nodes}
    rules = spec.layers
    if rules is None:  # default: fold every node FINN lets us fold
        from dse.spacefile import LayerRule, Selector

        rules = [] if spec.target_fps else [LayerRule(match=Selector(op_type="*"), PE="all", SIMD="all")]

    free = _free_generators(rules, nodes)
    # Resolve which rule decides each (node, attribute): the last matching rule that sets it.
    decided: dict[tuple[str, str], tuple[Any, str]] = {}
    for i, rule in enumerate(rules):
        where = f"{origin}: layers[{i}]"
        matched = [n for n in nodes if _rule_matches(rule, n)]
        if not matched:
            raise DseError(f"{where}.match: selects no node (nodes: {_fmt([n['name'] for n in nodes])})")
        for attr in (*ops.FOLD_ATTRS, *ops.CHOICE_ATTRS):
            value = getattr(rule, attr)
            if value is None:
                continue
            takers = [n for n in matched if _has_attr(n, attr, by_name, free)]
            if not takers and not (rule.match.op_type == "*" and attr in ops.FOLD_ATTRS):
                raise DseError(f"{where}.{attr}: none of the selected nodes has a free {attr} knob")
            for n in takers:
                decided[(n["name"], attr)] = (value, f"{where}.{attr}")

    # Categorical values FINN builds, per node. A rule over several nodes (op_type: MVAU on
    # HLS and RTL MVAUs) gives each node the values it builds; a value no node builds is an error.
    # Knobs another value needs (URAM needs mem_mode internal_decoupled) are resolved first:
    # what a node is offered of them decides whether the value that needs them is built.
    needed = {need.other for m in ops.OPS for need in m.needs}
    accepted: dict[tuple[str, str], list[str]] = {}
    refusals: dict[tuple[str, str], dict[str, str]] = {}
    accepted_by_rule: dict[str, set[str]] = {}
    for (name, attr), (value, where) in sorted(decided.items(), key=lambda item: item[0][1] not in needed):
        if attr not in ops.CHOICE_ATTRS:
            continue
        n = by_name[name]
        offered = {a: [v for v in decided[(name, a)][0] if v in accepted[(name, a)]]
                   for a in needed if (name, a) in accepted}
        allowed, refused = ops.model_of(n["op_type"]).choice_values(n, attr, device, offered)  # type: ignore[union-attr]
        accepted[(name, attr)], refusals[(name, attr)] = allowed, refused
        accepted_by_rule.setdefault(where, set()).update(v for v in value if v in allowed)

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
        model = ops.model_of(n["op_type"])
        if model is None:
            continue
        name = n["name"]
        swg = _coupled_swg(n, model, by_name, free)
        chosen: dict[str, list[int]] = {}
        for attr in model.folds:
            if not _has_attr(n, attr, by_name, free) or (name, attr) not in decided:
                continue
            spec_value, where = decided[(name, attr)]
            valid = _fold_values(n, model, attr, swg)
            chosen[attr] = _select(spec_value, sorted(valid), where, name, attr)
        choices = _choices(n, model, decided, accepted, refusals, accepted_by_rule, device)
        # FINN's HLS stream limit depends on the node's mem_mode (embedded weights are no
        # stream): the knob that sets it comes first when a PE/SIMD limit differs between its values
        carrier = next((c for c in choices if c.modes is not None and len(c.values) > 1), None)
        if carrier is not None:
            modes = dict(zip(carrier.values, carrier.modes))  # type: ignore[arg-type]
        else:
            modes = {None: next((c.modes[0] for c in choices if c.modes is not None), n["attrs"].get("mem_mode"))}
        folds = _fold_limits(n, model, chosen, {m: ops.stream_bits(n, m) for m in set(modes.values())},
                             {a: decided[(name, a)][1] for a in chosen}, several_modes=carrier is not None)
        dependent = any(len(set(budgets.values())) > 1 for _, budgets, _ in folds.values())
        if dependent:
            add(name, carrier.attr, carrier.values, carrier.options, False)  # type: ignore[union-attr]
        simd_knob: Knob | None = None
        for attr, (values, budgets, paired) in folds.items():
            pair = simd_knob.param if paired and simd_knob is not None else None
            distinct = set(budgets.values())
            limit: dict[str, Any] = {}
            if len(distinct) > 1:  # the budget follows the mem_mode knob
                limit = {"pair": pair, "mode": f"{name}.{carrier.attr}",  # type: ignore[union-attr]
                         "budgets": {value: budgets[mode] for value, mode in modes.items()}}
            elif pair is not None and distinct != {None}:
                limit = {"pair": pair, "pair_budget": distinct.pop()}
            options = [_fold_option(n, model, attr, v, swg, chosen) for v in values]
            knob = add(name, attr, values, options, True, **limit)
            if attr == "SIMD":
                simd_knob = knob
        for choice in choices:
            if not (dependent and choice is carrier):
                add(name, choice.attr, choice.values, choice.options, False)
    target = None
    wwidth = None
    if spec.target_fps is not None:
        target = (spec.target_fps.min, spec.target_fps.max)
        wwidth = spec.target_fps.mvau_wwidth_max
    return Space(knobs=knobs, fixed=fixed, target_fps=target, wwidth_choices=wwidth)


@dataclass
class _Choice:
    """One categorical knob of a node: its values, the node attributes each sets, and the
    mem_mode each gives the node (None when the knob does not set mem_mode)."""

    attr: str
    values: list[Any]
    options: list[Assign]
    modes: list[Any] | None


def _choices(
    n: dict[str, Any], model: ops.OpModel, decided: dict[tuple[str, str], tuple[Any, str]],
    accepted: dict[tuple[str, str], list[str]], refusals: dict[tuple[str, str], dict[str, str]],
    accepted_by_rule: dict[str, set[str]], device: DeviceFacts,
) -> list[_Choice]:
    """The categorical knobs of node ``n``: what the rules offer and FINN builds on it. Values
    FINN builds only together (URAM weights with internal_decoupled) are one knob over the
    valid pairs, ``"ultra+internal_decoupled"``, so that every offered point is built."""
    name = n["name"]
    vals: dict[str, list[Any]] = {}
    wheres: dict[str, str] = {}
    for attr in ops.CHOICE_ATTRS:
        choice = decided.get((name, attr))
        if choice is None:
            continue
        for value in choice[0]:
            if value not in accepted_by_rule[choice[1]]:  # no node of the rule takes it: say why
                reason = refusals[(name, attr)].get(value) or f"allowed: {', '.join(accepted[(name, attr)])}"
                raise DseError(f"{choice[1]}: {value!r} is not built by FINN for {name}: {reason}")
        values = [v for v in dict.fromkeys(choice[0]) if v in accepted[(name, attr)]]
        if values:
            vals[attr], wheres[attr] = values, choice[1]
    fused: dict[str, tuple[str, list[tuple[Any, Any]]]] = {}
    for need in model.active_needs(device):
        own = n.get("attrs", {})  # a knob no rule searches keeps the node's own value
        mine, theirs = vals.get(need.attr, [own.get(need.attr)]), vals.get(need.other, [own.get(need.other)])
        pairs = [(a, b) for a in mine for b in theirs if need.ok({need.attr: a, need.other: b})]
        if need.attr in vals and need.other in vals:
            if len(pairs) < len(vals[need.attr]) * len(vals[need.other]):
                fused[need.attr] = (need.other, pairs)
        elif need.other in vals:  # the node's own value needs some of the offered ones
            kept = [b for b in vals[need.other] if any(b == pair[1] for pair in pairs)]
            if not kept:
                raise DseError(f"{wheres[need.other]}: no value is built by FINN for {name}: {need.reason}")
            vals[need.other] = kept
    out = []
    partners = {other for other, _ in fused.values()}
    for attr in ops.CHOICE_ATTRS:
        if attr not in vals or attr in partners:
            continue
        if attr in fused:
            other, pairs = fused[attr]
            label, values = f"{attr}+{other}", [f"{a}+{b}" for a, b in pairs]
            options = [{name: {**model.assign(attr, a, device), **model.assign(other, b, device)}} for a, b in pairs]
        else:
            label, values = attr, vals[attr]
            options = [{name: model.assign(attr, v, device)} for v in values]
        sets_mode = any("mem_mode" in o[name] for o in options)
        out.append(_Choice(label, values, options, [o[name].get("mem_mode") for o in options] if sets_mode else None))
    return out


def _fold_limits(
    n: dict[str, Any], model: ops.OpModel, chosen: dict[str, list[int]], limits: dict[Any, tuple[int | None, int | None]],
    wheres: dict[str, str], several_modes: bool,
) -> dict[str, tuple[list[int], dict[Any, int | None], bool]]:
    """Per fold knob of ``n`` (in suggestion order): its values that fit FINN's HLS stream limit
    under some mem_mode, the budget under each mode (:func:`_fold_budget`; None where no value
    reaches it), and whether it is a PE paired with a SIMD knob. Updates ``chosen``; a mode
    under which no value fits is an error."""
    out: dict[str, tuple[list[int], dict[Any, int | None], bool]] = {}
    for attr in model.folds:
        if attr not in chosen:
            continue
        paired = attr == "PE" and "SIMD" in out and len(out["SIMD"][0]) > 1
        budgets = {m: _fold_budget(n, attr, bits, chosen, paired) for m, bits in limits.items()}
        least, most = (min(chosen["SIMD"]), max(chosen["SIMD"])) if paired else (1, 1)
        values = [v for v in chosen[attr] if any(b is None or v * least <= b for b in budgets.values())]
        for mode, budget in budgets.items():
            if not values or (budget is not None and values[0] * least > budget):
                with_mode = f" with mem_mode {mode}" if several_modes else ""
                raise DseError(f"{wheres[attr]}: no {attr} of {n['name']} fits FINN's {ops.HLS_STREAM_LIMIT}-bit "
                               f"HLS stream limit{with_mode}")
        chosen[attr] = values
        out[attr] = (values, {m: None if b is None or values[-1] * most <= b else b for m, b in budgets.items()}, paired)
    return out


def _fold_budget(n: dict[str, Any], attr: str, bits: tuple[int | None, int | None], chosen: dict[str, list[int]],
                 paired: bool) -> int | None:
    """What FINN's HLS stream limit leaves a fold knob of ``n`` under one mem_mode's stream bits
    (:func:`dse.finn.ops.stream_bits`): the largest SIMD, the largest ``PE*SIMD`` of a PE paired
    with a SIMD knob, else the largest PE; None: no limit."""
    pair_bits, simd_bits = bits
    limit = ops.HLS_STREAM_LIMIT
    if attr == "SIMD":
        pe = min(chosen["PE"]) if "PE" in chosen else int(n["attrs"].get("PE") or 1)
        caps = ([limit // (pair_bits * pe)] if pair_bits else []) + ([limit // simd_bits] if simd_bits else [])
        return min(caps) if caps else None
    if attr == "PE" and pair_bits:
        if paired:
            return limit // pair_bits
        simd = chosen["SIMD"][0] if "SIMD" in chosen else int(n["attrs"].get("SIMD") or 1)
        return limit // (pair_bits * simd)
    return None


def _op_matches(n: dict[str, Any], pattern: str) -> bool:
    names = [n["op_type"]] + ([n["family"]] if n.get("family") else [])
    return any(fnmatch.fnmatchcase(x, pattern) or fnmatch.fnmatchcase(x, pattern + "_*") for x in names)


def _rule_matches(rule: Any, n: dict[str, Any]) -> bool:
    """Whether a layer rule's ``match`` selects node ``n`` (op type or family glob, name glob)."""
    return ((rule.match.op_type is None or _op_matches(n, rule.match.op_type))
            and (rule.match.name is None or fnmatch.fnmatchcase(n["name"], rule.match.name)))


def _free_generators(rules: list[Any], nodes: list[dict[str, Any]]) -> set[str]:
    """Dense generators (feeding an MVAU) that a rule gives a SIMD: they fold on their own, as
    in FINN's SetFolding (the MVAU takes any SIMD of its rows; FINN joins unequal streams with
    a data-width converter). A dense generator no rule names follows its MVAU's SIMD."""
    free = set()
    for n in nodes:
        model = ops.model_of(n["op_type"])
        if model is None or not model.driven_by_consumer or n.get("depthwise"):
            continue
        if any(rule.SIMD is not None and _rule_matches(rule, n) for rule in rules):
            free.add(n["name"])
    return free


def _coupled_swg(n: dict[str, Any], model: ops.OpModel, by_name: dict[str, Any], free: set[str]) -> dict[str, Any] | None:
    """The sliding-window generator feeding ``n`` that follows it, if any."""
    if model.swg is None or not n["producer"] or n["producer"] in free:
        return None
    producer = by_name.get(n["producer"])
    producer_model = ops.model_of(producer["op_type"]) if producer else None
    if producer_model is None or not producer_model.driven_by_consumer:
        return None
    if producer["depthwise"] != (model.swg == "depthwise"):
        return None
    return producer


def _driven(n: dict[str, Any], by_name: dict[str, Any], free: set[str]) -> bool:
    """A generator whose consumer sets its folding (it has no knob of its own)."""
    model = ops.model_of(n["op_type"])
    if model is None or not model.driven_by_consumer:
        return False
    for c in n["consumers"]:
        consumer = by_name.get(c)
        cmodel = ops.model_of(consumer["op_type"]) if consumer else None
        if cmodel is not None and _coupled_swg(consumer, cmodel, by_name, free) is n:
            return True
    return False


def _has_attr(n: dict[str, Any], attr: str, by_name: dict[str, Any], free: set[str]) -> bool:
    model = ops.model_of(n["op_type"])
    if model is None:
        return False
    if attr in ops.CHOICE_ATTRS:
        return attr in model.choices and attr in n["choices"]
    return attr in model.folds and attr in n["folds"] and not _driven(n, by_name, free)


def _window(n: dict[str, Any], model: ops.OpModel) -> int | None:
    """A dense generator's whole window (kernel x channels), streamed at once with
    ``parallel_window=1`` and SIMD = IFMChannels (rtl/convolutioninputgenerator_rtl.py
    select_impl_style); None for other nodes, depthwise generators and 1x1 kernels."""
    if not model.driven_by_consumer or n.get("depthwise") or n.get("kernel", 1) <= 1:
        return None
    return int(n["kernel"] * n["IFMChannels"])


def _fold_values(n: dict[str, Any], model: ops.OpModel, attr: str, swg: dict[str, Any] | None) -> list[int]:
    """Valid values of a folding knob, with what a coupled generator accepts (a free dense
    generator's SIMD: the divisors of its channels, and its whole window as one more value)."""
    values = list(n["folds"][attr])
    window = _window(n, model) if attr == "SIMD" and swg is None else None
    if window is not None:
        values.append(window)
    if swg is not None and model.swg == "dense" and attr == "SIMD":
        # the generator streams SIMD of its channels (SIMD | IFMChannels), or the whole
        # window with parallel_window=1 (SIMD = MW = K*C); rtl/convolutioninputgenerator_rtl.py
        # select_impl_style
        channels = swg["IFMChannels"]
        window = n["folds"][attr] and max(n["folds"][attr])
        values = [s for s in values if channels % s == 0]
        if swg["kernel"] > 1 and window == swg["kernel"] * channels and window in n["folds"][attr]:
            values.append(window)
    if swg is not None and model.swg == "depthwise" and attr == "PE":
        values = [p for p in values if swg["IFMChannels"] % p == 0]
    return sorted(set(values))


def _fold_option(
    n: dict[str, Any], model: ops.OpModel, attr: str, value: int, swg: dict[str, Any] | None, chosen: dict[str, list[int]]
) -> Assign:
    """The node attributes one folding value sets (on the node and its coupled generator)."""
    name = n["name"]
    option: Assign = {name: {attr: value}}
    if swg is None:
        if model.driven_by_consumer:  # a free generator: its whole window at once, or SIMD channels
            whole = value == _window(n, model)
            option[name] = {"SIMD": n["IFMChannels"] if whole else value, "parallel_window": int(whole)}
        return option
    if model.swg == "dense" and attr == "SIMD":
        channels = swg["IFMChannels"]
        if channels % value == 0:
            option[swg["name"]] = {"SIMD": value, "parallel_window": 0}
        else:  # the whole window per cycle
            option[swg["name"]] = {"SIMD": channels, "parallel_window": 1}
    elif model.swg == "depthwise" and attr == "PE":
        # set_folding.py: the depthwise generator's SIMD equals the PE of the VVAU/Pool it feeds
        option[swg["name"]] = {"SIMD": value}
        if "SIMD" not in chosen:
            simd = int(n["attrs"].get("SIMD") or 1) if "SIMD" in model.folds else 1
            option[swg["name"]]["parallel_window"] = int(simd > 1)
    elif model.swg == "depthwise" and attr == "SIMD":
        # set_folding.py: a VVAU with SIMD > 1 reads whole windows: parallel_window=1 (the
        # generator allows SIMD < IFMChannels in depthwise parallel mode)
        option[swg["name"]] = {"parallel_window": int(value > 1)}
    return option


