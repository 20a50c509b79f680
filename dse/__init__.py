"""dse: design-space exploration for FINN dataflow accelerators, built on Optuna."""

__version__ = "0.1.0"
