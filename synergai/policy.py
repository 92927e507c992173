"""The policy protocol and the policy registry: everything a policy may rely on and must provide, in one place.

A policy is one object that runs unchanged in the simulator and as a Kubernetes scheduler; it never imports a
backend. What a backend does with it, in order:

1. **Parameters** (``make_policy(name, **params)``): the constructor takes keyword parameters; a parameter
   that does not exist raises ``TypeError`` (reported as ``ConfigError`` naming ``policy.params.<name>``), and a
   constructor that gets an out-of-range value raises ``ConfigError`` itself, naming the parameter. Nothing is
   validated later, in the hot path.
2. **prepare** (offline): called once with the performance profile, the node list, the network and a seeded
   ``numpy.random.Generator`` before any job arrives, and again whenever the node set changes (the Kubernetes
   scheduler re-runs it when a node is added, removed or relabelled). Precompute here; the online step is a hot
   path (the simulator makes ~100k decisions/s). Subclasses call ``super().prepare(...)``.
3. **filters** (hard constraints, ``synergai.filters``): the framework's core filters (privacy: private jobs on
   edge nodes only; reachability: a network route from the job's origin; config valid for the node's device
   type and power modes; capacity: the config's units fit the node's pool) decide what a policy may choose.
   ``reachable``, ``eligible`` and ``candidates`` yield only what passes them (cached per kind of job), and
   ``allowed(job, node, entry)`` answers for any other (node, config) a policy considers. The backend checks
   every returned placement again and refuses one that fails a filter with the filter's reason (a failed row
   in the simulator; an Event and ``PodScheduled=False`` live), so a policy that ignores a constraint cannot
   break it. Constraints of one job that the core cannot know (a Kubernetes pod's node selector, affinity,
   tolerations and resource requests) are applied by the backend per decision: nodes that fail them are not
   ready (``view.ready_at(i)`` is False) for that call, and the placement is re-checked before binding.
4. **schedule / choose** (online): ``schedule(jobs, view)`` gets the pending jobs (one job, or every job of a
   scheduling window when ``window_ms > 0``) and a read-only ``ClusterView`` and returns one ``Placement`` per
   job, in order. The default ``schedule`` calls ``choose(job, ready_candidates, view)`` per job, so most
   policies implement only ``choose``. A ``Placement`` with ``node=None`` (``Placement.reject``) fails the job
   with its reason.
5. **window_ms** (class attribute, default 0): > 0 makes the backend batch arrivals into windows of this
   length and decide each window in one call (both backends align windows to multiples of ``window_ms``).
6. **queue_discipline** (``"fifo"`` or ``"priority"``): how a node's queue serves waiting jobs; with
   ``"priority"`` the lowest ``Placement.priority`` starts first (the simulator's pools, the node agent's pools
   and the view's predictions all follow it).
7. **observe** (optional): receives a ``Completion`` for every finished or failed job, in finish order, for
   policies that learn online.
8. **hold / dispatch** (late binding, optional; ``synergai.central``): ``schedule`` may answer
   ``Placement.hold`` for a job. The backend keeps it in a central queue (``view.held``, deadline order) and
   calls ``dispatch(held, view, wake)`` when capacity frees, a node turns ready, a recall time or a held job's
   deadline comes; ``dispatch`` yields placements (bind, reject, hold again), each applied before the next is
   asked for. The default ``dispatch`` offers the held jobs to ``schedule`` in deadline order, skipping the
   rest of a kind of job (``kind_key``) once one of that kind is held again -- the same state gives it the same
   answer. A job still held after the call at its deadline fails. Policies that never hold pay nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from .central import Wake
from .cluster import ClusterView
from .domain import Completion, Job, Node, Placement
from .errors import ConfigError
from .filters import FilterChain
from .network import Network
from .profile import PerformanceProfile, ProfileEntry

_REGISTRY: dict[str, type[Policy]] = {}


class Candidate(NamedTuple):
    """A (node, config) option for a kind of job, with the job-independent numbers precomputed offline."""

    i: int  # node index in the cluster view
    resource: str  # pool the config occupies (entry.resource)
    units: int  # units it holds (entry.units)
    transfer_ms: float  # origin -> node, for the job's input size
    service_ms: float  # predicted (mean) service time of the whole job
    node: Node
    entry: ProfileEntry


def register(name: str) -> Callable[[type[Policy]], type[Policy]]:
    """Class decorator: make a policy available by ``name`` in configs and on the command line."""

    def deco(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"policy name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_policies() -> list[str]:
    from . import policies  # noqa: F401  (importing registers the built-in policies)

    return sorted(_REGISTRY)


def make_policy(name: str, **params) -> Policy:
    """Instantiate a registered policy; unknown names / parameters raise ConfigError."""
    names = available_policies()
    if name not in _REGISTRY:
        raise ConfigError("policy", f"unknown policy {name!r}; available: {', '.join(names)}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as exc:
        raise ConfigError(f"policy.params.{name}", f"invalid parameters {params}: {exc}") from None


class Policy:
    """Base class with the shared offline bookkeeping most policies need."""

    name = "base"
    window_ms: float = 0.0  # > 0: the backend batches arrivals into windows of this length
    queue_discipline: str = "fifo"  # or "priority": node queues serve the lowest Placement.priority first

    def prepare(self, profile: PerformanceProfile, nodes: Sequence[Node], network: Network,
                rng: np.random.Generator) -> None:
        self.profile, self.nodes, self.network, self.rng = profile, tuple(nodes), network, rng
        self._eligible: dict[tuple[str, str, bool], tuple[tuple[int, Node, ProfileEntry], ...]] = {}
        self._candidates: dict[tuple, tuple[Candidate, ...]] = {}
        self._reachable: dict[tuple[str, bool], tuple[tuple[int, Node], ...]] = {}
        self._config_options: dict[tuple, tuple[tuple[int, Node, ProfileEntry, float], ...]] = {}
        self._rider_ok: dict[tuple, float | None] = {}
        self._entries_at: dict[tuple, ProfileEntry | None] = {}

    def schedule(self, jobs: Sequence[Job], view: ClusterView) -> list[Placement]:
        """Online step. Default: decide each job on its own through ``choose`` (override for joint decisions)."""
        out = []
        for job in jobs:
            ready = [c for c in self.candidates(job) if view.ready_at(c.i)]
            picked = self.choose(job, ready, view) if ready else None
            if picked is None:
                out.append(self.no_node(job))
            elif isinstance(picked, Placement):
                out.append(picked)
            else:
                out.append(self.place(job, picked.node, picked.entry, view))
        return out

    def choose(self, job: Job, ready: list[Candidate], view: ClusterView) -> Candidate | Placement | None:
        """Per-job extension point: pick one of the ready candidates (never called with an empty list).

        Return a Candidate (placed with its default config and this policy's prediction), a full Placement
        (own config, reason, or a reject), or None (the job fails: no node can run it).
        """
        raise NotImplementedError

    def observe(self, completion: Completion) -> None:
        """Called for every finished job, in finish order (no-op by default)."""

    def dispatch(self, held: Sequence[Job], view: ClusterView, wake: Wake) -> Iterator[Placement]:
        """Late binding: yield placements for held jobs (``held``: the central queue in deadline order); the
        backend applies each (binds, rejects, or holds again) before asking for the next. Jobs not answered stay
        held. Default: offer each job to ``schedule``; once one is held again, skip its kind for this call."""
        skip = set()
        for job in list(held):
            k = self.kind_key(job)
            if k in skip and job.id not in wake.due:
                continue
            pl = self.schedule([job], view)[0]
            if pl.held:
                skip.add(k)
            yield pl

    @staticmethod
    def kind_key(job: Job) -> tuple:
        """Jobs with equal keys are interchangeable for a policy except for their deadlines."""
        return (job.model, job.origin_site, job.private, job.queries, job.input_bytes, job.qos_ms, job.constraints)

    # ---------------------------------------------------------------- helpers for subclasses
    def allowed(self, job: Job, node: Node, entry: ProfileEntry | None = None) -> bool:
        """Whether the framework's hard constraints (``synergai.filters``) let ``job`` run on ``node`` with the
        config of ``entry`` (None: with any config). Cached per kind of job, cheap in a hot loop; the chain is
        rebuilt for the node list of each ``prepare``."""
        fc = self.__dict__.get("_filters")
        if fc is None or self.__dict__.get("_filters_for") is not self.nodes:
            fc = self._filters = FilterChain.core(self.profile, self.network)
            self._filters_for = self.nodes
        return fc.check(job, node, entry).ok

    def reachable(self, job: Job) -> tuple[tuple[int, Node], ...]:
        """(index, node) of the nodes the job may run on at all: the node-level filters pass (its input can reach
        them; a private job stays on the edge). Cached per (origin, private); readiness changes at run time and
        is checked by callers.
        """
        k = (job.origin_site, job.private)
        nodes = self._reachable.get(k)
        if nodes is None:
            nodes = self._reachable[k] = tuple((i, n) for i, n in enumerate(self.nodes) if self.allowed(job, n))
        return nodes

    def eligible(self, job: Job) -> tuple[tuple[int, Node, ProfileEntry], ...]:
        """(node index, node, default config) for reachable nodes whose device type can run the model with a
        default config that passes every filter (valid power mode, fits the node's pool)."""
        k = (job.model, job.origin_site, job.private)
        pairs = self._eligible.get(k)
        if pairs is None:
            pairs = self._eligible[k] = tuple(
                (i, n, e) for i, n in self.reachable(job)
                if (e := self.profile.default_entry(job.model, n.device_type, n.power_modes)) is not None
                and self.allowed(job, n, e))
        return pairs

    def config_options(self, job: Job) -> tuple[tuple[int, Node, ProfileEntry, float], ...]:
        """(node index, node, config entry, transfer ms) for every config of every reachable node that passes the
        filters -- not just the default one (cached per kind of job; node order, then the profile's config order)."""
        k = (job.model, job.origin_site, job.private, job.input_bytes)
        opts = self._config_options.get(k)
        if opts is None:
            opts = self._config_options[k] = tuple(
                (i, n, e, self.network.transfer_ms(job.origin_site, n.site, job.input_bytes))
                for i, n in self.reachable(job)
                for e in self.profile.configs(job.model, n.device_type, n.power_modes) if self.allowed(job, n, e))
        return opts

    def candidates(self, job: Job) -> tuple[Candidate, ...]:
        """``eligible`` with transfer and service time precomputed (cached per kind of job)."""
        k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes)
        c = self._candidates.get(k)
        if c is None:
            c = self._candidates[k] = tuple(
                Candidate(i, e.resource, e.units, self.network.transfer_ms(job.origin_site, n.site, job.input_bytes),
                          e.service_ms(job.queries), n, e)
                for i, n, e in self.eligible(job))
        return c

    def batch_on(self, job: Job, i: int, options, view: ClusterView, priority: float = 0.0, taken=()):
        """Of ``options`` ((entry, transfer ms), configs on node ``i``), the one whose execution batches the most
        held jobs with ``job`` (then finishes earliest), by ``batch_riders``. Returns (entry, transfer ms,
        rider ids, predicted arrival of the last input, predicted start, predicted finish), or None when no
        config can take a rider."""
        if not view.held.jobs:
            return None
        best = None
        for e, tr in options:
            if e.config.batch <= job.queries:
                continue
            riders, a, s, f = self.batch_riders(job, i, e, view, view.now_ms + tr, priority, taken)
            if riders and (best is None or (len(riders), -f) > (len(best[2]), -best[5])):
                best = (e, tr, riders, a, s, f)
        return best

    def batch_riders(self, job: Job, i: int, entry: ProfileEntry, view: ClusterView, arrive_ms: float,
                     priority: float = 0.0, taken=(), max_scan: int = 256) -> tuple[tuple[int, ...], float, float, float]:
        """Held jobs to run in one execution with ``job`` on node ``i`` with ``entry``'s config (cross-job
        batching, ``synergai.central``): riders of the job's model, in deadline order, while the queries of all
        members fit one call of the batch and the execution's predicted finish still meets every member's
        deadline; each must pass the filters there. ``arrive_ms``: when the job's own input reaches the node;
        ``priority``: the execution's queue key on priority pools; ``taken``: ids already batched by placements
        this call has not handed to the backend yet.
        Returns (rider ids, last input's arrival, predicted start, predicted finish) of the execution (no riders:
        the job's own)."""
        res, units = entry.resource, entry.units
        slow = view.slowdown_at(i)
        start = view.start_at(i, res, units, arrive_ms, priority)
        queries = job.queries
        finish = start + entry.service_ms(queries) * slow
        room = entry.config.batch - queries
        held = view.held.jobs
        if room <= 0 or not held:
            return (), arrive_ms, start, finish
        riders: list[int] = []
        due = job.arrival_ms + job.qos_ms
        now = view.now_ms
        for r in held[:max_scan]:
            if r.model != job.model or r.id == job.id or r.queries > room or r.id in taken:
                continue
            r_due = r.arrival_ms + r.qos_ms
            tr = self._rider_transfer(r, i, entry)
            if tr is None:
                continue
            a = max(arrive_ms, now + tr)
            s = start if a == arrive_ms else view.start_at(i, res, units, a, priority)
            f = s + entry.service_ms(queries + r.queries) * slow  # a fuller call may take longer (call_plan)
            if f > due or f > r_due:
                continue
            arrive_ms, start, finish, due = a, s, f, min(due, r_due)
            riders.append(r.id)
            queries += r.queries
            room -= r.queries
            if room <= 0:
                break
        return tuple(riders), arrive_ms, start, finish

    def joinable(self, job: Job, view: ClusterView, deadline_ms: float, max_scan: int = 32,
                 lengthen: bool = False):
        """An execution already bound and not started (``view.open_executions``) that ``job`` can ride in
        (``Placement.joins``): ready node, filters pass, its queries fit the call without making it longer
        (``ProfileEntry.takes_more``), its input reaches the node before the execution's predicted start, the
        execution does not look held up (``view.held_up``: its input is overdue on an idle pool), and the
        predicted finish is within ``deadline_ms``. ``lengthen``: also one whose last call has room but then
        runs longer (``ProfileEntry.has_room``), where the longer execution still finishes within every member's
        deadline and makes no queued on-time job late. The earliest such finish: (leader id, node index, entry,
        transfer ms, predicted finish, whether it lengthens the call), or None."""
        opened = view.open_executions(job.model)
        if not opened:
            return None
        now, best = view.now_ms, None
        for n, (lid, (i, cfg, q, due)) in enumerate(opened.items()):
            if n >= max_scan:
                break
            if not view.ready_at(i):
                continue
            e = self._entry_at(job.model, i, cfg)
            if e is None:
                continue
            free = e.takes_more(q, job.queries)
            if not (free or lengthen and e.has_room(q, job.queries)):
                continue
            tr = self._rider_transfer(job, i, e)
            if tr is None:
                continue
            if view.held_up(lid):
                continue
            s, f = view.scheduled_at(lid)
            if now + tr > s:
                continue
            if not free:
                more = (e.service_ms(q + job.queries) - e.service_ms(q)) * view.slowdown_at(i)
                f += more
                if f > due or f > deadline_ms or (best is not None and f >= best[4]) or \
                        view.lengthened_late(lid, more):
                    continue
            if f <= deadline_ms and (best is None or f < best[4]):
                best = (lid, i, e, tr, f, not free)
        return best

    def _entry_at(self, model: str, i: int, config) -> ProfileEntry | None:
        k = (model, self.nodes[i].device_type, config)
        c = self._entries_at
        if k not in c:
            try:
                c[k] = self.profile.entry(model, self.nodes[i].device_type, config)
            except KeyError:
                c[k] = None
        return c[k]

    def _rider_transfer(self, job: Job, i: int, entry: ProfileEntry) -> float | None:
        """Transfer ms of ``job``'s input to node i if the filters let it run there with ``entry``'s config."""
        k = (job.model, job.origin_site, job.private, job.input_bytes, i, entry.config)
        c = self._rider_ok
        if k not in c:
            n = self.nodes[i]
            c[k] = self.network.transfer_ms(job.origin_site, n.site, job.input_bytes) \
                if self.allowed(job, n, entry) else None
        return c[k]

    def no_node(self, job: Job) -> Placement:
        why = "no ready node can run model " + repr(job.model)
        if job.private:
            why += " on the edge (private job)"
        return Placement.reject(job.id, why)

    def place(self, job: Job, node: Node, entry: ProfileEntry, view: ClusterView | None = None,
              reason: str = "") -> Placement:
        """A placement with this policy's latency prediction (transfer + predicted wait + mean service)."""
        service = entry.service_ms(job.queries)
        arrive = (view.now_ms if view else job.arrival_ms) + self.network.transfer_ms(
            job.origin_site, node.site, job.input_bytes)
        wait = view.predicted_wait_ms(node.name, entry.resource, entry.units, arrive) if view else 0.0
        latency = arrive - job.arrival_ms + wait + service
        return Placement(job.id, node.name, entry.config, latency, service, reason or self.name)
