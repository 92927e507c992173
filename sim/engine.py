"""The simulator: nodes with resource pools and FIFO queues, a network, and the job lifecycle.

Lifecycle of a job (simulated time in ms):
arrive -> policy decides (zero simulated time; wall time measured) -> transfer input -> wait in the node's
queue for its pool -> run ceil(queries / batch) calls, each a service time sampled from the profile -> done.
Every job ends as ``completed`` or ``failed`` with a reason. Faults (crashes, partitions, throttling) are
injected by ``sim.faults`` when a run has a fault schedule; without one this module runs alone.
"""
from __future__ import annotations

import heapq
import math
import time
import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from synergai.cluster import ClusterView
from synergai.domain import ACCEL, CPU, Completion, Job
from synergai.faults import FaultSchedule
from synergai.filters import FilterChain
from synergai.policy import Policy
from synergai.profile import PerformanceProfile, ProfileEntry
from synergai.testbed import Testbed
from synergai.workload import JobStream

JOB_COLUMNS = (
    "job_id", "model", "origin_site", "private", "queries", "qos_ms", "arrival_ms", "decision_ms", "node",
    "device_type", "tier", "engine", "precision", "batch", "threads", "power_mode", "predicted_latency_ms",
    "transfer_ms", "start_ms", "finish_ms", "wait_ms", "service_ms", "latency_ms", "violated", "excess_ms",
    "energy_mj", "status", "reason", "retries",
)
_SAMPLE_BLOCK = 4096


class Pool:
    """One resource pool of a node (CPU cores or accelerator slots) with a strict FIFO queue."""

    __slots__ = ("capacity", "free", "queue", "busy_unit_ms", "_seq")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.free = capacity
        self.queue: deque[_Run] = deque()
        self.busy_unit_ms = 0.0
        self._seq = 0

    def admit(self, run: _Run) -> None:
        """A job reached the node: start it if it fits and nobody waits, else queue it."""
        if self.free >= run.units and not self.queue:
            self.free -= run.units
            run.start()
        else:
            self.queue.append(run)

    def release(self, units: int) -> None:
        self.free += units
        q = self.queue
        while q and q[0].units <= self.free:
            run = q.popleft()
            self.free -= run.units
            run.start()


class PriorityPool(Pool):
    """A pool whose queue serves the lowest ``Placement.priority`` first (ties: arrival order at the node).

    The head blocks like in FIFO: a job needing more units than are free is not overtaken.
    """

    __slots__ = ()

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self.queue = []

    def admit(self, run: _Run) -> None:
        if self.free >= run.units and not self.queue:
            self.free -= run.units
            run.start()
        else:
            self._seq += 1
            heapq.heappush(self.queue, (run.pl.priority, self._seq, run))

    def release(self, units: int) -> None:
        self.free += units
        q = self.queue
        while q and q[0][2].units <= self.free:
            run = heapq.heappop(q)[2]
            self.free -= run.units
            run.start()


class _Run:
    """One placed job moving through transfer -> queue -> service, as a chain of event callbacks.

    Callbacks rather than one SimPy process per job: a process costs two extra events (its start and its
    end), which for a million jobs is most of the simulator's time. The steps are the same.
    """

    __slots__ = ("sim", "job", "pl", "i", "entry", "units", "pool", "t_dec", "transfer", "t_start", "svc")

    def __init__(self, sim, job, pl, i, entry, pool, t_dec, transfer):
        self.sim, self.job, self.pl, self.i, self.entry = sim, job, pl, i, entry
        self.units, self.pool, self.t_dec, self.transfer = entry.units, pool, t_dec, transfer
        sim.env.timeout(transfer).callbacks.append(self.arrived)

    def arrived(self, _ev):
        self.pool.admit(self)

    def start(self):
        sim = self.sim
        self.t_start = sim.env.now
        self.svc = svc = sim.sampler.draw(self.entry, self.entry.calls(self.job.queries))
        sim.view.on_started(self.job.id, self.t_start)
        sim.env.timeout(svc).callbacks.append(self.finished)

    def finished(self, ev):
        sim = self.sim
        finish = sim.env.now
        svc = self.svc
        self.pool.busy_unit_ms += self.units * svc
        self.pool.release(self.units)
        sim.view.on_completed(self.job.id, finish, svc)
        if sim._observes:
            job = self.job
            sim.policy.observe(Completion(job.id, self.pl.node, self.pl.config, finish, svc, model=job.model,
                                          queries=job.queries))
        sim.log.end(self.job.id, self.i, self.entry, self.pl.predicted_latency_ms, self.t_dec, self.transfer,
                    self.t_start, finish, svc, "")


class JobLog:
    """Per-job outcome columns, indexed by job id (ids are 0..n-1 in arrival order).

    Column lists rather than a record per job: the results table is built without sorting or transposing,
    and a job that would end twice is caught where it happens.
    """

    def __init__(self, n: int):
        nan = math.nan
        self.ended = [False] * n
        self.node = [-1] * n
        self.entry = [-1] * n
        self.predicted, self.t_dec, self.transfer = [nan] * n, [nan] * n, [nan] * n
        self.start, self.finish, self.service = [nan] * n, [nan] * n, [nan] * n
        self.reason = [""] * n  # "" = completed, else why it failed
        self.retries = [0] * n  # times the job was re-submitted after losing its node

    def end(self, k, i, entry, predicted, t_dec, transfer, start, finish, service, reason):
        if self.ended[k]:
            raise RuntimeError(f"job {k} ended twice")
        self.ended[k] = True
        self.node[k] = -1 if i is None else i
        self.entry[k] = -1 if entry is None else entry.index
        self.predicted[k], self.t_dec[k], self.transfer[k] = predicted, t_dec, transfer
        self.start[k], self.finish[k], self.service[k], self.reason[k] = start, finish, service, reason


class ServiceSampler:
    """Per-entry buffered service-time streams. An entry's stream is keyed by what the entry *is* (device type,
    model, config), not by its position in the profile, so adding a trace file does not reshuffle the others."""

    def __init__(self, profile: PerformanceProfile, seed: int):
        self.profile, self.seed = profile, seed
        self._rngs: dict[int, np.random.Generator] = {}
        self._bufs: dict[int, list] = {}

    def draw(self, entry: ProfileEntry, calls: int) -> float:
        i = entry.index
        buf = self._bufs.get(i)
        if buf is None:
            key = zlib.crc32(f"{entry.device_type}|{entry.model}|{entry.config!r}".encode())
            self._rngs[i] = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(1, key))))
            buf = self._bufs[i] = [np.empty(0), 0]
        total = 0.0
        for _ in range(calls):
            arr, pos = buf
            if pos >= len(arr):
                arr = buf[0] = entry.dist.sample(self._rngs[i], _SAMPLE_BLOCK).tolist()
                pos = 0
            total += arr[pos]
            buf[1] = pos + 1
        return total


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
        self.calls: list[tuple[float, int, int]] = []  # (sim time, jobs in call, wall ns)
        self.progress = progress
        self._pending: list[Job] = []
        self._observes = type(policy).observe is not Policy.observe
        self._how: dict[tuple, tuple] = {}  # placement kind -> _resolve() result
        policy.prepare(profile, testbed.nodes, testbed.network,
                       np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2,)))))
        self.faults = None
        self._run_cls = _Run
        if faults:  # only then: the fault-free path stays exactly as fast as before
            from .faults import CountingLog, FaultInjector, _FaultRun

            self.log = CountingLog(len(stream), self.env.event())
            self.faults = FaultInjector(self, faults, seed)
            self._run_cls = _FaultRun

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
        arrival = s.arrival_ms.tolist()
        model_idx, origin_idx, private = s.model_idx.tolist(), s.origin_idx.tolist(), s.private.tolist()
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
        env, view, Run = self.env, self.view, self._run_cls
        now = env.now
        view.on_clock(now)
        t0 = time.perf_counter_ns()
        placements = self.policy.schedule(jobs, view)
        self.calls.append((now, len(jobs), time.perf_counter_ns() - t0))
        if len(placements) != len(jobs):
            raise RuntimeError(f"policy {self.policy.name} returned {len(placements)} placements for {len(jobs)} jobs")
        for job, pl in zip(jobs, placements):
            if pl.node is None:
                self._fail(job, None, None, pl.reason or "rejected by policy", pl)
                continue
            key = (job.model, job.origin_site, job.private, job.input_bytes, job.queries, pl.node, pl.config)
            how = self._how.get(key)
            if how is None:
                how = self._how[key] = self._resolve(job, pl)
            i, entry, transfer, service = how
            if entry is None or isinstance(transfer, str):
                self._fail(job, i, entry, transfer, pl)
                continue
            view.on_placed(job, pl, entry.resource, entry.units, now + transfer, service)
            Run(self, job, pl, i, entry, self.pools[i][entry.resource], now, transfer)

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
        if not all(log.ended):  # conservation is an invariant, not a statistic
            raise RuntimeError(f"{n - sum(log.ended)} of {n} jobs never ended: jobs were lost")
        ni, ei = np.asarray(log.node, dtype=np.int64), np.asarray(log.entry, dtype=np.int64)
        finish_a, start_a, t_dec_a, transfer_a, svc_a = (
            np.asarray(x, dtype=float) for x in (log.finish, log.start, log.t_dec, log.transfer, log.service))
        reason = log.reason
        ok = np.fromiter((not r for r in reason), dtype=bool, count=n)

        def by_node(attr):
            return np.array([getattr(x, attr) for x in nodes] + [None], dtype=object)[ni]

        def by_entry(f, none=None):
            return np.array([f(e) for e in self.profile.entries] + [none], dtype=object)[ei]

        power = np.array([e.power_w for e in self.profile.entries] + [np.nan], dtype=float)[ei]
        jobs = jobs_table(st, ok, {
            "decision_ms": t_dec_a,
            "node": by_node("name"),
            "device_type": by_node("device_type"),
            "tier": by_node("tier"),
            "engine": by_entry(lambda e: e.config.engine),
            "precision": by_entry(lambda e: e.config.precision),
            "batch": by_entry(lambda e: e.config.batch, 0).astype(np.int64),
            "threads": by_entry(lambda e: e.config.threads, 0).astype(np.int64),
            "power_mode": by_entry(lambda e: e.config.power_mode),
            "predicted_latency_ms": np.asarray(log.predicted, dtype=float),
            "transfer_ms": transfer_a,
            "start_ms": start_a,
            "finish_ms": finish_a,
            "service_ms": svc_a,
            "reason": reason,
            "retries": np.asarray(log.retries, dtype=np.int64),
        }, power)
        calls = pd.DataFrame(self.calls, columns=["sim_ms", "jobs", "wall_ns"])
        calls["overhead_us"] = calls.pop("wall_ns") / 1000.0
        node_rows = []
        for nd, pools in zip(nodes, self.pools):
            node_rows.append({"node": nd.name, "device_type": nd.device_type, "tier": nd.tier, "site": nd.site,
                              "cpu_cores": nd.cpu_cores, "accel_slots": nd.accel_slots,
                              "busy_cpu_unit_ms": pools[CPU].busy_unit_ms,
                              "busy_accel_unit_ms": pools[ACCEL].busy_unit_ms})
        faults = self.faults.table() if self.faults is not None else None
        return SimResult(jobs, calls, pd.DataFrame(node_rows), self.env.now, self.policy.name, faults)


def jobs_table(stream: JobStream, ok: np.ndarray, cols: dict, power_w: np.ndarray) -> pd.DataFrame:
    """The per-job results table every backend returns (``JOB_COLUMNS``): the job's own columns from the stream,
    the backend's per-job ``cols`` (placement, times, reason, retries) and the columns derived from them."""
    arrival = stream.arrival_ms
    qos = stream.job_qos_ms
    finish = np.where(ok, cols["finish_ms"], np.nan)
    latency = finish - arrival
    svc = cols["service_ms"]
    return pd.DataFrame({
        "job_id": np.arange(len(stream)),
        "model": np.asarray(stream.models, dtype=object)[stream.model_idx],
        "origin_site": np.asarray(stream.origins, dtype=object)[stream.origin_idx],
        "private": stream.private,
        "queries": stream.queries,
        "qos_ms": qos,
        "arrival_ms": arrival,
        **cols,
        "finish_ms": finish,
        "wait_ms": cols["start_ms"] - cols["decision_ms"] - cols["transfer_ms"],
        "latency_ms": latency,
        "violated": ~ok | (latency > qos),
        "excess_ms": np.where(ok, np.maximum(0.0, latency - qos), np.nan),
        "energy_mj": np.where(ok, power_w * svc, np.nan),
        "status": np.where(ok, "completed", "failed"),
    }, columns=list(JOB_COLUMNS))


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="job", mininterval=0.5, leave=False)


def simulate(testbed: Testbed, profile: PerformanceProfile, policy: Policy, stream: JobStream,
             seed: int = 0, progress: bool = False, faults: FaultSchedule | None = None) -> SimResult:
    return Simulation(testbed, profile, policy, stream, seed, progress, faults).run()
