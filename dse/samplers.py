"""Sampler names -> Optuna samplers: one registry.

Two kinds. *Searching* samplers (random, tpe, nsga2, gp, or a dotted path to any Optuna sampler
class) propose points; defaults follow what measured best on folding spaces: TPE with
``multivariate=True`` and GP with ``deterministic_objective=True`` (FINN estimates are exact).
*Queue* samplers (grid, frontier) propose nothing: dse enqueues the points itself (every valid
point once; the exact front) and :class:`QueueSampler` only lets Optuna consume that queue
(Optuna's GridSampler re-runs or silently skips points across workers; see the README). Their
``sampler_options`` are dse's own, not an Optuna class's.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from dse.errors import DseError


class QueueSampler(optuna.samplers.BaseSampler):
    """Draws no point: every trial of the study was enqueued (its params are fixed).

    Asked for a new value it fails loudly instead of inventing one; dse's storage gate never
    admits a trial that is not in the queue.
    """

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, distribution: BaseDistribution) -> Any:
        raise RuntimeError(f"a queue-only study asked for a new value of {param_name}: only enqueued points run")


#: name -> (Optuna sampler class, default options); the queue kinds build a QueueSampler
_SEARCHING: dict[str, tuple[type, dict[str, Any]]] = {
    "random": (optuna.samplers.RandomSampler, {}),
    "tpe": (optuna.samplers.TPESampler, {"multivariate": True}),
    "nsga2": (optuna.samplers.NSGAIISampler, {}),
    "gp": (optuna.samplers.GPSampler, {"deterministic_objective": True}),
}
#: samplers whose points dse computes and enqueues (the study is a queue)
QUEUE_SAMPLERS = ("grid", "frontier")
#: every sampler name a design-space file or --sampler may give (or a dotted class path)
NAMES: tuple[str, ...] = (*QUEUE_SAMPLERS, *_SEARCHING)


def make_sampler(name: str, seed: int | None, options: dict[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """Build the sampler called ``name`` (or a dotted path to a sampler class).

    >>> make_sampler("tpe", seed=0).__class__.__name__, make_sampler("grid", seed=0).__class__.__name__
    ('TPESampler', 'QueueSampler')
    """
    if name in QUEUE_SAMPLERS:
        return QueueSampler()  # its options (frontier's cost, order) are read by dse.frontier.settings
    options = dict(options or {})
    if name in _SEARCHING:
        cls, defaults = _SEARCHING[name]
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
