"""Backend protocol and registry."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from synergai.errors import ConfigError
from synergai.faults import FaultSchedule
from synergai.policy import Policy
from synergai.profile import PerformanceProfile
from synergai.testbed import Testbed
from synergai.workload import JobStream


@dataclass
class RunResult:
    policy: str
    jobs: pd.DataFrame  # columns: sim.results.JOB_COLUMNS
    decisions: pd.DataFrame  # sim_ms, jobs, overhead_us
    nodes: pd.DataFrame
    horizon_ms: float
    faults: pd.DataFrame | None = None  # faults injected (synergai.faults.FAULT_COLUMNS); None: none scheduled


class Backend(Protocol):
    name: str

    def run(self, testbed: Testbed, profile: PerformanceProfile, policy: Policy, stream: JobStream,
            seed: int, progress: bool = False, faults: FaultSchedule | None = None) -> RunResult: ...


_BACKENDS: dict[str, Callable[[], Backend]] = {}


def register_backend(name: str):
    def deco(factory):
        _BACKENDS[name] = factory
        return factory

    return deco


def get_backend(name: str, **options) -> Backend:
    """The backend registered as ``name``, built with the rest of the ``backend`` config group as options.

    The built-in backends register when the ``backends`` package is imported (``backends/__init__.py``)."""
    if name not in _BACKENDS:
        raise ConfigError("backend.name", f"unknown backend {name!r}; available: {', '.join(sorted(_BACKENDS))}")
    try:
        return _BACKENDS[name](**options)
    except ModuleNotFoundError as exc:  # an optional extra that is not installed, e.g. the Kubernetes client
        raise ConfigError("backend.name", f"backend {name} needs the Python package {exc.name!r}, which is not "
                          f"installed (pip install 'synergai[{name}]')") from None
