"""dse: design-space exploration for FINN dataflow accelerators, built on Optuna.

In a notebook::

    import dse
    s = dse.open_study("tfc-w1a1-pareto")
    s.pareto()
"""

from typing import Any

__version__ = "0.1.0"


def open_study(name: str, storage: str | None = None) -> Any:
    """Open a study for analysis: see :class:`dse.analysis.Results` (imported on first use:
    ``dse`` itself stays light for the CLI)."""
    from dse.analysis import open_study as _open

    return _open(name, storage)
