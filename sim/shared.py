"""What the simulator and the live node agent share: node pools, the service-time sampler, the results table.

Kept free of SimPy so the Kubernetes agent (``backends.kubernetes.agent``) queues and samples exactly like the
simulator, and both backends return one per-job table (``jobs_table``, columns ``JOB_COLUMNS``).

A pool queues *waiters*: objects with ``units`` (int), ``priority`` (float; used by ``PriorityPool`` only) and
``start()`` (called when the pool grants the units).
"""
from __future__ import annotations

import heapq
import zlib
from collections import deque

import numpy as np
import pandas as pd

from synergai.profile import PerformanceProfile, ProfileEntry
from synergai.workload import JobStream

JOB_COLUMNS = (
    "job_id", "model", "origin_site", "private", "queries", "qos_ms", "arrival_ms", "decision_ms", "hold_ms", "node",
    "device_type", "tier", "engine", "precision", "batch", "batch_jobs", "threads", "power_mode", "predicted_latency_ms",
    "transfer_ms", "start_ms", "finish_ms", "wait_ms", "service_ms", "latency_ms", "violated", "excess_ms",
    "energy_mj", "status", "reason", "retries",
)
STATUSES = ("completed", "failed")
_SAMPLE_BLOCK = 4096


class Pool:
    """One resource pool of a node (CPU cores or accelerator slots) with a strict FIFO queue."""

    __slots__ = ("capacity", "free", "queue", "busy_unit_ms", "_seq")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.free = capacity
        self.queue: deque = deque()
        self.busy_unit_ms = 0.0
        self._seq = 0

    def admit(self, run) -> None:
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
    """A pool whose queue serves the lowest ``priority`` first (ties: arrival order at the node).

    The head blocks like in FIFO: a job needing more units than are free is not overtaken.
    """

    __slots__ = ()

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self.queue = []

    def admit(self, run) -> None:
        if self.free >= run.units and not self.queue:
            self.free -= run.units
            run.start()
        else:
            self._seq += 1
            heapq.heappush(self.queue, (run.priority, self._seq, run))

    def release(self, units: int) -> None:
        self.free += units
        q = self.queue
        while q and q[0][2].units <= self.free:
            run = heapq.heappop(q)[2]
            self.free -= run.units
            run.start()


class ServiceSampler:
    """Per-entry buffered service-time streams. An entry's stream is keyed by what the entry *is* (device type,
    model, config), not by its position in the profile, so adding a trace file does not reshuffle the others."""

    def __init__(self, profile: PerformanceProfile, seed: int):
        self.profile, self.seed = profile, seed
        self._rngs: dict[int, np.random.Generator] = {}
        self._bufs: dict[int, list] = {}

    def draw_for(self, entry: ProfileEntry, queries: int) -> float:
        """Service time of ``queries`` inputs on ``entry``'s config: one draw per call of its ``call_plan``."""
        total = 0.0
        for e, calls in entry.call_plan(queries):
            total += self._draw(e, calls)
        return total

    def _draw(self, entry: ProfileEntry, calls: int) -> float:
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


def coded(codes: np.ndarray, labels) -> pd.Categorical:
    """A categorical column from integer codes into ``labels`` (-1: missing). Categories are the distinct
    labels in first-use order of ``labels``, so equal inputs give equal columns (and equal file bytes)."""
    labels = list(labels)
    cats, remap = [], []
    for x in labels:
        if x is None or (isinstance(x, float) and x != x):
            remap.append(-1)
            continue
        if x not in cats:
            cats.append(x)
        remap.append(cats.index(x))
    lut = np.array(remap + [-1], dtype=np.int32)  # index -1 -> the trailing -1
    return pd.Categorical.from_codes(lut[np.asarray(codes, dtype=np.int64)], categories=cats)


def categorical(values) -> pd.Categorical | np.ndarray:
    """An object/str column as a categorical (first-appearance category order), kept as is if already one."""
    if isinstance(values, pd.Categorical):
        return values
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return pd.Categorical.from_codes(codes, categories=list(uniques))


def jobs_table(stream: JobStream, ok: np.ndarray, cols: dict, power_w: np.ndarray) -> pd.DataFrame:
    """The per-job results table every backend returns (``JOB_COLUMNS``): the job's own columns from the stream,
    the backend's per-job ``cols`` (placement, times, reason, retries) and the columns derived from them.
    ``power_w`` (per job, W) is overwritten: it becomes ``energy_mj``.

    Text columns are categoricals (one small code per job, not one object pointer): a 10^7-job table stays in
    memory and is written columnar. Numeric ``cols`` are used without copies."""
    arrival = stream.arrival_ms
    qos = stream.job_qos_ms  # each job's own target (per model unless queries or the QoS reference vary)
    finish = cols["finish_ms"]
    if not np.isnan(finish[~ok]).all():  # a backend that timed failed jobs: their finish is not a completion
        finish = np.where(ok, finish, np.nan)
    latency = finish - arrival
    wait = cols["start_ms"] - cols["decision_ms"]  # in place from here on: no 10^7-row temporaries
    wait -= cols["transfer_ms"]
    violated = latency > qos
    violated |= ~ok
    excess = latency - qos
    np.maximum(excess, 0.0, out=excess)  # NaN (failed) stays NaN
    energy = np.asarray(power_w, dtype=float)  # power_w is consumed: it becomes the energy column
    energy *= cols["service_ms"]
    energy[~ok] = np.nan
    text = {k: categorical(cols[k]) for k in ("node", "device_type", "tier", "engine", "precision", "power_mode",
                                              "reason")}
    data = {
        "job_id": np.arange(len(stream), dtype=np.int32 if len(stream) < 2**31 else np.int64),
        "model": coded(stream.model_idx, stream.models),
        "origin_site": coded(stream.origin_idx, stream.origins),
        "private": stream.private,
        "queries": stream.queries,
        "qos_ms": qos,
        "arrival_ms": arrival,
        **cols,
        **text,
        "finish_ms": finish,
        "wait_ms": wait,
        "latency_ms": latency,
        "violated": violated,
        "excess_ms": excess,
        "energy_mj": energy,
        "status": pd.Categorical.from_codes(np.where(ok, 0, 1).astype(np.int8), categories=list(STATUSES)),
    }
    return pd.DataFrame({k: data[k] for k in JOB_COLUMNS}, copy=False)
