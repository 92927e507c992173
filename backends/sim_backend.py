"""The simulator as a backend: the policy runs unchanged inside the SimPy model."""
from __future__ import annotations

from sim import simulate
from synergai.errors import ConfigError

from .base import RunResult, register_backend


@register_backend("sim")
class SimBackend:
    name = "sim"

    def __init__(self, **options):
        if options:
            raise ConfigError(f"backend.{next(iter(options))}", "unknown option for backend sim")

    def run(self, testbed, profile, policy, stream, seed, progress=False, faults=None) -> RunResult:
        r = simulate(testbed, profile, policy, stream, seed=seed, progress=progress, faults=faults)
        return RunResult(r.policy, r.jobs, r.decisions, r.nodes, r.horizon_ms, r.faults)
