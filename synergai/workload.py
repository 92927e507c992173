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
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .domain import Node
from .errors import ConfigError
from .network import Network
from .profile import PerformanceProfile

ARRIVALS = ("poisson", "bursty", "replay")
MAX_JOBS = 10**8  # a typo guard: 10^8 jobs already take gigabytes of columns and hours of simulation
MAX_QUERIES = 10**6  # inputs per job
MAX_INPUT_BYTES = 10**15  # 1 PB per job input


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
        """Check every field (types included: the spec may come from a hand-written dict); ConfigError names it."""

        def number(key, v, ok, need):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and ok(v)):
                raise ConfigError(f"{prefix}.{key}", f"must be {need}, got {v!r}")

        def integer(key, v, lo, hi):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"{prefix}.{key}", f"must be an integer >= {lo}, got {v!r}")
            if v > hi:
                raise ConfigError(f"{prefix}.{key}", f"must be <= {hi:,}, got {v:,}")

        if not isinstance(self.arrival, str) or self.arrival not in ARRIVALS:
            raise ConfigError(f"{prefix}.arrival", f"must be one of {', '.join(ARRIVALS)}, got {self.arrival!r}")
        integer("n_jobs", self.n_jobs, 1, MAX_JOBS)
        if self.rate_per_s is not None:
            number("rate_per_s", self.rate_per_s, lambda v: v > 0, "> 0")
        elif self.load is None:
            raise ConfigError(f"{prefix}.load", f"must be > 0 (or set rate_per_s), got {self.load!r}")
        else:
            number("load", self.load, lambda v: v > 0, "> 0 (or set rate_per_s)")
        if not isinstance(self.mix, Mapping):
            raise ConfigError(f"{prefix}.mix", f"must be a mapping model -> weight, got {self.mix!r}")
        if not self.mix:
            raise ConfigError(f"{prefix}.mix", "empty model mix")
        known = set(profile.models())
        for m, w in self.mix.items():
            if m not in known:
                raise ConfigError(f"{prefix}.mix.{m}", f"model not in any trace (known: {', '.join(sorted(known))})")
            number(f"mix.{m}", w, lambda v: v >= 0, "a weight >= 0 (0 drops the model)")
        if not any(w > 0 for w in self.mix.values()):
            raise ConfigError(f"{prefix}.mix", "every weight is 0")
        if not math.isfinite(sum(self.mix.values())):
            raise ConfigError(f"{prefix}.mix", "weights too large: their sum overflows")
        if not isinstance(self.qos_multiplier, (Mapping, int, float)) or isinstance(self.qos_multiplier, bool):
            raise ConfigError(f"{prefix}.qos_multiplier", f"must be a number or a mapping model -> number, "
                              f"got {self.qos_multiplier!r}")
        if not isinstance(self.input_bytes, Mapping):
            raise ConfigError(f"{prefix}.input_bytes", f"must be a mapping model -> bytes, got {self.input_bytes!r}")
        for m in self.models():
            if isinstance(self.qos_multiplier, Mapping):
                if m not in self.qos_multiplier:
                    raise ConfigError(f"{prefix}.qos_multiplier.{m}", "missing (a mapping needs every model of the mix)")
                number(f"qos_multiplier.{m}", self.qos_multiplier[m], lambda v: v > 0, "> 0")
            else:
                number("qos_multiplier", self.qos_multiplier, lambda v: v > 0, "> 0")
            integer(f"input_bytes.{m}", self.input_bytes.get(m, 0), 0, MAX_INPUT_BYTES)
        integer("queries", self.queries, 1, MAX_QUERIES)
        number("private_fraction", self.private_fraction, lambda v: 0 <= v <= 1, "in [0, 1]")
        if self.origins is not None and (isinstance(self.origins, (str, bytes, Mapping))
                                         or not isinstance(self.origins, Sequence)
                                         or not all(isinstance(o, str) and o for o in self.origins)):
            raise ConfigError(f"{prefix}.origins", f"must be a list of site names (or null), got {self.origins!r}")
        if self.origins is not None and len(self.origins) == 0:  # [] would silently mean "every edge site"
            raise ConfigError(f"{prefix}.origins", "empty list: name at least one site, or null for every edge site")
        if self.arrival == "bursty":
            for k in ("on_s", "off_s"):
                number(k, getattr(self, k), lambda v: v > 0, "> 0")
            number("off_rate_fraction", self.off_rate_fraction, lambda v: 0 <= v < 1, "in [0, 1)")
        if self.arrival == "replay":
            if not self.replay_path:
                raise ConfigError(f"{prefix}.replay_path", "arrival=replay needs a CSV path")
            if not isinstance(self.replay_path, (str, Path)):
                raise ConfigError(f"{prefix}.replay_path", f"must be a path, got {self.replay_path!r}")
            if not isinstance(self.replay_column, str) or not self.replay_column:
                raise ConfigError(f"{prefix}.replay_column", f"must be a column name, got {self.replay_column!r}")
            number("replay_unit_s", self.replay_unit_s, lambda v: v > 0, "> 0 (seconds per timestamp unit)")
            read_arrival_csv(self.replay_path, self.replay_column, self.replay_unit_s)  # bad files fail up front

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
            cap += w_can / work_ms * 1000.0 if work_ms > 0 else math.inf
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
    if not origins:
        raise ConfigError("workload.origins", "the cluster has no edge site for jobs to come from; "
                          "list the origin sites")
    for o in origins:
        if o not in network.sites:
            raise ConfigError("workload.origins", f"unknown site {o!r} (sites: {', '.join(network.sites)})")
    models = spec.models()
    mix = {m: spec.mix[m] for m in models}
    rate_per_s = spec.rate_per_s
    if rate_per_s is None:
        cap = cluster_capacity_per_s(profile, nodes, mix, spec.queries)
        if cap <= 0:
            raise ConfigError("workload.mix", "no node in the cluster can run any model of the mix")
        rate_per_s = spec.load * cap
    rate_key = "workload.rate_per_s" if spec.rate_per_s is not None else "workload.load"
    if not (math.isfinite(rate_per_s) and math.isfinite(1000.0 / rate_per_s if rate_per_s > 0 else math.inf)):
        raise ConfigError(rate_key, f"gives an arrival rate of {rate_per_s:g} jobs/s")
    r_arr, r_mix, r_org, r_prv = rng.spawn(4)
    with np.errstate(over="ignore", invalid="ignore"):
        arrival_ms = _arrivals(spec, rate_per_s / 1000.0, r_arr, rate_key)
    if not np.isfinite(arrival_ms).all():
        raise ConfigError(rate_key, f"{rate_per_s:g} jobs/s is too low: arrival times overflow")
    n = len(arrival_ms)
    w = np.array([spec.mix[m] for m in models], dtype=float)
    model_idx = r_mix.choice(len(models), size=n, p=w / w.sum())
    origin_idx = r_org.integers(0, len(origins), size=n)
    private = r_prv.random(n) < spec.private_fraction
    qos = {}
    for m in models:
        iso = best_isolated_ms(profile, nodes, network, m, spec.input_bytes.get(m, 0), origins, spec.queries)
        if not math.isfinite(iso):
            if any(n.capacity(e.resource) >= e.units for n in nodes
                   for e in profile.configs(m, n.device_type, n.power_modes)):
                raise ConfigError(f"workload.mix.{m}", "no node that can run this model is reachable from the "
                                  f"origin sites ({', '.join(origins)})")
            raise ConfigError(f"workload.mix.{m}", "no node in the cluster can run this model")
        qos[m] = spec.qos_factor(m) * iso
        if not math.isfinite(qos[m]):
            key = f"workload.qos_multiplier.{m}" if isinstance(spec.qos_multiplier, dict) else "workload.qos_multiplier"
            raise ConfigError(key, f"too large: the QoS target of {m} ({spec.qos_factor(m):g} x {iso:g} ms) overflows")
    return JobStream(arrival_ms, model_idx, origin_idx, private, models, origins, qos,
                     {m: spec.input_bytes.get(m, 0) for m in models}, spec.queries)


MAX_MMPP_PERIODS = 10**6  # on/off periods drawn per stream; beyond it the periods are far shorter than the gaps


def _arrivals(spec: WorkloadSpec, rate_per_ms: float, rng: np.random.Generator, rate_key: str) -> np.ndarray:
    n = spec.n_jobs
    if spec.arrival == "poisson":
        return np.cumsum(rng.exponential(1.0 / rate_per_ms, n))
    if spec.arrival == "bursty":
        on_ms, off_ms = spec.on_s * 1000.0, spec.off_s * 1000.0
        per_cycle = rate_per_ms * (on_ms + off_ms)  # mean arrivals per on+off cycle
        if n / per_cycle > MAX_MMPP_PERIODS / 2:
            raise ConfigError("workload.on_s", f"on/off periods ({spec.on_s:g} s + {spec.off_s:g} s) hold only "
                              f"{per_cycle:.3g} arrivals at {rate_per_ms * 1000:.3g} jobs/s: {n} jobs would take "
                              f"{n / per_cycle:.3g} cycles (at most {MAX_MMPP_PERIODS // 2:,}); use longer periods "
                              "or arrival=poisson")
        if per_cycle > 1e12:
            raise ConfigError(rate_key, f"{rate_per_ms * 1000:.3g} jobs/s over on/off periods of {spec.on_s:g} s + "
                              f"{spec.off_s:g} s puts {per_cycle:.3g} arrivals in one cycle (at most 1e12)")
        p_on = on_ms / (on_ms + off_ms)
        if not (p_on > 0 and math.isfinite(rate_per_ms / (p_on + (1 - p_on) * spec.off_rate_fraction))):
            raise ConfigError("workload.on_s", f"{spec.on_s:g} s is too short against off_s={spec.off_s:g} s")
        return _mmpp2(n, rate_per_ms, on_ms, off_ms, spec.off_rate_fraction, rng)
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
            if cnt > 10 * (n - k) + 100_000:
                # only the first n - k of cnt uniform points are kept: draw their order statistics directly
                u = 1.0 - np.exp(np.cumsum(np.log1p(-rng.random(n - k)) / (cnt - np.arange(n - k))))
                pts = t + u * dur
            elif cnt:
                pts = np.sort(t + rng.random(cnt) * dur)[: n - k]
            if cnt:
                out[k:k + len(pts)] = pts
                k += len(pts)
        t += dur
        state ^= 1
    return out


def read_arrival_csv(path: str | Path, column: str = "arrived_at", unit_s: float = 1.0) -> np.ndarray:
    """Arrival timestamps (ms, relative to the first) from a CSV column; errors name file, line, column."""
    if isinstance(unit_s, bool) or not isinstance(unit_s, (int, float)) or not (math.isfinite(unit_s) and unit_s > 0):
        raise ConfigError("workload.replay_unit_s", f"must be > 0 (seconds per timestamp unit), got {unit_s!r}")
    path = Path(path)
    if not path.is_file():
        raise ConfigError("workload.replay_path", f"{path}: file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError("workload.replay_path", f"{path}: cannot open: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)) + 1
        raise ConfigError("workload.replay_path", f"{path}:{line}: not UTF-8 text") from None
    vals, lines = [], []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = [f.strip() for f in reader.fieldnames or []]
        if column not in fields:
            raise ConfigError("workload.replay_column", f"{path}: no column {column!r} (has {fields})")
        reader.fieldnames = fields
        prev = -math.inf
        for row in reader:
            raw = (row.get(column) or "").strip()
            where = f"{path}:{reader.line_num} column '{column}'"
            try:
                v = float(raw)
            except ValueError:
                raise ConfigError("workload.replay_path", f"{where}: not a number: {raw!r}") from None
            if not math.isfinite(v) or v < prev:
                raise ConfigError("workload.replay_path", f"{where}: timestamps must be finite and non-decreasing "
                                  f"({raw!r} after {prev})")
            if not math.isfinite(v * unit_s * 1000.0):
                raise ConfigError("workload.replay_path", f"{where}: timestamp too large ({raw} x {unit_s} s)")
            prev = v
            vals.append(v)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise ConfigError("workload.replay_path", f"{path}:{reader.line_num}: not a readable CSV file ({exc})") from None
    if len(vals) < 2:
        raise ConfigError("workload.replay_path", f"{path}: needs at least 2 arrivals, found {len(vals)}")
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.asarray(vals) * unit_s * 1000.0
        a = a - a[0]
    if not np.isfinite(a).all():
        i = int(np.argmin(np.isfinite(a)))
        raise ConfigError("workload.replay_path", f"{path}:{lines[i]} column '{column}': timestamps span too large "
                          f"({vals[0]} to {vals[i]})")
    if a[-1] <= 0:
        raise ConfigError("workload.replay_path", f"{path}: all timestamps equal")
    return a


def _replay(spec: WorkloadSpec, rate_per_ms: float) -> np.ndarray:
    base = read_arrival_csv(spec.replay_path, spec.replay_column, spec.replay_unit_s)
    span = base[-1]
    # time-scale so the mean rate (arrivals per span, counting the wrap gap) equals the target rate
    period = span * len(base) / (len(base) - 1)  # trace length including one mean gap before it repeats
    if not math.isfinite(period):
        raise ConfigError("workload.replay_path", f"{spec.replay_path}: timestamps span too large")
    scale = (len(base) / rate_per_ms) / period
    reps = -(-spec.n_jobs // len(base))
    full = (base[None, :] + period * np.arange(reps)[:, None]).ravel()[: spec.n_jobs]
    return full * scale
