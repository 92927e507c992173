"""Fault injection in the simulator: node crashes, link partitions / degradation, throttling.

Only built when a run has a non-empty ``FaultSchedule``; the fault-free path (``sim.engine._Run``) is untouched,
so it costs nothing there. Semantics (README "Failure model"):

- **Crash**: at the crash instant the node turns NotReady in the policy's ``ClusterView`` (``on_ready``), and
  every job bound to it (input in flight, queued, running) is lost: the view forgets it (``on_completed``), the
  policy observes a failed completion, and the job is re-submitted to the policy at once (retry, counted) while
  it has retries left, else it fails with ``node X crashed (retries exhausted)``. Partial service is wasted
  (booked as busy time). On repair the node turns Ready with empty queues.
- **Partition / degradation**: routing takes the best path left in the changed graph (like IP rerouting).
  Where no path is left, ``partition_policy=wait`` holds the job (bound to its node) until one heals, and
  ``fail`` fails it at once. A transfer's time is fixed when it starts; later link changes do not affect it.
  Policies keep predicting with the configured network (a live scheduler is not told about links either).
- **Throttle**: a job whose service starts during the period runs ``factor`` times longer. Policies are not
  told (they may learn it from completions, like ``synergai_online``).
"""
from __future__ import annotations

import math
from functools import partial

import pandas as pd

from synergai.central import READY
from synergai.domain import Completion
from synergai.faults import CRASH, DEGRADE, FAULT_COLUMNS, PARTITION, THROTTLE, FaultEvent, FaultSchedule
from synergai.network import Link

from .engine import JobLog, SimResult, Simulation, _Run

HELD, TRANSFER, QUEUED, RUNNING, DROPPED = 0, 1, 2, 3, 4


class FaultSimulation(Simulation):
    """A ``Simulation`` with a fault schedule: its runs can be cancelled, and it stops when the last job ends."""

    def __init__(self, testbed, profile, policy, stream, seed=0, progress=False, faults: FaultSchedule | None = None):
        super().__init__(testbed, profile, policy, stream, seed, progress)
        if faults:
            self.log = CountingLog(len(stream), self.env.event())
            self.faults = FaultInjector(self, faults, seed)
            self._run_cls = _FaultRun


def simulate(testbed, profile, policy, stream, seed: int = 0, progress: bool = False,
             faults: FaultSchedule | None = None) -> SimResult:
    """One run, with or without a fault schedule."""
    cls = FaultSimulation if faults else Simulation
    return cls(testbed, profile, policy, stream, seed, progress, faults).run()


class CountingLog(JobLog):
    """A JobLog that triggers ``done`` when the last job ends, so pending fault events do not stretch the run."""

    def __init__(self, n: int, done):
        super().__init__(n)
        self.n, self.n_ended, self.done = n, 0, done

    def end(self, *args):
        super().end(*args)
        self.n_ended += 1
        if self.n_ended == self.n:
            self.done.succeed()


class _FaultRun(_Run):
    """A ``_Run`` that a fault can cancel: it knows its pending event and registers with its node. A batch's
    members share its fate: the last member's input starts the execution, a crash loses all of them."""

    __slots__ = ("state", "ev", "cb")

    def __init__(self, sim, job, pl, i, entry, pool, t_dec, transfer, riders=(), delay=None):
        self.sim, self.job, self.pl, self.i, self.entry = sim, job, pl, i, entry
        self.units, self.pool, self.t_dec, self.riders = entry.units, pool, t_dec, riders
        self.t_start = self.transfer = math.nan
        self.state = QUEUED
        f = sim.faults
        if not f.up[i]:
            f.drop(self, f"policy placed the job on node {f.names[i]}, which is down (NotReady)")
            return
        if delay is not None:  # a joined rider split off its batch: its input is in flight already
            f.on_node[i][job.id] = self
            self.transfer = transfer
            self.state, self.cb = TRANSFER, self.arrived
            self.ev = sim.env.timeout(delay)
            self.ev.callbacks.append(self.cb)
            return
        transfers = [transfer, *(r.transfer for r in riders)]
        if f.network is not f.base:
            transfers = self.routes(f.network)
            if isinstance(transfers, str):
                if f.partition_policy == "fail":
                    f.drop(self, transfers)
                    return
                f.on_node[i][job.id] = self
                self.state = HELD
                f.held.append(self)
                return
        f.on_node[i][job.id] = self
        self.send(transfers)

    def members(self):
        """The jobs in this execution: the leader, then the riders."""
        return [self.job, *(r.job for r in self.riders)]

    def rider_transfer(self, job, transfer):
        f = self.sim.faults
        if self.state in (HELD, DROPPED):
            return None
        if f.network is f.base:
            return transfer
        route = f.network.route(job.origin_site, self.sim.testbed.nodes[self.i].site)
        return None if route is None else route.transfer_ms(job.input_bytes)

    def routes(self, network):
        """Each member's transfer ms over ``network``, or the reason when one has no route."""
        site = self.sim.testbed.nodes[self.i].site
        out = []
        for j in self.members():
            route = network.route(j.origin_site, site)
            if route is None:
                return f"no route from {j.origin_site} to {site}: link partitioned"
            out.append(route.transfer_ms(j.input_bytes))
        return out

    def send(self, transfers):
        env = self.sim.env
        spent = env.now - self.t_dec  # any time held by a partition
        self.transfer = spent + transfers[0]
        for r, t in zip(self.riders, transfers[1:]):
            r.transfer, r.arrive = spent + t, env.now + t
        self.state, self.cb = TRANSFER, self.arrived
        self.ev = env.timeout(max(transfers))
        self.ev.callbacks.append(self.cb)

    def arrived(self, _ev):
        self.state = QUEUED
        self.pool.admit(self)

    def start(self):
        sim = self.sim
        self.t_start = now = sim.env.now
        sim._starting(self, now)
        self.svc = svc = sim.sampler.draw_for(self.entry, self.queries) * sim.faults.factor[self.i]
        sim.view.on_started(self.job.id, self.t_start)
        self.state, self.cb = RUNNING, self.finished
        self.ev = sim.env.timeout(svc)
        self.ev.callbacks.append(self.cb)

    def finished(self, ev):
        del self.sim.faults.on_node[self.i][self.job.id]
        _Run.finished(self, ev)

    def cancel(self, now):
        """The node crashed: drop the pending event; book the service done so far as busy time."""
        self.sim._open_runs.pop(self.job.id, None)
        if self.state in (TRANSFER, RUNNING):
            self.ev.callbacks.remove(self.cb)
        if self.state == RUNNING:
            self.pool.busy_unit_ms += self.units * (now - self.t_start)


class FaultInjector:
    """Applies a fault schedule to a running ``Simulation``; owns node up/down, link and throttle state."""

    def __init__(self, sim, schedule: FaultSchedule, seed: int):
        self.sim = sim
        nodes = sim.testbed.nodes
        self.names = [n.name for n in nodes]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.max_retries, self.partition_policy = schedule.max_retries, schedule.partition_policy
        self.up = [True] * len(nodes)
        self.factor = [1.0] * len(nodes)
        self.on_node: list[dict[int, _FaultRun]] = [{} for _ in nodes]  # job id -> run bound to the node
        self.held: list[_FaultRun] = []  # runs waiting for a route
        self.base = self.network = sim.testbed.network
        self._down = [0] * len(nodes)  # overlapping crashes: down while > 0
        self._throttles: list[list[float]] = [[] for _ in nodes]
        self._links: dict[frozenset, list[FaultEvent]] = {}
        arrivals = sim.stream.arrival_ms
        horizon = float(arrivals[-1]) if len(arrivals) else 0.0
        self.events = schedule.expand(horizon, seed)
        self.injected: list[FaultEvent] = []
        for ev in self.events:
            sim.env.timeout(ev.start_ms).callbacks.append(partial(self._begin, ev))

    # ---------------------------------------------------------------- event dispatch
    def _begin(self, ev: FaultEvent, _e=None):
        self.injected.append(ev)
        self.sim.env.timeout(ev.end_ms - ev.start_ms).callbacks.append(partial(self._end, ev))
        if ev.kind == CRASH:
            i = self.index[ev.node]
            self._down[i] += 1
            if self._down[i] == 1:
                self._crash(i)
        elif ev.kind == THROTTLE:
            i = self.index[ev.node]
            self._throttles[i].append(ev.factor)
            self.factor[i] = math.prod(self._throttles[i])
        else:
            self._links.setdefault(frozenset((ev.a, ev.b)), []).append(ev)
            self._relink()

    def _end(self, ev: FaultEvent, _e=None):
        if ev.kind == CRASH:
            i = self.index[ev.node]
            self._down[i] -= 1
            if self._down[i] == 0:
                self.up[i] = True
                self.sim.view.on_ready(ev.node, True)
                if self.sim.view.held:  # late binding: a node is back, held jobs may go there
                    self.sim._dispatch(READY, i)
        elif ev.kind == THROTTLE:
            i = self.index[ev.node]
            self._throttles[i].remove(ev.factor)
            self.factor[i] = math.prod(self._throttles[i])
        else:
            k = frozenset((ev.a, ev.b))
            self._links[k].remove(ev)
            if not self._links[k]:
                del self._links[k]
            self._relink()

    # ---------------------------------------------------------------- crashes
    def _crash(self, i: int):
        sim, now, name = self.sim, self.sim.env.now, self.names[i]
        self.up[i] = False
        sim.view.on_ready(name, False)  # first: re-decisions below must see the node down
        runs = sorted(self.on_node[i].values(), key=lambda r: r.job.id)
        self.on_node[i].clear()
        for pool in sim.pools[i].values():
            pool.queue.clear()
            pool.free = pool.capacity
        if self.held:
            self.held = [r for r in self.held if r.i != i]
        for run in runs:
            run.cancel(now)
            for job in run.members():
                sim.view.on_completed(job.id, now)
                if sim._observes:
                    sim.policy.observe(Completion(job.id, name, run.pl.config, now, ok=False,
                                                  reason=f"node {name} crashed", model=job.model,
                                                  queries=job.queries))
        retry = []
        for run in runs:
            transfers = [run.transfer, *(r.transfer for r in run.riders)]
            for job, transfer in zip(run.members(), transfers):
                k = job.id
                if sim.log.retries[k] < self.max_retries:
                    sim.log.retries[k] += 1
                    retry.append(job)
                else:
                    self._end_lost(run, job, transfer, f"node {name} crashed (retries exhausted)")
        if retry:
            sim._resubmit(retry)

    def _end_lost(self, run: _FaultRun, job, transfer, reason: str):
        pred = run.pl.predicted_latency_ms + run.job.arrival_ms - job.arrival_ms
        self.sim.log.end(job.id, run.i, run.entry, pred, run.t_dec, transfer, run.t_start, math.nan, math.nan,
                         reason)

    def drop(self, run: _FaultRun, reason: str):
        """A placement that cannot proceed (node down, no route under partition_policy=fail): fail its jobs."""
        sim = self.sim
        run.state = DROPPED
        sim._open_runs.pop(run.job.id, None)
        for job in run.members():
            sim.view.on_completed(job.id, sim.env.now)
            sim._fail(job, run.i, run.entry, reason, run.pl)

    # ---------------------------------------------------------------- links
    def _relink(self):
        """Rebuild the network from the base links and the active link faults; release held transfers."""
        changes: dict[frozenset, Link | None] = {}
        for k, evs in self._links.items():
            a, b = sorted(k)
            d = self.base.graph.edges[a, b]
            lat, bw = d["latency_ms"], d["bandwidth_mbps"]
            cut = False
            for ev in evs:  # in start order: a later degradation overrides an earlier one
                if ev.kind == PARTITION:
                    cut = True
                elif ev.kind == DEGRADE:
                    lat = ev.latency_ms if ev.latency_ms is not None else lat
                    bw = ev.bandwidth_mbps if ev.bandwidth_mbps is not None else bw
            changes[k] = None if cut else Link(a, b, lat, bw)
        self.network = self.base.with_links(changes) if changes else self.base
        if self.held:
            still = []
            for run in self.held:
                transfers = run.routes(self.network)
                if isinstance(transfers, str):
                    still.append(run)
                else:
                    run.send(transfers)
            self.held = still

    # ---------------------------------------------------------------- results
    def table(self) -> pd.DataFrame:
        """The faults that were injected (started before the run ended), in start order."""
        return pd.DataFrame([e.row() for e in self.injected], columns=list(FAULT_COLUMNS))
