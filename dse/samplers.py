"""Sampler names -> Optuna samplers.

``grid`` is not Optuna's GridSampler: the study enqueues every valid point once and the
sampler only has to consume that queue (GridSampler re-runs or silently skips points across
workers; see the README). Defaults follow what measured best on folding spaces: TPE with
``multivariate=True`` and GP with ``deterministic_objective=True`` (FINN estimates are exact).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import optuna

from dse.errors import DseError

_DEFAULTS: dict[str, tuple[type, dict[str, Any]]] = {
    "random": (optuna.samplers.RandomSampler, {}),
    "grid": (optuna.samplers.RandomSampler, {}),  # only ever draws from the queue
    "frontier": (optuna.samplers.RandomSampler, {}),  # the queue holds the exact front (dse.frontier)
    "tpe": (optuna.samplers.TPESampler, {"multivariate": True}),
    "nsga2": (optuna.samplers.NSGAIISampler, {}),
    "gp": (optuna.samplers.GPSampler, {"deterministic_objective": True}),
}


def make_sampler(name: str, seed: int | None, options: dict[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """Build the sampler called ``name`` (or a dotted path to a sampler class).

    >>> make_sampler("tpe", seed=0).__class__.__name__
    'TPESampler'
    """
    options = dict(options or {}) if name not in ("grid", "frontier") else {}  # theirs are dse's own
    if name in _DEFAULTS:
        cls, defaults = _DEFAULTS[name]
    else:
        module_name, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError):
            raise DseError(f"sampler: cannot import {name!r}") from None
        if not (inspect.isclass(cls) and issubclass(cls, optuna.samplers.BaseSampler)):
            raise DseError(f"sampler: {name!r} is not an Optuna sampler class")
        defaults = {}
    kwargs = {**defaults, **options}
    if seed is not None and "seed" in inspect.signature(cls).parameters:
        kwargs.setdefault("seed", seed)
    try:
        with warnings.catch_warnings():  # GP options and QMC are "experimental": noise for users
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError, ImportError) as exc:
        raise DseError(f"sampler_options: {name} rejected them: {exc}") from None
