"""SimPy discrete-event model of an edge-to-cloud cluster, driven by SynergAI policies.

``sim.engine`` is the fault-free model, ``sim.faults`` adds fault injection on top of it, ``sim.shared`` holds
what the live Kubernetes agent shares with it (pools, service sampler, the results table).
"""
from .engine import SimResult, Simulation
from .faults import FaultSimulation, simulate

__all__ = ["FaultSimulation", "SimResult", "Simulation", "simulate"]
