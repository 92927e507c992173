"""INFaaS-style variant selection (Romero et al., USENIX ATC 2021), adapted to one heterogeneous cluster.

INFaaS is "model-less": for each query it picks the cheapest *variant* (a model optimisation x hardware
pairing) whose profiled latency meets the query's target under the current load, and moves to faster variants
as load rises. Here a variant is a (node, config) option; per job:

1. Options are ranked once per kind of job by cost: ``cost="unit_ms"`` (default: units x mean service, the
   resource time the variant consumes) or ``cost="energy"`` (mJ per job where power is known; unknown power
   ranks after every known value, then by unit-ms).
2. The first option in that order whose predicted completion (transfer + the view's predicted wait + service at
   ``percentile``, scaled by the node's observed slowdown) meets the target is chosen -- under load the cheap
   variants' queues grow and the choice escalates to faster, costlier ones, INFaaS's reaction to load.
3. If none meets it, the option that completes earliest (least excess).

Taken from the paper: cheapest-feasible variant per query under the current load, escalation under load.
Adapted: variants are the measured configurations on this cluster's nodes (no model-variant generation);
no autoscaling or variant loading/unloading (every configuration is always ready, as for every policy
here); FIFO node queues; load enters through the view's per-node predicted wait rather than INFaaS's
per-worker queue-length and utilisation monitors.
"""
from __future__ import annotations

import math

from ..domain import Placement
from ..policy import Policy, register

COSTS = ("unit_ms", "energy")


@register("infaas")
class INFaaSPolicy(Policy):
    def __init__(self, cost: str = "unit_ms", percentile: float = 0.9):
        if cost not in COSTS:
            raise TypeError(f"cost must be one of {COSTS}, got {cost!r}")
        if not 0.5 <= percentile < 1.0:
            raise TypeError(f"percentile must be in [0.5, 1), got {percentile}")
        self.cost, self.percentile = cost, percentile

    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self._ranked: dict[tuple, tuple] = {}

    def variants(self, job) -> tuple:
        """(cost key, node index, node, entry, transfer ms, tail ms, mean ms) per option, cheapest first."""
        k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes)
        r = self._ranked.get(k)
        if r is None:
            out = []
            for i, n, e, tr in self.config_options(job):
                mean = e.service_ms(job.queries)
                unit_ms = e.units * mean
                energy = e.energy_mj(mean)
                key = (unit_ms,) if self.cost == "unit_ms" else (energy if math.isfinite(energy) else math.inf, unit_ms)
                out.append((key, i, n, e, tr, e.service_ms(job.queries, self.percentile), mean))
            out.sort(key=lambda v: v[0])
            r = self._ranked[k] = tuple(out)
        return r

    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        for job in jobs:
            deadline = job.arrival_ms + job.qos_ms
            chosen, fastest, fastest_finish = None, None, math.inf
            for _, i, n, e, tr, tail, mean in self.variants(job):
                if not view.ready_at(i):
                    continue
                k = view.slowdown_at(i)
                start = view.start_at(i, e.resource, e.units, now + tr)
                if start + tail * k <= deadline:
                    chosen = (n, e, start + tail * k, mean * k)
                    break
                if start + mean * k < fastest_finish:
                    fastest, fastest_finish = (n, e, start + mean * k, mean * k), start + mean * k
            if chosen is not None:
                n, e, finish, svc = chosen
                out.append(Placement(job.id, n.name, e.config, finish - job.arrival_ms, svc,
                                     f"{self.name}: cheapest variant meeting the target ({self.cost})"))
            elif fastest is not None:
                n, e, finish, svc = fastest
                out.append(Placement(job.id, n.name, e.config, finish - job.arrival_ms, svc,
                                     f"{self.name}: no variant meets the target; fastest"))
            else:
                out.append(self.no_node(job))
        return out
