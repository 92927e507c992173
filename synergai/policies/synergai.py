"""SynergAI: architecture-aware choice of node *and* execution configuration per job.

A reconstruction from what the paper states (offline + online, architecture-aware, decides worker and
configuration); see the README section "Paper vs this implementation".

Offline (``prepare`` and a per-kind-of-job cache): for every (model, device type) keep the Pareto-optimal
configurations over (tail service time at ``percentile``, energy per job, units held). Configs whose batch
exceeds the job's queries only pad it and are dropped where a smaller batch exists; a 2-thread config no
faster than 1 thread never reaches the online step.

Online, per job: for every ready node and every Pareto config on it, predicted completion = transfer from
the job's origin + predicted wait for the config's pool on that node (the view's list-scheduling estimate)
+ tail service time. Feasible = completes within the QoS target (privacy is enforced by the candidate set).
Among feasible options pick by ``objective``:

- ``least_capable`` (default): the option on the device type that is slowest for this model, then the one
  holding its pool for the fewest unit-ms, then least energy: keep fast resources free for the jobs that
  need them, and free any resource as soon as possible.
- ``energy``: least energy per job (unknown power counts as worst), then least capable.
- ``fastest``: earliest predicted completion.

If nothing is feasible the job goes where its predicted completion is earliest (least excess time), or,
with ``admission=True``, is turned away at once (failed with a reason) so it does not delay others.

Switches for the ablation (each measured on/off in experiments/): ``config_selection=False`` keeps only the
default config per node; ``tail_aware=False`` judges feasibility on the mean service time;
``online_correction=True`` (beyond the paper) scales each (node, config)'s predictions by an exponentially
weighted average of observed / predicted service time, which follows drift and throttling.
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
    def __init__(self, percentile: float = 0.9, objective: str = "least_capable", config_selection: bool = True,
                 tail_aware: bool = True, online_correction: bool = False, correction_weight: float = 0.05,
                 admission: bool = False):
        if not 0.5 <= percentile < 1.0:
            raise TypeError(f"percentile must be in [0.5, 1), got {percentile}")
        if objective not in OBJECTIVES:
            raise TypeError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0 < correction_weight <= 1:
            raise TypeError(f"correction_weight must be in (0, 1], got {correction_weight}")
        self.percentile, self.objective = percentile, objective
        self.config_selection, self.tail_aware, self.admission = config_selection, tail_aware, admission
        self.online_correction, self.correction_weight = online_correction, correction_weight

    def prepare(self, profile, nodes, network, rng):
        super().prepare(profile, nodes, network, rng)
        self._opts: dict[tuple, tuple[Option, ...]] = {}
        self._factor: dict[tuple[str, object], float] = {}  # (node, config) -> observed / predicted service
        self._entry_of: dict[tuple, ProfileEntry] = {}
        # capability of a device type for a model: its best batch-1 median latency (smaller = more capable)
        self._speed = {}
        for n in self.nodes:
            for m in profile.models():
                e = profile.default_entry(m, n.device_type, n.power_modes)
                if e is not None:
                    self._speed[m, n.device_type] = e.p50_ms

    def options(self, job) -> tuple[tuple[Option, ...], tuple[Option, ...]]:
        """(ranked, by_bound) for a kind of job, computed once.

        ``ranked``: options that can meet the job's target at all (transfer + tail service <= QoS), in objective
        order, so the online step stops at the first one whose wait also fits. ``by_bound``: every option by
        its no-wait completion (transfer + mean service), for the least-excess fallback's bounded search.
        """
        k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes, job.qos_ms)
        opts = self._opts.get(k)
        if opts is None:
            out = []
            for i, n in self.reachable(job):
                if self.config_selection:
                    entries = [e for e in self.profile.configs(job.model, n.device_type, n.power_modes)
                               if n.capacity(e.resource) >= e.units]
                    # a batch larger than the job only pads it; keep such configs only if nothing smaller exists
                    entries = [e for e in entries if e.config.batch <= job.queries] or entries
                else:
                    d = self.profile.default_entry(job.model, n.device_type, n.power_modes)
                    entries = [d] if d is not None and n.capacity(d.resource) >= d.units else []
                if not entries:
                    continue
                q = self.percentile if self.tail_aware else None
                tails = [e.service_ms(job.queries, q) for e in entries]
                energy = [e.energy_mj(e.service_ms(job.queries)) for e in entries]
                energy = [x if math.isfinite(x) else math.inf for x in energy]
                pts = [(t, en, e.units) for t, en, e in zip(tails, energy, entries)]
                tr = self.network.transfer_ms(job.origin_site, n.site, job.input_bytes)
                for a in pareto(pts):
                    e = entries[a]
                    speed = self._speed.get((job.model, n.device_type), math.inf)
                    occupancy = e.units * e.service_ms(job.queries)  # unit-ms the job holds the pool
                    if self.objective == "least_capable":
                        rank = (-speed, occupancy, energy[a])
                    elif self.objective == "energy":
                        rank = (energy[a], -speed, occupancy)
                    else:
                        rank = ()
                    out.append(Option(i, e.resource, e.units, tr, tails[a], e.service_ms(job.queries), rank, n, e))
            # with online correction a factor below 1 may rescue an option: keep every one then
            ranked = [o for o in out if self.online_correction or o.transfer_ms + o.tail_ms <= job.qos_ms]
            if self.objective != "fastest":  # rank does not depend on the wait: visit options best-rank first
                ranked.sort(key=lambda o: o.rank)
            by_bound = sorted(out, key=lambda o: o.transfer_ms + o.mean_ms)
            opts = self._opts[k] = (tuple(ranked), tuple(by_bound))
        return opts

    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        ready, start_at = view.ready_at, view.start_at
        factor = self._factor if self.online_correction else None
        for job in jobs:
            ranked, by_bound = self.options(job)
            deadline = job.arrival_ms + job.qos_ms
            best, best_finish, best_k = None, math.inf, 1.0
            for o in ranked:
                if not ready(o.i):
                    continue
                k = factor.get((o.node.name, o.entry.config), 1.0) if factor is not None else 1.0
                finish = start_at(o.i, o.resource, o.units, now + o.transfer_ms) + o.tail_ms * k
                if finish <= deadline:
                    if o.rank:  # in rank order: the first feasible option is the choice
                        best, best_finish, best_k = o, finish, k
                        break
                    if finish < best_finish:
                        best, best_finish, best_k = o, finish, k
            if best is not None:
                out.append(Placement(job.id, best.node.name, best.entry.config, best_finish - job.arrival_ms,
                                     best.mean_ms * best_k, f"{self.name}: feasible, {self.objective}"))
                continue
            if self.admission and by_bound:
                out.append(Placement.reject(job.id, f"{self.name}: admission control: no node can meet the "
                                                    f"{job.qos_ms:.1f} ms target"))
                continue
            fallback, fb_finish, fb_k = None, math.inf, 1.0
            for o in by_bound:  # least excess = earliest expected completion; stop once no option can beat it
                if factor is None and now + o.transfer_ms + o.mean_ms >= fb_finish:
                    break
                if not ready(o.i):
                    continue
                k = factor.get((o.node.name, o.entry.config), 1.0) if factor is not None else 1.0
                f = start_at(o.i, o.resource, o.units, now + o.transfer_ms) + o.mean_ms * k
                if f < fb_finish:
                    fallback, fb_finish, fb_k = o, f, k
            if fallback is not None:
                out.append(Placement(job.id, fallback.node.name, fallback.entry.config, fb_finish - job.arrival_ms,
                                     fallback.mean_ms * fb_k, f"{self.name}: no option meets the target; least excess"))
            else:
                out.append(self.no_node(job))
        return out

    def observe(self, completion):
        """Online correction: move the (node, config) factor towards observed / predicted service time."""
        if not (self.online_correction and completion.ok and completion.config is not None):
            return
        entry = self._entry_of.get((completion.node, completion.model, completion.config))
        if entry is None:
            node = next(n for n in self.nodes if n.name == completion.node)
            entry = self._entry_of[completion.node, completion.model, completion.config] = self.profile.entry(
                completion.model, node.device_type, completion.config)
        predicted = entry.mean_ms * entry.calls(completion.queries)
        key = (completion.node, completion.config)
        w = self.correction_weight
        self._factor[key] = (1 - w) * self._factor.get(key, 1.0) + w * completion.service_ms / predicted


@register("synergai_no_config")
class SynergAINoConfig(SynergAIPolicy):
    """Ablation: SynergAI without configuration selection (default config per node)."""

    def __init__(self, **params):
        super().__init__(**{"config_selection": False, **params})


@register("synergai_no_tail")
class SynergAINoTail(SynergAIPolicy):
    """Ablation: SynergAI judging feasibility on mean rather than tail service time."""

    def __init__(self, **params):
        super().__init__(**{"tail_aware": False, **params})


@register("synergai_online")
class SynergAIOnline(SynergAIPolicy):
    """Beyond the paper: SynergAI with online correction of its latency predictions."""

    def __init__(self, **params):
        super().__init__(**{"online_correction": True, **params})
