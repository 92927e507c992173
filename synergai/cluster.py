"""The cluster as a live scheduler sees it: node specs, readiness, and what it placed but has not seen finish.

Policies read a ``ClusterView``; only the backend (simulator or Kubernetes scheduler) mutates it, through the
``on_*`` methods. Nothing here knows simulated internals: the view holds only what a live scheduler can know --
its own placements and service-time predictions, when a job was seen to start (a pod turning Running) and to
finish (with its observed service time when the backend reports it), pods it did not place, and the clock.

From those it predicts, per node and resource pool, when a new job would start, by replaying the pool's queue
the way the node serves it:

- *Service order.* Waiting jobs (placed, not yet seen to start: in transit or queued) are kept in the order the
  node will serve them: by arrival at the node for FIFO pools, by (priority, arrival) for priority pools. A job
  still crossing a slow WAN therefore does not delay a job that reaches the node before it.
- *List scheduling with head-of-line blocking.* Started jobs hold their units until start + predicted service;
  waiting jobs take, in service order, the earliest ``units`` free units, never starting before the job ahead of
  them (both backends' pools block at the head) nor before now.
- *Closed loop.* A completion frees its units at the moment it is observed, whatever was predicted, so early and
  late finishes move every job queued behind them. A started job that overruns its prediction is assumed to end
  now (no later than the next observation corrects). Each node keeps an exponentially weighted ratio of observed
  to predicted service time (``slowdown_at``), applied to every prediction on that node: a throttled node is
  seen as slower within a few completions, and as normal again after it recovers.
- *Foreign pods* (placed by someone else) hold their units for an unknown time: those units count as busy
  until the pod is seen gone (conservative: never predicted free early).
- *Held jobs* (late binding, ``synergai.central``) are on no node: ``held`` lists them in deadline order; they
  take no units until a policy binds them.
- *Batches* (``Placement.riders``): the leader's entry stands for the whole execution (the last member's
  arrival, the service of all members' queries); riders only count as outstanding on the node until they end.

Predictions are cached per pool and reused while nothing on the pool changed and the clock has not passed the
first waiting job's predicted start (after which the replay would differ); a decision that probes many nodes
therefore replays each pool at most once.
"""
from __future__ import annotations

import bisect
import heapq
import math

from .central import CentralQueue
from .domain import ACCEL, CPU, Job, Node, Placement

INF = math.inf
SLOWDOWN_WEIGHT = 0.1  # EWMA weight of one observed/predicted service ratio
SLOWDOWN_CLAMP = (0.05, 20.0)  # one observation moves the estimate at most this far (a guard against bad reports)


class _Pool:
    """What the view knows of one resource pool of one node."""

    __slots__ = ("cap", "foreign", "running", "waiting", "version", "_memo", "_memo_key", "_served")

    def __init__(self, cap: int):
        self.cap = cap
        self.foreign = 0  # units held by pods the scheduler did not place
        self.running: dict[int, tuple[int, float, float]] = {}  # job id -> (units, start ms, predicted service ms)
        # placed, not seen to start, in service order: (priority, arrive ms, seq, job id, units, service ms, deadline)
        self.waiting: list[tuple] = []
        self.version = 0
        self._memo = None  # (valid until ms, free heap, last start ms) after every waiting job
        self._memo_key = -1
        self._served = None  # priority pools: memoised replay of the waiting jobs (ClusterView._served)

    def base_free(self, slow: float) -> list[float]:
        """Per-unit free-at times from the started jobs (heap order); foreign units never free."""
        free = []
        for units, start, svc in self.running.values():
            f = start + svc * slow
            free.extend([f] * units)
        idle = self.cap - self.foreign - len(free)
        if idle > 0:
            free.extend([-INF] * idle)
        heapq.heapify(free)
        return free

    def replay(self, now: float, slow: float, upto: int | None = None):
        """List-schedule waiting[:upto] from the started jobs' state.

        Returns (free heap, last start, first pre-clamp start): the answer is exact for any clock up to the
        third value (no ``max(..., now)`` bound until then)."""
        free = self.base_free(slow)
        last, first = -INF, INF
        w = self.waiting if upto is None else self.waiting[:upto]
        for item in w:
            units, arrive, svc = item[4], item[1], item[5]
            if units > len(free):
                return [], INF, -INF
            kth = free[0] if units == 1 else heapq.nsmallest(units, free)[-1]
            x = arrive if arrive > kth else kth
            if last > x:
                x = last
            if x < first:
                first = x
            s = x if x > now else now
            f = s + svc * slow
            if units == 1:
                heapq.heapreplace(free, f)
            else:
                for _ in range(units):
                    heapq.heappop(free)
                for _ in range(units):
                    heapq.heappush(free, f)
            last = s
        return free, last, first

    def serve(self, now: float, slow: float, extra: tuple | None = None, starts: dict | None = None,
              final: list | None = None) -> dict:
        """Priority pools: replay non-preemptive service in (priority, arrival) order, units freed as predicted,
        a job starting only once it has arrived and the head needs no more units than are free (head-of-line
        blocking, as both backends' priority pools). ``extra`` is a hypothetical new job (id -1). Returns
        {job id: predicted finish}; fills ``starts`` with {job id: predicted start} and ``final`` with the free
        heap and the last start once every job has started."""
        free = self.base_free(slow)
        arrivals = sorted(self.waiting if extra is None else [*self.waiting, extra], key=lambda w: (w[1], w[2]))
        finish: dict = {}
        queue: list = []
        j, n, t, last = 0, len(arrivals), now, -INF
        while True:
            while j < n and arrivals[j][1] <= t:
                heapq.heappush(queue, arrivals[j])
                j += 1
            if not queue:
                if j == n:
                    if final is not None:
                        final[:] = [free, last]
                    return finish
                t = max(t, arrivals[j][1])
                continue
            head = queue[0]
            units = head[4]
            if units > len(free):
                return finish  # can never start: its finish stays unknown (inf to callers)
            kth = free[0] if units == 1 else heapq.nsmallest(units, free)[-1]
            if kth <= t:
                heapq.heappop(queue)
                f = t + head[5] * slow
                for _ in range(units):
                    heapq.heappop(free)
                for _ in range(units):
                    heapq.heappush(free, f)
                finish[head[3]] = f
                last = t
                if starts is not None:
                    starts[head[3]] = t
                continue
            nxt = arrivals[j][1] if j < n else INF
            t = nxt if nxt < kth else kth


class ClusterView:
    def __init__(self, nodes: list[Node], queue_discipline: str = "fifo", anchor_to_clock: bool = True):
        """``anchor_to_clock``: a placed job not yet seen to start is assumed to start no earlier than now -- right
        where starts are observed as they happen (the simulator). A live scheduler sees starts and completions
        late (watch lag): it passes False, and such a job keeps its predicted schedule instead of piling up at
        the clock as a phantom backlog."""
        if queue_discipline not in ("fifo", "priority"):
            raise ValueError(f"unknown queue_discipline {queue_discipline!r}")
        self.anchor_to_clock = anchor_to_clock
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.now_ms = 0.0
        self.priority_queues = queue_discipline == "priority"
        self._ready = [True] * len(self.nodes)
        self._outstanding = [0] * len(self.nodes)
        self._allocated = [{CPU: 0, ACCEL: 0} for _ in self.nodes]
        self._pools = [{CPU: _Pool(n.cpu_cores), ACCEL: _Pool(n.accel_slots)} for n in self.nodes]
        self._slow = [1.0] * len(self.nodes)
        self._min_slow: float | None = 1.0
        self._seq = 0
        # job id -> (node index, resource, units, waiting entry or None once started, predicted service ms)
        self._jobs: dict[int, list] = {}
        self._foreign: dict[object, tuple[int, str, int]] = {}
        self._riders: dict[int, int] = {}  # rider job id -> node index (batch members besides the leader)
        # placed executions not seen to start whose config has room for more queries (Placement.joins):
        # model -> {leader job id: [node index, config, queries so far]}
        self._open: dict[str, dict[int, list]] = {}
        self._open_of: dict[int, str] = {}  # leader job id -> model
        # late binding: jobs a policy held, not on any node yet (read by policies; changed by the backend only)
        self.held = CentralQueue()

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

    def slowdown(self, name: str) -> float:
        return self._slow[self.index[name]]

    def predicted_start_ms(self, name: str, resource: str, units: int, arrive_ms: float,
                           priority: float = 0.0) -> float:
        """When a job needing ``units`` of ``resource`` that reaches the node at ``arrive_ms`` would start."""
        return self.start_at(self.index[name], resource, units, arrive_ms, priority)

    def predicted_wait_ms(self, name: str, resource: str, units: int, arrive_ms: float,
                          priority: float = 0.0) -> float:
        return self.predicted_start_ms(name, resource, units, arrive_ms, priority) - arrive_ms

    # index-based twins of the above, for policies' hot loops (node index = position in ``nodes``)
    def ready_at(self, i: int) -> bool:
        return self._ready[i]

    def outstanding_at(self, i: int) -> int:
        return self._outstanding[i]

    def slowdown_at(self, i: int) -> float:
        """Observed / predicted service time on node i (exponentially weighted; 1.0 until observed)."""
        return self._slow[i]

    def min_slowdown(self) -> float:
        """The smallest node slowdown (a lower bound for pruning searches by no-wait completion)."""
        m = self._min_slow
        if m is None:
            m = self._min_slow = min(self._slow, default=1.0)
        return m

    def start_at(self, i: int, resource: str, units: int, arrive_ms: float, priority: float = 0.0) -> float:
        """Predicted start of a new job on pool (i, resource): ``inf`` if the pool can never hold ``units``.

        ``priority`` is the job's queue key on priority pools (lower first); FIFO pools ignore it."""
        p = self._pools[i][resource]
        if units <= 0 or units > p.cap - p.foreign:
            return INF
        now = self.now_ms
        if arrive_ms < now:
            arrive_ms = now
        w = p.waiting
        if self.priority_queues and w:
            _, free, last, kmax, amax, _ = self._served(p, i, now)
            if units == 1 and arrive_ms >= amax and (priority, arrive_ms) < kmax:
                fast = self._one_slot_insert(p, i, now, arrive_ms, (priority, arrive_ms))
                if fast is not None:
                    return fast[0]
            if arrive_ms >= amax and (priority, arrive_ms) >= kmax:  # last in every order: after all of them
                if units > len(free):
                    return INF
                kth = free[0] if units == 1 else heapq.nsmallest(units, free)[-1]
                s = arrive_ms if arrive_ms > kth else kth
                return s if s > last else last
            starts: dict = {}
            p.serve(self._floor(now), self._slow[i], (priority, arrive_ms, INF, -1, units, 0.0, INF), starts)
            return starts.get(-1, INF)
        if not w:  # nothing waiting: the started jobs alone decide
            if not p.running:
                return arrive_ms
            free, last = p.base_free(self._slow[i]), -INF
        else:
            pos = len(w) if arrive_ms >= w[-1][1] else bisect.bisect_right(w, (0.0, arrive_ms, INF))
            if pos == len(w):
                free, last = self._tail(p, i, now)
            else:
                free, last, _ = p.replay(self._floor(now), self._slow[i], pos)
        if units > len(free):
            return INF
        kth = free[0] if units == 1 else heapq.nsmallest(units, free)[-1]
        s = arrive_ms if arrive_ms > kth else kth
        if last > s:
            s = last
        return s if s > now else now

    def open_executions(self, model: str) -> dict[int, list]:
        """Placed executions of ``model`` not seen to start whose config has room for more queries: {leader job id:
        [node index, config, queries so far, members' earliest deadline ms]} (read only; a job may ride in one:
        ``Placement.joins``)."""
        return self._open.get(model, {})

    def scheduled_at(self, job_id: int) -> tuple[float, float]:
        """(predicted start, predicted finish) of a placed job not seen to start (its pool replayed as for
        ``start_at``); (inf, inf) when unknown."""
        o = self._jobs.get(job_id)
        if o is None or o[3] is None:
            return INF, INF
        i, resource, units, item, svc = o
        p = self._pools[i][resource]
        now, slow = self.now_ms, self._slow[i]
        if self.priority_queues:
            f = self._served(p, i, now)[0].get(job_id, INF)
            return f - svc * slow, f
        pos = bisect.bisect_left(p.waiting, item)
        free, last, _ = p.replay(self._floor(now), slow, pos)
        if units > len(free):
            return INF, INF
        kth = free[0] if units == 1 else heapq.nsmallest(units, free)[-1]
        s = max(item[1], kth, last, now)
        return s, s + svc * slow

    def overtaken_late(self, i: int, resource: str, units: int, arrive_ms: float, priority: float,
                       service_ms: float) -> int:
        """How many waiting jobs that are predicted on time would be predicted late if a new job (``units``,
        reaching the node at ``arrive_ms``, queue key ``priority`` on priority pools, predicted service
        ``service_ms`` on this node, slowdown included) joined the pool: those it would go ahead of in the queue, and -- service being non-preemptive -- those still in
        transit that it would reach an idle pool before."""
        p = self._pools[i][resource]
        w = p.waiting
        if not w:
            return 0
        now, slow = self.now_ms, self._slow[i]
        if not self.priority_queues:
            if arrive_ms >= w[-1][1]:  # FIFO: arriving after every waiting job overtakes none
                return 0
            prio = 0.0
        else:
            prio = priority
        before, _, _, kmax, amax, _ = self._served(p, i, now)
        if arrive_ms >= amax and (prio, arrive_ms) >= kmax:
            return 0
        if units == 1:
            fast = self._one_slot_insert(p, i, now, arrive_ms, (prio, arrive_ms))
            if fast is not None:  # it delays every unstarted job with a larger key by its service
                _, sched = fast
                return sum(1 for s, f, k, _, until in sched
                           if s >= arrive_ms and k > (prio, arrive_ms) and f <= until < f + service_ms)
        after = p.serve(self._floor(now), slow, (prio, max(arrive_ms, now), INF, -1, units, service_ms / slow, INF))
        return sum(1 for item in p.waiting
                   if before.get(item[3], INF) <= item[6] < after.get(item[3], INF))

    def _floor(self, now: float) -> float:
        """The earliest time a replay lets a waiting job start (see ``anchor_to_clock``)."""
        return now if self.anchor_to_clock else -INF

    def _served(self, p: _Pool, i: int, now: float):
        """Priority pools: the waiting jobs' replay, memoised per (pool version, clock, slowdown): (finishes, free
        heap and last start once all started, last key, last arrival, schedule) -- the schedule being
        (start, finish, key, service, protect-until) per waiting job in start order."""
        slow = self._slow[i]
        key = (p.version, now, slow)
        m = p._served
        if m is None or m[0] != key:
            final: list = []
            starts: dict = {}
            fin = p.serve(self._floor(now), slow, starts=starts, final=final)
            free, last = final if final else ([], INF)
            sched = sorted((starts[w[3]], fin[w[3]], w[:2], w[5] * slow, w[6]) for w in p.waiting if w[3] in fin)
            m = p._served = (key, fin, free, last, p.waiting[-1][:2], max(w[1] for w in p.waiting), sched)
        return m[1:]

    def _one_slot_insert(self, p: _Pool, i: int, now: float, arrive_ms: float, key: tuple):
        """A one-unit priority pool and a job that arrives after every waiting job: at the first moment the pool
        picks a job from then on, every unstarted job is queued, so the new job starts after the running job and
        every unstarted job with a smaller key. Returns (start, schedule) or None when this shortcut does not
        apply."""
        if p.cap - p.foreign != 1 or len(p.running) > 1:
            return None
        _, _, _, _, amax, sched = self._served(p, i, now)
        if arrive_ms < amax:
            return None
        t = arrive_ms
        for _units, start, svc in p.running.values():
            f = start + svc * self._slow[i]
            if f > t:
                t = f
        ahead = 0.0
        for s, f, k, svc, _ in sched:
            if s < arrive_ms:
                if f > t:
                    t = f
            elif k <= key:
                ahead += svc
        return t + ahead, sched

    def _tail(self, p: _Pool, i: int, now: float):
        """State after every waiting job, memoised while valid (see module docstring)."""
        m = p._memo
        if m is not None and p._memo_key == p.version and now <= m[0]:
            return m[1], m[2]
        free, last, first = p.replay(self._floor(now), self._slow[i])
        if not self.anchor_to_clock:
            first = INF  # the replay does not depend on the clock
        p._memo, p._memo_key = (first, free, last), p.version
        return free, last

    # ---------------------------------------------------------------- write side (backends only)
    def on_clock(self, now_ms: float) -> None:
        self.now_ms = now_ms

    def on_ready(self, name: str, ready: bool) -> None:
        self._ready[self.index[name]] = ready

    def on_placed(self, job: Job, placement: Placement, resource: str, units: int,
                  arrive_ms: float, service_ms: float) -> float:
        """Record a placement (the job reaches the node at ``arrive_ms``); returns its predicted finish."""
        i = self.index[placement.node]
        prio = placement.priority if self.priority_queues else 0.0
        arrive = max(arrive_ms, self.now_ms)
        start = self.start_at(i, resource, units, arrive, prio)
        p = self._pools[i][resource]
        self._seq += 1
        until = placement.protect_until_ms
        item = (prio, arrive, self._seq, job.id, units, service_ms,
                job.arrival_ms + job.qos_ms if until != until else until)
        bisect.insort(p.waiting, item)
        p.version += 1
        self._outstanding[i] += 1
        self._allocated[i][resource] += units
        self._jobs[job.id] = [i, resource, units, item, service_ms]
        cfg = placement.config
        if cfg is not None and cfg.batch > job.queries:
            self._open.setdefault(job.model, {})[job.id] = [i, cfg, job.queries, job.arrival_ms + job.qos_ms]
            self._open_of[job.id] = job.model
        return start + service_ms * self._slow[i]

    def on_riders(self, leader_id: int, rider_ids, queries: int | None = None, due_ms: float = INF) -> None:
        """Jobs batched into placed job ``leader_id``'s execution (placed with ``on_placed`` before this call):
        outstanding on its node until each is reported completed; the leader's entry holds their units.
        ``queries``: the riders' queries together (None: one each), for the execution's room left; ``due_ms``:
        their earliest deadline (the execution's members' earliest is in ``open_executions``)."""
        i = self._jobs[leader_id][0]
        for r in rider_ids:
            self._riders[r] = i
            self._outstanding[i] += 1
        model = self._open_of.get(leader_id)
        if model is not None:
            o = self._open[model][leader_id]
            o[2] += len(rider_ids) if queries is None else queries
            if due_ms < o[3]:
                o[3] = due_ms

    def on_queries(self, job_id: int, entry, before: int, after: int) -> None:
        """A placed execution not seen to start, on ``entry``'s config, runs ``after`` inputs instead of ``before``
        (a job joined it or left it, ``Placement.joins``). Where that changes its call's length (not
        ``entry.takes_more``), its predicted service follows (``on_service``); a free join leaves it as placed."""
        lo = min(before, after)
        if not entry.takes_more(lo, max(before, after) - lo):
            self.on_service(job_id, entry.service_ms(after))

    def on_service(self, job_id: int, service_ms: float) -> None:
        """A placed execution not seen to start will run ``service_ms`` (no slowdown) instead: a job joined it
        and its call runs longer, or a joiner left it (``Placement.joins``)."""
        o = self._jobs.get(job_id)
        if o is None or o[3] is None or o[4] == service_ms:
            return
        i, resource, units, item, _ = o
        p = self._pools[i][resource]
        k = _position(p.waiting, item)
        o[3] = p.waiting[k] = item[:5] + (service_ms,) + item[6:]
        o[4] = service_ms
        p.version += 1

    def held_up(self, job_id: int) -> bool:
        """Whether a placed job not seen to start looks held up: its input was due at the node already and its
        pool has the units free, yet it has not started -- a partition or a slow link holds its input, which the
        view cannot see. Its predicted start is then a guess, so nothing should count on it (joins)."""
        o = self._jobs.get(job_id)
        if o is None or o[3] is None or not o[3][1] < self.now_ms:
            return False
        p = self._pools[o[0]][o[1]]
        return p.cap - p.foreign - sum(u for u, _, _ in p.running.values()) >= o[2]

    def lengthened_late(self, job_id: int, more_ms: float) -> int:
        """How many waiting jobs predicted on time would be predicted late if placed job ``job_id`` (not seen to
        start) ran ``more_ms`` longer, slowdown included: a job that joins its execution and makes the call
        longer delays what waits behind it (``Policy.joinable``)."""
        o = self._jobs.get(job_id)
        if o is None or o[3] is None or not more_ms > 0:
            return 0
        i, resource, _, item, _ = o
        p = self._pools[i][resource]
        now, slow = self.now_ms, self._slow[i]
        k = _position(p.waiting, item)
        before = p.serve(self._floor(now), slow)
        p.waiting[k] = item[:5] + (item[5] + more_ms / slow,) + item[6:]
        try:
            after = p.serve(self._floor(now), slow)
        finally:
            p.waiting[k] = item
        return sum(1 for w in p.waiting if w is not item and before.get(w[3], INF) <= w[6] < after.get(w[3], INF))

    def _close(self, job_id: int) -> None:
        model = self._open_of.pop(job_id, None)
        if model is not None:
            del self._open[model][job_id]

    def on_started(self, job_id: int, now_ms: float | None = None) -> None:
        """A placed job was seen to start service (simulator: at start; live: its pod turned Running)."""
        if now_ms is not None:
            self.now_ms = now_ms
        o = self._jobs.get(job_id)
        if o is None or o[3] is None:
            return
        i, resource, units, item, svc = o
        if self._open_of:
            self._close(job_id)
        p = self._pools[i][resource]
        del p.waiting[_position(p.waiting, item)]
        p.running[job_id] = (units, self.now_ms, svc)
        p.version += 1
        o[3] = None

    def on_completed(self, job_id: int, now_ms: float | None = None, service_ms: float = math.nan) -> None:
        """A placed job was observed to finish (or fail) at ``now_ms``: its units are free now. With the observed
        ``service_ms`` the node's slowdown estimate moves towards observed / predicted."""
        if now_ms is not None:
            self.now_ms = now_ms
        o = self._jobs.pop(job_id, None)
        if o is None:
            i = self._riders.pop(job_id, None)
            if i is not None:
                self._outstanding[i] -= 1
            return
        i, resource, units, item, svc = o
        if self._open_of:
            self._close(job_id)
        p = self._pools[i][resource]
        if item is None:
            p.running.pop(job_id, None)
        else:
            del p.waiting[_position(p.waiting, item)]
        p.version += 1
        self._outstanding[i] -= 1
        self._allocated[i][resource] -= units
        if service_ms == service_ms and svc > 0 and math.isfinite(service_ms):  # not NaN, known
            lo, hi = SLOWDOWN_CLAMP
            r = min(hi, max(lo, service_ms / svc))
            old = self._slow[i]
            s = self._slow[i] = (1 - SLOWDOWN_WEIGHT) * old + SLOWDOWN_WEIGHT * r
            m = self._min_slow
            if m is not None and (s < m or old <= m):
                self._min_slow = s if s < m else None  # the minimum moved: recompute lazily
            if abs(s - 1.0) > 1e-12:
                other = self._pools[i][ACCEL if resource == CPU else CPU]
                other.version += 1  # the other pool's predictions scale too

    def on_foreign(self, key: object, node_name: str, resource: str, units: int) -> None:
        """A pod the scheduler did not place holds ``units`` of a pool, for as long as it is seen."""
        self.on_foreign_gone(key)
        i = self.index[node_name]
        p = self._pools[i][resource]
        units = max(0, int(units))
        p.foreign += units
        p.version += 1
        self._foreign[key] = (i, resource, units)

    def on_foreign_gone(self, key: object) -> None:
        o = self._foreign.pop(key, None)
        if o is not None:
            p = self._pools[o[0]][o[1]]
            p.foreign -= o[2]
            p.version += 1

    # ---------------------------------------------------------------- introspection (benchmarks, tests)
    def waiting_jobs(self, name: str, resource: str) -> list[int]:
        """Job ids placed on the pool and not seen to start, in the order the node will serve them."""
        return [w[3] for w in self._pools[self.index[name]][resource].waiting]


def _position(waiting: list, item: tuple) -> int:
    """Where ``item`` (that very tuple) is in a pool's sorted ``waiting`` list."""
    k = bisect.bisect_left(waiting, item)
    if k < len(waiting) and waiting[k] is item:
        return k
    return waiting.index(item)
