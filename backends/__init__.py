"""Backends run a policy against a cluster: the simulator now, a live Kubernetes cluster later.

Each backend takes the same inputs (testbed, profile, policy, job stream, seed) and returns a
``RunResult`` with the same per-job table, so every figure and summary works for both.
"""
from . import kubernetes_backend, sim_backend  # noqa: F401  (registers "sim" and "kubernetes")
from .base import Backend, RunResult, get_backend, register_backend

__all__ = ["Backend", "RunResult", "get_backend", "register_backend"]
