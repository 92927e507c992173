"""The cluster as a live scheduler sees it: node specs, readiness, and what it placed but has not seen finish.

Policies read a ``ClusterView``; only the backend (simulator or Kubernetes scheduler) mutates it, through the
``on_*`` methods. Nothing here knows simulated internals: queue lengths and start times on a node are not
visible, only the scheduler's own placements, its own service-time predictions, observed completions and the
clock. From those the view keeps, per node and resource pool, a predicted "free at" time for every unit
(list scheduling of the scheduler's own predictions), which is what wait-aware policies consult.
"""
from __future__ import annotations

import heapq
import math

from .domain import ACCEL, CPU, Job, Node, Placement


class ClusterView:
    def __init__(self, nodes: list[Node]):
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.now_ms = 0.0
        self._ready = [True] * len(self.nodes)
        self._outstanding = [0] * len(self.nodes)
        self._allocated = [{CPU: 0, ACCEL: 0} for _ in self.nodes]
        self._free_at = [{CPU: [0.0] * n.cpu_cores, ACCEL: [0.0] * n.accel_slots} for n in self.nodes]
        # job id -> (node index, resource, units, placed at, predicted finish)
        self._jobs: dict[int, tuple[int, str, int, float, float]] = {}

    # ---------------------------------------------------------------- read side (policies)
    def node(self, name: str) -> Node:
        return self.nodes[self.index[name]]

    def ready(self, name: str) -> bool:
        """Ready condition: False while the node is down / NotReady / cordoned."""
        return self._ready[self.index[name]]

    def outstanding(self, name: str) -> int:
        """Jobs placed on the node that have not been seen to finish."""
        return self._outstanding[self.index[name]]

    def allocated(self, name: str, resource: str) -> int:
        """Units of a pool requested by the node's outstanding jobs (what kube-scheduler calls 'requested')."""
        return self._allocated[self.index[name]][resource]

    def predicted_start_ms(self, name: str, resource: str, units: int, arrive_ms: float) -> float:
        """When a job needing ``units`` of ``resource`` that reaches the node at ``arrive_ms`` would start."""
        return self.start_at(self.index[name], resource, units, arrive_ms)

    # index-based twins of the above, for policies' hot loops (node index = position in ``nodes``)
    def ready_at(self, i: int) -> bool:
        return self._ready[i]

    def outstanding_at(self, i: int) -> int:
        return self._outstanding[i]

    def start_at(self, i: int, resource: str, units: int, arrive_ms: float) -> float:
        free = self._free_at[i][resource]
        if units == 1 and free:
            kth = free[0]  # heap minimum
        elif units == len(free):
            kth = max(free)
        elif 0 < units < len(free):
            kth = heapq.nsmallest(units, free)[-1]
        else:
            return float("inf")
        now = self.now_ms
        if arrive_ms < now:
            arrive_ms = now
        return arrive_ms if arrive_ms > kth else kth

    def predicted_wait_ms(self, name: str, resource: str, units: int, arrive_ms: float) -> float:
        return self.predicted_start_ms(name, resource, units, arrive_ms) - arrive_ms

    # ---------------------------------------------------------------- write side (backends only)
    def on_clock(self, now_ms: float) -> None:
        self.now_ms = now_ms

    def on_ready(self, name: str, ready: bool) -> None:
        self._ready[self.index[name]] = ready

    def on_placed(self, job: Job, placement: Placement, resource: str, units: int,
                  arrive_ms: float, service_ms: float) -> float:
        """Record a placement; returns the predicted finish time it implies."""
        i = self.index[placement.node]
        free = self._free_at[i][resource]
        start = max(arrive_ms, self.now_ms)
        if units == 1:
            start = max(start, free[0])
            finish = start + service_ms
            heapq.heapreplace(free, finish)
        else:
            popped = [heapq.heappop(free) for _ in range(units)]
            start = max(start, popped[-1])
            finish = start + service_ms
            for _ in popped:
                heapq.heappush(free, finish)
        self._outstanding[i] += 1
        self._allocated[i][resource] += units
        self._jobs[job.id] = (i, resource, units, self.now_ms, finish)
        return finish

    # ---- SHIM (drop on merge): the lead's ClusterView provides these; minimal stand-ins to run the backend
    def on_started(self, job_id: int, now_ms: float) -> None:
        self.now_ms = max(self.now_ms, now_ms)

    def on_foreign(self, key, node_name: str, resource: str, units: int) -> None:
        i = self.index[node_name]
        free = self._free_at[i][resource]
        if not hasattr(self, "_foreign"):
            self._foreign = {}
        if key in self._foreign or units <= 0 or units > len(free):
            return
        for _ in range(units):  # busy for an unknown time
            heapq.heapreplace(free, math.inf)
        self._foreign[key] = (i, resource, units)

    def on_foreign_gone(self, key) -> None:
        f = getattr(self, "_foreign", {}).pop(key, None)
        if f is None:
            return
        free = self._free_at[f[0]][f[1]]
        inf = [j for j, t in enumerate(free) if t == math.inf][:f[2]]
        for j in inf:
            free[j] = self.now_ms
        heapq.heapify(free)

    def on_completed(self, job_id: int, now_ms: float | None = None, service_ms: float = math.nan) -> None:
        """A placed job was observed to finish (or fail) at ``now_ms``; forget it, drop stale predictions."""
        if now_ms is not None:
            self.now_ms = now_ms
        o = self._jobs.pop(job_id, None)
        if o is None:
            return
        i, resource = o[0], o[1]
        self._outstanding[i] -= 1
        alloc = self._allocated[i]
        alloc[resource] -= o[2]
        if alloc[resource] == 0:  # nothing left on this pool: every unit is free now
            free = self._free_at[i][resource]
            free[:] = [math.inf if t == math.inf else self.now_ms for t in free]  # SHIM: keep foreign units
            heapq.heapify(free)
