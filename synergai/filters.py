"""Filters: the hard constraints every placement must pass before a backend executes or binds it.

Modelled on the Filter extension point of the Kubernetes scheduling framework: each filter has a name, answers
one question about one (job, node, config), and returns a typed ``Status`` (a ``Code`` and a reason for
humans), never a bare message that callers would have to parse.

- ``check(job, node, entry)`` with ``entry=None`` asks the node-level question ("may any config of this job run
  on this node?"); config-level filters answer SUCCESS to it. With an entry, the full question.
- ``static = True``: the answer depends only on what the job *is* (model, origin, privacy, ``Job.constraints``)
  and on the node and config, never on the cluster's state, so ``FilterChain`` caches it per kind of job:
  policies' hot loops and the simulator (~100k jobs/s) pay one dict lookup. Dynamic filters (a Kubernetes pod's
  resource requests against what every pod on the node requests) run on every check.
- Backend filters read ``Job.constraints`` (an optional hashable value the backend attaches to the job; the
  Kubernetes scheduler's are in ``backends/kubernetes/constraints.py``). The backend applies them per decision,
  before the policy sees the view: a node that fails one for this job is not ready for that call.

The core filters below run in both backends: the policies see only candidates that pass them
(``Policy.reachable`` / ``eligible`` / ``candidates`` / ``allowed``), and the backends refuse a placement that
fails one with the filter's reason (the simulator: a failed row; the Kubernetes scheduler: an Event and
``PodScheduled=False``), whatever the policy returned.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .domain import Job, Node
from .network import Network
from .profile import PerformanceProfile, ProfileEntry


class Code(enum.IntEnum):
    """Filter outcomes, as in kube-scheduler's framework."""

    SUCCESS = 0
    UNSCHEDULABLE = 1  # not now: may pass later with the job unchanged (e.g. the node's resources are in use)
    UNRESOLVABLE = 2  # never, as the job and the node are (kube-scheduler: UnschedulableAndUnresolvable)


@dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.SUCCESS
    reason: str = ""  # one line for humans (Event / condition message / failed row)
    filter: str = ""  # name of the filter that answered

    @property
    def ok(self) -> bool:
        return self.code == Code.SUCCESS


OK = Status()


class Filter(Protocol):
    """A named hard constraint. ``static``: its answer may be cached per kind of job (see module doc)."""

    name: str
    static: bool

    def check(self, job: Job, node: Node, entry: ProfileEntry | None) -> Status: ...


# ----------------------------------------------------------------------------- the core filters
class Privacy:
    """A private job's input must not leave the edge: only edge nodes may run it."""

    name, static = "Privacy", True

    def check(self, job, node, entry=None):
        if job.private and not node.is_edge:
            return Status(Code.UNRESOLVABLE, f"private job: only edge nodes may run it, {node.name} is {node.tier}",
                          self.name)
        return OK


class Reachability:
    """The job's input must be able to reach the node: a route from its origin site to the node's site."""

    name, static = "Reachability", True

    def __init__(self, network: Network):
        self.network = network

    def check(self, job, node, entry=None):
        if self.network.route(job.origin_site, node.site) is None:
            return Status(Code.UNRESOLVABLE, f"no network route from {job.origin_site} to {node.site}", self.name)
        return OK


class ConfigValid:
    """The config is one the traces know for this model on the node's device type, in a power mode the node
    offers (``Node.power_modes``; empty: all)."""

    name, static = "ConfigValid", True

    def __init__(self, profile: PerformanceProfile):
        self.profile = profile

    def check(self, job, node, entry=None):
        if entry is None:
            return OK
        if entry.model != job.model or entry.device_type != node.device_type:
            return Status(Code.UNRESOLVABLE, f"no profile entry for {job.model} on {node.device_type} with "
                                             f"{entry.config}", self.name)
        if node.power_modes and entry.config.power_mode not in node.power_modes:
            return Status(Code.UNRESOLVABLE, f"{node.name} does not offer power mode {entry.config.power_mode} "
                                             f"(offers {', '.join(node.power_modes)})", self.name)
        return OK


class Capacity:
    """The config's units fit the node's pool at all (a 2-thread config can never start on a 1-core node)."""

    name, static = "Capacity", True

    def check(self, job, node, entry=None):
        if entry is not None and node.capacity(entry.resource) < entry.units:
            return Status(Code.UNRESOLVABLE, f"config needs {entry.units} {entry.resource} units, "
                                             f"{node.name} has {node.capacity(entry.resource)}", self.name)
        return OK


def core_filters(profile: PerformanceProfile, network: Network) -> tuple[Filter, ...]:
    """The filters both backends run, cheapest first."""
    return (Privacy(), Reachability(network), ConfigValid(profile), Capacity())


class FilterChain:
    """Filters run in order; the first that fails answers. Static answers are cached per kind of job."""

    def __init__(self, filters: Iterable[Filter]):
        self.filters = tuple(filters)
        self._static = tuple(f for f in self.filters if f.static)
        self._dynamic = tuple(f for f in self.filters if not f.static)
        self._cache: dict[tuple, Status] = {}

    @classmethod
    def core(cls, profile: PerformanceProfile, network: Network) -> FilterChain:
        return cls(core_filters(profile, network))

    def check(self, job: Job, node: Node, entry: ProfileEntry | None = None) -> Status:
        k = (job.model, job.origin_site, job.private, job.constraints, node.name,
             -1 if entry is None else entry.index)
        st = self._cache.get(k)
        if st is None:
            st = OK
            for f in self._static:
                st = f.check(job, node, entry)
                if not st.ok:
                    break
            self._cache[k] = st
        if st.ok:
            for f in self._dynamic:
                st = f.check(job, node, entry)
                if not st.ok:
                    return st
        return st


def summary(results: Sequence[tuple[str, Status]], n_nodes: int) -> str:
    """kube-scheduler's message from (node name, status) pairs, nodes grouped by reason:
    ``1/3 nodes are available: vm: private job: only edge nodes may run it; fast, slow: Insufficient cpu``."""
    by_reason: dict[str, list[str]] = {}
    for name, st in results:
        if not st.ok:
            by_reason.setdefault(st.reason, []).append(name)
    ok = n_nodes - sum(len(v) for v in by_reason.values())
    parts = "; ".join(f"{', '.join(v[:5])}{f' +{len(v) - 5} more' if len(v) > 5 else ''}: {r}"
                      for r, v in sorted(by_reason.items(), key=lambda t: (-len(t[1]), t[0])))
    return f"{ok}/{n_nodes} nodes are available" + (f": {parts}" if parts else "")
