"""Workloads: when jobs arrive, which model each runs, where it comes from, and its QoS target.

Arrival processes (all in ms, all drawn from a seeded ``numpy.random.Generator``):
- ``poisson``: exponential inter-arrival times at a given rate.
- ``bursty``: a two-state Markov-modulated Poisson process (on/off by default: bursts at ``rate / on_fraction``,
  silence in between), same mean rate as ``poisson``.
- ``replay``: arrival timestamps read from a CSV (e.g. the Azure production traces in traces/arrivals/),
  time-scaled so the mean rate matches the target rate, repeated end to end if more jobs are asked for.

QoS targets follow SLO-MAEL's harness: a multiple of the model's best isolated latency, here the lowest
(transfer + median service of the job's calls, ``ProfileEntry.median_ms``) over every node that can run the model,
from the workload's origin sites (``qos_reference: cluster``) or from the job's own origin site (``origin``).

Jobs carry ``queries`` inputs: a fixed number, or drawn per job from a distribution (one for all models or one per
model) on a stream of its own, so a fixed number draws nothing and leaves every other stream as it was.

``load`` is a fraction of a capacity: ``load_basis: nominal`` (``cluster_capacity_per_s``: every node's throughput
on the mix) or ``usable`` (``usable_capacity_per_s``: the largest arrival rate whose jobs the cluster can serve with
(node, config) pairs that meet their targets, a small LP).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .domain import Node
from .errors import ConfigError
from .network import Network
from .profile import PerformanceProfile

ARRIVALS = ("poisson", "bursty", "replay")
LOAD_BASES = ("nominal", "usable")
QOS_REFERENCES = ("cluster", "origin")
MAX_QUERY_VALUES = 10**6  # distinct query counts of one distribution (a range [1, 10^6] is the largest)
MAX_LP_QUERY_VALUES = 256  # distinct query counts per model that load_basis=usable puts into its LP
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
    queries: Any = 1  # int | [lo, hi] | {count: weight} | {model: one of those}; see parse_queries
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
    load_basis: str = "nominal"  # what load 1.0 means: nominal | usable capacity (see module docstring)
    qos_reference: str = "cluster"  # best isolated latency over all origins (cluster) or from the job's origin

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
        self._validate_conventions(prefix)
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

    def _validate_conventions(self, prefix: str) -> None:
        """queries, load_basis and qos_reference (the multi-query and load/QoS-convention keys)."""
        parse_queries(self.queries, self.models(), f"{prefix}.queries")
        for key, v, ok in (("load_basis", self.load_basis, LOAD_BASES),
                           ("qos_reference", self.qos_reference, QOS_REFERENCES)):
            if not isinstance(v, str) or v not in ok:
                raise ConfigError(f"{prefix}.{key}", f"must be one of {', '.join(ok)}, got {v!r}")

    def models(self) -> list[str]:
        """Models with a positive weight, in mix order."""
        return [m for m, w in self.mix.items() if w > 0]

    def qos_factor(self, model: str) -> float:
        return self.qos_multiplier[model] if isinstance(self.qos_multiplier, dict) else float(self.qos_multiplier)


@dataclass
class JobStream:
    """Columnar job attributes, so a million jobs cost arrays, not a million objects, until they arrive.

    ``queries`` is per job (an int broadcasts to every job). ``qos_ms`` is per model: the target of a job of the
    model's smallest query count under the cluster reference, i.e. every job's target when ``queries`` is one
    number and ``qos_reference=cluster``; ``job_qos_ms`` holds each job's own target (defaults to ``qos_ms``).
    """

    arrival_ms: np.ndarray
    model_idx: np.ndarray
    origin_idx: np.ndarray
    private: np.ndarray
    models: list[str]
    origins: list[str]
    qos_ms: dict[str, float]
    input_bytes: dict[str, int]
    queries: np.ndarray | int = 1
    job_qos_ms: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.arrival_ms)
        if np.ndim(self.queries) == 0:
            self.queries = np.full(n, int(self.queries), dtype=np.int64)
        self.queries = np.asarray(self.queries, dtype=np.int64)
        if self.job_qos_ms is None:
            self.job_qos_ms = np.array([self.qos_ms[m] for m in self.models], dtype=float)[self.model_idx] \
                if n else np.empty(0)
        self.job_qos_ms = np.asarray(self.job_qos_ms, dtype=float)

    def __len__(self):
        return len(self.arrival_ms)


# ----------------------------------------------------------------------------- queries per job
@dataclass(frozen=True)
class QueryDist:
    """Query counts of one model's jobs: distinct values (ascending) and their probabilities."""

    values: np.ndarray
    probs: np.ndarray

    @property
    def fixed(self) -> int | None:
        return int(self.values[0]) if len(self.values) == 1 else None


def parse_queries(v: Any, models: Sequence[str], key: str = "workload.queries") -> dict[str, QueryDist]:
    """``workload.queries`` -> per-model QueryDist. Accepted forms (ConfigError naming the key otherwise):

    - an int >= 1: every job has that many queries;
    - ``[lo, hi]``: uniform over the integers lo..hi;
    - ``{count: weight, ...}``: that distribution (weights >= 0, normalised), e.g. ``{1: 0.6, 8: 0.3, 32: 0.1}``;
    - ``{model: one of the above, ...}``: one per model; every model of the mix needs an entry.
    """
    if isinstance(v, Mapping) and v and all(isinstance(k, str) and not _is_count(k) for k in v):
        for k in v:
            if k not in models:
                raise ConfigError(f"{key}.{k}", f"not a model of the mix ({', '.join(models)}), nor a query count")
        out = {}
        for m in models:
            if m not in v:
                raise ConfigError(f"{key}.{m}", "missing (a per-model mapping needs every model of the mix)")
            out[m] = _query_dist(v[m], f"{key}.{m}")
        return out
    d = _query_dist(v, key)
    return dict.fromkeys(models, d)


def _is_count(k) -> bool:
    return isinstance(k, int) and not isinstance(k, bool) or isinstance(k, str) and k.strip().isascii() and k.strip().isdigit()


def _query_count(v, key: str) -> int:
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_QUERIES:
        raise ConfigError(key, f"a query count must be an integer in [1, {MAX_QUERIES:,}], got {v!r}")
    return v


def _query_dist(v, key: str) -> QueryDist:
    if isinstance(v, int) and not isinstance(v, bool):
        return QueryDist(np.array([_query_count(v, key)], dtype=np.int64), np.ones(1))
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        if len(v) != 2:
            raise ConfigError(key, f"a range is [lo, hi] (two query counts), got {list(v)!r}")
        lo, hi = _query_count(v[0], key), _query_count(v[1], key)
        if hi < lo:
            raise ConfigError(key, f"range [{lo}, {hi}] is empty (hi < lo)")
        vals = np.arange(lo, hi + 1, dtype=np.int64)
        return QueryDist(vals, np.full(len(vals), 1.0 / len(vals)))
    if isinstance(v, Mapping):
        if not v:
            raise ConfigError(key, "empty distribution (give {count: weight, ...})")
        if len(v) > MAX_QUERY_VALUES:
            raise ConfigError(key, f"at most {MAX_QUERY_VALUES:,} distinct query counts, got {len(v):,}")
        pairs = {}
        for k, w in v.items():
            if not _is_count(k):
                raise ConfigError(f"{key}.{k}", "a distribution's keys are query counts (integers >= 1)")
            q = _query_count(k, f"{key}.{k}")
            if q in pairs:
                raise ConfigError(f"{key}.{k}", "query count given twice")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w >= 0):
                raise ConfigError(f"{key}.{k}", f"must be a weight >= 0, got {w!r}")
            pairs[q] = float(w)
        total = math.fsum(pairs.values())
        if not (total > 0 and math.isfinite(total)):
            raise ConfigError(key, "the weights must sum to a finite number > 0")
        kept = sorted(q for q, w in pairs.items() if w > 0)
        return QueryDist(np.array(kept, dtype=np.int64), np.array([pairs[q] / total for q in kept]))
    raise ConfigError(key, f"must be a query count, [lo, hi], {{count: weight}} or {{model: ...}}, got {v!r}")


def _draw_queries(dists: dict[str, QueryDist], models: Sequence[str], model_idx: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Per-job query counts; each model's jobs draw, in job order, from that model's distribution."""
    out = np.empty(len(model_idx), dtype=np.int64)
    for k, m in enumerate(models):
        sel = np.flatnonzero(model_idx == k)
        d = dists[m]
        out[sel] = d.values[0] if d.fixed is not None else rng.choice(d.values, size=len(sel), p=d.probs)
    return out


def _as_dists(queries, mix: Mapping[str, float]) -> dict[str, QueryDist]:
    return queries if isinstance(queries, dict) and all(isinstance(d, QueryDist) for d in queries.values()) \
        else parse_queries(queries, list(mix))


# ----------------------------------------------------------------------------- capacity and QoS
def cluster_capacity_per_s(profile: PerformanceProfile, nodes: Sequence[Node], mix: dict[str, float],
                           queries=1) -> float:
    """Jobs/s the cluster sustains on this mix: the sum over nodes of each node's throughput on the mix.

    A node serves the models it can run in mix proportions, each job with its throughput-optimal config for its
    query count (units held x service time per job smallest) in the pool that config uses, averaged over the
    model's query distribution (``queries``: anything ``parse_queries`` takes). This is the fluid capacity
    with no cross-node specialisation (a lower bound on the LP optimum), used to turn a load factor into a
    rate: load 1.0 means arrivals at that rate.
    """
    dists = _as_dists(queries, mix)
    total_w = sum(mix.values())
    cap = 0.0
    for n in nodes:
        work_ms = 0.0  # expected pool-unit-ms per job, normalised by pool size
        w_can = 0.0
        for m, w in mix.items():
            d = dists[m]
            best = None
            for e in profile.configs(m, n.device_type, n.power_modes):
                c = n.capacity(e.resource)
                if c < e.units:
                    continue
                if d.fixed is not None:
                    cost = e.units * e.service_ms(d.fixed) / c
                else:
                    cost = e.units * np.array([e.service_ms(int(v)) for v in d.values]) / c
                best = cost if best is None else np.minimum(best, cost)
            if best is not None:
                work_ms += w / total_w * (best if d.fixed is not None else float(np.dot(d.probs, best)))
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
            svc = e.median_ms(queries)
            for o in origins:
                best = min(best, network.transfer_ms(o, n.site, input_bytes) + svc)
    return best


def isolated_table(profile: PerformanceProfile, nodes: Sequence[Node], network: Network, model: str,
                   input_bytes: int, origins: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Best isolated latency (transfer + calls x median service) per (origin, query count): shape
    (len(origins), len(values)); ``best_isolated_ms`` for every pair at once (identical nodes counted once)."""
    out = np.full((len(origins), len(values)), math.inf)
    seen = set()
    for n in nodes:
        kind = (n.device_type, n.site, n.cpu_cores, n.accel_slots, n.power_modes)
        if kind in seen:
            continue
        seen.add(kind)
        tr = np.array([network.transfer_ms(o, n.site, input_bytes) for o in origins])[:, None]
        for e in profile.configs(model, n.device_type, n.power_modes):
            if n.capacity(e.resource) >= e.units:
                np.minimum(out, tr + np.array([e.median_ms(int(v)) for v in values]), out=out)
    return out


def usable_capacity_per_s(profile: PerformanceProfile, nodes: Sequence[Node], network: Network,
                          mix: Mapping[str, float], dists: Mapping[str, QueryDist], origins: Sequence[str],
                          target_ms, input_bytes: Mapping[str, int], private_fraction: float = 0.0,
                          ) -> tuple[float, float]:
    """The usable capacity (jobs/s) and the share of arrivals that no (node, config) can serve within target.

    Job classes are (model, query count, origin site, private?), weighted by the mix, the query distribution,
    uniform origins and ``private_fraction``. A class may use a (node, config) pair only if its isolated latency
    (transfer + calls x median service, the quantity the QoS reference is built from) meets the class's
    target ``target_ms(model, origin_index, query_values) -> targets``, and private classes only edge nodes.
    Identical nodes (type, site, pools, power modes) are pooled. The LP (``scipy.optimize.linprog``, HiGHS)
    maximises the arrival rate lambda such that every servable class gets lambda x its share of the arrivals,
    each pair's busy time (jobs/s x units x calls x mean service) fitting its pool. Classes that no pair can
    serve count in lambda but need no capacity: they miss their target even on an idle cluster.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    groups: dict[tuple, list] = {}
    for n in nodes:
        groups.setdefault((n.device_type, n.site, n.cpu_cores, n.accel_slots, n.power_modes, n.tier), [n, 0])[1] += 1
    total_w = sum(mix.values())
    cls_share, cols, pool_rows = [], [], {}  # cols: (class, pool row, unit-seconds per job)
    lost = 0.0
    for m, w in mix.items():
        d = dists[m]
        if len(d.values) > MAX_LP_QUERY_VALUES:
            raise ConfigError("workload.load_basis", f"usable supports at most {MAX_LP_QUERY_VALUES} distinct "
                              f"query counts per model; {m} has {len(d.values):,}")
        for oi, o in enumerate(origins):
            tgt = np.asarray(target_ms(m, oi, d.values), dtype=float)
            for priv, p_priv in ((False, 1.0 - private_fraction), (True, private_fraction)):
                if p_priv <= 0:
                    continue
                for qi, q in enumerate(d.values):
                    share = w / total_w * d.probs[qi] / len(origins) * p_priv
                    k = len(cls_share)
                    cls_share.append(share)
                    found = False
                    for gk, (n, count) in groups.items():
                        if priv and not n.is_edge:
                            continue
                        tr = network.transfer_ms(o, n.site, input_bytes.get(m, 0))
                        for e in profile.configs(m, n.device_type, n.power_modes):
                            cap = n.capacity(e.resource)
                            if cap < e.units or tr + e.median_ms(int(q)) > tgt[qi] * (1 + 1e-12):
                                continue
                            row = pool_rows.setdefault((gk, e.resource), (len(pool_rows), cap * count))[0]
                            cols.append((k, row, e.units * e.service_ms(int(q)) / 1000.0))
                            found = True
                    if not found:
                        lost += share
    if not cols:
        return 0.0, lost
    nx_, npool = len(cols), len(pool_rows)
    # variables: x_0..x_{nx-1} (jobs/s of a class on a pair), then lambda. Rows: one demand row per servable class
    # (lambda x share - sum of its x <= 0), then one capacity row per pool (sum of busy unit-s <= units).
    served = sorted({k for k, _, _ in cols})
    row_of = {k: r for r, k in enumerate(served)}
    ns = len(served)
    ri = [row_of[k] for k, _, _ in cols] + [ns + row for _, row, _ in cols] + list(range(ns))
    ci = list(range(nx_)) * 2 + [nx_] * ns
    vals = [-1.0] * nx_ + [us for _, _, us in cols] + [cls_share[k] for k in served]
    a = sparse.csr_matrix((vals, (ri, ci)), shape=(ns + npool, nx_ + 1))
    b = np.zeros(ns + npool)
    for _, (row, cap) in pool_rows.items():
        b[ns + row] = cap
    c = np.zeros(nx_ + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=a, b_ub=b, bounds=(0, None), method="highs")
    if res.status != 0:
        raise ConfigError("workload.load_basis", f"the usable-capacity LP failed: {res.message}")
    return float(res.x[-1]), lost


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
    dists = parse_queries(spec.queries, models)
    by_origin = getattr(spec, "qos_reference", "cluster") == "origin"
    iso = {m: _isolated(profile, nodes, network, m, spec.input_bytes.get(m, 0), origins, dists[m], by_origin)
           for m in models}
    rate_per_s = spec.rate_per_s
    if rate_per_s is None:
        if getattr(spec, "load_basis", "nominal") == "usable":
            def target(m, oi, values):
                return spec.qos_factor(m) * iso[m][oi if by_origin else 0, np.searchsorted(dists[m].values, values)]
            cap, _ = usable_capacity_per_s(profile, nodes, network, mix, dists, origins, target,
                                           spec.input_bytes, spec.private_fraction)
            if cap <= 0:
                raise ConfigError("workload.load_basis", "usable: no (node, config) serves any job of the mix within "
                                  "its QoS target, so the usable capacity is 0")
        else:
            cap = cluster_capacity_per_s(profile, nodes, mix, dists)
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
    # a fixed query count draws nothing: the other streams (and so published results) stay as they were
    fixed = all(d.fixed is not None for d in dists.values())
    queries = _draw_queries(dists, models, model_idx, None if fixed else rng.spawn(1)[0])
    qos, job_qos = {}, np.empty(n)
    for k, m in enumerate(models):
        tab = iso[m]
        if not np.isfinite(tab).any() or (by_origin and not np.isfinite(tab).all()):
            _unreachable(profile, nodes, m, origins, tab, by_origin)
        factor = spec.qos_factor(m)
        qos[m] = factor * float(tab.min(axis=0)[0])
        sel = np.flatnonzero(model_idx == k)
        col = np.searchsorted(dists[m].values, queries[sel])
        job_qos[sel] = factor * tab[origin_idx[sel] if by_origin else 0, col]
        if not (math.isfinite(qos[m]) and np.isfinite(factor * tab).all()):
            key = f"workload.qos_multiplier.{m}" if isinstance(spec.qos_multiplier, dict) else "workload.qos_multiplier"
            raise ConfigError(key, f"too large: the QoS target of {m} ({factor:g} x {float(tab.max()):g} ms) overflows")
    return JobStream(arrival_ms, model_idx, origin_idx, private, models, origins, qos,
                     {m: spec.input_bytes.get(m, 0) for m in models}, queries, job_qos)


def _isolated(profile, nodes, network, model, nbytes, origins, dist: QueryDist, by_origin: bool) -> np.ndarray:
    """Best isolated latency per (origin or the whole cluster, query count of the model's distribution)."""
    if not by_origin and dist.fixed is not None:  # today's path, bit for bit
        v = best_isolated_ms(profile, nodes, network, model, nbytes, origins, dist.fixed)
        return np.array([[v]])
    tab = isolated_table(profile, nodes, network, model, nbytes, origins, dist.values)
    return tab if by_origin else tab.min(axis=0, keepdims=True)


def _unreachable(profile, nodes, m, origins, tab, by_origin):
    if any(n.capacity(e.resource) >= e.units for n in nodes for e in profile.configs(m, n.device_type, n.power_modes)):
        if by_origin and np.isfinite(tab).any():
            bad = [o for o, row in zip(origins, tab) if not np.isfinite(row).all()]
            raise ConfigError("workload.qos_reference", f"origin: no node that can run {m} is reachable from "
                              f"{', '.join(bad)}, so its jobs there have no target")
        raise ConfigError(f"workload.mix.{m}", "no node that can run this model is reachable from the "
                          f"origin sites ({', '.join(origins)})")
    raise ConfigError(f"workload.mix.{m}", "no node in the cluster can run this model")


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
