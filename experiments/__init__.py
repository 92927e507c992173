"""Experiment drivers: the Hydra CLI (``synergai``), figures and benchmarks."""
