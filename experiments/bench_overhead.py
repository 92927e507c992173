"""Benchmark: scheduling decision overhead per policy (µs per call and per job) at growing cluster sizes.

    python -m experiments.bench_overhead                      # 3, 10, 100, 1000, 10000 nodes, every policy
    python -m experiments.bench_overhead --nodes 10 100 --policies synergai slo_mael --cprofile synergai

Clusters: the default testbed (configs/cluster/default.yaml: same sites, links and device types) scaled to N
nodes by replicating its nodes. The 10 default nodes are ordered round-robin over device types, accelerator
types first (orin-a, xnx-a-0, l4, vm-0, orin-b, xnx-a-1, vm-1, xnx-b, vm-2, vm-3); N nodes = N // 10 full
copies of the default plus the first N % 10 of that order. So 3 nodes = one Orin, one Xavier NX, one L4;
10 nodes = the default testbed; 100, 1,000, 10,000 nodes keep its proportions exactly.

State: one read-only ``ClusterView`` per N and queue discipline with a static background of outstanding work (``--background`` jobs
per node, placed at the decision time through ``view.on_placed`` with a random fitting batch-1 config of a
model drawn from the mix and its predicted mean service time). Decisions are *not* applied to the view, so
every policy and every call sees the same state. The clock stays at the decision time T; jobs come from the
default workload (resnet50/bert-99/retinanet mix, origins edge-a/edge-b, 10 % private, QoS 5x best isolated
latency) generated for the scaled cluster at the default load (0.4 x ``cluster_capacity_per_s``).

Per-job policies get one job per call (a job arriving at T). Windowed policies (SLO-MAEL, MAEL: window 10 ms)
get windows of 1, 2, 4 jobs and the "default" window: the stream's own jobs grouped on the 10 ms grid as the
simulator does (a zero-truncated Poisson count with mean load x capacity x 10 ms, which grows with N), each
job's arrival shifted so the window ends at T. SLO-MAEL's own virtual backlog is left to grow (the clock does
not advance); its enumeration cost does not depend on the backlog's values.

Method: prepare once (timed), then a warm-up pass (one call per kind of job, 12 kinds: the policies' caches are
per kind; its time is reported as the cold cost), then ``--reps`` rounds that visit every cell of an N in
turn (so machine-load drift hits all alike). Each cell gets at most ``--calls`` timed calls and a
``--budget-s`` time budget (split over the rounds) but at least ``--min-calls`` calls unless ``--max-cell-s``
is hit first; a windowed cell whose estimated single call (per-job cost at the smaller windows x jobs per
window) exceeds ``--max-cell-s`` is skipped and only its estimate reported. Every call is timed with
``perf_counter_ns`` around ``policy.schedule``; gc stays enabled (as in the simulator). Printed: p50 / p99 /
mean µs per call and per job (per job = call time / jobs in the call), the spread of the per-round p50s, the
cap hits of SLO-MAEL/MAEL (windows split because devices^jobs > max_combinations), the prepare time and the
warm-up (cold, first call per kind) time, ``cores_needed`` (mean µs per job x the default arrival rate at that
N / 1e6: the share of one core a single-threaded scheduler needs to keep up), the load average before/after,
and SynergAI vs SLO-MAEL at the default window. Not a test: it asserts nothing, it measures.
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import math
import os
import pstats
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from experiments.runner import PROJECT_ROOT, workload_spec
from synergai.cluster import ClusterView
from synergai.domain import Job, Node, Placement
from synergai.policy import make_policy
from synergai.profile import PerformanceProfile
from synergai.testbed import Testbed, testbed_from_dict
from synergai.workload import cluster_capacity_per_s, generate

POLICIES = ("synergai", "greedy", "slo_mael", "mael", "k8s_default", "least_outstanding", "random")
SIZES = (3, 10, 100, 1000, 10_000)
WINDOWS = ("1", "2", "4", "default")
DEFAULT_OUT = "experiments/figures/overhead.csv"
COLUMNS = ("nodes", "policy", "window", "status", "calls", "jobs", "jobs_per_call",
           "p50_call_us", "p99_call_us", "mean_call_us", "p50_job_us", "p99_job_us", "mean_job_us",
           "p50_spread_pct", "cap_hits", "prepare_ms", "warmup_ms", "rate_per_s", "cores_needed", "load1_after")
T_MS = 1000.0  # the decision time every call sees


# ----------------------------------------------------------------------------- cluster, state, jobs
def node_order(nodes: list[Node]) -> list[Node]:
    """The default nodes round-robin over device types, accelerator types first (stable otherwise)."""
    by_type: dict[str, list[Node]] = {}
    for n in nodes:
        by_type.setdefault(n.device_type, []).append(n)
    types = sorted(by_type, key=lambda t: (by_type[t][0].accel_slots == 0, list(by_type).index(t)))
    out, k = [], 0
    while len(out) < len(nodes):
        out += [by_type[t][k] for t in types if k < len(by_type[t])]
        k += 1
    return out


def scaled_testbed(base: Testbed, n: int) -> Testbed:
    """``n`` nodes: full copies of the base (copy 0 keeps its names, copy k gets suffix .k) + a prefix of the order."""
    order = node_order(base.nodes)
    copies, rest = divmod(n, len(order))
    nodes = []
    for k in range(copies + (rest > 0)):
        src = base.nodes if k < copies else order[:rest]
        nodes += [n_ if k == 0 else replace(n_, name=f"{n_.name}.{k}") for n_ in src]
    return Testbed(f"{base.name}x{n}", nodes, base.network)


def background_view(profile, nodes, mix, per_node, rng, disciplines=("fifo", "priority")) -> dict[str, ClusterView]:
    """Views at T with ``per_node`` outstanding jobs per node (random fitting batch-1 config, mean service), one per
    queue discipline with the same background. Jobs that fit their pool's free units are marked started (as the
    node would be running them); the rest wait. Queue keys on priority views are random deadlines in [T, T + 1 s]."""
    views = {d: ClusterView(nodes, d) for d in disciplines}
    for v in views.values():
        v.on_clock(T_MS)
    models, w = list(mix), np.array(list(mix.values()), float)
    jid = 10**9
    for n in nodes:
        used = {"cpu": 0, "accel": 0}
        for _ in range(per_node):
            drawn = models[rng.choice(len(models), p=w / w.sum())]
            for m in (drawn, *models):  # the drawn model, else any the node can run
                cands = [e for e in profile.configs(m, n.device_type, n.power_modes)
                         if e.config.batch == 1 and n.capacity(e.resource) >= e.units]
                if cands:
                    break
            else:
                continue
            e = cands[int(rng.integers(len(cands)))]
            job = Job(jid, m, math.inf, n.site, T_MS)
            prio = T_MS + float(rng.random()) * 1000.0
            start = used[e.resource] + e.units <= n.capacity(e.resource)
            if start:
                used[e.resource] += e.units
            for v in views.values():
                v.on_placed(job, Placement(jid, n.name, e.config, priority=prio), e.resource, e.units, T_MS,
                            e.service_ms(1))
                if start:
                    v.on_started(jid, T_MS)
            jid += 1
    return views


class Workload:
    """Jobs of the default workload for one cluster: per-job calls, fixed-size windows and the default windows."""

    def __init__(self, spec, profile, tb, pool, rng):
        spec = replace(spec, n_jobs=pool)
        s = generate(spec, profile, tb.nodes, tb.network, rng)
        self.capacity = cluster_capacity_per_s(profile, tb.nodes, {m: spec.mix[m] for m in spec.models()},
                                               spec.queries)
        self.rate_per_ms = spec.load * self.capacity / 1000.0 if spec.rate_per_s is None else spec.rate_per_s / 1e3
        models, origins = s.models, s.origins
        self.window_ms = 10.0  # SLO-MAEL's default; windows of the default cell use this grid
        grid = np.floor(s.arrival_ms / self.window_ms)
        end = (grid + 1) * self.window_ms
        self.single, self.windowed = [], []
        for i in range(len(s)):
            m = models[s.model_idx[i]]
            args = (m, float(s.job_qos_ms[i]), origins[s.origin_idx[i]])
            kw = dict(queries=int(s.queries[i]), input_bytes=s.input_bytes[m], private=bool(s.private[i]))
            self.single.append(Job(i, *args, T_MS, **kw))
            self.windowed.append(Job(i, *args, T_MS - (end[i] - s.arrival_ms[i]), **kw))
        cut = np.flatnonzero(np.diff(grid)) + 1  # the simulator's windows: same grid cell = same window
        self.default_windows = [self.windowed[a:b] for a, b in zip([0, *cut], [*cut, len(s)])]
        if len(self.default_windows) > 1:  # the last one may be cut short by the pool's end
            self.default_windows.pop()
        # one job of every kind (the per-kind caches' key), for the warm-up pass
        self.kinds = []
        for m in models:
            for o in origins:
                for p in (False, True):
                    self.kinds.append(Job(-1 - len(self.kinds), m, s.qos_ms[m], o, T_MS, int(s.queries[0]),
                                          s.input_bytes[m], p))

    def batches(self, window: str):
        if window == "per-job":
            return [[j] for j in self.single]
        if window == "default":
            return self.default_windows
        w = int(window)
        return [self.windowed[a:a + w] for a in range(0, len(self.windowed) - w + 1, w)]

    @property
    def mean_default_jobs(self):
        return statistics.fmean(len(b) for b in self.default_windows)


# ----------------------------------------------------------------------------- measurement
def time_calls(policy, view, batches, start, max_calls, budget_ns, min_calls, hard_ns):
    """Timed calls from batches[start:] (cycling); returns (ns per call, jobs per call, next start)."""
    sched, nb = policy.schedule, len(batches)
    ns, jobs = [], []
    k = start
    gc.collect()
    t_begin = time.perf_counter_ns()
    while len(ns) < max_calls:
        b = batches[k % nb]
        k += 1
        t0 = time.perf_counter_ns()
        sched(b, view)
        t1 = time.perf_counter_ns()
        ns.append(t1 - t0)
        jobs.append(len(b))
        spent = t1 - t_begin
        if spent >= hard_ns or (spent >= budget_ns and len(ns) >= min_calls):
            break
    return ns, jobs, k


def pct(xs, q):
    return float(np.percentile(xs, q)) if len(xs) else math.nan


class Cell:
    def __init__(self, n, name, policy, window, batches, prepare_ms, warmup_ms, per_kind_us, rate_per_s):
        self.n, self.name, self.policy, self.window, self.batches = n, name, policy, window, batches
        self.rate_per_s = rate_per_s
        self.prepare_ms, self.warmup_ms, self.per_kind_us = prepare_ms, warmup_ms, per_kind_us
        self.ns, self.jobs, self.round_p50 = [], [], []
        self.cap_hits, self.status, self.est_call_us = 0, "measured", math.nan

    def row(self, load1):
        call_us = np.array(self.ns, float) / 1e3
        job_us = call_us / np.maximum(1, np.array(self.jobs))
        skipped = self.status == "skipped"
        njobs = sum(self.jobs)
        jpc = statistics.fmean(len(b) for b in self.batches) if skipped else njobs / max(1, len(self.ns))
        rp = [x for x in self.round_p50 if x > 0]
        mean_job = self.est_call_us / jpc if skipped else float(call_us.sum() / max(1, njobs))
        return {
            "nodes": self.n, "policy": self.name, "window": self.window, "status": self.status,
            "calls": len(self.ns), "jobs": njobs, "jobs_per_call": round(jpc, 3),
            "p50_call_us": self.est_call_us if skipped else pct(call_us, 50),
            "p99_call_us": math.nan if skipped else pct(call_us, 99),
            "mean_call_us": self.est_call_us if skipped else float(call_us.mean()),
            "p50_job_us": self.est_call_us / jpc if skipped else pct(job_us, 50),
            "p99_job_us": math.nan if skipped else pct(job_us, 99),
            "mean_job_us": mean_job,
            "p50_spread_pct": 100.0 * (max(rp) / min(rp) - 1) if len(rp) > 1 else math.nan,
            "cap_hits": self.cap_hits, "prepare_ms": self.prepare_ms, "warmup_ms": self.warmup_ms,
            # scheduler CPU needed to keep up with the default load: mean cost per job x arrival rate
            "rate_per_s": self.rate_per_s, "cores_needed": mean_job * self.rate_per_s / 1e6,
            "load1_after": load1,
        }


def setup_policy(name, profile, tb, wl, view, seed):
    policy = make_policy(name)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2,))))
    gc.collect()
    t0 = time.perf_counter_ns()
    policy.prepare(profile, tb.nodes, tb.network, rng)
    prepare_ms = (time.perf_counter_ns() - t0) / 1e6
    per_kind = []
    for job in wl.kinds:  # warm the per-kind caches (and numpy) outside the timed calls
        t0 = time.perf_counter_ns()
        policy.schedule([job], view)
        per_kind.append((time.perf_counter_ns() - t0) / 1e3)
    return policy, prepare_ms, sum(per_kind) / 1e3, per_kind


def measure_size(n, args, profile, base, spec, log):
    rng = np.random.default_rng(args.seed + n)
    tb = scaled_testbed(base, n)
    t0 = time.perf_counter()
    wl = Workload(spec, profile, tb, args.pool, rng)
    views = background_view(profile, tb.nodes, {m: spec.mix[m] for m in spec.models()}, args.background, rng)
    view = views["fifo"]
    log(f"\n== {n} nodes ({', '.join(f'{k}={v}' for k, v in _type_counts(tb.nodes).items())}); capacity "
        f"{wl.capacity:,.0f} jobs/s, rate {wl.rate_per_ms * 1e3:,.0f} jobs/s; default 10 ms window: "
        f"{wl.rate_per_ms * wl.window_ms:,.2f} jobs expected, {wl.mean_default_jobs:,.2f} per non-empty window; "
        f"{sum(view._outstanding)} background jobs; setup {time.perf_counter() - t0:.1f} s; "
        f"load avg {os.getloadavg()[0]:.2f}")
    cells = []
    for name in args.policies:
        policy, prep_ms, warm_ms, per_kind = setup_policy(name, profile, tb, wl, views[policy_discipline(name)],
                                                          args.seed)
        windows = args.windows if policy.window_ms > 0 else ["per-job"]
        for w in windows:
            cells.append(Cell(n, name, policy, w, wl.batches(w), prep_ms, warm_ms, per_kind, wl.rate_per_ms * 1e3))
    r = args.reps
    max_calls, min_calls = -(-args.calls // r), -(-args.min_calls // r)
    budget_ns, hard_ns = args.budget_s / r * 1e9, args.max_cell_s / r * 1e9
    for rnd in range(r):
        for c in cells:
            if c.status == "skipped":
                continue
            if rnd == 0 and c.window == "default":  # would one call blow the cell's hard limit?
                # p50 per job at the largest window measured so far (warm-up calls if none) x mean jobs/window
                done = [x for x in cells if x.policy is c.policy and x.ns]
                if done:
                    x = max(done, key=lambda x: sum(x.jobs) / len(x.jobs))
                    per_job = statistics.median(t / 1e3 / j for t, j in zip(x.ns, x.jobs))
                else:
                    per_job = statistics.median(c.per_kind_us)
                c.est_call_us = per_job * statistics.fmean(len(b) for b in c.batches)
                if c.est_call_us > args.max_cell_s * 1e6:
                    c.status = "skipped"
                    log(f"  {c.name} window={c.window}: skipped, one call estimated at {c.est_call_us / 1e6:,.1f} s "
                        f"(> --max-cell-s {args.max_cell_s:g})")
                    continue
            hits0 = getattr(c.policy, "cap_hits", 0)
            # every round replays the same batches from the start: rounds are repeats, their p50 spread is noise
            ns, jobs, _ = time_calls(c.policy, views[c.policy.queue_discipline], c.batches, 0, max_calls, budget_ns,
                                     min_calls, hard_ns)
            c.cap_hits += getattr(c.policy, "cap_hits", 0) - hits0
            c.ns += ns
            c.jobs += jobs
            c.round_p50.append(pct(np.array(ns) / 1e3, 50))
    load1 = round(os.getloadavg()[0], 2)
    rows = []
    for c in cells:
        if c.status == "measured" and len(c.ns) < args.min_calls:
            c.status = "partial"
        rows.append(c.row(load1))
    for row in rows:
        log(_fmt_row(row))
    return rows, (tb, wl, views)


def policy_discipline(name: str) -> str:
    return make_policy(name).queue_discipline


def _type_counts(nodes):
    out: dict[str, int] = {}
    for n in nodes:
        out[n.device_type] = out.get(n.device_type, 0) + 1
    return out


def _us(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.1f}" if x < 1e5 else f"{x:,.0f}"


def _fmt_row(r):
    est = "~" if r["status"] == "skipped" else ""
    return (f"  {r['policy']:<18} {r['window']:>7} {r['jobs_per_call']:>8.2f} {r['calls']:>6} "
            f"{est + _us(r['p50_call_us']):>12} {_us(r['p99_call_us']):>12} {est + _us(r['p50_job_us']):>11} "
            f"{_us(r['p99_job_us']):>11} {est + _us(r['mean_job_us']):>11} {_us(r['p50_spread_pct']):>7} "
            f"{r['cap_hits']:>5} {r['prepare_ms']:>9.1f} {r['warmup_ms']:>9.1f} {est}{r['cores_needed']:>8.3g}  {r['status']}")


HEADER = (f"  {'policy':<18} {'window':>7} {'jobs/call':>8} {'calls':>6} {'p50 µs/call':>12} {'p99 µs/call':>12} "
          f"{'p50 µs/job':>11} {'p99 µs/job':>11} {'mean µs/job':>11} {'p50±%':>7} {'caps':>5} {'prep ms':>9} "
          f"{'warm ms':>9} {'cores':>8}  status")


def summary(rows, log):
    """Compact: p50 µs per job and the cores needed at the default load, policy x N (~ = estimated)."""
    sizes = sorted({r["nodes"] for r in rows})
    keys = list(dict.fromkeys((r["policy"], r["window"]) for r in rows))
    by = {(r["policy"], r["window"], r["nodes"]): r for r in rows}
    for title, col, fmt in (("p50 µs per job", "p50_job_us", _us), ("cores needed at the default load", "cores_needed",
                                                                    lambda x: f"{x:.3g}")):
        log(f"\n{title} (~ = estimated, cell skipped):")
        log(f"  {'policy':<18} {'window':>7} " + " ".join(f"{n:>10,}" for n in sizes))
        for p, w in keys:
            cells = []
            for n in sizes:
                r = by.get((p, w, n))
                cells.append("-" if r is None else ("~" if r["status"] == "skipped" else "") + fmt(r[col]))
            log(f"  {p:<18} {w:>7} " + " ".join(f"{c:>10}" for c in cells))


def comparison(rows, log):
    """SynergAI (per job) vs SLO-MAEL at the default window (per job), per N; and the targets."""
    by = {(r["nodes"], r["policy"], r["window"]): r for r in rows}
    sizes = sorted({r["nodes"] for r in rows})
    lines = []
    for n in sizes:
        s, m = by.get((n, "synergai", "per-job")), by.get((n, "slo_mael", "default"))
        if s and m:
            tag = " (SLO-MAEL estimated, not measured)" if m["status"] == "skipped" else ""
            lines.append(f"  {n:>6} nodes: SLO-MAEL/SynergAI per job: p50 {m['p50_job_us'] / s['p50_job_us']:,.1f}x, "
                         f"mean {m['mean_job_us'] / s['mean_job_us']:,.1f}x; SLO-MAEL p50 {m['p50_call_us'] / 1e3:,.2f} ms "
                         f"per 10 ms window of {m['jobs_per_call']:.2f} jobs{tag}")
    if lines:
        log("\nSynergAI vs SLO-MAEL at the default window (target: SynergAI >= 10x cheaper):")
        for ln in lines:
            log(ln)
    for n, target in ((10, 20.0), (10_000, 1000.0)):
        s = by.get((n, "synergai", "per-job"))
        if s:
            ok = "met" if s["p50_call_us"] <= target else "MISSED"
            log(f"target SynergAI p50 <= {target:g} µs at {n} nodes: {s['p50_call_us']:,.1f} µs ({ok})")


def profile_policy(name, n, state, args, profile, log):
    """cProfile the timed loop of one policy at one N (after warm-up), top functions by own time."""
    tb, wl, views = state
    view = views[policy_discipline(name)]
    policy, *_ = setup_policy(name, profile, tb, wl, view, args.seed)
    batches = wl.batches("1" if policy.window_ms > 0 else "per-job")
    prof = cProfile.Profile()
    prof.enable()
    ns, _, _ = time_calls(policy, view, batches, 0, args.calls, args.budget_s * 1e9, args.min_calls,
                          args.max_cell_s * 1e9)
    prof.disable()
    log(f"\ncProfile: {name} at {n} nodes, {len(ns)} calls (profiled p50 {pct(np.array(ns) / 1e3, 50):,.1f} µs/call)")
    st = pstats.Stats(prof, stream=sys.stdout)
    st.sort_stats("tottime").print_stats(12)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--policies", nargs="+", default=list(POLICIES))
    ap.add_argument("--windows", nargs="+", default=list(WINDOWS),
                    help="jobs per call for windowed policies: integers and/or 'default'")
    ap.add_argument("--calls", type=int, default=3000, help="at most this many timed calls per cell")
    ap.add_argument("--min-calls", type=int, default=20, help="at least this many, unless --max-cell-s is hit")
    ap.add_argument("--budget-s", type=float, default=2.0, help="stop a cell after this long (once --min-calls)")
    ap.add_argument("--max-cell-s", type=float, default=15.0, help="hard stop per cell; skip cells estimated above")
    ap.add_argument("--reps", type=int, default=3, help="rounds over the cells of an N (calls/budget split)")
    ap.add_argument("--background", type=int, default=2, help="outstanding jobs per node in the view")
    ap.add_argument("--pool", type=int, default=20_000, help="jobs generated per N (cycled)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cluster", default="configs/cluster/default.yaml")
    ap.add_argument("--workload", default="configs/workload/default.yaml")
    ap.add_argument("--traces", default="traces")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--cprofile", metavar="POLICY", help="afterwards, cProfile POLICY at the largest N")
    a = ap.parse_args(argv)
    root = Path(PROJECT_ROOT)
    log = print
    load0 = os.getloadavg()
    t_start = time.perf_counter()
    profile = PerformanceProfile.from_dir(root / a.traces, basis="cpu")
    with open(root / a.cluster, encoding="utf-8") as fh:
        base = testbed_from_dict(yaml.safe_load(fh))
    with open(root / a.workload, encoding="utf-8") as fh:
        spec = workload_spec(yaml.safe_load(fh))
    spec.validate(profile)
    timer = [time.perf_counter_ns() - time.perf_counter_ns() for _ in range(1000)]
    log(f"decision overhead: policies {', '.join(a.policies)}; nodes {a.nodes}; profile {len(profile)} entries "
        f"(cpu basis); {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load avg before {load0}; "
        f"timer overhead ~{-statistics.median(timer) / 1e3:.2f} µs")
    log(HEADER)
    rows, state = [], None
    for n in sorted(a.nodes):
        r, state = measure_size(n, a, profile, base, spec, log)
        rows += r
    load1 = os.getloadavg()
    out = Path(a.out)
    if not out.is_absolute():
        out = root / out
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=COLUMNS)
        wr.writeheader()
        for row in rows:
            wr.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    summary(rows, log)
    comparison(rows, log)
    log(f"\nload avg before {load0}, after {load1}; {time.perf_counter() - t_start:.0f} s; wrote {out}")
    if a.cprofile and state is not None:
        profile_policy(a.cprofile, max(a.nodes), state, a, profile, log)
    return rows


if __name__ == "__main__":
    main()
