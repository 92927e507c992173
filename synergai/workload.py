"""Workloads: when jobs arrive, which model each runs, where it comes from, and its QoS target.

Arrival processes (all in ms, all drawn from a seeded ``numpy.random.Generator``):
- ``poisson``: exponential inter-arrival times at a given rate.
- ``bursty``: a two-state Markov-modulated Poisson process (on/off by default: bursts at ``rate / on_fraction``,
  silence in between), same mean rate as ``poisson``.
- ``replay``: arrival timestamps read from a CSV (e.g. the Azure production traces in traces/arrivals/),
  time-scaled so the mean rate matches the target rate, repeated end to end if more jobs are asked for.

QoS targets follow SLO-MAEL's harness: a multiple of the model's best isolated latency, here the lowest
(transfer + median service) over every node that can run the model, from the workload's origin sites.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .domain import Node
from .errors import ConfigError
from .network import Network
from .profile import PerformanceProfile

ARRIVALS = ("poisson", "bursty", "replay")


@dataclass
class WorkloadSpec:
    mix: dict[str, float]  # model -> weight
    n_jobs: int = 10_000
    arrival: str = "poisson"
    load: float | None = 0.7  # fraction of cluster capacity; ignored when rate_per_s is set
    rate_per_s: float | None = None
    qos_multiplier: float | dict[str, float] = 3.0
    input_bytes: dict[str, int] = field(default_factory=dict)
    queries: int = 1
    private_fraction: float = 0.0
    origins: Sequence[str] | None = None  # default: every edge site
    # bursty (MMPP-2): mean sojourn in the on/off state and the off-state rate as a fraction of the on rate
    on_s: float = 1.0
    off_s: float = 4.0
    off_rate_fraction: float = 0.0
    # replay
    replay_path: str | None = None
    replay_column: str = "arrived_at"
    replay_unit_s: float = 1.0  # seconds per unit of the timestamp column

    def validate(self, profile: PerformanceProfile, prefix: str = "workload") -> None:
        if self.arrival not in ARRIVALS:
            raise ConfigError(f"{prefix}.arrival", f"must be one of {', '.join(ARRIVALS)}, got {self.arrival!r}")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ConfigError(f"{prefix}.n_jobs", f"must be an integer >= 1, got {self.n_jobs!r}")
        if self.rate_per_s is not None and not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)):
            raise ConfigError(f"{prefix}.rate_per_s", f"must be > 0, got {self.rate_per_s!r}")
        if self.rate_per_s is None and (self.load is None or not (self.load > 0 and math.isfinite(self.load))):
            raise ConfigError(f"{prefix}.load", f"must be > 0 (or set rate_per_s), got {self.load!r}")
        if not self.mix:
            raise ConfigError(f"{prefix}.mix", "empty model mix")
        known = set(profile.models())
        for m, w in self.mix.items():
            if m not in known:
                raise ConfigError(f"{prefix}.mix.{m}", f"model not in any trace (known: {', '.join(sorted(known))})")
            if isinstance(w, bool) or not (isinstance(w, (int, float)) and w >= 0 and math.isfinite(w)):
                raise ConfigError(f"{prefix}.mix.{m}", f"weight must be >= 0 (0 drops the model), got {w!r}")
        if not any(w > 0 for w in self.mix.values()):
            raise ConfigError(f"{prefix}.mix", "every weight is 0")
        for m in self.models():
            q = self.qos_multiplier.get(m) if isinstance(self.qos_multiplier, dict) else self.qos_multiplier
            if q is None or not (q > 0):
                raise ConfigError(f"{prefix}.qos_multiplier", f"must be > 0 for {m}, got {q!r}")
            b = self.input_bytes.get(m, 0)
            if not isinstance(b, int) or b < 0:
                raise ConfigError(f"{prefix}.input_bytes.{m}", f"must be an integer >= 0, got {b!r}")
        if not isinstance(self.queries, int) or self.queries < 1:
            raise ConfigError(f"{prefix}.queries", f"must be an integer >= 1, got {self.queries!r}")
        if not 0.0 <= self.private_fraction <= 1.0:
            raise ConfigError(f"{prefix}.private_fraction", f"must be in [0, 1], got {self.private_fraction!r}")
        if self.arrival == "bursty":
            for k in ("on_s", "off_s"):
                if not getattr(self, k) > 0:
                    raise ConfigError(f"{prefix}.{k}", f"must be > 0, got {getattr(self, k)!r}")
            if not 0.0 <= self.off_rate_fraction < 1.0:
                raise ConfigError(f"{prefix}.off_rate_fraction", f"must be in [0, 1), got {self.off_rate_fraction!r}")
        if self.arrival == "replay" and not self.replay_path:
            raise ConfigError(f"{prefix}.replay_path", "arrival=replay needs a CSV path")

    def models(self) -> list[str]:
        """Models with a positive weight, in mix order."""
        return [m for m, w in self.mix.items() if w > 0]

    def qos_factor(self, model: str) -> float:
        return self.qos_multiplier[model] if isinstance(self.qos_multiplier, dict) else float(self.qos_multiplier)


@dataclass
class JobStream:
    """Columnar job attributes, so a million jobs cost arrays, not a million objects, until they arrive."""

    arrival_ms: np.ndarray
    model_idx: np.ndarray
    origin_idx: np.ndarray
    private: np.ndarray
    models: list[str]
    origins: list[str]
    qos_ms: dict[str, float]
    input_bytes: dict[str, int]
    queries: int

    def __len__(self):
        return len(self.arrival_ms)


# ----------------------------------------------------------------------------- capacity and QoS
def cluster_capacity_per_s(profile: PerformanceProfile, nodes: Sequence[Node], mix: dict[str, float],
                           queries: int = 1) -> float:
    """Jobs/s the cluster sustains on this mix: the sum over nodes of each node's throughput on the mix.

    A node serves the models it can run in mix proportions, each with its throughput-optimal config
    (units held x service time per job smallest) in the pool that config uses. This is the fluid capacity
    with no cross-node specialisation (a lower bound on the LP optimum), used to turn a load factor into a
    rate: load 1.0 means arrivals at that rate.
    """
    total_w = sum(mix.values())
    cap = 0.0
    for n in nodes:
        work_ms = 0.0  # expected pool-unit-ms per job, normalised by pool size
        w_can = 0.0
        for m, w in mix.items():
            best = None
            for e in profile.configs(m, n.device_type, n.power_modes):
                c = n.capacity(e.resource)
                if c < e.units:
                    continue
                cost = e.units * e.service_ms(queries) / c
                best = cost if best is None else min(best, cost)
            if best is not None:
                work_ms += w / total_w * best
                w_can += w / total_w
        if w_can > 0:
            cap += w_can / work_ms * 1000.0
    return cap


def best_isolated_ms(profile: PerformanceProfile, nodes: Sequence[Node], network: Network, model: str,
                     input_bytes: int, origins: Sequence[str], queries: int = 1) -> float:
    best = math.inf
    for n in nodes:
        for e in profile.configs(model, n.device_type, n.power_modes):
            if n.capacity(e.resource) < e.units:
                continue
            svc = e.calls(queries) * e.p50_ms
            for o in origins:
                best = min(best, network.transfer_ms(o, n.site, input_bytes) + svc)
    return best


# ----------------------------------------------------------------------------- generation
def generate(spec: WorkloadSpec, profile: PerformanceProfile, nodes: Sequence[Node], network: Network,
             rng: np.random.Generator) -> JobStream:
    """Draw the whole job stream up front (columnar) from ``rng``; deterministic for a given seed."""
    origins = list(spec.origins) if spec.origins else [s.name for s in network.sites.values() if s.tier == "edge"]
    for o in origins:
        if o not in network.sites:
            raise ConfigError("workload.origins", f"unknown site {o!r}")
    models = spec.models()
    mix = {m: spec.mix[m] for m in models}
    rate_per_s = spec.rate_per_s
    if rate_per_s is None:
        cap = cluster_capacity_per_s(profile, nodes, mix, spec.queries)
        if cap <= 0:
            raise ConfigError("workload.mix", "no node in the cluster can run any model of the mix")
        rate_per_s = spec.load * cap
    r_arr, r_mix, r_org, r_prv = rng.spawn(4)
    arrival_ms = _arrivals(spec, rate_per_s / 1000.0, r_arr)
    n = len(arrival_ms)
    w = np.array([spec.mix[m] for m in models], dtype=float)
    model_idx = r_mix.choice(len(models), size=n, p=w / w.sum())
    origin_idx = r_org.integers(0, len(origins), size=n)
    private = r_prv.random(n) < spec.private_fraction
    qos = {}
    for m in models:
        iso = best_isolated_ms(profile, nodes, network, m, spec.input_bytes.get(m, 0), origins, spec.queries)
        if not math.isfinite(iso):
            raise ConfigError(f"workload.mix.{m}", "no node in the cluster can run this model")
        qos[m] = spec.qos_factor(m) * iso
    return JobStream(arrival_ms, model_idx, origin_idx, private, models, origins, qos,
                     {m: spec.input_bytes.get(m, 0) for m in models}, spec.queries)


def _arrivals(spec: WorkloadSpec, rate_per_ms: float, rng: np.random.Generator) -> np.ndarray:
    n = spec.n_jobs
    if spec.arrival == "poisson":
        return np.cumsum(rng.exponential(1.0 / rate_per_ms, n))
    if spec.arrival == "bursty":
        return _mmpp2(n, rate_per_ms, spec.on_s * 1000.0, spec.off_s * 1000.0, spec.off_rate_fraction, rng)
    return _replay(spec, rate_per_ms)


def _mmpp2(n, mean_rate, on_ms, off_ms, off_frac, rng):
    """Two-state MMPP with mean sojourns on_ms/off_ms; rates chosen so the long-run mean is mean_rate."""
    p_on = on_ms / (on_ms + off_ms)
    on_rate = mean_rate / (p_on + (1 - p_on) * off_frac)
    rates = (on_rate, on_rate * off_frac)
    out = np.empty(n)
    t, k, state = 0.0, 0, 0
    while k < n:
        dur = rng.exponential(on_ms if state == 0 else off_ms)
        lam = rates[state]
        if lam > 0:
            # arrivals in [t, t + dur): Poisson count, uniform positions
            cnt = rng.poisson(lam * dur)
            if cnt:
                pts = np.sort(t + rng.random(cnt) * dur)[: n - k]
                out[k:k + len(pts)] = pts
                k += len(pts)
        t += dur
        state ^= 1
    return out


def read_arrival_csv(path: str | Path, column: str = "arrived_at", unit_s: float = 1.0) -> np.ndarray:
    """Arrival timestamps (ms, relative to the first) from a CSV column; errors name file, line, column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("workload.replay_path", f"{path}: file not found")
    vals = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or column not in reader.fieldnames:
            raise ConfigError("workload.replay_column", f"{path}: no column {column!r} (has {reader.fieldnames})")
        prev = -math.inf
        for row in reader:
            raw = (row.get(column) or "").strip()
            try:
                v = float(raw)
            except ValueError:
                raise ConfigError("workload.replay_path",
                                  f"{path}:{reader.line_num} column '{column}': not a number: {raw!r}") from None
            if not math.isfinite(v) or v < prev:
                raise ConfigError("workload.replay_path",
                                  f"{path}:{reader.line_num} column '{column}': timestamps must be finite and "
                                  f"non-decreasing ({raw!r} after {prev})")
            prev = v
            vals.append(v)
    if len(vals) < 2:
        raise ConfigError("workload.replay_path", f"{path}: needs at least 2 arrivals, found {len(vals)}")
    a = np.asarray(vals) * unit_s * 1000.0
    return a - a[0]


def _replay(spec: WorkloadSpec, rate_per_ms: float) -> np.ndarray:
    base = read_arrival_csv(spec.replay_path, spec.replay_column, spec.replay_unit_s)
    span = base[-1]
    if span <= 0:
        raise ConfigError("workload.replay_path", f"{spec.replay_path}: all timestamps equal")
    # time-scale so the mean rate (arrivals per span, counting the wrap gap) equals the target rate
    period = span * len(base) / (len(base) - 1)  # trace length including one mean gap before it repeats
    scale = (len(base) / rate_per_ms) / period
    reps = -(-spec.n_jobs // len(base))
    full = (base[None, :] + period * np.arange(reps)[:, None]).ravel()[: spec.n_jobs]
    return full * scale
