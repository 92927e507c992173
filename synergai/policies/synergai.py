"""SynergAI: architecture-aware choice of node *and* execution configuration per job.

A reconstruction from what the paper states (offline + online, architecture-aware, decides worker and
configuration); see the README section "Paper vs this implementation".

Offline (``prepare`` and a per-kind-of-job cache): for every (model, device type) keep the Pareto-optimal
configurations over (tail service time at ``percentile``, energy per job, units held). A config whose batch
exceeds the job's queries is kept only where it runs the job no slower than one that fits it (with
``batching``: room that costs nothing, for later jobs to join) or where nothing smaller exists.

Online, per job (``objective="marginal_cost"``, the default):

1. *Feasible* options: predicted completion = transfer + the view's predicted wait for the config's pool (in
   the node's service order) + tail service time, scaled by the node's observed slowdown, within the QoS target;
   with deadline-ordered queues also "overtakes no job that would then miss its own target".
2. Among feasible options, the one with the least *marginal cost*: its own predicted completion plus the delay
   it imposes on the jobs that will share its pool, from the M/G/1 (Pollaczek-Khinchine) mean wait
   W = R / (1 - rho) of the pool's recent traffic (rate, utilisation rho, mean residual work R, measured from this
   policy's own placements over the last ``price_every`` jobs). Adding one job of pool time s raises the others'
   total wait by about rate * (s^2 / 2) / (1 - rho) (it blocks the pool while it runs) + rate * R * s / (1 - rho)^2
   (it raises the utilisation): a long job on a pool that tight short jobs use costs much more than on a pool of
   its own, and a busy pool costs more than an idle one. Configuration choice uses the same score. Work that
   will reach the pool while the job's input is in flight is not in the view yet: the prediction adds
   rho x transfer time for it, at most the pool's M/G/1 mean work R / (1 - rho) (it drains meanwhile); with deadline-ordered queues, work that arrives while the job waits and has an earlier deadline goes first: the
   prediction adds wait x rho / (1 - rho) for it.
3. Deadline-ordered node queues (``queues="edf"``: the job's deadline is its queue priority).
4. *Late jobs* -- no option meets the target at the tail or on the mean. The option that completes earliest is
   taken, with the job's deadline as its key where that makes no on-time job late, behind every on-time job
   otherwise (deadline + ``late_delay`` x its target). If even that completion misses the target although an
   idle cluster would make it (load, not the job, is the cause), the job is *held* centrally (late binding,
   ``synergai.central``; ``late="hold"``, the default): a node that frees capacity takes it as soon as it can
   finish it in time, and at its deadline it fails instead of taking capacity from later jobs -- under
   overload, running hopeless jobs late is what makes the on-time ones late too (EDF's domino effect). A job
   that no option could meet even on an idle node is rejected at once under the same rule: it can only be late,
   and running it would hold a node (non-preemptively) that other jobs need.
   ``late="fit"`` runs it late instead (the previous default), ``last`` always behind on-time jobs, ``edf`` at
   its deadline regardless; ``admission=True`` turns every late job away at once (failed with a reason).
   ``bind="late"`` also holds jobs that would meet the target only by queueing, until a node can start them.
5. *Cross-job batching* (``batching=True``, the default; ``synergai.central`` "Batches"). First of all, a job
   rides in an execution already bound and not started if it meets its target there at the tail and its inputs
   make the call no longer (``Placement.joins``): it then costs nobody anything. A bind (feasible, or least
   excess within the target) also takes held jobs of the model along as riders, over the node's configs, where
   every member still meets its target and no queued on-time job becomes late (``Policy.batch_on``). A job that
   no option meets, before it is held, joins an execution whose call it makes longer (``join_longer``, the
   default), where every member still makes its deadline and no queued on-time job becomes late: its inputs
   cost the node only the longer call's extra time, which in a burst is the capacity that batching adds.

Other objectives (kept so the change is measured): ``least_capable`` (the previous default: the option on the
device type that is slowest for the model, then least unit-ms, then least energy), ``energy``, ``fastest``.
``queues="fifo"`` restores FIFO node queues. Ablation switches: ``config_selection=False`` keeps only the default
config per node, ``config_knobs`` varies only the listed knobs, ``tail_aware=False`` judges feasibility on the
mean, ``online_correction=True`` scales each (node, config)'s prediction by an observed/predicted ratio.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..central import FREED, READY
from ..domain import CPU, Node, Placement
from ..policy import Policy, register
from ..profile import ProfileEntry

OBJECTIVES = ("marginal_cost", "least_capable", "energy", "fastest")
KNOBS = ("engine", "precision", "batch", "threads", "power_mode")
LATE_RULES = ("fit", "last", "edf", "hold")  # what happens to a job that will miss its target (see _decide)
LATE = 1e15  # queue-priority offset that puts jobs predicted to miss their target behind every on-time job
BINDS = ("immediate", "late")  # late: hold a job centrally rather than queue it (synergai.central)
RHO_CAP = 0.95  # utilisation used in the marginal-cost formulas is capped here (the formulas diverge at 1)


class Option(NamedTuple):
    i: int
    resource: str
    units: int
    transfer_ms: float
    tail_ms: float  # service time of the whole job at the chosen percentile
    mean_ms: float
    rank: tuple  # static objective order among feasible options (smaller first); () for marginal_cost/fastest
    node: Node
    entry: ProfileEntry
    pool: int  # flat pool id: 2 * node index + (0 cpu, 1 accel)
    share: float  # units x mean service / pool size: ms of whole-pool time per job
    bound: float  # transfer + tail service: no completion comes earlier (no wait, no slowdown)


class Kind(NamedTuple):
    """Everything the online step needs for one kind of job (model, origin, privacy, queries, size, target)."""

    id: int
    qos_ms: float
    ranked: tuple[Option, ...]  # options that can meet the target at all (transfer + tail <= QoS)
    by_bound: tuple[Option, ...]  # every option by no-wait completion (transfer + mean service)
    can_meet: bool  # some option meets the target on the mean with no wait (an idle cluster would make it)


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
    def __init__(self, percentile: float = 0.9, objective: str = "marginal_cost", config_selection: bool = True,
                 config_knobs=KNOBS, tail_aware: bool = True, online_correction: bool = False,
                 correction_weight: float = 0.05, admission: bool = False, queues: str = "edf", late: str = "hold",
                 late_delay: float = 10.0, price_every: int = 256, bind: str = "immediate", batching: bool = True,
                 join_longer: bool = True):
        if not 0.5 <= percentile < 1.0:
            raise TypeError(f"percentile must be in [0.5, 1), got {percentile}")
        if objective not in OBJECTIVES:
            raise TypeError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0 < correction_weight <= 1:
            raise TypeError(f"correction_weight must be in (0, 1], got {correction_weight}")
        if isinstance(config_knobs, str) or not all(k in KNOBS for k in config_knobs):
            raise TypeError(f"config_knobs must be a list of {KNOBS}, got {config_knobs!r}")
        if queues not in ("edf", "fifo"):
            raise TypeError(f"queues must be 'edf' or 'fifo', got {queues!r}")
        if late not in LATE_RULES:
            raise TypeError(f"late must be one of {LATE_RULES}, got {late!r}")
        if bind not in BINDS:
            raise TypeError(f"bind must be one of {BINDS}, got {bind!r}")
        if isinstance(price_every, bool) or not isinstance(price_every, int) or price_every < 1:
            raise TypeError(f"price_every must be an integer >= 1, got {price_every!r}")
        self.percentile, self.objective = percentile, objective
        self.config_selection, self.tail_aware, self.admission = config_selection, tail_aware, admission
        self.config_knobs = tuple(config_knobs)
        self.online_correction, self.correction_weight = online_correction, correction_weight
        if isinstance(late_delay, bool) or not isinstance(late_delay, (int, float)) or not late_delay >= 0:
            raise TypeError(f"late_delay must be >= 0 (a multiple of the job's QoS target), got {late_delay!r}")
        self.late_delay = float(late_delay)
        if not isinstance(batching, bool):
            raise TypeError(f"batching must be true or false, got {batching!r}")
        self.queues, self.late, self.price_every, self.bind = queues, late, price_every, bind
        self.batching = batching
        if not isinstance(join_longer, bool):
            raise TypeError(f"join_longer must be true or false, got {join_longer!r}")
        self.join_longer = join_longer
        self.queue_discipline = "priority" if queues == "edf" else "fifo"

    def prepare(self, profile, nodes, network, rng):
        super().prepare(profile, nodes, network, rng)
        self._kinds: dict[tuple, Kind] = {}
        self._factor: dict[tuple[str, object], float] = {}  # (node, config) -> observed / predicted service
        self._entry_of: dict[tuple, ProfileEntry] = {}
        # capability of a device type for a model: its best batch-1 median latency (smaller = more capable)
        self._speed = {}
        for n in self.nodes:
            for m in profile.models():
                e = profile.default_entry(m, n.device_type, n.power_modes)
                if e is not None:
                    self._speed[m, n.device_type] = e.p50_ms
        # online traffic of every pool, from this policy's own placements (see the module docstring)
        n_pools = 2 * len(self.nodes)
        self._epoch = np.zeros((3, n_pools))  # this epoch's placements: count, pool-ms, pool-ms^2 / 2
        self._rate = self._rho = self._resid = np.zeros(n_pools)  # smoothed per ms
        self._rho_list = [0.0] * n_pools
        self._transit_cap = [0.0] * n_pools  # M/G/1 mean work in the pool, R / (1 - rho): bounds the transit term
        self._since, self._epoch_start, self._smoothed = 0, None, False
        self._order: dict[tuple, tuple[tuple[float, float, Option], ...]] = {}  # (kind, likely) -> options
        self._batch_opts: dict[tuple, list] = {}  # (kind key, node index) -> [(entry, transfer ms)] with batch > 1
        self._taken: set[int] = set()

    # ---------------------------------------------------------------- offline: options per kind of job
    def _entries(self, job, n: Node) -> list[ProfileEntry]:
        if not self.config_selection:
            d = self.profile.default_entry(job.model, n.device_type, n.power_modes)
            return [d] if d is not None and self.allowed(job, n, d) else []
        entries = [e for e in self.profile.configs(job.model, n.device_type, n.power_modes) if self.allowed(job, n, e)]
        if len(self.config_knobs) < len(KNOBS):  # vary only the listed knobs around the node's default config
            d = self.profile.default_entry(job.model, n.device_type, n.power_modes)
            fixed = [k for k in KNOBS if k not in self.config_knobs]
            entries = [e for e in entries
                       if d is not None and all(getattr(e.config, k) == getattr(d.config, k) for k in fixed)]
        # a batch larger than the job only pads it; keep such configs only if nothing smaller exists -- or, with
        # cross-job batching, when they run the job no slower than the config that fits it (room that costs
        # nothing, for later jobs to join: Placement.joins), larger batches first
        fit = [e for e in entries if e.config.batch <= job.queries]
        if not fit:
            return entries
        if not self.batching:
            return fit
        best = {}
        for e in fit:
            g = (e.config.engine, e.config.precision, e.config.threads, e.config.power_mode)
            best[g] = min(best.get(g, math.inf), e.service_ms(job.queries))
        room = [e for e in entries if e.config.batch > job.queries
                and e.service_ms(job.queries) <= best.get((e.config.engine, e.config.precision, e.config.threads,
                                                           e.config.power_mode), -1.0)]
        room.sort(key=lambda e: -e.config.batch)
        return room + fit

    def kind(self, job) -> Kind:
        k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes, job.qos_ms)
        kd = self._kinds.get(k)
        if kd is not None:
            return kd
        out = []
        q = self.percentile if self.tail_aware else None
        for i, n in self.reachable(job):
            entries = self._entries(job, n)
            if not entries:
                continue
            tails = [e.service_ms(job.queries, q) for e in entries]
            energy = [e.energy_mj(e.service_ms(job.queries)) for e in entries]
            energy = [x if math.isfinite(x) else math.inf for x in energy]
            pts = [(t, en, e.units) for t, en, e in zip(tails, energy, entries)]
            tr = self.network.transfer_ms(job.origin_site, n.site, job.input_bytes)
            for a in pareto(pts):
                e = entries[a]
                mean = e.service_ms(job.queries)
                speed = self._speed.get((job.model, n.device_type), math.inf)
                occupancy = e.units * mean  # unit-ms the job holds the pool
                if self.objective == "least_capable":
                    rank = (-speed, occupancy, energy[a])
                elif self.objective == "energy":
                    rank = (energy[a], -speed, occupancy)
                else:
                    rank = ()
                cap = n.capacity(e.resource)
                out.append(Option(i, e.resource, e.units, tr, tails[a], mean, rank, n, e,
                                  2 * i + (0 if e.resource == CPU else 1), occupancy / cap, tr + tails[a]))
        # with online correction a factor below 1 may rescue an option: keep every one then
        ranked = [o for o in out if self.online_correction or o.transfer_ms + o.tail_ms <= job.qos_ms]
        if self.objective in ("least_capable", "energy"):
            ranked.sort(key=lambda o: o.rank)
        by_bound = sorted(out, key=lambda o: o.transfer_ms + o.mean_ms)
        can_meet = any(o.transfer_ms + o.mean_ms <= job.qos_ms for o in out)
        kd = self._kinds[k] = Kind(len(self._kinds), job.qos_ms, tuple(ranked), tuple(by_bound), can_meet)
        return kd

    def options(self, job):
        """(ranked, by_bound) for a kind of job (see ``Kind``)."""
        kd = self.kind(job)
        return kd.ranked, kd.by_bound

    # ---------------------------------------------------------------- online marginal cost
    def externality(self, o: Option) -> float:
        """Delay (ms, summed over the pool's other jobs) that one more job of this option imposes (M/G/1)."""
        p = o.pool
        lam, rho, resid = self._rate[p], min(self._rho[p], RHO_CAP), self._resid[p]
        s = o.share
        return lam * (s * s / 2.0) / (1.0 - rho) + lam * resid * s / (1.0 - rho) ** 2

    def _by_bound(self, kd: Kind, likely: bool = False) -> tuple[tuple[float, float, Option], ...]:
        """The kind's options that can meet the target at all, as (bound + marginal cost, marginal cost, option),
        cheapest first. ``likely``: instead those that meet it only on the mean (transfer + mean service <= QoS,
        not at the tail)."""
        order = self._order.get((kd.id, likely))
        if order is None:
            if likely:
                tail_ok = {id(o) for o in kd.ranked}
                opts = [o for o in kd.by_bound if id(o) not in tail_ok and o.transfer_ms + o.mean_ms <= kd.qos_ms]
                keyed = ((o.transfer_ms + o.mean_ms + (x := self.externality(o)), x, o) for o in opts)
            else:
                keyed = ((o.bound + (x := self.externality(o)), x, o) for o in kd.ranked)
            order = self._order[kd.id, likely] = tuple(sorted(keyed, key=lambda t: t[0]))
        return order

    def _record(self, o: Option, k: float, now: float) -> None:
        """Count a placement in its pool's traffic; every ``price_every`` jobs, refresh the pools' statistics."""
        e = self._epoch
        s = o.share * k
        e[0, o.pool] += 1.0
        e[1, o.pool] += s
        e[2, o.pool] += s * s / 2.0
        self._since += 1
        if self._epoch_start is None:
            self._epoch_start = now
        elif self._since >= self.price_every and now > self._epoch_start:
            span = now - self._epoch_start
            fresh = e / span
            if not self._smoothed:
                self._rate, self._rho, self._resid = fresh[0], fresh[1], fresh[2]
                self._smoothed = True
            else:  # smooth across epochs: half the weight on the newest
                self._rate = 0.5 * self._rate + 0.5 * fresh[0]
                self._rho = 0.5 * self._rho + 0.5 * fresh[1]
                self._resid = 0.5 * self._resid + 0.5 * fresh[2]
            self._rho_list = np.minimum(self._rho, RHO_CAP).tolist()
            self._transit_cap = (self._resid / (1.0 - np.minimum(self._rho, RHO_CAP))).tolist()
            self._epoch = np.zeros_like(e)
            self._since, self._epoch_start = 0, now
            self._order.clear()

    # ---------------------------------------------------------------- online step
    def schedule(self, jobs, view):
        self._taken = set()  # riders of this call's placements (the backend applies them after the call)
        return [self._decide(job, view) for job in jobs]

    def _decide(self, job, view, on_node: int = -1):
        """One job. ``bind="late"``: a job that meets its target only by queueing is held instead (recalled when
        its option would start); ``late="hold"``: a job that meets it nowhere now is held (bound once a node can
        make it, failed at its deadline otherwise). ``on_node`` >= 0: a held job offered a node that freed
        capacity: only that node's feasible options (with ``bind="late"`` only one that starts at once); None if
        there is none."""
        now = view.now_ms
        edf = self.queue_discipline == "priority"
        marginal = self.objective == "marginal_cost"
        factor = self._factor if self.online_correction else None
        kd = self.kind(job)
        deadline = job.arrival_ms + job.qos_ms
        prio = deadline if edf else 0.0
        late = self.bind == "late"
        jit = 0.0 if on_node >= 0 and late else math.inf
        if marginal:
            stages = [(self._by_bound(kd), True)] + ([(self._by_bound(kd, likely=True), False)] if self.tail_aware else [])
        else:
            stages = [(tuple((0.0, 0.0, o) for o in kd.ranked), True)]
        if self.batching and on_node < 0:
            joined = self._joined(job, view, deadline, prio)
            if joined is not None:
                return joined
        found = queued = None
        for seq, tail in stages:
            if on_node >= 0:
                seq = tuple(t for t in seq if t[2].i == on_node)
            if late and on_node < 0:  # first what can start at once, else hold for what would queue
                found = self._feasible(job, seq, view, now, deadline, prio, tail, 0.0)
                if found is None:
                    queued = self._feasible(job, seq, view, now, deadline, prio, tail)
            else:
                found = self._feasible(job, seq, view, now, deadline, prio, tail, jit)
            if found is not None or queued is not None:
                break
        if found is None and queued is not None:
            o, _, _, _, start = queued
            return Placement.hold(job.id, f"{self.name}: feasible only by queueing; held until a node frees",
                                  start - o.transfer_ms)
        if found is not None:
            o, finish, k, margin, _ = found
            if marginal:
                self._record(o, k, now)
            if self.batching and view.held.jobs:
                batch = self._batched(job, o, view, prio, deadline, k)
                if batch is not None:
                    return batch
            # protect the job's own tail (not its mean) when later jobs overtake it
            return Placement(job.id, o.node.name, o.entry.config, finish - job.arrival_ms, o.mean_ms * k,
                             f"{self.name}: feasible, {self.objective}", priority=prio,
                             protect_until_ms=deadline - margin)
        if on_node >= 0 and (late or self.late != "hold"):
            return None
        if self.admission and kd.by_bound:
            return Placement.reject(job.id, f"{self.name}: admission control: no node can meet the "
                                            f"{job.qos_ms:.1f} ms target")
        if self.late == "hold" and not kd.can_meet and kd.by_bound and on_node < 0:
            # no option meets the target even on an idle node: it can only be late, and run late it would hold a
            # node other jobs need (non-preemptive) -- give up now, as a held job gives up at its deadline
            return Placement.reject(job.id, f"{self.name}: no node can meet its QoS target even when idle")
        if self.batching and self.join_longer and on_node < 0:
            joined = self._joined(job, view, deadline, prio, lengthen=True)
            if joined is not None:
                return joined
        pl, o, k = self._least_excess(job, kd, view, now, deadline, edf, factor, on_node)
        if self.late == "hold" and kd.can_meet and not pl.predicted_latency_ms <= job.qos_ms:
            # predicted late wherever it goes: wait centrally for capacity instead (load, not the job, is why
            # it misses), and give up at its deadline rather than take capacity from later jobs
            if on_node >= 0:
                return None
            return Placement.hold(job.id, f"{self.name}: no node can meet the target now; held for capacity")
        if marginal and o is not None:
            self._record(o, k, now)
        if self.batching and o is not None and view.held.jobs and pl.predicted_latency_ms <= job.qos_ms:
            batch = self._batched(job, o, view, pl.priority, deadline, k, tail_ok=False)
            if batch is not None:
                return batch
        return pl

    def _joined(self, job, view, deadline, prio, lengthen: bool = False):
        """Ride in an execution already bound and not started, where that still meets the target at the tail:
        it adds the job at no cost to anyone (the call's service time does not change). A join is advice: where
        the backend cannot honour it (the execution started first, or its inputs are held up) the job runs on its
        own on that node and config, so the node must also make the target for the job alone (on the mean).

        ``lengthen`` (asked only when no option meets the target, before the job is held): also an execution
        whose call the job makes longer, where every member still finishes in time and no queued on-time job
        becomes late (``Policy.joinable``). Its queries then cost the node only the longer call's extra time,
        less than a call of their own: under a burst, batching is what adds capacity. Neither kind of join is
        checked for the job alone then: its alternative is waiting centrally, already predicted late."""
        q = self.percentile if self.tail_aware else None
        j = self.joinable(job, view, deadline, lengthen=lengthen)
        if j is None:
            return None
        lid, i, e, tr, finish, longer = j
        k = view.slowdown_at(i)
        alone = e.service_ms(job.queries)
        if longer:
            total = view.open_executions(job.model)[lid][2] + job.queries
            margin = (e.service_ms(total, q) - e.service_ms(total)) * k if q else 0.0
        else:
            margin = (e.service_ms(job.queries, q) - alone) * k if q else 0.0
        if finish + max(margin, 0.0) > deadline:
            return None
        if not lengthen and view.start_at(i, e.resource, e.units, view.now_ms + tr, prio) + alone * k > deadline:
            return None
        return Placement(job.id, self.nodes[i].name, e.config, finish - job.arrival_ms, alone * k,
                         f"{self.name}: joins the execution of job {lid}" + (", a longer call" if longer else ""),
                         priority=prio, protect_until_ms=deadline - max(margin, 0.0), joins=lid)

    def _batched(self, job, o, view, prio, deadline, k, tail_ok: bool = True):
        """A bind on node ``o.i`` that also runs held jobs of the model (cross-job batching): the node's config
        batching the most of them (``Policy.batch_on``), if the job still meets its target there -- at the tail
        when it was feasible at the tail (``tail_ok``), else on the mean -- and the longer execution makes no
        queued on-time job late; None otherwise."""
        key = (self.kind_key(job), o.i)
        opts = self._batch_opts.get(key)
        if opts is None:
            opts = self._batch_opts[key] = [(e, tr) for i, _, e, tr in self.config_options(job)
                                            if i == o.i and e.config.batch > job.queries]
        b = self.batch_on(job, o.i, opts, view, prio, self._taken) if opts else None
        if b is None:
            return None
        e, _, riders, arrive, start, finish = b
        held = view.held
        queries = job.queries + sum(held.job(r).queries for r in riders)
        q = self.percentile if self.tail_aware and tail_ok else None
        tail = e.service_ms(queries, q) * k
        mean = e.service_ms(queries) * k
        if start + tail > deadline or view.overtaken_late(o.i, e.resource, e.units, arrive, prio, mean):
            return None
        self._taken.update(riders)
        return Placement(job.id, o.node.name, e.config, finish - job.arrival_ms, mean,
                         f"{self.name}: feasible, {self.objective}, batch of {len(riders) + 1} jobs", priority=prio,
                         protect_until_ms=deadline - (tail - mean), riders=riders)

    def dispatch(self, held, view, wake):
        """Late binding: held jobs whose recall time or deadline came are decided again in full; a node that
        freed capacity takes, in deadline order, the held jobs it can now finish within their target. Only that
        node changed (a completion or a repair improves no other node's predictions), so only its options are
        scored."""
        due = wake.due
        self._taken = set()  # each placement is applied before the next: riders have left the queue
        for job in [j for j in held if j.id in due]:
            if job.id in view.held:
                yield self._decide(job, view)
        if wake.reason not in (FREED, READY) or not view.ready_at(wake.node):
            return
        skip = set()
        for job in list(held):
            if job.id in due or job.id not in view.held:
                continue
            k = self.kind_key(job)
            if k in skip:
                continue
            pl = self._decide(job, view, wake.node)
            if pl is None:
                skip.add(k)
            else:
                yield pl

    def _feasible(self, job, seq, view, now, deadline, prio, tail: bool, jit: float = math.inf):
        """The best option of ``seq`` ((sort key, marginal cost, option), cheapest first) that meets the deadline
        with its service at the tail (``tail``) or on the mean, and makes no queued on-time job late; only
        options that start within ``jit`` ms of reaching their node, when given.
        Returns (option, predicted finish, slowdown, tail margin, predicted start) or None."""
        marginal = self.objective == "marginal_cost"
        edf = self.queue_discipline == "priority"
        protect = edf or marginal
        factor = self._factor if self.online_correction else None
        rho, cap = self._rho_list, self._transit_cap
        ready, start_at, slow_at = view.ready_at, view.start_at, view.slowdown_at
        lo = view.min_slowdown() if marginal and factor is None else 0.0
        best, best_finish, best_k, best_score, best_start = None, math.inf, 1.0, math.inf, math.inf
        for _, ext, o in seq:
            svc = o.tail_ms if tail else o.mean_ms
            if marginal and now + o.transfer_ms + svc * lo + ext >= best_score:
                if lo >= 1.0:
                    break  # sorted by bound + cost, which no later option's score can undercut
                continue
            if not ready(o.i):
                continue
            k = slow_at(o.i)
            if factor is not None:
                k *= factor.get((o.node.name, o.entry.config), 1.0)
            arrive = now + o.transfer_ms
            start = start_at(o.i, o.resource, o.units, arrive, prio)
            if start > arrive + jit:
                continue
            r = rho[o.pool]
            # work that will reach the pool while this job's input is in flight is not in the view yet: rho x
            # transfer of it arrives, but it drains too -- no more than the pool's M/G/1 mean work is left of it
            t = r * o.transfer_ms
            c = cap[o.pool]
            finish = start + svc * k + (t if t < c else c)
            if edf and start > arrive:  # work arriving while it waits, with an earlier deadline, goes first
                finish += (start - arrive) * r / (1.0 - r)
            if finish > deadline:
                continue
            if protect and view.overtaken_late(o.i, o.resource, o.units, arrive, prio, o.mean_ms * k):
                continue
            if o.rank:  # static rank order: the first feasible option is the choice
                return o, finish, k, (o.tail_ms - o.mean_ms) * k, start
            score = finish + ext
            if score < best_score:
                best, best_finish, best_k, best_score, best_start = o, finish, k, score, start
        if best is None:
            return None
        return best, best_finish, best_k, ((best.tail_ms - best.mean_ms) * best_k if tail else 0.0), best_start

    def _least_excess(self, job, kd, view, now, deadline, edf, factor, on_node: int = -1):
        """No option meets the target: the node where the job completes earliest.

        With deadline-ordered queues the job's queue key depends on ``late``: ``edf`` keeps its deadline (it may
        overtake on-time jobs and make them late: EDF's domino effect), ``last`` queues it behind on-time jobs
        (deadline + ``late_delay`` x its QoS target), ``fit`` (default) keeps its deadline on a node where that
        makes no on-time job late and queues it behind them otherwise: as early as it can without costing anyone
        their target. Each node is judged with the key the job would get there.
        ``on_node`` >= 0: that node's options only. Returns (placement, option, slowdown) -- option None if no
        node can run the job.
        """
        demoted = deadline + (job.qos_ms * self.late_delay if math.isfinite(self.late_delay) else LATE)
        prio = (demoted if self.late == "last" else deadline) if edf else 0.0
        fit = edf and self.late in ("fit", "hold")
        lo = view.min_slowdown()
        best, best_finish, best_k, best_prio = None, math.inf, 1.0, prio
        for o in kd.by_bound:  # stop once no remaining option can beat the best found
            if on_node >= 0 and o.i != on_node:
                continue
            if factor is None and now + o.transfer_ms + o.mean_ms * lo >= best_finish:
                break
            if not view.ready_at(o.i):
                continue
            k = view.slowdown_at(o.i)
            if factor is not None:
                k *= factor.get((o.node.name, o.entry.config), 1.0)
            arrive = now + o.transfer_ms
            p = prio
            f = view.start_at(o.i, o.resource, o.units, arrive, p) + o.mean_ms * k
            if f < best_finish and fit and view.overtaken_late(o.i, o.resource, o.units, arrive, p, o.mean_ms * k):
                p = demoted
                f = view.start_at(o.i, o.resource, o.units, arrive, p) + o.mean_ms * k
            if f < best_finish:
                best, best_finish, best_k, best_prio = o, f, k, p
        if best is None:
            return self.no_node(job), None, 1.0
        return Placement(job.id, best.node.name, best.entry.config, best_finish - job.arrival_ms,
                         best.mean_ms * best_k, f"{self.name}: no option meets the target; least excess",
                         priority=best_prio), best, best_k

    def observe(self, completion):
        """Online correction: move the (node, config) factor towards observed / predicted service time."""
        if not (self.online_correction and completion.ok and completion.config is not None):
            return
        entry = self._entry_of.get((completion.node, completion.model, completion.config))
        if entry is None:
            node = next(n for n in self.nodes if n.name == completion.node)
            entry = self._entry_of[completion.node, completion.model, completion.config] = self.profile.entry(
                completion.model, node.device_type, completion.config)
        predicted = entry.service_ms(completion.queries)
        key = (completion.node, completion.config)
        w = self.correction_weight
        self._factor[key] = (1 - w) * self._factor.get(key, 1.0) + w * completion.service_ms / predicted


def _variant(name: str, doc: str, **fixed):
    @register(name)
    class Variant(SynergAIPolicy):
        def __init__(self, **params):
            super().__init__(**{**fixed, **params})

    Variant.__doc__ = doc
    Variant.__name__ = Variant.__qualname__ = "SynergAI_" + name.removeprefix("synergai_")
    return Variant


_variant("synergai_no_config", "Ablation: SynergAI without configuration selection (default config per node).",
         config_selection=False)
_variant("synergai_no_tail", "Ablation: SynergAI judging feasibility on mean rather than tail service time.",
         tail_aware=False)
_variant("synergai_online", "Beyond the paper: SynergAI with online correction of its latency predictions.",
         online_correction=True)
_variant("synergai_late", "SynergAI with late binding for every job: a job that meets its target only by "
         "queueing is held centrally and bound when a node can start it (synergai.central).", bind="late")
_variant("synergai_run_late", "Ablation: SynergAI without holding late jobs: a job predicted to miss its target "
         "everywhere runs late where it delays no on-time job (late='fit', the previous default).", late="fit")
_variant("synergai_fifo", "Ablation: SynergAI with FIFO node queues instead of deadline-ordered ones.", queues="fifo")
_variant("synergai_least_capable", "The previous SynergAI: least-capable feasible device, FIFO node queues.",
         objective="least_capable", queues="fifo")
for _knob in KNOBS:
    _variant(f"synergai_only_{_knob}", f"Ablation: SynergAI choosing only the {_knob} (other knobs at the node's "
             "default config).", config_knobs=(_knob,))
_variant("synergai_free_joins", "Ablation: SynergAI joining bound executions only where that costs nothing (no longer "
         "call, and the node makes the target for the job alone), never as a last resort before holding a job.",
         join_longer=False)
