"""A lower bound on QoS violations: the clairvoyant offline optimum for small instances (issue #4).

    python -m experiments.lower_bound --jobs 12 --nodes 3 --seeds 5 --out experiments/figures/lower_bound.csv

The optimum knows every arrival and every service time in advance and may use any non-preemptive schedule:
it picks for each job a node and a configuration, orders the jobs on a node in any order (not only FIFO, not
only by priority) and may leave a node idle on purpose. Its violation count is therefore a lower bound for
every online policy run on the same jobs with the same service times: any simulated run is one of the
schedules it considers. A policy that beats it means the model is wrong, and the tests check that none does.

Model (exact, for the instances it accepts):

- a *machine* is one (node, resource pool) with capacity 1; every option a job has (node, config) holds
  ``units = 1`` of one machine. Pools of more units are not modelled (``instance_from_sim`` refuses them).
- job j arrives at a_j and must finish by a_j + qos_j. Option o of j has a transfer time t_jo and a known
  service time s_jo (clairvoyant: the time the simulator will draw; ``instance_from_sim`` needs
  ``DeterministicDist`` services, so the simulator's times equal these). On its machine j starts no earlier
  than a_j + t_jo and no earlier than the end of the job before it there; it runs s_jo without interruption.
- violated = finish - a_j > qos_j, as in ``sim.engine``. A failed (rejected) job counts as violated.

Methods:

- ``solve_milp``: a MILP solved by HiGHS (``scipy.optimize.milp``) with a time limit. Late jobs need no
  place in the model: a job that misses its deadline anyway can run after everything else on any of its
  machines without delaying anyone, so only the on-time jobs are scheduled. Variables: x_jo (j on time with
  option o), v_j = 1 - sum_o x_jo (j late), start S_j in [a_j, a_j + qos_j], and for every pair of jobs that
  can meet on a machine an order binary y_jk with big-M disjunctions active only when both sit on that
  machine. Minimise sum v_j. Valid inequalities tighten the weak big-M relaxation (``cuts=True``, on by
  default; the slowest 12-job instance tried went from 24 s to 0.5 s): on each machine, the on-time work released at or after r and due by d fits in
  d - r. When the time limit hits first, the bound is HiGHS's dual bound (rounded up: the
  objective is an integer) and the result says so (``optimal=False``).
- ``solve_exhaustive``: a cross-check for tiny instances that shares nothing with the MILP: every
  assignment of every job to an option, and per machine every order (depth-first, pruned once no better),
  each order scheduled at earliest start (which, for a fixed order, is best for every job at once).
- Every MILP solution is replayed with ``evaluate`` (exact float arithmetic, the simulator's violation
  test); its count is an upper bound, so ``lower == upper`` certifies the optimum.

Random instances (``random_case``) use integer milliseconds everywhere, so simulator and model compute
identical times and solver tolerances cannot blur a deadline.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from sim import simulate
from synergai.domain import CLOUD, EDGE, Config, Node, Site
from synergai.network import Link, Network
from synergai.policy import available_policies, make_policy
from synergai.profile import DeterministicDist, PerformanceProfile, ProfileEntry
from synergai.testbed import Testbed
from synergai.workload import JobStream

DEFAULT_POLICIES = ("synergai", "greedy", "slo_mael", "mael", "least_outstanding", "round_robin", "edge_first",
                    "k8s_default", "random")
DEFAULT_OUT = Path(__file__).resolve().parent / "figures" / "lower_bound.csv"


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Option:
    """Run the job on ``machine`` (index into ``Instance.machines``): transfer, then a known service time."""

    machine: int
    transfer_ms: float
    service_ms: float
    node: str = ""  # for matching simulator rows; not used by the solvers
    config: Config | None = None


@dataclass(frozen=True)
class LBJob:
    arrival_ms: float
    qos_ms: float
    options: tuple[Option, ...]

    @property
    def deadline_ms(self) -> float:
        return self.arrival_ms + self.qos_ms

    def late(self, finish_ms: float) -> bool:
        """The simulator's test: latency (finish - arrival) above the QoS target."""
        return finish_ms - self.arrival_ms > self.qos_ms


@dataclass(frozen=True)
class Instance:
    jobs: tuple[LBJob, ...]
    machines: tuple[str, ...]  # names, e.g. "edge0/accel"


@dataclass
class Bound:
    """What a solver proved. ``lower`` is a valid lower bound on the optimum; ``upper`` the violations of the
    schedule it found (replayed exactly), so ``lower == upper`` certifies the optimum."""

    lower: int
    upper: int | None
    optimal: bool
    status: str  # "optimal", "time_limit" or the solver's message
    solve_s: float
    assignment: list[int | None] = field(default_factory=list)  # per job: option index, None = late
    orders: list[list[int]] = field(default_factory=list)  # per machine: its on-time jobs in start order


def evaluate(instance: Instance, assignment: Sequence[int | None], orders: Sequence[Sequence[int]]) -> int:
    """Exact violations of a schedule: per machine the listed jobs in order, each at its earliest start.

    Jobs with ``assignment[j] is None`` (or not in any order) count as violated, like a failed job.
    """
    listed = set()
    late = 0
    for m, seq in enumerate(orders):
        free = -math.inf
        for j in seq:
            o = instance.jobs[j].options[assignment[j]]
            if o.machine != m:
                raise ValueError(f"job {j} is ordered on machine {m} but assigned to machine {o.machine}")
            start = max(instance.jobs[j].arrival_ms + o.transfer_ms, free)
            free = start + o.service_ms
            late += instance.jobs[j].late(free)
            listed.add(j)
    return late + sum(1 for j in range(len(instance.jobs)) if j not in listed)


# ----------------------------------------------------------------------------- MILP (HiGHS)
def solve_milp(instance: Instance, time_limit_s: float = 30.0, cuts: bool = True) -> Bound:
    jobs = instance.jobs
    n = len(jobs)
    # on-time-capable options only: an option that misses the deadline even on an idle machine never helps
    cand = [[k for k, o in enumerate(jb.options) if not jb.late(jb.arrival_ms + o.transfer_ms + o.service_ms)]
            for jb in jobs]
    col = 0
    xcol: dict[tuple[int, int], int] = {}
    for j in range(n):
        for k in cand[j]:
            xcol[j, k] = col
            col += 1
    scol = {}
    for j in range(n):
        if cand[j]:
            scol[j] = col
            col += 1
    rows: list[tuple[dict[int, float], float, float]] = []  # (coefficients, lb, ub)
    forced_late = sum(1 for j in range(n) if not cand[j])
    for j in scol:  # at most one option; S_j >= a_j + t; S_j + s <= a_j + qos_j
        a, d = jobs[j].arrival_ms, jobs[j].deadline_ms
        rows.append(({xcol[j, k]: 1.0 for k in cand[j]}, 0.0, 1.0))
        rows.append(({scol[j]: 1.0, **{xcol[j, k]: -jobs[j].options[k].transfer_ms for k in cand[j]}}, a, math.inf))
        rows.append(({scol[j]: 1.0, **{xcol[j, k]: jobs[j].options[k].service_ms for k in cand[j]}}, -math.inf, d))

    def on(j, m):
        return [k for k in cand[j] if jobs[j].options[k].machine == m]

    def earliest(j, m):
        return jobs[j].arrival_ms + min(jobs[j].options[k].transfer_ms for k in on(j, m))

    ycol = {}
    for j, k in itertools.combinations(list(scol), 2):
        shared = [m for m in range(len(instance.machines)) if on(j, m) and on(k, m)]
        # only machines where their windows [earliest start, deadline] overlap need an order
        shared = [m for m in shared if jobs[j].deadline_ms > earliest(k, m) and jobs[k].deadline_ms > earliest(j, m)]
        if not shared:
            continue
        y = ycol[j, k] = col
        col += 1
        big = max(jobs[j].deadline_ms - jobs[k].arrival_ms, jobs[k].deadline_ms - jobs[j].arrival_ms)
        for m in shared:
            # y = 1: j before k.  S_j + s_j <= S_k + M(1 - y) + M(2 - X_jm - X_km)
            r = {scol[j]: 1.0, scol[k]: -1.0, y: big}
            r.update({xcol[j, q]: jobs[j].options[q].service_ms + big for q in on(j, m)})
            r.update({xcol[k, q]: big for q in on(k, m)})
            rows.append((r, -math.inf, 3 * big))
            # y = 0: k before j.  S_k + s_k <= S_j + M y + M(2 - X_jm - X_km)
            r = {scol[k]: 1.0, scol[j]: -1.0, y: -big}
            r.update({xcol[k, q]: jobs[k].options[q].service_ms + big for q in on(k, m)})
            r.update({xcol[j, q]: big for q in on(j, m)})
            rows.append((r, -math.inf, 2 * big))

    if cuts:  # energy cuts: on-time work released in [r, d) and due by d fits in d - r on each machine
        for m in range(len(instance.machines)):
            items = [(j, k, jobs[j].arrival_ms + jobs[j].options[k].transfer_ms, jobs[j].deadline_ms,
                      jobs[j].options[k].service_ms) for j in scol for k in on(j, m)]
            for r in sorted({it[2] for it in items}):
                for d in sorted({it[3] for it in items if it[2] >= r}):
                    inside = [it for it in items if it[2] >= r and it[3] <= d]
                    if len({it[0] for it in inside}) > 1 and sum(it[4] for it in inside) > d - r:
                        rows.append(({xcol[it[0], it[1]]: it[4] for it in inside}, -math.inf, d - r))

    t0 = time.perf_counter()
    if col == 0:  # nothing can be on time
        return Bound(forced_late, forced_late, True, "optimal", 0.0, [None] * n, [[] for _ in instance.machines])
    c = np.zeros(col)
    c[list(xcol.values())] = -1.0  # minimise late jobs = n - sum x
    integrality = np.ones(col)
    lb, ub = np.zeros(col), np.ones(col)
    for j, i in scol.items():
        integrality[i] = 0
        lb[i], ub[i] = jobs[j].arrival_ms, jobs[j].deadline_ms
    ri, ci, vals = [], [], []
    for r, (coef, _, _) in enumerate(rows):
        for i, v in coef.items():
            ri.append(r)
            ci.append(i)
            vals.append(v)
    a_mat = coo_array((vals, (ri, ci)), shape=(len(rows), col)).tocsr()
    cons = LinearConstraint(a_mat, [r[1] for r in rows], [r[2] for r in rows])
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
               options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False})
    solve_s = time.perf_counter() - t0
    if res.status not in (0, 1):
        raise RuntimeError(f"HiGHS failed on the lower-bound MILP: {res.message}")
    optimal = res.status == 0
    if optimal:
        lower = n + round(res.fun)
    elif res.mip_dual_bound is not None and math.isfinite(res.mip_dual_bound):
        # dual bound on -sum x, i.e. an upper bound on on-time jobs; violations are integers: round up
        lower = max(forced_late, math.ceil(n + res.mip_dual_bound - 1e-6))
    else:  # stopped before any bound: only the jobs that cannot make it even alone
        lower = forced_late
    assignment: list[int | None] = [None] * n
    orders: list[list[int]] = [[] for _ in instance.machines]
    upper = None
    if res.x is not None:
        for (j, k), i in xcol.items():
            if res.x[i] > 0.5:
                assignment[j] = k
        for m in range(len(instance.machines)):
            seq = [j for j in range(n) if assignment[j] is not None and jobs[j].options[assignment[j]].machine == m]
            orders[m] = sorted(seq, key=lambda j: res.x[scol[j]])
        upper = evaluate(instance, assignment, orders)
        if optimal and upper != lower:
            raise RuntimeError(f"MILP optimum {lower} but its schedule replays to {upper} violations "
                               "(solver tolerance on non-integer times?)")
    return Bound(lower, upper, optimal, "optimal" if optimal else "time_limit", solve_s, assignment, orders)


# ----------------------------------------------------------------------------- exhaustive cross-check
def solve_exhaustive(instance: Instance, max_jobs: int = 8) -> Bound:
    """Fewest violations over every assignment and every per-machine order (tiny instances only)."""
    jobs = instance.jobs
    n = len(jobs)
    if n > max_jobs:
        raise ValueError(f"exhaustive search is for tiny instances ({n} jobs > max_jobs={max_jobs})")
    t0 = time.perf_counter()
    memo: dict[tuple, tuple[int, tuple[int, ...]]] = {}

    def machine_best(items: tuple[tuple[int, int], ...]) -> tuple[int, tuple[int, ...]]:
        """Fewest violations of these (job, option) pairs on one machine over all orders."""
        hit = memo.get(items)
        if hit is not None:
            return hit
        best = [len(items) + 1, ()]

        def dfs(rest, free, late, seq):
            if late >= best[0]:
                return
            if not rest:
                best[0], best[1] = late, tuple(seq)
                return
            for idx, (j, k) in enumerate(rest):
                o = jobs[j].options[k]
                finish = max(jobs[j].arrival_ms + o.transfer_ms, free) + o.service_ms
                seq.append(j)
                dfs(rest[:idx] + rest[idx + 1:], finish, late + jobs[j].late(finish), seq)
                seq.pop()

        dfs(items, -math.inf, 0, [])
        memo[items] = hit = (best[0], best[1])
        return hit

    placeable = [j for j in range(n) if jobs[j].options]
    best_total, best_plan = math.inf, None
    for choice in itertools.product(*(range(len(jobs[j].options)) for j in placeable)):
        per = [[] for _ in instance.machines]
        for j, k in zip(placeable, choice):
            per[jobs[j].options[k].machine].append((j, k))
        total, orders = n - len(placeable), []
        for items in per:
            late, seq = machine_best(tuple(items))
            total += late
            orders.append(list(seq))
            if total >= best_total:
                break
        if total < best_total:
            assignment: list[int | None] = [None] * n
            for j, k in zip(placeable, choice):
                assignment[j] = k
            best_total, best_plan = total, (assignment, orders)
    if best_plan is None:
        best_total, best_plan = n, ([None] * n, [[] for _ in instance.machines])
    return Bound(int(best_total), int(best_total), True, "optimal", time.perf_counter() - t0, *best_plan)


# ----------------------------------------------------------------------------- from simulator objects
def instance_from_sim(testbed: Testbed, profile: PerformanceProfile, stream: JobStream) -> Instance:
    """The clairvoyant instance of a simulator run.

    Options are the placements the simulator accepts (a profile entry exists, a route exists, the pool is big
    enough) that also obey the testbed's rules policies follow (private jobs stay on the edge; a node's
    power modes). Each must hold 1 unit of a 1-unit pool and have a deterministic service time.
    """
    machines: dict[tuple[int, str], int] = {}
    names: list[str] = []
    jobs = []
    for j in range(len(stream)):
        model = stream.models[stream.model_idx[j]]
        origin = stream.origins[stream.origin_idx[j]]
        private = bool(stream.private[j])
        nbytes = stream.input_bytes[model]
        opts = []
        for i, node in enumerate(testbed.nodes):
            route = testbed.network.route(origin, node.site)
            if route is None or (private and not node.is_edge):
                continue
            for e in profile.configs(model, node.device_type, node.power_modes):
                cap = node.capacity(e.resource)
                if cap < e.units:
                    continue  # the simulator fails such a placement
                if cap != 1 or e.units != 1:
                    raise ValueError(f"{node.name}/{e.resource}: the bound models 1-unit pools and 1-unit configs "
                                     f"(pool has {cap}, {e.config} holds {e.units})")
                if not isinstance(e.dist, DeterministicDist):
                    raise ValueError(f"{e.key}: the clairvoyant bound needs DeterministicDist service times, "
                                     f"got {type(e.dist).__name__}")
                key = (i, e.resource)
                if key not in machines:
                    machines[key] = len(names)
                    names.append(f"{node.name}/{e.resource}")
                svc = 0.0
                for _ in range(e.calls(stream.queries)):  # summed per call, as ServiceSampler.draw does
                    svc += e.dist.mean_ms
                opts.append(Option(machines[key], route.transfer_ms(nbytes), svc, node.name, e.config))
        jobs.append(LBJob(float(stream.arrival_ms[j]), float(stream.qos_ms[model]), tuple(opts)))
    return Instance(tuple(jobs), tuple(names))


def schedule_of_run(instance: Instance, jobs_df: pd.DataFrame) -> tuple[list[int | None], list[list[int]]]:
    """A simulated run as (assignment, per-machine order by start time) in the model's terms.

    Raises if a completed job's transfer or service time differs from its option's (the clairvoyant would
    then not know the simulator's times).
    """
    assignment: list[int | None] = [None] * len(instance.jobs)
    starts: list[list[tuple[float, int]]] = [[] for _ in instance.machines]
    cfg_cols = ["engine", "precision", "batch", "threads", "power_mode"]
    for row in jobs_df.itertuples(index=False):
        if row.status != "completed":
            continue
        j = int(row.job_id)
        cfg = Config(*(getattr(row, c) for c in cfg_cols))
        ks = [k for k, o in enumerate(instance.jobs[j].options) if o.node == row.node and o.config == cfg]
        if len(ks) != 1:
            raise ValueError(f"job {j}: ran on {row.node} with {cfg}, which is not one of its options")
        o = instance.jobs[j].options[ks[0]]
        if row.service_ms != o.service_ms or row.transfer_ms != o.transfer_ms:
            raise ValueError(f"job {j}: simulated transfer/service {row.transfer_ms}/{row.service_ms} ms, "
                             f"model has {o.transfer_ms}/{o.service_ms} ms")
        assignment[j] = ks[0]
        starts[o.machine].append((row.start_ms, j))
    return assignment, [[j for _, j in sorted(s)] for s in starts]


# ----------------------------------------------------------------------------- random small instances
@dataclass
class Case:
    testbed: Testbed
    profile: PerformanceProfile
    stream: JobStream


FAST = Config("eng", "int8", 1, 0, "default")  # the faster config of every (model, device type)
LEAN = Config("eng", "fp16", 1, 0, "default")  # slower, less energy per job: SynergAI's choice when it fits


def random_case(seed: int, n_jobs: int = 12, n_nodes: int = 3, n_models: int = 2, load: float = 1.3,
                qos_range: tuple[float, float] = (1.5, 3.0)) -> Case:
    """A small random instance with integer-ms times drawn from ``default_rng(seed)``.

    Testbed: ``n_nodes - 1`` edge boards (one accelerator slot each) at site ``edge`` (LAN 1 ms) and one
    cloud VM (one core) at site ``cloud``, 8 ms further; every job comes from ``edge``. Each node has its own
    device type with a random speed factor, the VM the fastest. Every (model, device type) has two configs,
    ``FAST`` and ``LEAN`` (~1.5x slower, 40 % less power). Arrivals: Poisson at ``load`` x the cluster's rate
    with the fast configs, gaps rounded to whole ms. QoS per model: a random multiple in ``qos_range`` of the
    best isolated latency (transfer + fast service), rounded to whole ms.
    """
    if n_nodes < 1 or n_jobs < 1 or n_models < 1:
        raise ValueError("need at least one node, job and model")
    rng = np.random.default_rng(seed)
    sites = [Site("edge", EDGE, 1.0), Site("cloud", CLOUD, 0.0)]
    nodes = []
    speed = {}
    for i in range(n_nodes):
        if i == n_nodes - 1 and n_nodes > 1:
            dt = f"vm{i}"
            nodes.append(Node(f"vm{i}", dt, CLOUD, "amd64", "cloud", cpu_cores=1, accel_slots=0))
            speed[dt] = 0.5
        else:
            dt = f"dev{i}"
            nodes.append(Node(f"edge{i}", dt, EDGE, "arm64", "edge", cpu_cores=0, accel_slots=1))
            speed[dt] = float(rng.choice([0.75, 1.0, 1.5, 2.0]))
    testbed = Testbed("lower-bound", nodes, Network(sites, [Link("edge", "cloud", 8.0, 1000.0)]))
    models = [f"m{k}" for k in range(n_models)]
    base = {m: int(rng.integers(20, 61)) for m in models}
    entries = []
    for nd in nodes:
        res = "cpu" if nd.cpu_cores else "accel"
        for m in models:
            fast = max(1, round(base[m] * speed[nd.device_type]))
            lean = max(fast + 1, round(1.5 * fast))
            for cfg, svc, watts in ((FAST, fast, 10.0), (LEAN, lean, 6.0)):
                entries.append(ProfileEntry(nd.device_type, m, cfg, res, 1, DeterministicDist(float(svc)),
                                            power_w=watts, source_kind="derived", source="lower_bound"))
    profile = PerformanceProfile(entries)
    transfer = {nd.name: testbed.network.transfer_ms("edge", nd.site, 0) for nd in nodes}
    fast_ms = {(nd.name, m): profile.entry(m, nd.device_type, FAST).mean_ms for nd in nodes for m in models}
    rate_per_ms = sum(1.0 / np.mean([fast_ms[nd.name, m] for m in models]) for nd in nodes) * load
    gaps = np.round(rng.exponential(1.0 / rate_per_ms, n_jobs))
    arrival = np.cumsum(gaps).astype(float)
    model_idx = rng.integers(0, n_models, n_jobs)
    qos = {m: float(round(rng.uniform(*qos_range) * min(transfer[nd.name] + fast_ms[nd.name, m] for nd in nodes)))
           for m in models}
    stream = JobStream(arrival, model_idx, np.zeros(n_jobs, dtype=np.int64), np.zeros(n_jobs, dtype=bool), models,
                       ["edge"], qos, dict.fromkeys(models, 0), 1)
    return Case(testbed, profile, stream)


# ----------------------------------------------------------------------------- policies vs the bound
def run_policy(policy_name: str, case: Case, seed: int = 0) -> pd.DataFrame:
    return simulate(case.testbed, case.profile, make_policy(policy_name), case.stream, seed=seed).jobs


def distance_to_optimum(policy_name: str, case: Case, seed: int = 0, bound: Bound | None = None,
                        time_limit_s: float = 30.0) -> dict:
    """Violations of ``policy_name`` on ``case`` and its distance to the clairvoyant bound.

    ``gap`` = violations - bound.lower; when the MILP hit its time limit the bound is its dual bound
    (``optimal`` False) and the gap is an upper estimate of the true distance.
    """
    instance = instance_from_sim(case.testbed, case.profile, case.stream)
    if bound is None:
        bound = solve_milp(instance, time_limit_s)
    jobs = run_policy(policy_name, case, seed)
    schedule_of_run(instance, jobs)  # raises if the simulator's times differ from the model's
    v = int(jobs["violated"].sum())
    if v < bound.lower:
        raise AssertionError(f"{policy_name} has {v} violations, below the clairvoyant bound {bound.lower}: "
                             "the lower-bound model is wrong")
    return {"policy": policy_name, "violations": v, "lower_bound": bound.lower, "gap": v - bound.lower,
            "optimal": bound.optimal, "status": bound.status, "solve_s": bound.solve_s}


def compare(seeds: Sequence[int], policies: Sequence[str], n_jobs: int, n_nodes: int, n_models: int = 2,
            load: float = 1.3, time_limit_s: float = 30.0, log=None) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        case = random_case(seed, n_jobs, n_nodes, n_models, load)
        instance = instance_from_sim(case.testbed, case.profile, case.stream)
        bound = solve_milp(instance, time_limit_s)
        for p in policies:
            r = distance_to_optimum(p, case, seed, bound)
            rows.append({"seed": seed, "jobs": n_jobs, "nodes": n_nodes, "models": n_models, "load": load,
                         "upper": bound.upper, **r})
        if log is not None:
            log(seed, bound, rows[-len(policies):])
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.lower_bound", description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=5, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--load", type=float, default=1.3, help="arrival rate / cluster rate with fast configs")
    ap.add_argument("--policies", default=",".join(DEFAULT_POLICIES), help="comma-separated, or 'all'")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per MILP")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    policies = available_policies() if args.policies == "all" else [p for p in args.policies.split(",") if p]
    for p in policies:
        make_policy(p)  # unknown names fail before any solving
    print(f"{args.jobs} jobs, {args.nodes} nodes, {args.models} models, load {args.load}: QoS violations per "
          "seed; gap = violations - clairvoyant optimum")

    def log(seed, bound, rows):
        tag = "optimal" if bound.optimal else f"TIME LIMIT, dual bound; best schedule found {bound.upper}"
        print(f"seed {seed}: optimum {bound.lower} ({tag}, {bound.solve_s:.2f} s) | "
              + "  ".join(f"{r['policy']} {r['violations']} (+{r['gap']})" for r in rows), flush=True)

    df = compare(range(args.first_seed, args.first_seed + args.seeds), policies, args.jobs, args.nodes,
                 args.models, args.load, args.time_limit, log)
    per_seed = df.drop_duplicates("seed").set_index("seed")
    table = df.pivot(index="seed", columns="policy", values="violations")[list(policies)]
    table.insert(0, "optimum", per_seed["lower_bound"])
    table.insert(1, "solve_s", per_seed["solve_s"].round(2))
    table.loc["total"] = table.sum().round(2)
    print("\nviolations per seed (optimum = clairvoyant lower bound):")
    print(table.to_string())
    gaps = df.groupby("policy", sort=False)["gap"].agg(["sum", "mean", "max"])
    gaps["seeds_at_optimum"] = df.assign(z=df["gap"] == 0).groupby("policy", sort=False)["z"].sum()
    print("\ngap to the optimum:")
    print(gaps.loc[list(policies)].to_string())
    hit = int((~per_seed["optimal"]).sum())
    print(f"\nMILP: {per_seed['solve_s'].mean():.2f} s mean, {per_seed['solve_s'].max():.2f} s max; "
          + (f"{hit} seed(s) hit the time limit: their optimum is HiGHS's dual bound" if hit
             else "every instance solved to optimality"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
