"""A lower bound on QoS violations: the clairvoyant offline optimum of small instances (issues #4, #10).

    python -m experiments.lower_bound                      # every configs/cluster/*.yaml, 20- and 40-job slices
    python -m experiments.lower_bound --clusters default,my/cluster.yaml --jobs 40 --slices 3 -s 'workload.load=0.8'
    python -m experiments.lower_bound --random --jobs 12 --nodes 3 --seeds 5   # random 1-slot instances (#4)

**What the optimum knows.** Every arrival, and the service time every (node, config) would give every job.
Service times are deterministic, as in #4: an instance is built from a profile whose entries all have a
``DeterministicDist``; on a cluster config every entry's distribution is replaced by its mean per call
(``deterministic_profile``), and the policies it is compared with run in the simulator on that same profile,
so the simulator draws exactly the times the optimum knows. It may use any non-preemptive schedule: for each
job a node and any config that node's capacity admits (all power modes the node allows; private jobs on the
edge; a config holding u units of a c-unit pool), any order on a pool, idle time on purpose. Every simulated
run is one of those schedules, so no online policy can have fewer violations; the tests and the report check
that none does.

Model: a *machine* is one (node, resource pool) of capacity c; option o of job j holds u_jo units of one
machine, is released at r_jo = a_j + transfer_jo (arrival plus transfer; a windowed policy decides later,
which only delays it) and runs s_jo without interruption. At every instant the units in use on a machine are
at most c. On time = finish - a_j <= qos_j, as in ``sim.engine``; a failed job counts as violated. Late jobs
need no place in the violation model: in a relaxation they can wait for everything else.

Solvers:

- ``solve_cpsat`` (default): OR-Tools CP-SAT. One optional interval per (job, node, config) that can be on time,
  in [r_jo, a_j + qos_j]; at most one present per job; ``NoOverlap`` on 1-unit pools, ``AddCumulative`` on
  the others; maximise the jobs present. Options dominated on the same machine (no earlier release, no shorter
  service, no fewer units) are dropped. Integer time on a grid of 0.01 ms (``RES_PER_MS``): releases and
  service times rounded down, deadlines up. This is a relaxation: map any real schedule to start' =
  floor(start), then start' >= floor(release), start' + floor(s) <= floor(start + s) <= ceil(deadline), a job
  that ends before another starts still does, and jobs running together at an integer instant t on the grid
  all run together just before t + 1 in the real schedule, so the capacity holds. Values within 1e-6 grid
  units of a grid point count as on it (decimal inputs in binary floats): exact up to 1e-8 ms. So the grid
  optimum (or, at the time limit, CP-SAT's best objective bound) is a valid lower bound. The solver's
  schedule is replayed in exact float time (``replay``): its violations are an upper bound; ``lower ==
  upper`` certifies the optimum of the real instance (``optimal``); else both are reported. When the replay
  is worse than the bound, the remaining time goes to the same model rounded the other way (every schedule of
  it is real) to tighten the upper bound. Search: core-based (MaxSAT-style) next to the default LP search
  (``_solver``). ``solve_excess_cpsat`` is a second solve: every job that can run is scheduled, minimise the
  summed excess max(0, finish - a - qos) (a lower bound on a policy's total excess when all its jobs
  complete); its schedule, replayed, is also an upper bound on the violations (``bound_case`` uses it).
  Both solves are seeded with the best simulated run (``hint_of_run``). With 2+ workers CP-SAT is not
  deterministic where it stops at the time limit; a proven optimum is the same on every run.
- ``solve_milp``: the MILP of #4 solved by HiGHS (``scipy.optimize.milp``), 1-unit pools only: x_jo (on time
  with option o), start S_j, order binaries with big-M disjunctions, energy cuts (``cuts=True``). At the time
  limit the bound is HiGHS's dual bound. Kept as an independent cross-check.
- ``solve_exhaustive``: tiny instances, shares nothing with the solvers: every assignment, and per machine every
  order, each order scheduled by a serial schedule generation (each job at the earliest time >= the previous
  start where its units are free; for the number of late jobs, a regular objective, some order reproduces an
  optimal schedule).

The model has no cross-job batching (one interval per job): policies run here with ``batching=False`` where
they have it, so the bound holds for every compared run; what batching buys is measured elsewhere
(``experiments.late_binding``). Random instances (``random_case``) use integer milliseconds everywhere. Config slices (``config_cases``): the
config's workload stream for a seed, cut into consecutive slices of n jobs, each run from an empty cluster.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from sim import simulate
from synergai.domain import CLOUD, EDGE, Config, Node, Site
from synergai.errors import ConfigError, SynergAIError
from synergai.network import Link, Network
from synergai.policy import available_policies, make_policy
from synergai.profile import DeterministicDist, PerformanceProfile, ProfileEntry
from synergai.testbed import Testbed
from synergai.workload import JobStream

DEFAULT_POLICIES = ("synergai", "greedy", "slo_mael", "edf", "infaas", "clockwork")
DEFAULT_SETTINGS = ((), ("workload.load=0.8", "workload.qos_multiplier=2"))  # as configured; under pressure
RANDOM_POLICIES = ("synergai", "greedy", "slo_mael", "mael", "least_outstanding", "round_robin", "edge_first",
                   "k8s_default", "random")
DEFAULT_OUT = Path(__file__).resolve().parent / "figures" / "lower_bound.csv"
CLUSTER_DIR = Path(__file__).resolve().parent.parent / "configs" / "cluster"
RES_PER_MS = 100  # CP-SAT time grid: 0.01 ms
_SNAP = 1e-6  # grid units: a value this close to a grid point is on it


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Option:
    """Run the job on ``machine`` (index into ``Instance.machines``) holding ``units`` of it: transfer, then a
    known service time."""

    machine: int
    transfer_ms: float
    service_ms: float
    node: str = ""  # for matching simulator rows; not used by the solvers
    config: Config | None = None
    units: int = 1


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

    def excess(self, finish_ms: float) -> float:
        return max(0.0, finish_ms - self.arrival_ms - self.qos_ms)


@dataclass(frozen=True)
class Instance:
    jobs: tuple[LBJob, ...]
    machines: tuple[str, ...]  # names, e.g. "edge0/accel"
    capacity: tuple[int, ...] = ()  # units per machine; empty: every machine has 1

    def cap(self, m: int) -> int:
        return self.capacity[m] if self.capacity else 1

    @property
    def unit_pools(self) -> bool:
        """Every machine has one unit and every option holds it (the MILP's and #4's model)."""
        return all(self.cap(m) == 1 for m in range(len(self.machines))) and all(
            o.units == 1 for jb in self.jobs for o in jb.options)


@dataclass
class Bound:
    """What a solver proved. ``lower`` is a valid lower bound on the optimum; ``upper`` the violations of the
    schedule it found (replayed exactly), so ``lower == upper`` certifies the optimum."""

    lower: int
    upper: int | None
    optimal: bool
    status: str  # "optimal", "grid_optimal" (CP-SAT optimal on its grid, replay above it), "time_limit"
    solve_s: float
    assignment: list[int | None] = field(default_factory=list)  # per job: option index, None = late
    orders: list[list[int]] = field(default_factory=list)  # per machine: its on-time jobs in start order


@dataclass
class ExcessBound:
    """The fewest total excess ms (``lower``, valid) and the excess of the schedule found (``upper``)."""

    lower_ms: float
    upper_ms: float | None
    grid_optimal: bool  # CP-SAT proved its grid optimum: ``lower_ms`` is the best bound of this model
    status: str
    solve_s: float
    jobs: int  # jobs counted (every job that has an option)
    assignment: list[int | None] = field(default_factory=list)  # the solver's schedule (replayed), if any
    orders: list[list[int]] = field(default_factory=list)


def _place(running: list[tuple[float, int]], prev: float, release: float, units: int, cap: int) -> float:
    """Serial schedule generation on one machine: the earliest t >= max(release, prev) where ``units`` are
    free, given the jobs in ``running`` ((end, units), all started at or before ``prev``). Usage only falls
    after ``prev``, so the first candidate that fits is feasible for the whole run."""
    t = max(release, prev)
    for c in [t] + sorted(e for e, _ in running if e > t):
        if sum(u for e, u in running if e > c) + units <= cap:
            return c
    raise ValueError(f"a job needs {units} units of a {cap}-unit machine")


def replay(instance: Instance, assignment: Sequence[int | None], orders: Sequence[Sequence[int]]) -> list[float]:
    """Finish time of every job (nan: not scheduled) when each machine runs its listed jobs in that order of
    start, each at its earliest feasible start (``_place``)."""
    finish = [math.nan] * len(instance.jobs)
    for m, seq in enumerate(orders):
        running: list[tuple[float, int]] = []
        prev = -math.inf
        for j in seq:
            jb = instance.jobs[j]
            o = jb.options[assignment[j]]
            if o.machine != m:
                raise ValueError(f"job {j} is ordered on machine {m} but assigned to machine {o.machine}")
            prev = _place(running, prev, jb.arrival_ms + o.transfer_ms, o.units, instance.cap(m))
            running = [r for r in running if r[0] > prev] + [(prev + o.service_ms, o.units)]
            finish[j] = prev + o.service_ms
    return finish


def evaluate(instance: Instance, assignment: Sequence[int | None], orders: Sequence[Sequence[int]]) -> int:
    """Exact violations of a schedule (``replay``); jobs in no order count as violated, like a failed job."""
    fin = replay(instance, assignment, orders)
    return sum(1 for j, f in enumerate(fin) if math.isnan(f) or instance.jobs[j].late(f))


# ----------------------------------------------------------------------------- MILP (HiGHS)
def solve_milp(instance: Instance, time_limit_s: float = 30.0, cuts: bool = True) -> Bound:
    """The MILP of #4 (1-unit pools only; see the module docstring)."""
    if not instance.unit_pools:
        raise ValueError("the MILP models 1-unit pools and 1-unit configs only; use solve_cpsat")
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


# ----------------------------------------------------------------------------- CP-SAT (OR-Tools)
def _down(x_ms: float) -> int:
    """``x_ms`` on the grid, rounded down (a value within ``_SNAP`` of a grid point is that point)."""
    v = x_ms * RES_PER_MS
    k = round(v)
    return int(k) if abs(v - k) <= _SNAP else math.floor(v)


def _up(x_ms: float) -> int:
    v = x_ms * RES_PER_MS
    k = round(v)
    return int(k) if abs(v - k) <= _SNAP else math.ceil(v)


@dataclass(frozen=True)
class _GridOption:
    k: int  # index into the job's options
    machine: int
    release: int
    duration: int
    units: int


def _grid_options(instance: Instance, j: int, on_time_only: bool,
                  inner: bool = False) -> tuple[list[_GridOption], dict[int, int]]:
    """Job j's options on the grid without dominated ones, and a map option -> the kept option that dominates
    it (same machine, release, duration and units all no larger: any schedule using it stays feasible).
    ``inner``: round the other way (releases and durations up, deadlines down): every schedule of that model
    is a real one, which is how an upper bound is tightened when the relaxation's schedule replays worse."""
    jb = instance.jobs[j]
    lo, hi = (_up, _down) if inner else (_down, _up)
    deadline = hi(jb.deadline_ms)
    opts = []
    for k, o in enumerate(jb.options):
        if o.units > instance.cap(o.machine):
            continue
        g = _GridOption(k, o.machine, lo(jb.arrival_ms + o.transfer_ms), max(0, lo(o.service_ms)), o.units)
        if on_time_only and g.release + g.duration > deadline:
            continue
        opts.append(g)
    key = {g.k: (g.release, g.duration, g.units) for g in opts}
    kept, dom = [], {}
    for g in sorted(opts, key=lambda g: (g.machine, g.release + g.duration, g.duration, g.units, g.k)):
        for h in kept:
            if h.machine == g.machine and all(a <= b for a, b in zip(key[h.k], key[g.k])):
                dom[g.k] = h.k
                break
        else:
            kept.append(g)
            dom[g.k] = g.k
    return kept, dom


def _solver(time_limit_s: float, workers: int, core: bool = True):
    """A CP-SAT solver. ``core``: core-based (MaxSAT-style) search in the portfolio. It proves "at least k
    late" fast when k is small (a 40-job default-cluster slice: optimal in 0.1 s, where the default
    2-worker portfolio had no bound above 0 after 30 s) but can stall elsewhere (a 20-job random instance:
    not proven in 30 s alone); with 2+ workers it runs next to the default LP search (both of those proven
    in under 10 s). One worker: core search alone, deterministic."""
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    p = s.parameters
    p.max_time_in_seconds = float(max(time_limit_s, 0.0))
    p.num_workers = int(workers)
    p.random_seed = 0
    if core and workers == 1:
        p.optimize_with_core = True
    elif core:
        for name in ("core", "default_lp", "max_lp", "quick_restart", "no_lp", "reduced_costs")[:workers]:
            p.subsolvers.append(name)
    return s


def _add_pool_constraints(model, instance, per_machine) -> None:
    """Each pool runs at most its capacity at once: NoOverlap for one-unit pools, Cumulative for the others."""
    for m, items in per_machine.items():
        cap = instance.cap(m)
        if cap == 1:
            model.add_no_overlap([iv for iv, _ in items])
        else:
            model.add_cumulative([iv for iv, _ in items], [u for _, u in items], cap)


def _violation_model(instance: Instance, inner: bool = False):
    """The CP-SAT model of the violation count: (model, per job [(grid option, presence, start)], dominators)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    per_machine: dict[int, list[tuple[object, int]]] = {}
    chosen: list[list[tuple[_GridOption, object, object]]] = []
    doms = []
    for j, jb in enumerate(instance.jobs):
        kept, dom = _grid_options(instance, j, on_time_only=True, inner=inner)
        doms.append(dom)
        deadline = (_down if inner else _up)(jb.deadline_ms)
        row = []
        for g in kept:
            x = model.new_bool_var(f"x{j}_{g.k}")
            s = model.new_int_var(g.release, deadline - g.duration, f"s{j}_{g.k}")
            iv = model.new_optional_fixed_size_interval_var(s, g.duration, x, f"i{j}_{g.k}")
            per_machine.setdefault(g.machine, []).append((iv, g.units))
            row.append((g, x, s))
        if len(row) > 1:
            model.add_at_most_one(x for _, x, _ in row)
        chosen.append(row)
    _add_pool_constraints(model, instance, per_machine)
    model.maximize(sum(x for row in chosen for _, x, _ in row))
    return model, chosen, doms


def _schedule(instance: Instance, solver, chosen) -> tuple[list[int | None], list[list[int]]]:
    """The solver's schedule as (option per job, per-machine order by grid start)."""
    assignment: list[int | None] = [None] * len(instance.jobs)
    starts: list[list[tuple[int, int]]] = [[] for _ in instance.machines]
    for j, row in enumerate(chosen):
        for g, x, s in row:
            if solver.value(x):
                assignment[j] = g.k
                starts[g.machine].append((solver.value(s), j))
    return assignment, [[j for _, j in sorted(s)] for s in starts]


def solve_cpsat(instance: Instance, time_limit_s: float = 30.0, workers: int = 2,
                hint: tuple[Sequence[int | None], Sequence[float]] | None = None, fix_hint: bool = False,
                core: bool = True) -> Bound:
    """Fewest violations by CP-SAT (see the module docstring). ``hint``: (option per job or None, start ms per
    job) of a known schedule, e.g. a simulated run (``hint_of_run``); its on-time jobs seed the search.
    ``fix_hint``: solve with the hint fixed (checks that a real schedule is feasible on the grid: the
    relaxation argument, tested). ``core``: core-based search in the portfolio (``_solver``).

    When the relaxation's schedule replays with more violations than its bound, the rest of the time goes to
    the inner model (``_grid_options``), whose schedules are all real: its replay tightens ``upper``."""
    from ortools.sat.python import cp_model

    n = len(instance.jobs)
    model, chosen, doms = _violation_model(instance)
    if hint is not None:
        _add_hint(model, instance, chosen, doms, hint, on_time_only=True)
    can = sum(1 for row in chosen if row)
    solver = _solver(time_limit_s, workers, core)
    solver.parameters.fix_variables_to_their_hinted_value = bool(fix_hint and hint is not None)
    t0 = time.perf_counter()
    st = solver.solve(model)
    solve_s = time.perf_counter() - t0
    if st in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
        raise RuntimeError(f"CP-SAT: {solver.status_name(st)}" + (" (the fixed hint is infeasible on the grid)"
                                                                  if fix_hint else ""))
    if st == cp_model.OPTIMAL:
        best_on_time = round(solver.objective_value)
    elif st == cp_model.FEASIBLE and math.isfinite(solver.best_objective_bound):  # (UNKNOWN: no bound yet)
        best_on_time = min(can, math.floor(solver.best_objective_bound + 1e-6))
    else:
        best_on_time = can
    lower = n - best_on_time
    assignment: list[int | None] = [None] * n
    orders: list[list[int]] = [[] for _ in instance.machines]
    upper = None
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assignment, orders = _schedule(instance, solver, chosen)
        upper = evaluate(instance, assignment, orders)
        if upper < lower:  # the grid model is a relaxation: a real schedule can never beat its bound
            raise RuntimeError(f"CP-SAT bound {lower} above a replayed schedule with {upper} violations")
        left = time_limit_s - solve_s
        if upper > lower and not fix_hint and left > 0:
            inner, ichosen, idoms = _violation_model(instance, inner=True)
            fin = replay(instance, assignment, orders)
            starts = [f - instance.jobs[j].options[assignment[j]].service_ms if assignment[j] is not None
                      else math.nan for j, f in enumerate(fin)]
            _add_hint(inner, instance, ichosen, idoms, (assignment, starts), on_time_only=True)
            isolver = _solver(left, workers, core)
            t0 = time.perf_counter()
            ist = isolver.solve(inner)
            solve_s += time.perf_counter() - t0
            if ist in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                a2, o2 = _schedule(instance, isolver, ichosen)
                u2 = evaluate(instance, a2, o2)
                if u2 < upper:
                    assignment, orders, upper = a2, o2, u2
    if upper is not None and upper == lower:
        status = "optimal"
    elif st == cp_model.OPTIMAL:
        status = "grid_optimal"
    else:
        status = "time_limit"
    return Bound(lower, upper, status == "optimal", status, solve_s, assignment, orders)


def solve_excess_cpsat(instance: Instance, time_limit_s: float = 30.0, workers: int = 2,
                       hint: tuple[Sequence[int | None], Sequence[float]] | None = None,
                       core: bool = True) -> ExcessBound:
    """Fewest total excess ms, every job that has an option scheduled (a second solve, see the docstring).

    Much harder than the violation count (summed tardiness): on 40-job slices CP-SAT rarely proves it in
    seconds, so expect a bound. ``upper_ms``: the best real schedule seen (the hint's or a replayed one)."""
    from ortools.sat.python import cp_model

    jobs = instance.jobs
    model = cp_model.CpModel()
    opts, doms = [], []
    for j in range(len(jobs)):
        kept, dom = _grid_options(instance, j, on_time_only=False)
        opts.append(kept)
        doms.append(dom)
    live = [j for j in range(len(jobs)) if opts[j]]
    horizon = max((g.release for j in live for g in opts[j]), default=0) + sum(
        max(g.duration for g in opts[j]) for j in live)
    if hint is not None:  # room for the hinted schedule even where it idles (windowed policies)
        horizon = max([horizon] + [_up(st + jobs[j].options[k].service_ms) for j, (k, st) in
                                   enumerate(zip(*hint)) if k is not None and not math.isnan(st)])
    per_machine: dict[int, list[tuple[object, int]]] = {}
    chosen: list[list[tuple[_GridOption, object, object]]] = [[] for _ in jobs]
    tard = []
    for j in live:
        deadline = _up(jobs[j].deadline_ms)
        end = model.new_int_var(0, horizon, f"e{j}")
        for g in opts[j]:
            x = model.new_bool_var(f"x{j}_{g.k}")
            s = model.new_int_var(g.release, max(g.release, horizon - g.duration), f"s{j}_{g.k}")
            iv = model.new_optional_fixed_size_interval_var(s, g.duration, x, f"i{j}_{g.k}")
            model.add(end == s + g.duration).only_enforce_if(x)
            per_machine.setdefault(g.machine, []).append((iv, g.units))
            chosen[j].append((g, x, s))
        model.add_exactly_one(x for _, x, _ in chosen[j])
        t = model.new_int_var(0, max(0, horizon - deadline), f"t{j}")
        model.add(t >= end - deadline)
        tard.append(t)
    _add_pool_constraints(model, instance, per_machine)
    model.minimize(sum(tard))
    if hint is not None:
        _add_hint(model, instance, chosen, doms, hint, on_time_only=False)
    if not live:
        return ExcessBound(0.0, 0.0, True, "grid_optimal", 0.0, 0)
    upper = None
    if hint is not None and all(hint[0][j] is not None for j in live):  # the hinted schedule is a real one
        upper = sum(jobs[j].excess(hint[1][j] + jobs[j].options[hint[0][j]].service_ms) for j in live)
    solver = _solver(time_limit_s, workers, core)
    t0 = time.perf_counter()
    st = solver.solve(model)
    solve_s = time.perf_counter() - t0
    ok = st == cp_model.OPTIMAL
    if ok:
        lower_units = round(solver.objective_value)
    elif st == cp_model.FEASIBLE and math.isfinite(solver.best_objective_bound):
        lower_units = max(0, math.ceil(solver.best_objective_bound - 1e-6))
    else:
        lower_units = 0
    assignment: list[int | None] = []
    orders: list[list[int]] = []
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assignment, orders = _schedule(instance, solver, chosen)
        fin = replay(instance, assignment, orders)
        found = sum(jobs[j].excess(fin[j]) for j in live)
        upper = found if upper is None else min(upper, found)
    lower_ms = lower_units / RES_PER_MS
    if upper is not None and upper < lower_ms - 1e-9:
        raise RuntimeError(f"CP-SAT excess bound {lower_ms} ms above a real schedule with {upper} ms")
    return ExcessBound(lower_ms, upper, ok, "grid_optimal" if ok else "time_limit", solve_s, len(live),
                       assignment, orders)


def _add_hint(model, instance, chosen, doms, hint, on_time_only: bool) -> None:
    """Seed the search with a known schedule, each option mapped to the kept option that dominates it."""
    assignment, start_ms = hint
    for j, row in enumerate(chosen):
        k = assignment[j] if j < len(assignment) else None
        st = start_ms[j] if j < len(start_ms) else math.nan
        jb = instance.jobs[j]
        use = None
        if k is not None and not math.isnan(st):
            fin = st + jb.options[k].service_ms
            if not (on_time_only and jb.late(fin)):
                use = doms[j].get(k)
        for g, x, s in row:
            model.add_hint(x, int(g.k == use))
            if g.k == use:
                dom = list(s.proto.domain)  # (the proto's repeated field has no negative indexing)
                lo, hi = dom[0], dom[-1]
                model.add_hint(s, min(max(_down(st), lo), hi))


# ----------------------------------------------------------------------------- exhaustive cross-check
def solve_exhaustive(instance: Instance, max_jobs: int = 8) -> Bound:
    """Fewest violations over every assignment and every per-machine order (tiny instances only)."""
    jobs = instance.jobs
    n = len(jobs)
    if n > max_jobs:
        raise ValueError(f"exhaustive search is for tiny instances ({n} jobs > max_jobs={max_jobs})")
    t0 = time.perf_counter()
    memo: dict[tuple, tuple[int, tuple[int, ...]]] = {}

    def machine_best(m: int, items: tuple[tuple[int, int], ...]) -> tuple[int, tuple[int, ...]]:
        """Fewest violations of these (job, option) pairs on machine m over all orders."""
        hit = memo.get((m, items))
        if hit is not None:
            return hit
        best = [len(items) + 1, ()]
        cap = instance.cap(m)

        def dfs(rest, running, prev, late, seq):
            if late >= best[0]:
                return
            if not rest:
                best[0], best[1] = late, tuple(seq)
                return
            for idx, (j, k) in enumerate(rest):
                o = jobs[j].options[k]
                start = _place(running, prev, jobs[j].arrival_ms + o.transfer_ms, o.units, cap)
                finish = start + o.service_ms
                seq.append(j)
                dfs(rest[:idx] + rest[idx + 1:], [r for r in running if r[0] > start] + [(finish, o.units)],
                    start, late + jobs[j].late(finish), seq)
                seq.pop()

        dfs(items, [], -math.inf, 0, [])
        memo[m, items] = hit = (best[0], best[1])
        return hit

    placeable = [j for j in range(n) if any(o.units <= instance.cap(o.machine) for o in jobs[j].options)]
    choices = [[k for k, o in enumerate(jobs[j].options) if o.units <= instance.cap(o.machine)] for j in placeable]
    best_total, best_plan = math.inf, None
    for choice in itertools.product(*choices):
        per = [[] for _ in instance.machines]
        for j, k in zip(placeable, choice):
            per[jobs[j].options[k].machine].append((j, k))
        total, orders = n - len(placeable), []
        for m, items in enumerate(per):
            late, seq = machine_best(m, tuple(items))
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
def deterministic_profile(profile: PerformanceProfile) -> PerformanceProfile:
    """``profile`` with every entry's service time fixed at its mean per call (the clairvoyant's times)."""
    def fixed(e: ProfileEntry) -> ProfileEntry:
        if isinstance(e.dist, DeterministicDist):
            return e
        note = f"{e.notes} [lower bound: mean of {type(e.dist).__name__}]".strip()
        return replace(e, dist=DeterministicDist(e.mean_ms), notes=note)

    return PerformanceProfile(fixed(e) for e in profile.entries)


def instance_from_sim(testbed: Testbed, profile: PerformanceProfile, stream: JobStream) -> Instance:
    """The clairvoyant instance of a simulator run.

    Options are the placements the simulator accepts (a profile entry exists, a route exists, the pool is big
    enough) that also obey the testbed's rules policies follow (private jobs stay on the edge; a node's
    power modes). Service times must be deterministic (``deterministic_profile``).
    """
    machines: dict[tuple[int, str], int] = {}
    names: list[str] = []
    caps: list[int] = []
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
                if not isinstance(e.dist, DeterministicDist):
                    raise ValueError(f"{e.key}: the clairvoyant bound needs DeterministicDist service times, "
                                     f"got {type(e.dist).__name__} (see deterministic_profile)")
                key = (i, e.resource)
                if key not in machines:
                    machines[key] = len(names)
                    names.append(f"{node.name}/{e.resource}")
                    caps.append(cap)
                svc = e.service_ms(int(stream.queries[j]))  # summed per call, as ServiceSampler.draw_for does
                opts.append(Option(machines[key], route.transfer_ms(nbytes), svc, node.name, e.config, e.units))
        jobs.append(LBJob(float(stream.arrival_ms[j]), float(stream.job_qos_ms[j]), tuple(opts)))
    return Instance(tuple(jobs), tuple(names), tuple(caps))


def _run_rows(instance: Instance, jobs_df: pd.DataFrame):
    """(job, option index, start ms) of every completed job of a simulated run, checked against the model."""
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
        yield j, ks[0], float(row.start_ms)


def schedule_of_run(instance: Instance, jobs_df: pd.DataFrame) -> tuple[list[int | None], list[list[int]]]:
    """A simulated run as (assignment, per-machine order by start time) in the model's terms.

    Raises if a completed job's transfer or service time differs from its option's (the clairvoyant would
    then not know the simulator's times).
    """
    assignment: list[int | None] = [None] * len(instance.jobs)
    starts: list[list[tuple[float, int]]] = [[] for _ in instance.machines]
    for j, k, start in _run_rows(instance, jobs_df):
        assignment[j] = k
        starts[instance.jobs[j].options[k].machine].append((start, j))
    return assignment, [[j for _, j in sorted(s)] for s in starts]


def hint_of_run(instance: Instance, jobs_df: pd.DataFrame) -> tuple[list[int | None], list[float]]:
    """A simulated run as (option per job, start ms per job): a solver hint."""
    assignment: list[int | None] = [None] * len(instance.jobs)
    start = [math.nan] * len(instance.jobs)
    for j, k, s in _run_rows(instance, jobs_df):
        assignment[j], start[j] = k, s
    return assignment, start


# ----------------------------------------------------------------------------- random small instances
@dataclass
class Case:
    testbed: Testbed
    profile: PerformanceProfile
    stream: JobStream
    label: str = ""


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


# ----------------------------------------------------------------------------- config slices
def cluster_names() -> list[str]:
    """Every cluster config shipped in configs/cluster/, the default first."""
    names = sorted(p.stem for p in CLUSTER_DIR.glob("*.yaml"))
    return sorted(names, key=lambda n: n != "default")


def slice_stream(stream: JobStream, lo: int, hi: int) -> JobStream:
    """Jobs lo .. hi-1 of ``stream``, arrivals shifted so the first is at 0 (the slice starts on an empty
    cluster); models, origins, QoS targets and input sizes as in the whole stream."""
    a = stream.arrival_ms[lo:hi]
    return JobStream(a - a[0], stream.model_idx[lo:hi], stream.origin_idx[lo:hi], stream.private[lo:hi],
                     stream.models, stream.origins, stream.qos_ms, stream.input_bytes, stream.queries[lo:hi],
                     stream.job_qos_ms[lo:hi])


def config_cases(cluster: str, n_jobs: int, slices: int = 1, seed: int = 1,
                 overrides: Sequence[str] = ()) -> list[Case]:
    """``slices`` consecutive slices of ``n_jobs`` jobs of the workload a composed config generates for ``seed``
    on ``cluster`` (a name in configs/cluster/ or a path to a cluster YAML file), service times at their means.

    ``overrides`` are Hydra overrides (``workload.load=0.8``); ``workload.n_jobs`` and ``seed`` are set here.
    """
    from omegaconf import OmegaConf

    from experiments.runner import compose_config, make_stream, prepare

    if n_jobs < 1 or slices < 1:
        raise ConfigError("--jobs/--slices", f"must be >= 1, got {n_jobs} jobs x {slices} slices")
    path = Path(cluster)
    from_file = path.suffix in (".yaml", ".yml")
    if from_file and not path.is_file():
        raise ConfigError("--clusters", f"{cluster}: file not found")
    if not from_file and cluster not in cluster_names():
        raise ConfigError("--clusters", f"unknown cluster {cluster!r} (known: {', '.join(cluster_names())}, "
                          "or a path to a .yaml file)")
    try:
        cfg = compose_config(([] if from_file else [f"cluster={cluster}"]) + list(overrides))
        if from_file:
            cfg["cluster"] = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:  # hydra / yaml errors: their first paragraph, one line
        raise SynergAIError(f"{cluster}: " + " ".join(str(exc).split("\n\n")[0].split())) from None
    if not isinstance(cfg.get("workload"), dict):
        raise ConfigError("workload", "missing")
    cfg["workload"]["n_jobs"] = n_jobs * slices
    cfg["seed"] = seed
    p = prepare(cfg)
    stream = make_stream(p)
    profile = deterministic_profile(p.profile)
    return [Case(p.testbed, profile, slice_stream(stream, k * n_jobs, (k + 1) * n_jobs), f"{cluster}:{seed}:{k}")
            for k in range(slices)]


# ----------------------------------------------------------------------------- policies vs the bound
def unbatched(policy_name: str):
    """The policy without cross-job batching where it has the switch: the model has one interval per job, so a
    run that batched jobs would be no schedule of it (and the bound not one on that run)."""
    try:
        return make_policy(policy_name, batching=False)
    except ConfigError:
        return make_policy(policy_name)


def run_policy(policy_name: str, case: Case, seed: int = 0) -> pd.DataFrame:
    return simulate(case.testbed, case.profile, unbatched(policy_name), case.stream, seed=seed).jobs


def solve(instance: Instance, solver: str = "cpsat", time_limit_s: float = 30.0, workers: int = 2,
          hint=None) -> Bound:
    if solver == "cpsat":
        return solve_cpsat(instance, time_limit_s, workers, hint)
    if solver == "milp":
        return solve_milp(instance, time_limit_s)
    raise ValueError(f"unknown solver {solver!r} (cpsat, milp)")


def distance_to_optimum(policy_name: str, case: Case, seed: int = 0, bound: Bound | None = None,
                        time_limit_s: float = 30.0, solver: str = "cpsat") -> dict:
    """Violations of ``policy_name`` on ``case`` and its distance to the clairvoyant bound.

    ``gap`` = violations - bound.lower; when the solver hit its time limit the bound is its best bound
    (``optimal`` False) and the gap is an upper estimate of the true distance.
    """
    instance = instance_from_sim(case.testbed, case.profile, case.stream)
    if bound is None:
        bound = solve(instance, solver, time_limit_s)
    jobs = run_policy(policy_name, case, seed)
    schedule_of_run(instance, jobs)  # raises if the simulator's times differ from the model's
    v = int(jobs["violated"].sum())
    if v < bound.lower:
        raise AssertionError(f"{policy_name} has {v} violations, below the clairvoyant bound {bound.lower}: "
                             "the lower-bound model is wrong")
    return {"policy": policy_name, "violations": v, "lower_bound": bound.lower, "gap": v - bound.lower,
            "optimal": bound.optimal, "status": bound.status, "solve_s": bound.solve_s}


def compare(seeds: Sequence[int], policies: Sequence[str], n_jobs: int, n_nodes: int, n_models: int = 2,
            load: float = 1.3, time_limit_s: float = 30.0, log=None, solver: str = "cpsat",
            workers: int = 2) -> pd.DataFrame:
    """Random 1-slot instances (``random_case``): every policy vs the bound, one row per (seed, policy)."""
    rows = []
    for seed in seeds:
        case = random_case(seed, n_jobs, n_nodes, n_models, load)
        instance = instance_from_sim(case.testbed, case.profile, case.stream)
        bound = solve(instance, solver, time_limit_s, workers)
        for p in policies:
            r = distance_to_optimum(p, case, seed, bound)
            rows.append({"seed": seed, "jobs": n_jobs, "nodes": n_nodes, "models": n_models, "load": load,
                         "upper": bound.upper, **r})
        if log is not None:
            log(seed, bound, rows[-len(policies):])
    return pd.DataFrame(rows)


def known_policies(names: Sequence[str], log=print) -> list[str]:
    """The registered names among ``names``; the others are skipped with a message."""
    have = set(available_policies())
    for p in names:
        if p not in have:
            log(f"skipping policy {p!r}: not registered (available: {', '.join(sorted(have))})")
    return [p for p in names if p in have]


def bound_case(case: Case, policies: Sequence[str], seed: int, time_limit_s: float = 30.0, workers: int = 2,
               excess: bool = True, excess_time_limit_s: float | None = None) -> list[dict]:
    """One case: run every policy, solve both bounds (hinted with the best run), one row per policy.

    Raises AssertionError if a policy beats a bound: the model would be wrong.
    """
    instance = instance_from_sim(case.testbed, case.profile, case.stream)
    runs = {p: run_policy(p, case, seed) for p in policies}
    viol = {p: int(df["violated"].sum()) for p, df in runs.items()}
    hints = {p: hint_of_run(instance, df) for p, df in runs.items()}
    b = solve_cpsat(instance, time_limit_s, workers, hints[min(viol, key=viol.get)] if runs else None)
    failed = {p: int((df["status"] != "completed").sum()) for p, df in runs.items()}
    total_excess = {p: float(df["excess_ms"].sum()) for p, df in runs.items()}
    ex = None
    if excess:
        complete = [p for p in runs if failed[p] == 0]
        ex = solve_excess_cpsat(instance, time_limit_s if excess_time_limit_s is None else excess_time_limit_s,
                                workers,
                                hints[min(complete, key=total_excess.get)] if complete else None)
        if ex.assignment:  # its schedule is a real one too: it may have fewer violations than the first solve's
            v = evaluate(instance, ex.assignment, ex.orders)
            if b.upper is None or v < b.upper:
                b.upper, b.assignment, b.orders = v, ex.assignment, ex.orders
                if v == b.lower:
                    b.optimal, b.status = True, "optimal"
    rows = []
    for p in policies:
        if viol[p] < b.lower:
            raise AssertionError(f"{case.label}: {p} has {viol[p]} violations, below the clairvoyant bound "
                                 f"{b.lower}: the lower-bound model is wrong")
        if ex is not None and failed[p] == 0 and total_excess[p] < ex.lower_ms - 1e-6:
            raise AssertionError(f"{case.label}: {p} has {total_excess[p]} ms excess, below the bound "
                                 f"{ex.lower_ms} ms: the lower-bound model is wrong")
        rows.append({
            "policy": p, "violations": viol[p], "failed": failed[p], "lower_bound": b.lower, "upper": b.upper,
            "optimal": b.optimal, "status": b.status, "solve_s": round(b.solve_s, 3),
            "ratio": viol[p] / b.lower if b.lower else (1.0 if viol[p] == 0 else math.inf),
            "excess_ms": round(total_excess[p], 3),
            "excess_lower_ms": None if ex is None else round(ex.lower_ms, 3),
            "excess_upper_ms": None if ex is None or ex.upper_ms is None else round(ex.upper_ms, 3),
            "excess_status": None if ex is None else ex.status,
            "excess_solve_s": None if ex is None else round(ex.solve_s, 3),
        })
    return rows


def report(clusters: Sequence[str], sizes: Sequence[int], slices: int, seeds: Sequence[int],
           policies: Sequence[str], overrides: Sequence[str] = (), time_limit_s: float = 30.0, workers: int = 2,
           excess: bool = True, log=None, excess_time_limit_s: float | None = None,
           settings: Sequence[Sequence[str]] = ((),)) -> pd.DataFrame:
    """Every (setting, cluster, slice size, seed, slice): the policies' violations vs the optimum, one row per
    policy. A setting is a list of overrides applied before ``overrides``; ``()`` is the config as composed."""
    rows = []
    for setting in settings:
        ov = list(setting) + list(overrides)
        for cluster in clusters:
            for n in sizes:
                for seed in seeds:
                    for k, case in enumerate(config_cases(cluster, n, slices, seed, ov)):
                        rs = bound_case(case, policies, seed, time_limit_s, workers, excess, excess_time_limit_s)
                        head = {"setting": " ".join(ov) or "config", "cluster": cluster, "jobs": n, "seed": seed,
                                "slice": k, "nodes": len(case.testbed.nodes)}
                        rows += [{**head, **r} for r in rs]
                        if log is not None:
                            log(head, rs)
    return pd.DataFrame(rows)


def summary_table(df: pd.DataFrame, policies: Sequence[str]) -> pd.DataFrame:
    """Per (setting, cluster, jobs): instances, the optimum summed over them, how many proven, solve times, and
    per policy its summed violations and their ratio to the summed optimum."""
    out = []
    for (setting, cluster, n), g in df.groupby(["setting", "cluster", "jobs"], sort=False):
        inst = g.drop_duplicates(["seed", "slice"])
        opt = int(inst["lower_bound"].sum())
        row = {"setting": setting, "cluster": cluster, "jobs": n, "instances": len(inst), "optimum": opt,
               "proven": f"{int(inst['optimal'].sum())}/{len(inst)}",
               "solve_s_mean": round(inst["solve_s"].mean(), 2), "solve_s_max": round(inst["solve_s"].max(), 2)}
        for p in policies:
            v = int(g.loc[g["policy"] == p, "violations"].sum())
            row[p] = v
            row[f"{p}_x"] = round(v / opt, 2) if opt else (1.0 if v == 0 else math.inf)
        if inst["excess_lower_ms"].notna().any():
            row["excess_lower_ms"] = round(inst["excess_lower_ms"].sum(), 1)
            for p in policies:
                row[f"{p}_excess_ms"] = round(g.loc[g["policy"] == p, "excess_ms"].sum(), 1)
        out.append(row)
    return pd.DataFrame(out)


def _ints(text: str, flag: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(flag, f"must be comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise ConfigError(flag, f"must be integers >= 1, got {text!r}")
    return vals


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.lower_bound", description=__doc__.split("\n")[0])
    ap.add_argument("--clusters", default=None,
                    help="comma-separated cluster configs (names in configs/cluster/ or .yaml paths); default all")
    ap.add_argument("--jobs", default=None, help="comma-separated slice sizes (default 20,40; --random: 12)")
    ap.add_argument("--slices", type=int, default=2, help="consecutive slices per seed")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 2; --random: 5)")
    ap.add_argument("--first-seed", type=int, default=None, help="default 1 (the config's); --random: 0")
    ap.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                    help="Hydra override for every cluster, e.g. workload.load=0.8 (repeatable)")
    ap.add_argument("-s", "--setting", action="append", default=None, metavar="'KEY=VALUE ...'",
                    help="a workload setting: space-separated overrides, '' = the config as composed "
                         f"(repeatable; default: {' and '.join(repr(' '.join(x)) for x in DEFAULT_SETTINGS)})")
    ap.add_argument("--policies", default=None,
                    help=f"comma-separated, or 'all' (default {','.join(DEFAULT_POLICIES)}; unknown names skipped)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per violation solve")
    ap.add_argument("--excess-time-limit", type=float, default=10.0, help="seconds per excess solve")
    ap.add_argument("--workers", type=int, default=2,
                    help="CP-SAT workers per solve (1: core search alone, deterministic)")
    ap.add_argument("--no-excess", action="store_true", help="skip the second solve (total excess)")
    ap.add_argument("--random", action="store_true", help="random 1-slot instances of #4 instead of configs")
    ap.add_argument("--nodes", type=int, default=3, help="--random: nodes")
    ap.add_argument("--models", type=int, default=2, help="--random: models")
    ap.add_argument("--load", type=float, default=1.3, help="--random: arrival rate / cluster rate (fast configs)")
    ap.add_argument("--solver", default="cpsat", choices=("cpsat", "milp"), help="--random: solver")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    try:
        if min(args.time_limit, args.excess_time_limit) < 0 or args.workers < 1 or args.slices < 1:
            raise ConfigError("--time-limit/--excess-time-limit/--workers/--slices", "must be >= 0, >= 0, >= 1, >= 1")
        if args.random:
            return _main_random(args)
        return _main_configs(args)
    except SynergAIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main_configs(args) -> int:
    clusters = cluster_names() if args.clusters is None else [c for c in args.clusters.split(",") if c]
    sizes = _ints(args.jobs or "20,40", "--jobs")
    first = 1 if args.first_seed is None else args.first_seed
    seeds = range(first, first + (2 if args.seeds is None else args.seeds))
    names = available_policies() if args.policies == "all" else (
        DEFAULT_POLICIES if args.policies is None else [p for p in args.policies.split(",") if p])
    policies = known_policies(names)
    if not policies:
        raise ConfigError("--policies", "no registered policy selected")
    settings = DEFAULT_SETTINGS if args.setting is None else [tuple(x.split()) for x in args.setting]
    for st in settings:
        for c in clusters:  # bad clusters / overrides fail before any solving
            config_cases(c, 1, 1, first, list(st) + args.override)
    print(f"clusters {', '.join(clusters)}; slices of {', '.join(map(str, sizes))} jobs, {args.slices} per seed, "
          f"seeds {seeds.start}-{seeds.stop - 1}; settings: "
          + "; ".join(" ".join(list(st) + args.override) or "config" for st in settings) + "; CP-SAT "
          f"{args.time_limit:g} s per violation solve, {args.excess_time_limit:g} s per excess solve")

    def log(head, rs):
        r = rs[0]
        tag = "optimal" if r["optimal"] else f"{r['status']}, best schedule {r['upper']}"
        ex = "" if r["excess_lower_ms"] is None else (f" | excess >= {r['excess_lower_ms']:.1f} ms "
                                                      f"({r['excess_status']}, {r['excess_solve_s']:.1f} s)")
        print(f"[{head['setting']}] {head['cluster']} {head['jobs']} jobs seed {head['seed']} slice {head['slice']}: "
              f"optimum "
              f"{r['lower_bound']} ({tag}, {r['solve_s']:.1f} s){ex} | "
              + "  ".join(f"{x['policy']} {x['violations']}" for x in rs), flush=True)

    df = report(clusters, sizes, args.slices, seeds, policies, args.override, args.time_limit, args.workers,
                not args.no_excess, log, args.excess_time_limit, settings)
    table = summary_table(df, policies)
    print("\nviolations summed over the instances; <policy>_x = violations / optimum (target for SynergAI: "
          "<= 1.3):")
    print(table.to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


def _main_random(args) -> int:
    names = RANDOM_POLICIES if args.policies is None else (
        available_policies() if args.policies == "all" else [p for p in args.policies.split(",") if p])
    for p in names:
        make_policy(p)  # unknown names fail before any solving
    policies = list(names)
    n_jobs = _ints(args.jobs or "12", "--jobs")[0]
    first = 0 if args.first_seed is None else args.first_seed
    print(f"{n_jobs} jobs, {args.nodes} nodes, {args.models} models, load {args.load}: QoS violations per "
          f"seed; gap = violations - clairvoyant optimum ({args.solver})")

    def log(seed, bound, rows):
        tag = "optimal" if bound.optimal else f"{bound.status}, bound; best schedule found {bound.upper}"
        print(f"seed {seed}: optimum {bound.lower} ({tag}, {bound.solve_s:.2f} s) | "
              + "  ".join(f"{r['policy']} {r['violations']} (+{r['gap']})" for r in rows), flush=True)

    df = compare(range(first, first + (5 if args.seeds is None else args.seeds)), policies, n_jobs, args.nodes,
                 args.models, args.load, args.time_limit, log, args.solver, args.workers)
    per_seed = df.drop_duplicates("seed").set_index("seed")
    table = df.pivot(index="seed", columns="policy", values="violations")[policies]
    table.insert(0, "optimum", per_seed["lower_bound"])
    table.insert(1, "solve_s", per_seed["solve_s"].round(2))
    table.loc["total"] = table.sum().round(2)
    print("\nviolations per seed (optimum = clairvoyant lower bound):")
    print(table.to_string())
    gaps = df.groupby("policy", sort=False)["gap"].agg(["sum", "mean", "max"])
    gaps["seeds_at_optimum"] = df.assign(z=df["gap"] == 0).groupby("policy", sort=False)["z"].sum()
    print("\ngap to the optimum:")
    print(gaps.loc[policies].to_string())
    hit = int((~per_seed["optimal"]).sum())
    print(f"\n{args.solver}: {per_seed['solve_s'].mean():.2f} s mean, {per_seed['solve_s'].max():.2f} s max; "
          + (f"{hit} seed(s) not proven optimal: their optimum is the solver's bound" if hit
             else "every instance solved to optimality"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
