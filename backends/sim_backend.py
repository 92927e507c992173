"""The simulator as a backend: the policy runs unchanged inside the SimPy model."""
from __future__ import annotations

from sim.engine import simulate

from .base import RunResult, register_backend


@register_backend("sim")
class SimBackend:
    name = "sim"

    def run(self, testbed, profile, policy, stream, seed, progress=False) -> RunResult:
        r = simulate(testbed, profile, policy, stream, seed=seed, progress=progress)
        return RunResult(r.policy, r.jobs, r.decisions, r.nodes, r.horizon_ms)
