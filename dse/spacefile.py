"""The design-space file (YAML): schema, loading and one-line errors.

Only structure is checked here; what depends on the network (selectors, valid folding
values) is checked by :mod:`dse.space` once FINN has described the graph.

Example::

    from dse.spacefile import load_space_file
    spec = load_space_file("configs/tfc-w1a1-pareto.yaml")
    spec.objectives  # [Objective(metric='throughput_fps', ...), ...]
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dse.errors import DseError
from dse.metrics import DIRECTIONS, RESOURCES  # noqa: F401  (RESOURCES: re-exported for callers)
from dse.samplers import NAMES, QUEUE_SAMPLERS

#: Metric name -> optimisation direction (``dse.metrics``); also the trial user-attr names.
METRICS = DIRECTIONS
SAMPLERS = NAMES
STEP_PRESETS = ("estimate", "estimate+bnn")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    """Every valid value between ``min`` and ``max`` (inclusive)."""

    min: int = Field(default=1, ge=1)
    max: int = Field(ge=1)


FoldSpec = Union[Literal["all"], list[int], Range]


class Selector(_Strict):
    """Which nodes a rule applies to: op type (``MVAU`` matches ``MVAU_hls``) and/or a name glob."""

    op_type: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_needed(self) -> "Selector":
        if self.op_type is None and self.name is None:
            raise ValueError("give op_type and/or name")
        return self


class LayerRule(_Strict):
    """Per-layer knobs for the nodes a selector matches; later rules override earlier ones."""

    match: Selector
    PE: FoldSpec | None = None
    SIMD: FoldSpec | None = None
    ram_style: list[str] | None = None
    resType: list[str] | None = None
    mem_mode: list[str] | None = None

    @field_validator("PE", "SIMD")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("empty list")
            if any(v < 1 for v in value):
                raise ValueError("folding factors are whole numbers >= 1")
        return value

    @field_validator("ram_style", "resType", "mem_mode", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and not value:
            raise ValueError("empty list")
        return value


class FinnKnobs(_Strict):
    """FINN settings that shape the graph before folding (they change the prefix).

    ``steps`` left out: the model's default (:func:`dse.models.default_finn`), filled in when
    the file is loaded, so the study's space key holds the steps it really runs.
    """

    steps: Literal["estimate", "estimate+bnn"] | list[str] | None = None
    standalone_thresholds: bool = False
    minimize_bit_width: bool = True
    mvau_wwidth_max: int = Field(default=36, ge=1)
    #: FINN's per-layer HLS/RTL choice before specialization: a JSON file (as in finn-plus's
    #: benchmark flows; relative to the design-space file) or the same mapping inline
    specialize_layers_config_file: str | None = Field(default=None, min_length=1)
    specialize_layers_config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_specialize(self) -> "FinnKnobs":
        if self.specialize_layers_config_file is not None and self.specialize_layers_config is not None:
            raise ValueError("give specialize_layers_config_file (a path) or specialize_layers_config (inline), not both")
        for name, attrs in (self.specialize_layers_config or {}).items():
            if name != "Defaults" and not isinstance(attrs, dict):
                raise ValueError(f"specialize_layers_config.{name}: expected a mapping such as {{preferred_impl_style: rtl}}")
        return self

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("empty step list")
        return value


class TargetFps(_Strict):
    """Let FINN's SetFolding fold, searching its throughput target (log scale)."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    mvau_wwidth_max: list[int] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "TargetFps":
        if self.min > self.max:
            raise ValueError("min is larger than max")
        if self.mvau_wwidth_max is not None and (
            not self.mvau_wwidth_max or any(v < 1 for v in self.mvau_wwidth_max)
        ):
            raise ValueError("mvau_wwidth_max: a non-empty list of whole numbers >= 1")
        return self


class Cap(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> "Cap":
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        return self


class Constraints(_Strict):
    """Feasibility: within the device budget (default) and below explicit caps."""

    device_budget: bool = True
    caps: dict[str, Union[float, Cap]] = Field(default_factory=dict)

    @field_validator("caps")
    @classmethod
    def _known(cls, caps: dict[str, Any]) -> dict[str, Any]:
        for key in caps:
            if key not in METRICS:
                raise ValueError(f"unknown metric {key!r}; known: {', '.join(METRICS)}")
        return caps


class FidelitySpec(_Strict):
    """Which fidelity a trial's numbers, the constraints and the frontier use (``dse.metrics.FIDELITIES``).

    ``counted`` (default): FINN's estimators plus what they leave out; ``finn``: FINN's raw
    estimate, for comparison (it under-counts: a design that "fits" there may not).
    """

    level: Literal["counted", "finn"] = "counted"


class DesignSpaceFile(_Strict):
    """The whole design-space file. See the README's reference section."""

    name: str | None = Field(default=None, min_length=1)
    description: str = ""
    model: str = Field(min_length=1)
    device: str = Field(min_length=1)
    clock_ns: float = Field(default=10.0, gt=0)
    budget: dict[Literal["LUT", "BRAM_18K", "URAM", "DSP"], float] | None = None
    finn: FinnKnobs = Field(default_factory=FinnKnobs)
    layers: list[LayerRule] | None = None
    target_fps: TargetFps | None = None
    objectives: list[str] = Field(default_factory=lambda: ["throughput_fps", "LUT"], min_length=1)
    constraints: Constraints = Field(default_factory=Constraints)
    fidelity: FidelitySpec = Field(default_factory=FidelitySpec)
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    n_trials: int = Field(default=50, ge=1)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str]) -> list[str]:
        for metric in value:
            if metric not in METRICS:
                raise ValueError(f"unknown objective {metric!r}; known: {', '.join(METRICS)}")
        if len(set(value)) != len(value):
            raise ValueError("an objective is listed twice")
        return value

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, value: str) -> str:
        if value not in SAMPLERS and "." not in value:
            raise ValueError(
                f"unknown sampler {value!r}; use one of {', '.join(SAMPLERS)} "
                "or a dotted path to an Optuna sampler class"
            )
        return value

    @model_validator(mode="after")
    def _finn_defaults(self) -> "DesignSpaceFile":
        # no finn.steps: the model's own (a zoo flow's settings too, where the file sets none)
        if self.finn.steps is None:
            from dse.models import default_finn

            given = self.finn.model_fields_set
            for key, value in default_finn(self.model).items():
                if key == "steps" or (key in FinnKnobs.model_fields and key not in given):
                    setattr(self.finn, key, value)
        return self

    @model_validator(mode="after")
    def _folding_mode(self) -> "DesignSpaceFile":
        if self.target_fps is not None and self.layers is not None:
            for rule in self.layers:
                if rule.PE is not None or rule.SIMD is not None:
                    raise ValueError(
                        "with target_fps, FINN's SetFolding picks PE/SIMD: "
                        "layers may only set ram_style, resType or mem_mode"
                    )
        if self.sampler in QUEUE_SAMPLERS and self.target_fps is not None:
            raise ValueError(f"the {self.sampler} sampler needs per-layer knobs: use layers, not target_fps")
        return self


class SpaceFile:
    """A loaded design-space file: the validated spec plus its text, hash and origin."""

    def __init__(self, path: Path, text: str, spec: DesignSpaceFile):
        self.path = path
        self.text = text
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name or self.path.stem

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _branch_tag(part: Any) -> bool:
    """Whether a location part is pydantic's tag of a union branch (it says nothing to the user)."""
    return isinstance(part, str) and (part in ("list[int]", "Range", "float", "Cap") or "[" in part)


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _branch_tag(part):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _field(error: Any) -> tuple[Any, ...]:
    """The location of the key a problem is about (a union's branches share it)."""
    loc = tuple(error["loc"])
    return next((loc[:i] for i, part in enumerate(loc) if _branch_tag(part)), loc)


def _problem(errors: list[Any]) -> tuple[str, str]:
    """The key and reason of one key's problem; for a union, of the branch the value was meant for."""
    first = errors[0]
    field = _field(first)
    union = [e for e in errors if _field(e) == field] if field != tuple(first["loc"]) else []
    deeper = [e for e in union if len(e["loc"]) > len(field) + 1]  # past the branch tag: the branch took it
    if union and not deeper:  # no branch took the value: say what it may be
        options = [re.sub(r"a valid dictionary or instance of \w+", "a mapping", e["msg"].removeprefix("Input should be "))
                   .split(",")[0].replace("a valid ", "a ") for e in union]
        expected = ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]
        return _format_location(field), f"{first['input']!r} is not valid: it should be {expected}"
    chosen = deeper[0] if deeper else first
    reason = "unknown key" if chosen["type"] == "extra_forbidden" else chosen["msg"].removeprefix("Value error, ")
    return _format_location(tuple(chosen["loc"])), reason


def parse_space_text(text: str, origin: str = "<string>") -> DesignSpaceFile:
    """Validate YAML text; raise :class:`DseError` naming origin, key and reason."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DseError(f"{origin}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise DseError(f"{origin}: the file is empty; it needs at least 'model' and 'device'")
    if not isinstance(data, dict):
        raise DseError(f"{origin}: expected a mapping of keys (model, device, ...), got a {type(data).__name__}")
    try:
        return DesignSpaceFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        key, reason = _problem(errors)
        others = len({_field(e) for e in errors}) - 1
        more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
        raise DseError(f"{origin}: {key}: {reason}{more}") from None


def load_space_file(path: str | Path) -> SpaceFile:
    """Read and validate a design-space file; every problem is one :class:`DseError` line."""
    path = Path(path)
    if not path.is_file():
        raise DseError(f"{path}: design-space file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DseError(f"{path}: not a text file (YAML expected)") from None
    if "\x00" in text:
        raise DseError(f"{path}: not a text file (YAML expected)")
    return SpaceFile(path, text, parse_space_text(text, str(path)))
