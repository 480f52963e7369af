"""Experiments and benchmarks beside fwtk_lab (run from the repo root, e.g. `python -m experiments.bench`)."""
