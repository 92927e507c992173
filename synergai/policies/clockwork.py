"""Clockwork-style central dispatch (Gujarati et al., OSDI 2020), adapted to one heterogeneous cluster.

Clockwork's controller keeps every request centrally and hands work to a worker only when that worker is about
to be free, so each decision is made on the real state rather than on a guess about a queue; it relies on DNN
execution times being predictable, and it rejects a request that can no longer meet its deadline instead of
running it late. Here, through late binding (``synergai.central``):

1. *Earliest finish.* For a job, every (node, config) option the filters allow is scored by its predicted
   finish: transfer + the view's predicted start + mean service, scaled by the node's observed slowdown
   (options visited by their no-wait bound, so the search stops early).
2. *Early rejection.* If even the earliest finish misses the deadline (arrival + QoS target), the job is
   rejected now (failed with the reason), not run late.
3. *Just-in-time dispatch.* The job is bound to that option only if it would start within ``lookahead_ms`` of
   reaching the node; otherwise it is held centrally, with a recall at the moment binding would be just in
   time (predicted start - transfer - lookahead). The central queue is served earliest deadline first.
   If its earliest-finish option is busy but another node can start it just in time and still meet the
   deadline, it goes there at once (capacity is never left idle while a job it could serve on time waits).
4. *Pull on free capacity.* When a node frees capacity (a completion) or turns ready, it takes held jobs in
   deadline order: each one it can start just in time and finish by the job's deadline (Clockwork's workers
   pull the most urgent request they can serve in time). Each held job is also re-scored in full at its
   recall time and at its deadline, where it is rejected if no option can make it.
5. *Batching.* Whenever a job is bound to a node, the held jobs of its model can ride in its execution
   (``Placement.riders``, ``synergai.central``): over the node's configs of every batch size, the one that runs
   the most jobs (then the earliest finish) while each of them meets its deadline (``Policy.batch_riders``:
   the most urgent riders first). Clockwork batches queued requests of one model the same way, picking the
   largest batch that still meets the deadlines; ``batching=False`` turns it off.

``bind="immediate"`` skips step 3 (binds every job at once to its earliest finish): the same decisions
without late binding (and so without batches), to measure what late binding costs and buys.

Taken from the paper: central EDF queue, just-in-time dispatch to the worker that finishes earliest,
predictable (profiled) execution times, early rejection of requests that cannot meet their deadline,
batching of queued requests of one model.
Adapted: workers are this cluster's heterogeneous nodes (CPU and accelerator pools, several configs each)
rather than identical GPUs; no model loading or GPU memory management (every config is always ready, as for
every policy here); the controller-worker action protocol is reduced to binding a job (with its batch), with
node FIFO queues that JIT binding keeps nearly empty.
"""
from __future__ import annotations

import math

from ..central import FREED, READY
from ..domain import Placement
from ..policy import Policy, register

BINDS = ("jit", "immediate")


@register("clockwork")
class ClockworkPolicy(Policy):
    def __init__(self, lookahead_ms: float = 0.0, bind: str = "jit", batching: bool = True):
        if isinstance(lookahead_ms, bool) or not isinstance(lookahead_ms, (int, float)) or not lookahead_ms >= 0:
            raise TypeError(f"lookahead_ms must be a number >= 0, got {lookahead_ms!r}")
        if bind not in BINDS:
            raise TypeError(f"bind must be one of {BINDS}, got {bind!r}")
        if not isinstance(batching, bool):
            raise TypeError(f"batching must be true or false, got {batching!r}")
        self.lookahead_ms, self.bind, self.batching = float(lookahead_ms), bind, batching

    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self._options: dict[tuple, tuple] = {}
        self._on_node: dict[tuple, dict[int, tuple]] = {}
        self._configs_on: dict[tuple, dict[int, tuple]] = {}  # (entry, transfer ms) per node, for batch_on
        self._taken: set[int] = set()

    def options(self, job) -> tuple:
        """(bound, node index, node, entry, transfer ms, mean service ms) per allowed option, by no-wait bound."""
        k = self.kind_key(job)
        r = self._options.get(k)
        if r is None:
            out = [(tr + (mean := e.service_ms(job.queries)), i, n, e, tr, mean)
                   for i, n, e, tr in self.config_options(job)]
            out.sort(key=lambda o: o[0])  # stable: ties keep node and config order
            r = self._options[k] = tuple(out)
            by_node: dict[int, list] = {}
            for o in r:
                by_node.setdefault(o[1], []).append(o)
            self._on_node[k] = {i: tuple(v) for i, v in by_node.items()}
            self._configs_on[k] = {i: tuple((o[3], o[4]) for o in v) for i, v in by_node.items()}
        return r

    @staticmethod
    def _earliest(opts, view, now: float, lo: float = 0.0, jit: float = math.inf):
        """One pass over ``opts`` (by no-wait bound): ((finish, start, option) of the earliest-finishing option,
        the same among the options that start within ``jit`` ms of reaching their node), each None if there is
        none. The pass stops once no later option can beat either."""
        best = best_jit = None
        bf = bjf = math.inf
        best_is_jit = True
        for o in opts:
            bound, i, _, e, tr, mean = o
            b = now + bound * lo  # lo <= 1: lo x bound never exceeds a finish
            if b >= bf and (best_is_jit or b >= bjf):
                break
            if not view.ready_at(i):
                continue
            s = view.start_at(i, e.resource, e.units, now + tr)
            f = s + mean * view.slowdown_at(i)
            on_time = s <= now + tr + jit
            t = (f, s, o)  # one object: best_jit is best when the earliest finish starts in time
            if f < bf:
                best, bf, best_is_jit = t, f, on_time
            if on_time and f < bjf:
                best_jit, bjf = t, f
        return best, best_jit

    def _decide(self, job, view, opts, lo: float) -> Placement:
        now = view.now_ms
        jit = self.lookahead_ms if self.bind == "jit" else math.inf
        found, at_once = self._earliest(opts, view, now, lo, jit)
        if found is None:
            return self.no_node(job)
        finish, start, o = found
        deadline = job.arrival_ms + job.qos_ms
        if finish > deadline:
            return Placement.reject(job.id, f"{self.name}: cannot meet its deadline (no option's predicted "
                                            "finish is within the QoS target)")
        if at_once is not found:  # the earliest finish would wait: a node free now that still makes it?
            if at_once is None or at_once[0] > deadline:
                return Placement.hold(job.id, f"{self.name}: held until a node can take it just in time",
                                      start - o[4] - self.lookahead_ms)
            finish, start, o = at_once
        return self._place(job, o, finish, view)

    def _place(self, job, o, finish, view) -> Placement:
        _, i, n, e, _, mean = o
        if self.batching and view.held.jobs:
            b = self.batch_on(job, i, self._configs_on[self.kind_key(job)][i], view,
                              taken=self._taken)
            if b is not None:
                e, _, riders, _, _, finish = b
                self._taken.update(riders)
                queries = job.queries + sum(view.held.job(r).queries for r in riders)
                return Placement(job.id, n.name, e.config, finish - job.arrival_ms,
                                 e.service_ms(queries) * view.slowdown_at(i),
                                 f"{self.name}: earliest finish, batch of {len(riders) + 1} jobs", riders=riders)
        return Placement(job.id, n.name, e.config, finish - job.arrival_ms, mean * view.slowdown_at(i),
                         f"{self.name}: earliest finish")

    def schedule(self, jobs, view):
        lo = min(1.0, view.min_slowdown())
        self._taken = set()  # riders of this call's placements (the backend applies them after the call)
        return [self._decide(job, view, self.options(job), lo) for job in jobs]

    def dispatch(self, held, view, wake):
        now = view.now_ms
        lo = min(1.0, view.min_slowdown())
        due = wake.due
        self._taken = set()  # each placement is applied before the next: riders have left the queue
        for job in [j for j in held if j.id in due]:  # recall time or deadline: score in full
            if job.id in view.held:
                yield self._decide(job, view, self.options(job), lo)
        if wake.reason not in (FREED, READY) or not view.ready_at(wake.node):
            return
        i, skip = wake.node, set()
        for job in list(held):  # the node pulls the most urgent held jobs it can finish in time
            if job.id in due or job.id not in view.held:
                continue
            k = self.kind_key(job)
            if k in skip:
                continue
            self.options(job)
            here = self._on_node[k].get(i)
            found = self._earliest(here, view, now, jit=self.lookahead_ms)[1] if here else None
            if found is None:
                skip.add(k)  # not free soon enough for this kind of job: nor for later jobs of it
                continue
            if found[0] <= job.arrival_ms + job.qos_ms:
                yield self._place(job, found[2], found[0], view)
