"""The simulator: nodes with resource pools and FIFO queues, a network, and the job lifecycle.

Lifecycle of a job (simulated time in ms):
arrive -> policy decides (zero simulated time; wall time measured) -> transfer input -> wait in the node's
queue for its pool -> run its calls (``ProfileEntry.call_plan``: full batches, then the rest at the smallest batch
that holds it), each a service time sampled from the profile -> done.
Every job ends as ``completed`` or ``failed`` with a reason. Faults (crashes, partitions, throttling) are
injected by ``sim.faults`` when a run has a fault schedule; without one this module runs alone.
"""
from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from synergai.central import DEADLINE, FREED, RECALL, Wake, expired_reason
from synergai.cluster import ClusterView
from synergai.domain import ACCEL, CPU, Completion, Job, Placement
from synergai.faults import FaultSchedule
from synergai.filters import FilterChain
from synergai.policy import Policy
from synergai.profile import PerformanceProfile
from synergai.testbed import Testbed
from synergai.workload import JobStream

from .shared import JOB_COLUMNS, Pool, PriorityPool, ServiceSampler, coded, jobs_table

__all__ = ["JOB_COLUMNS", "JobLog", "Pool", "PriorityPool", "ServiceSampler", "SimResult", "Simulation", "jobs_table",
           "simulate"]


class _Rider:
    """A job in another job's execution (a batch): its own transfer, input arrival, decision time and prediction."""

    __slots__ = ("job", "transfer", "arrive", "t_dec", "pl", "predicted")

    def __init__(self, job, transfer, arrive, t_dec, pl, predicted):
        self.job, self.transfer, self.arrive, self.t_dec, self.pl, self.predicted = \
            job, transfer, arrive, t_dec, pl, predicted


class _Run:
    """One placed job moving through transfer -> queue -> service, as a chain of event callbacks.

    Callbacks rather than one SimPy process per job: a process costs two extra events (its start and its
    end), which for a million jobs is most of the simulator's time. The steps are the same.

    A batch (``Placement.riders`` / ``joins``): the riders' jobs run in the leader's execution. It joins the
    pool's queue once the leader's and its held riders' inputs have arrived, runs ``ceil(total queries /
    batch)`` calls, and every member ends with it, each with its own transfer time and its share of the energy.
    A rider that joined later and whose input has not arrived when the execution starts runs on its own.
    """

    __slots__ = ("sim", "job", "pl", "i", "entry", "units", "pool", "t_dec", "transfer", "t_start", "svc", "riders")

    def __init__(self, sim, job, pl, i, entry, pool, t_dec, transfer, riders=(), delay=None):
        self.sim, self.job, self.pl, self.i, self.entry = sim, job, pl, i, entry
        self.units, self.pool, self.t_dec, self.transfer = entry.units, pool, t_dec, transfer
        self.riders = riders  # _Rider per other member of a batch
        self.t_start = math.nan
        if delay is None:
            delay = max(transfer, *(r.transfer for r in riders)) if riders else transfer
        sim.env.timeout(delay).callbacks.append(self.arrived)

    @property
    def priority(self) -> float:  # the queue key of a PriorityPool
        return self.pl.priority

    @property
    def queries(self) -> int:
        return self.job.queries + sum(r.job.queries for r in self.riders)

    def room_for(self, job, i, entry) -> bool:
        """Whether ``job`` may ride in this execution: not started, same node, config and model, and its queries
        fit the calls it makes anyway (``ProfileEntry.has_room``; a fuller call may run longer: the policy's
        choice)."""
        return (self.t_start != self.t_start and i == self.i and entry is self.entry and job.model == self.job.model
                and entry.has_room(self.queries, job.queries))

    def rider_transfer(self, job, transfer: float) -> float | None:
        """The transfer ms of a job that joins this execution (None: it cannot join)."""
        return transfer

    def arrived(self, _ev):
        self.pool.admit(self)

    def start(self):
        sim = self.sim
        self.t_start = now = sim.env.now
        sim._starting(self, now)
        self.svc = svc = sim.sampler.draw_for(self.entry, self.queries)
        sim.view.on_started(self.job.id, self.t_start)
        sim.env.timeout(svc).callbacks.append(self.finished)

    def finished(self, ev):
        sim = self.sim
        finish = sim.env.now
        svc = self.svc
        self.pool.busy_unit_ms += self.units * svc
        self.pool.release(self.units)
        view, log = sim.view, sim.log
        view.on_completed(self.job.id, finish, svc)
        if self.riders:
            sim._end_batch(self, finish)
        if sim._observes:
            job = self.job
            sim.policy.observe(Completion(job.id, self.pl.node, self.pl.config, finish, svc, model=job.model,
                                          queries=self.queries))
        log.end(self.job.id, self.i, self.entry, self.pl.predicted_latency_ms, self.t_dec, self.transfer,
                self.t_start, finish, svc, "")
        if view.held.jobs:  # late binding: capacity freed, the policy may bind a held job now
            sim._dispatch(FREED, self.i)


class JobLog:
    """Per-job outcome columns, indexed by job id (ids are 0..n-1 in arrival order).

    numpy columns (8 bytes a value, not a Python float object behind a list pointer), written through
    memoryviews (cheap scalar stores from Python): the results table takes them without copies or transposing,
    and a job that would end twice is caught where it happens. Failure reasons are stored as codes into
    ``reasons`` (most runs have a handful of distinct reasons over millions of jobs).
    """

    def __init__(self, n: int):
        self.n = n
        self.columns = {k: np.full(n, np.nan) for k in ("predicted", "t_dec", "transfer", "start", "finish",
                                                          "service")}
        self.columns["hold"] = np.zeros(n)  # ms in the central queue (late binding), summed over retries
        self.columns["share"] = np.ones(n)  # the job's share of its execution (a batch's members: queries / total)
        self.columns["batch_jobs"] = np.ones(n, np.int32)  # jobs in the job's execution (batch members)
        self.columns.update(node=np.full(n, -1, np.int32), entry=np.full(n, -1, np.int32),
                            reason=np.zeros(n, np.int32), retries=np.zeros(n, np.int32), ended=np.zeros(n, bool))
        for k, a in self.columns.items():
            setattr(self, k, memoryview(a))
        self.reasons: dict[str, int] = {"": 0}  # "" = completed, else why it failed

    def end(self, k, i, entry, predicted, t_dec, transfer, start, finish, service, reason):
        if self.ended[k]:
            raise RuntimeError(f"job {k} ended twice")
        self.ended[k] = True
        self.node[k] = -1 if i is None else i
        self.entry[k] = -1 if entry is None else entry.index
        self.predicted[k], self.t_dec[k], self.transfer[k] = predicted, t_dec, transfer
        self.start[k], self.finish[k], self.service[k] = start, finish, service
        if reason:
            code = self.reasons.get(reason)
            if code is None:
                code = self.reasons[reason] = len(self.reasons)
            self.reason[k] = code

    def release(self, *names: str) -> None:
        """Drop these columns (after the results table has taken what it needs from them)."""
        for k in names:
            delattr(self, k)
            del self.columns[k]

    def n_ended(self) -> int:
        return int(self.columns["ended"].sum())


class CallLog:
    """One row per policy call in compact columns that grow by C-level appends: ``sim_ms(t)`` (float64),
    ``jobs(n)`` (int32) and ``overhead_us(us)`` (float32: wall time, µs resolution is all it has)."""

    def __init__(self):
        self.columns = (array("d"), array("i"), array("f"))
        self.sim_ms, self.jobs, self.overhead_us = (c.append for c in self.columns)

    def table(self) -> pd.DataFrame:
        """The calls as a frame over the same buffers (no copy; the log takes no more appends after this)."""
        cols = [np.frombuffer(c, dtype=d) if len(c) else np.empty(0, d)
                for c, d in zip(self.columns, (np.float64, np.int32, np.float32))]
        return pd.DataFrame(dict(zip(("sim_ms", "jobs", "overhead_us"), cols)), copy=False)


@dataclass
class SimResult:
    jobs: pd.DataFrame  # one row per job, deterministic for a seed
    decisions: pd.DataFrame  # one row per policy call: wall-clock overhead (not deterministic)
    nodes: pd.DataFrame  # per node: busy unit-ms per pool, capacity
    horizon_ms: float
    policy: str
    faults: pd.DataFrame | None = None  # injected faults (synergai.faults.FAULT_COLUMNS); None without faults


class Simulation:
    def __init__(self, testbed: Testbed, profile: PerformanceProfile, policy: Policy, stream: JobStream,
                 seed: int = 0, progress: bool = False, faults: FaultSchedule | None = None):
        self.testbed, self.profile, self.policy, self.stream = testbed, profile, policy, stream
        self.env = simpy.Environment()
        self.view = ClusterView(testbed.nodes, policy.queue_discipline)
        if policy.queue_discipline not in ("fifo", "priority"):
            raise ValueError(f"policy {policy.name}: unknown queue_discipline {policy.queue_discipline!r}")
        P = PriorityPool if policy.queue_discipline == "priority" else Pool
        self.pools = [{CPU: P(n.cpu_cores), ACCEL: P(n.accel_slots)} for n in testbed.nodes]
        self.sampler = ServiceSampler(profile, seed)
        self.log = JobLog(len(stream))
        self.calls = CallLog()  # per policy call: sim time, jobs in the call, wall ns
        self.progress = progress
        self._pending: list[Job] = []
        self._observes = type(policy).observe is not Policy.observe
        self._how: dict[tuple, tuple] = {}  # placement kind -> _resolve() result
        policy.prepare(profile, testbed.nodes, testbed.network,
                       np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2,)))))
        self.faults = None  # set by sim.faults.FaultSimulation, with its own log and run class
        self._run_cls = _Run
        self._open_runs: dict[int, _Run] = {}  # leader job id -> bound execution not started, with room
        self._armed = math.inf  # time of the earliest armed late-binding timer
        if faults:
            raise ValueError("a fault schedule needs sim.faults.FaultSimulation (sim.simulate picks it)")

    # ---------------------------------------------------------------- processes
    def run(self) -> SimResult:
        self.env.process(self._arrivals())
        if self.faults is None:
            self.env.run()
        else:  # stop when the last job ends, not when the last scheduled fault does
            try:
                self.env.run(until=self.log.done)
            except RuntimeError as exc:  # jobs left hanging: reported as lost by _result
                if not str(exc).startswith("No scheduled events left"):
                    raise
        return self._result()

    def _arrivals(self):
        env, s = self.env, self.stream
        arrival = Blocks(s.arrival_ms)  # Python floats a block at a time, not one 10^7-element list
        model_idx, origin_idx, private = small_ints(s.model_idx), small_ints(s.origin_idx), s.private.tolist()
        models, origins = s.models, s.origins
        qos, queries = s.job_qos_ms.tolist(), s.queries.tolist()  # per job
        nbytes = [s.input_bytes[m] for m in models]
        window = self.policy.window_ms
        bar = _progress(len(arrival)) if self.progress else None
        tick = max(1, len(arrival) // 200)
        for i, t in enumerate(arrival):
            if t > env.now:
                yield env.timeout(t - env.now)
            m = model_idx[i]
            job = Job(i, models[m], qos[i], origins[origin_idx[i]], t, queries[i], nbytes[m], private[i])
            if window > 0:
                self._to_window((job,))
            else:
                self._decide((job,))
            if bar is not None and i % tick == 0:
                bar.update(tick if i else 1)
        if bar is not None:
            bar.close()

    def _flush(self, _event):
        jobs, self._pending = self._pending, []
        self._decide(jobs)

    def _to_window(self, jobs):
        """Windowed policies: jobs wait for the end of the current window (the first one arms its flush)."""
        if not self._pending:
            now, window = self.env.now, self.policy.window_ms
            self.env.timeout((math.floor(now / window) + 1) * window - now).callbacks.append(self._flush)
        self._pending.extend(jobs)

    def _resubmit(self, jobs):
        """Jobs lost to a fault go back to the policy now, like new arrivals (a windowed policy: next window)."""
        if self.policy.window_ms > 0:
            self._to_window(jobs)
        else:
            self._decide(jobs)

    def _decide(self, jobs):
        env, view = self.env, self.view
        now = env.now
        view.on_clock(now)
        t0 = time.perf_counter_ns()
        placements = self.policy.schedule(jobs, view)
        calls = self.calls
        calls.sim_ms(now), calls.jobs(len(jobs)), calls.overhead_us((time.perf_counter_ns() - t0) / 1000.0)
        if len(placements) != len(jobs):
            raise RuntimeError(f"policy {self.policy.name} returned {len(placements)} placements for {len(jobs)} jobs")
        held = False
        for job, pl in zip(jobs, placements):
            if pl.held:
                view.held.hold(job, now, pl.recall_ms)
                held = True
            else:
                self._apply(job, pl, now)
        if held:
            self._arm()

    def _apply(self, job, pl, now):
        """Carry out a bind or a rejection (for a job not in the central queue, or just released from it)."""
        if pl.node is None:
            self._fail(job, None, None, pl.reason or "rejected by policy", pl)
            return
        i, entry, transfer, service = self._how_of(job, pl)
        if entry is None or isinstance(transfer, str):
            self._fail(job, i, entry, transfer, pl)
            return
        if pl.joins >= 0 and self._join(job, pl, i, entry, transfer, now):
            return
        riders = self._riders(job, pl, now) if pl.riders else ()
        arrive = now + transfer
        if riders:
            arrive = max(arrive, *(r.arrive for r in riders))
            service = entry.service_ms(job.queries + sum(r.job.queries for r in riders))
        self.view.on_placed(job, pl, entry.resource, entry.units, arrive, service)
        if riders:
            self.view.on_riders(job.id, [r.job.id for r in riders], sum(r.job.queries for r in riders),
                                min(r.job.arrival_ms + r.job.qos_ms for r in riders))
        self._launch(job, pl, i, entry, now, transfer, riders)

    def _launch(self, job, pl, i, entry, t_dec, transfer, riders=(), delay=None):
        run = self._run_cls(self, job, pl, i, entry, self.pools[i][entry.resource], t_dec, transfer, riders, delay)
        if entry.config.batch > job.queries and run.rider_transfer(job, 0.0) is not None:
            self._open_runs[job.id] = run  # room left (and not dropped): others may join it until it starts

    def _join(self, job, pl, i, entry, transfer, now) -> bool:
        """``Placement.joins``: ride in that execution if it still has room (else the caller binds the job alone)."""
        run = self._open_runs.get(pl.joins)
        if run is None or not run.room_for(job, i, entry):
            return False
        transfer = run.rider_transfer(job, transfer)
        if transfer is None:
            return False
        before = run.queries
        run.riders = (*run.riders, _Rider(job, transfer, now + transfer, now, pl, pl.predicted_latency_ms))
        self.view.on_riders(run.job.id, [job.id], job.queries, job.arrival_ms + job.qos_ms)
        self.view.on_queries(run.job.id, entry, before, run.queries)  # a fuller call may run longer
        return True

    def _starting(self, run, now):
        """An execution starts: no one joins it any more; a joined rider whose input is not in runs alone."""
        if self._open_runs:
            self._open_runs.pop(run.job.id, None)
        if run.riders and any(r.arrive > now for r in run.riders):
            self._split(run, now)

    def _split(self, run, now):
        """An execution starts before a joined rider's input has arrived: that rider runs on its own."""
        before, entry = run.queries, run.entry
        for r in run.riders:
            if r.arrive > now:
                job = r.job
                self.view.on_completed(job.id, now)  # no longer a rider: placed on its own
                self.view.on_placed(job, r.pl, entry.resource, entry.units, r.arrive, entry.service_ms(job.queries))
                self._launch(job, r.pl, run.i, entry, r.t_dec, r.transfer, (), r.arrive - now)
        run.riders = tuple(r for r in run.riders if r.arrive <= now)
        self.view.on_queries(run.job.id, entry, before, run.queries)  # shorter, if they had made it longer

    def _how_of(self, job, pl):
        key = (job.model, job.origin_site, job.private, job.input_bytes, job.queries, pl.node, pl.config)
        how = self._how.get(key)
        if how is None:
            how = self._how[key] = self._resolve(job, pl)
        return how

    def _riders(self, job, pl, now):
        """A batch's riders, taken out of the central queue: ((job, transfer ms), ...). A rider that fails a core
        filter on the leader's node and config stays held (the policy is asked about it again)."""
        q, out = self.view.held, []
        for jid in pl.riders:
            if jid not in q or jid == job.id:
                raise RuntimeError(f"policy {self.policy.name}: rider {jid} of job {job.id} is not a held job")
            r = q.job(jid)
            if r.model != job.model:
                raise RuntimeError(f"policy {self.policy.name}: rider {jid} ({r.model}) cannot join a batch of "
                                   f"{job.model} (job {job.id})")
            _, entry, transfer, _ = self._how_of(r, pl)
            if entry is None or isinstance(transfer, str):
                continue
            self.log.hold[jid] += q.release(r, now)
            out.append(_Rider(r, transfer, now + transfer, now, pl, math.nan))
        return tuple(out)

    def _end_batch(self, run, finish):
        """A batch's execution ended: every rider completes with it."""
        view, log, svc = self.view, self.log, run.svc
        total = run.queries
        log.share[run.job.id] = run.job.queries / total
        log.batch_jobs[run.job.id] = n = len(run.riders) + 1
        for rider in run.riders:
            r = rider.job
            view.on_completed(r.id, finish)
            if self._observes:
                self.policy.observe(Completion(r.id, run.pl.node, run.pl.config, finish, svc, model=r.model,
                                               queries=total))
            log.share[r.id], log.batch_jobs[r.id] = r.queries / total, n
            log.end(r.id, run.i, run.entry, self._predicted(run, rider), rider.t_dec, rider.transfer, run.t_start,
                    finish, svc, "")

    @staticmethod
    def _predicted(run, rider) -> float:
        """A rider's predicted latency: its own placement's (joined), else the leader's predicted finish (held)."""
        if rider.predicted == rider.predicted:
            return rider.predicted
        return run.job.arrival_ms + run.pl.predicted_latency_ms - rider.job.arrival_ms

    # ---------------------------------------------------------------- late binding (synergai.central)
    def _dispatch(self, reason, node=-1):
        """Ask the policy about its held jobs (capacity freed, a node ready, a recall time or deadline came);
        apply each answer before asking for the next; fail the held jobs whose deadline has passed."""
        view, log = self.view, self.log
        now = self.env.now
        view.on_clock(now)
        q = view.held
        due = q.pop_due(now)
        if reason == RECALL and q.expired(now):
            reason = DEADLINE
        gen = self.policy.dispatch(q.jobs, view, Wake(reason, node, due))
        answered: dict[int, Placement] = {}
        spent = 0
        t0 = time.perf_counter_ns()
        for pl in gen:
            spent += time.perf_counter_ns() - t0
            jid = pl.job_id
            if jid in answered or jid not in q:
                raise RuntimeError(f"policy {self.policy.name} answered held job {jid} twice or it is not held")
            answered[jid] = pl
            if not pl.held:
                job = q.job(jid)
                log.hold[jid] += q.release(job, now)
                self._apply(job, pl, now)
            else:
                q.hold(q.job(jid), now, pl.recall_ms)
            t0 = time.perf_counter_ns()
        spent += time.perf_counter_ns() - t0
        calls = self.calls
        calls.sim_ms(now), calls.jobs(len(answered)), calls.overhead_us(spent / 1000.0)
        for job in q.expired(now):  # they had their last chance in this call
            log.hold[job.id] += q.release(job, now)
            pl = answered.get(job.id) or Placement.hold(job.id)
            self._fail(job, None, None, expired_reason(job, pl.reason), pl)
        self._arm()

    def _arm(self):
        """A timer for the earliest recall time or deadline in the central queue."""
        t = self.view.held.next_wake_ms()
        if t < self._armed:
            self._armed = t
            self.env.timeout(max(0.0, t - self.env.now)).callbacks.append(self._on_wake)

    def _on_wake(self, _ev):
        now = self.env.now
        if now >= self._armed:
            self._armed = math.inf
        if self.view.held.next_wake_ms() <= now:
            self._dispatch(RECALL)
        else:
            self._arm()

    def _resolve(self, job, pl):
        """Check a placement once per kind of job: (node index, entry, transfer ms or failure reason, service).

        Whatever the policy returned, a placement that fails one of the core filters (``synergai.filters``:
        privacy, reachability, config valid for the node, capacity) is refused with the filter's reason.
        """
        i = self.view.index.get(pl.node)
        if i is None:
            return None, None, f"policy chose unknown node {pl.node!r}", 0.0
        node = self.testbed.nodes[i]
        try:
            entry = self.profile.entry(job.model, node.device_type, pl.config)
        except KeyError as exc:
            return i, None, str(exc.args[0]), 0.0
        chain = self.__dict__.get("_filters")
        if chain is None:
            chain = self._filters = FilterChain.core(self.profile, self.testbed.network)
        st = chain.check(job, node, entry)
        if not st.ok:
            return i, entry, st.reason, 0.0
        # the view tracks the scheduler's own prediction of the job's service time
        route = self.testbed.network.route(job.origin_site, node.site)
        return i, entry, route.transfer_ms(job.input_bytes), entry.service_ms(job.queries)

    def _fail(self, job, i, entry, reason, pl):
        nan = math.nan
        reason = reason or "failed (no reason given)"
        self.log.end(job.id, i, entry, pl.predicted_latency_ms, self.env.now, nan, nan, nan, nan, reason)
        if self._observes:
            self.policy.observe(Completion(job.id, pl.node, pl.config, self.env.now, ok=False, reason=reason,
                                           model=job.model, queries=job.queries))

    # ---------------------------------------------------------------- results
    def _result(self) -> SimResult:
        nodes, st = self.testbed.nodes, self.stream
        n, log = len(st), self.log
        c = log.columns
        if not c["ended"].all():  # conservation is an invariant, not a statistic
            raise RuntimeError(f"{n - log.n_ended()} of {n} jobs never ended: jobs were lost")
        ni, ei = c["node"], c["entry"]
        entries = self.profile.entries
        ok = c["reason"] == 0
        reasons = sorted(log.reasons, key=log.reasons.get)

        def by_entry(f, codes, none=0):
            return np.array([f(e) for e in entries] + [none], dtype=np.int32)[codes]

        power = np.array([e.power_w for e in entries] + [np.nan], dtype=float)[ei]
        power *= c["share"]  # a batch's energy is shared by its members
        cols = {
            "decision_ms": c["t_dec"],
            "hold_ms": c["hold"],
            "node": coded(ni, [x.name for x in nodes]),
            "device_type": coded(ni, [x.device_type for x in nodes]),
            "tier": coded(ni, [x.tier for x in nodes]),
            "engine": coded(ei, [e.config.engine for e in entries]),
            "precision": coded(ei, [e.config.precision for e in entries]),
            "batch": by_entry(lambda e: e.config.batch, ei),
            "batch_jobs": c["batch_jobs"],
            "threads": by_entry(lambda e: e.config.threads, ei),
            "power_mode": coded(ei, [e.config.power_mode for e in entries]),
            "predicted_latency_ms": c["predicted"],
            "transfer_ms": c["transfer"],
            "start_ms": c["start"],
            "finish_ms": c["finish"],
            "service_ms": c["service"],
            "reason": pd.Categorical.from_codes(c["reason"], categories=reasons),
            "retries": c["retries"],
        }
        del ni, ei, c
        log.release("node", "entry", "reason", "ended")  # coded into the table's columns: freed before it grows
        jobs = jobs_table(st, ok, cols, power)
        node_rows = []
        for nd, pools in zip(nodes, self.pools):
            node_rows.append({"node": nd.name, "device_type": nd.device_type, "tier": nd.tier, "site": nd.site,
                              "cpu_cores": nd.cpu_cores, "accel_slots": nd.accel_slots,
                              "busy_cpu_unit_ms": pools[CPU].busy_unit_ms,
                              "busy_accel_unit_ms": pools[ACCEL].busy_unit_ms})
        faults = self.faults.table() if self.faults is not None else None
        return SimResult(jobs, self.calls.table(), pd.DataFrame(node_rows), self.env.now, self.policy.name, faults)


class Blocks:
    """Iterate a float array as Python floats, converting ``block`` values at a time (sized, for progress)."""

    def __init__(self, a: np.ndarray, block: int = 1 << 16):
        self.a, self.block = a, block

    def __len__(self):
        return len(self.a)

    def __iter__(self):
        for lo in range(0, len(self.a), self.block):
            yield from self.a[lo:lo + self.block].tolist()


def small_ints(a: np.ndarray):
    """Indices as ``bytes`` (one byte each, indexing gives an int) when they fit, else a list."""
    if len(a) and 0 <= a.min() and a.max() < 256:
        return a.astype(np.uint8).tobytes()
    return a.tolist()


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="job", mininterval=0.5, leave=False)


def simulate(testbed: Testbed, profile: PerformanceProfile, policy: Policy, stream: JobStream,
             seed: int = 0, progress: bool = False, faults: FaultSchedule | None = None) -> SimResult:
    """A fault-free run (``sim.simulate`` also takes fault schedules)."""
    return Simulation(testbed, profile, policy, stream, seed, progress, faults).run()
