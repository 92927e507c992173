"""SimPy discrete-event model of an edge-to-cloud cluster, driven by SynergAI policies."""
from .engine import SimResult, Simulation, simulate

__all__ = ["SimResult", "Simulation", "simulate"]
