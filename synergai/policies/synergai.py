"""SynergAI: architecture-aware choice of node *and* execution configuration per job.

A reconstruction from what the paper states (offline + online, architecture-aware, decides worker and
configuration); see the README section "Paper vs this implementation".

Offline (``prepare`` and a per-kind-of-job cache): for every (model, device type) keep the Pareto-optimal
configurations over (tail service time at ``percentile``, energy per job, units held). A batch-8 config for a
one-query job, or a 2-thread config no faster than 1 thread, never reaches the online step.

Online, per job: for every ready node and every Pareto config on it, predicted completion = transfer from
the job's origin + predicted wait for the config's pool on that node (the view's list-scheduling estimate)
+ tail service time. Feasible = completes within the QoS target (privacy is enforced by the candidate set).
Among feasible options pick by ``objective``:

- ``least_capable`` (default): the option on the device type that is slowest for this model, then fewest
  units, then least energy: keep fast resources free for the jobs that need them.
- ``energy``: least energy per job (unknown power counts as worst), then least capable.
- ``fastest``: earliest predicted completion.

If nothing is feasible the job goes where its predicted completion is earliest (least excess time).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..domain import Node, Placement
from ..policy import Policy, register
from ..profile import ProfileEntry

OBJECTIVES = ("least_capable", "energy", "fastest")


class Option(NamedTuple):
    i: int
    resource: str
    units: int
    transfer_ms: float
    tail_ms: float  # service time of the whole job at the chosen percentile
    mean_ms: float
    rank: tuple  # objective order among feasible options (smaller first)
    node: Node
    entry: ProfileEntry


def pareto(points: list[tuple]) -> list[int]:
    """Indices of points not dominated in every coordinate (smaller is better); equal points keep the first."""
    keep = []
    for a, pa in enumerate(points):
        dominated = False
        for b, pb in enumerate(points):
            if b != a and all(x <= y for x, y in zip(pb, pa)) and (pb != pa or b < a):
                dominated = True
                break
        if not dominated:
            keep.append(a)
    return keep


@register("synergai")
class SynergAIPolicy(Policy):
    def __init__(self, percentile: float = 0.9, objective: str = "least_capable"):
        if not 0.5 <= percentile < 1.0:
            raise TypeError(f"percentile must be in [0.5, 1), got {percentile}")
        if objective not in OBJECTIVES:
            raise TypeError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.percentile, self.objective = percentile, objective

    def prepare(self, profile, nodes, network, rng):
        super().prepare(profile, nodes, network, rng)
        self._opts: dict[tuple, tuple[Option, ...]] = {}
        # capability of a device type for a model: its best batch-1 median latency (smaller = more capable)
        self._speed = {}
        for n in self.nodes:
            for m in profile.models():
                e = profile.default_entry(m, n.device_type, n.power_modes)
                if e is not None:
                    self._speed[m, n.device_type] = e.p50_ms

    def options(self, job) -> tuple[Option, ...]:
        k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes)
        opts = self._opts.get(k)
        if opts is None:
            out = []
            for i, n in enumerate(self.nodes):
                if (job.private and not n.is_edge) or self.network.route(job.origin_site, n.site) is None:
                    continue
                entries = [e for e in self.profile.configs(job.model, n.device_type, n.power_modes)
                           if n.capacity(e.resource) >= e.units]
                if not entries:
                    continue
                tails = [e.service_ms(job.queries, self.percentile) for e in entries]
                energy = [e.energy_mj(e.service_ms(job.queries)) for e in entries]
                energy = [x if math.isfinite(x) else math.inf for x in energy]
                pts = [(t, en, e.units) for t, en, e in zip(tails, energy, entries)]
                tr = self.network.transfer_ms(job.origin_site, n.site, job.input_bytes)
                for a in pareto(pts):
                    e = entries[a]
                    speed = self._speed.get((job.model, n.device_type), math.inf)
                    if self.objective == "least_capable":
                        rank = (-speed, e.units, energy[a])
                    elif self.objective == "energy":
                        rank = (energy[a], -speed, e.units)
                    else:
                        rank = ()
                    out.append(Option(i, e.resource, e.units, tr, tails[a], e.service_ms(job.queries), rank, n, e))
            opts = self._opts[k] = tuple(out)
        return opts

    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        ready, start_at = view.ready_at, view.start_at
        for job in jobs:
            deadline = job.arrival_ms + job.qos_ms
            best = best_key = None
            fallback = fb_finish = None
            for o in self.options(job):
                if not ready(o.i):
                    continue
                start = start_at(o.i, o.resource, o.units, now + o.transfer_ms)
                finish = start + o.tail_ms
                if finish <= deadline:
                    key = o.rank or (finish,)
                    if best_key is None or key < best_key:
                        best, best_key, best_finish = o, key, finish
                elif best is None:
                    f = start + o.mean_ms
                    if fb_finish is None or f < fb_finish:
                        fallback, fb_finish = o, f
            if best is not None:
                out.append(Placement(job.id, best.node.name, best.entry.config, best_finish - job.arrival_ms,
                                     best.mean_ms, f"{self.name}: feasible, {self.objective}"))
            elif fallback is not None:
                out.append(Placement(job.id, fallback.node.name, fallback.entry.config, fb_finish - job.arrival_ms,
                                     fallback.mean_ms, f"{self.name}: no option meets the target; least excess"))
            else:
                out.append(self.no_node(job))
        return out
