"""The clairvoyant lower bound (experiments/lower_bound.py): CP-SAT = MILP = exhaustive search, hand-computed
optima (1-unit and multi-unit pools, violations and excess), the 0.01 ms grid is a relaxation of real
schedules, and no simulated policy ever beats the bound (random instances and config slices)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import entry

from experiments.lower_bound import (
    Case,
    Instance,
    LBJob,
    Option,
    bound_case,
    config_cases,
    deterministic_profile,
    distance_to_optimum,
    evaluate,
    hint_of_run,
    instance_from_sim,
    main,
    random_case,
    replay,
    run_policy,
    schedule_of_run,
    solve_cpsat,
    solve_excess_cpsat,
    solve_exhaustive,
    solve_milp,
)
from sim import simulate
from synergai.domain import Config, Node, Site
from synergai.network import Network
from synergai.policy import available_policies, make_policy
from synergai.profile import DeterministicDist, ExponentialDist, PerformanceProfile
from synergai.testbed import Testbed as Bed  # not Test*: pytest would try to collect it
from synergai.workload import JobStream

CPU1 = Config("onnxruntime", "fp32", 1, 1, "default")
CPU2 = Config("onnxruntime", "fp32", 1, 2, "default")


def one_machine(*jobs, cap=1):
    """Jobs (arrival, service, qos) on a single machine, no transfer."""
    return Instance(tuple(LBJob(a, q, (Option(0, 0.0, s),)) for a, s, q in jobs), ("m",), (cap,))


def fifo(instance):
    """Every job on its first option, each machine in arrival order."""
    assign = [0] * len(instance.jobs)
    orders = [[] for _ in instance.machines]
    for j in sorted(range(len(instance.jobs)), key=lambda j: instance.jobs[j].arrival_ms):
        orders[instance.jobs[j].options[0].machine].append(j)
    return evaluate(instance, assign, orders)


@pytest.mark.parametrize("jobs, order", [
    # A (0, 3 ms, qos 10), B (1, 3 ms, qos 3): FIFO runs A first and B finishes at 6 (latency 5 > 3).
    # Optimal: keep the machine idle until B arrives, B 1-4 (latency 3, just in time), A 4-7 (latency 7 <= 10).
    (((0.0, 3.0, 10.0), (1.0, 3.0, 3.0)), [1, 0]),
    # A (0, 2, qos 4), B (1, 5, qos 30), C (1, 2, qos 4): FIFO A 0-2, B 2-7, C 7-9 (latency 8 > 4).
    # Optimal: A 0-2, C 2-4 (latency 3), B 4-9 (latency 8 <= 30): reorder, no idle time. (C first would
    # push A to 3-5, latency 5 > 4.)
    (((0.0, 2.0, 4.0), (1.0, 5.0, 30.0), (1.0, 2.0, 4.0)), [0, 2, 1]),
])
def test_hand_computed_single_machine(jobs, order):
    inst = one_machine(*jobs)
    assert fifo(inst) == 1
    for b in (solve_milp(inst), solve_milp(inst, cuts=False), solve_exhaustive(inst)):
        assert (b.lower, b.upper, b.optimal) == (0, 0, True)
        assert b.orders == [order]
    b = solve_cpsat(inst)  # CP-SAT schedules only on-time jobs; the order here is forced as well
    assert (b.lower, b.upper, b.optimal, b.orders) == (0, 0, True, [order])


def wide_or_narrow(qos):
    """A 2-unit pool, three jobs at 0, each either 1 unit for 5 ms or both units for 3 ms."""
    opts = (Option(0, 0.0, 5.0, units=1), Option(0, 0.0, 3.0, units=2))
    return Instance(tuple(LBJob(0.0, qos, opts) for _ in range(3)), ("pool",), (2,))


@pytest.mark.parametrize("qos, optimum", [
    # qos 8: one job wide 0-3, then the other two side by side 3-8: all on time, and only by mixing (all
    # narrow: the third runs 5-10; all wide: 0-3, 3-6, 6-9).
    (8.0, 0),
    # qos 7: a wide job holds the pool 3 ms, so mixing ends at 8; two narrow first leave 2 ms: one is late.
    (7.0, 1),
])
def test_hand_computed_multi_unit_pool(qos, optimum):
    inst = wide_or_narrow(qos)
    for b in (solve_exhaustive(inst), solve_cpsat(inst)):
        assert (b.lower, b.upper, b.optimal) == (optimum, optimum, True)
    with pytest.raises(ValueError, match="1-unit pools"):
        solve_milp(inst)
    # the replay respects the capacity: three narrow jobs in a 2-unit pool, the third waits for a unit
    assert replay(inst, [0, 0, 0], [[0, 1, 2]]) == [5.0, 5.0, 10.0]
    assert replay(inst, [1, 0, 0], [[0, 1, 2]]) == [3.0, 8.0, 8.0]


def test_hand_computed_excess():
    # two 3-ms jobs at 0 with qos 3 on one machine: one of them ends at 6, 3 ms late; a 2-unit pool: none late
    for cap, excess in ((1, 3.0), (2, 0.0)):
        b = solve_excess_cpsat(one_machine((0.0, 3.0, 3.0), (0.0, 3.0, 3.0), cap=cap))
        assert (b.lower_ms, b.upper_ms, b.grid_optimal, b.jobs) == (excess, excess, True, 2)
    # late jobs are scheduled too: A, B (at 0, 4 ms, qos 4), C (at 1, 1 ms, qos 1). A 0-4, C 4-5 (excess 3),
    # B 5-9 (5): 8 ms; A, B, C: 4 + 7 = 11; idle for C: C 1-2, A 2-6 (2), B 6-10 (6): 8. Optimum 8 ms.
    b = solve_excess_cpsat(one_machine((0.0, 4.0, 4.0), (0.0, 4.0, 4.0), (1.0, 1.0, 1.0)))
    assert (b.lower_ms, b.upper_ms) == (8.0, 8.0)


def hand_case():
    """Two boards at one site (no transfer time): F runs either model in 4 ms, S runs `loose` in 6 ms and
    `tight` in 10 ms. QoS: loose 20 ms, tight 5 ms. Jobs: loose at 0, loose at 0, tight at 1."""
    site = Site("s", "edge")
    nodes = [Node("F", "fastdev", "edge", "arm64", "s", 0, 1), Node("S", "slowdev", "edge", "arm64", "s", 0, 1)]
    testbed = Bed("hand", nodes, Network([site], []))
    profile = PerformanceProfile([
        entry("fastdev", "loose", DeterministicDist(4.0)), entry("slowdev", "loose", DeterministicDist(6.0)),
        entry("fastdev", "tight", DeterministicDist(4.0)), entry("slowdev", "tight", DeterministicDist(10.0)),
    ])
    stream = JobStream(np.array([0.0, 0.0, 1.0]), np.array([0, 0, 1]), np.zeros(3, dtype=np.int64),
                       np.zeros(3, dtype=bool), ["loose", "tight"], ["s"], {"loose": 20.0, "tight": 5.0},
                       {"loose": 0, "tight": 0}, 1)
    return testbed, profile, stream


def test_hand_computed_two_nodes_greedy_misses_optimum_does_not():
    testbed, profile, stream = hand_case()
    # greedy (earliest predicted finish, FIFO): job 0 -> F (done 4), job 1 -> S (done 6 < 8 on F),
    # job 2 -> F: starts 4, done 8, latency 7 > 5; on S it would be done at 16. One violation.
    jobs = simulate(testbed, profile, make_policy("greedy"), stream).jobs
    assert list(jobs["node"]) == ["F", "S", "F"]
    assert list(jobs["violated"]) == [False, False, True]
    # optimum: the tight job gets F at 1 (done 5); both loose jobs on the slow board (0-6, 6-12): none late
    inst = instance_from_sim(testbed, profile, stream)
    for b in (solve_milp(inst), solve_exhaustive(inst), solve_cpsat(inst)):
        assert (b.lower, b.upper) == (0, 0)
        assert evaluate(inst, b.assignment, b.orders) == 0
    case = Case(testbed, profile, stream)
    for solver in ("cpsat", "milp"):
        r = distance_to_optimum("greedy", case, solver=solver)
        assert (r["violations"], r["lower_bound"], r["gap"], r["optimal"]) == (1, 0, 1, True)
    # the simulated run, replayed in the model, has exactly the simulator's violations
    assert evaluate(inst, *schedule_of_run(inst, run_policy("greedy", case))) == 1


def random_instance(rng, multi=False, grid=1.0):
    """A tiny abstract instance: 3-6 jobs, 2-3 machines, 0-2 options per machine, times multiples of ``grid``
    ms (0: any real). ``multi``: machines of 1-3 units, options holding 1 .. capacity units."""
    n_m = int(rng.integers(2, 4))
    caps = [int(rng.integers(1, 4)) if multi else 1 for _ in range(n_m)]

    def t(lo, hi):
        return float(rng.uniform(lo, hi)) if grid == 0 else round(float(rng.integers(lo, hi)) * grid, 10)

    jobs = []
    for _ in range(int(rng.integers(3, 7))):
        opts = []
        for m in range(n_m):
            tr = t(0, 4)
            for _ in range(int(rng.integers(0, 3))):
                opts.append(Option(m, tr, t(1, 11), units=int(rng.integers(1, caps[m] + 1))))
        jobs.append(LBJob(t(0, 15), t(3, 21), tuple(opts)))
    return Instance(tuple(jobs), tuple(f"m{m}" for m in range(n_m)), tuple(caps))


def test_cpsat_and_milp_agree_with_exhaustive_search_on_random_tiny_instances():
    rng = np.random.default_rng(4)
    found = set()
    for _ in range(30):
        inst = random_instance(rng)
        ex = solve_exhaustive(inst)
        assert evaluate(inst, ex.assignment, ex.orders) == ex.lower
        for b in (solve_milp(inst), solve_milp(inst, cuts=False), solve_cpsat(inst)):
            assert b.optimal and b.lower == b.upper == ex.lower, (inst, b)
        found.add(ex.lower)
    assert len(found) >= 3  # the instances are not all trivial: optima of several sizes


def test_cpsat_agrees_with_exhaustive_search_on_multi_unit_pools():
    rng = np.random.default_rng(7)
    found, wide = set(), 0
    for _ in range(30):
        inst = random_instance(rng, multi=True)
        ex = solve_exhaustive(inst)
        b = solve_cpsat(inst)
        assert b.optimal and b.lower == b.upper == ex.lower, (inst, b)
        found.add(ex.lower)
        wide += any(inst.cap(m) > 1 and any(o.machine == m and o.units > 1 for jb in inst.jobs for o in jb.options)
                    for m in range(len(inst.machines)))
    assert len(found) >= 3 and wide >= 10


def test_grid_rounding_keeps_a_valid_bound():
    rng = np.random.default_rng(11)
    for _ in range(10):  # quarter-ms times: exact in binary and on the 0.01 ms grid, so the grid is exact
        inst = random_instance(rng, multi=True, grid=0.25)
        b, ex = solve_cpsat(inst), solve_exhaustive(inst)
        assert b.lower == b.upper == ex.lower, inst
    gaps = 0
    for grid in (0.37, 0):  # decimal times (binary-inexact sums can miss a deadline by 1e-15) and times off the
        for _ in range(10):  # grid: still a bound, and the replayed schedule never beats the optimum
            inst = random_instance(rng, multi=True, grid=grid)
            b, ex = solve_cpsat(inst), solve_exhaustive(inst)
            assert b.lower <= ex.lower <= b.upper, inst
            gaps += b.lower < b.upper
    assert gaps < 10  # the grid is close: most instances are still proven


def pareto(inst):
    """The instance with each job's dominated options dropped (same machine, no earlier release, no shorter
    service, no fewer units): the optimum is unchanged. Written here in real time, apart from the solver's."""
    def dominated(o, p, jb):
        return p is not o and p.machine == o.machine and p.transfer_ms <= o.transfer_ms and \
            p.service_ms <= o.service_ms and p.units <= o.units and (p.transfer_ms, p.service_ms, p.units) != (
                o.transfer_ms, o.service_ms, o.units)
    jobs = []
    for jb in inst.jobs:
        keep, seen = [], set()
        for o in jb.options:
            key = (o.machine, o.transfer_ms, o.service_ms, o.units)
            if key not in seen and not any(dominated(o, p, jb) for p in jb.options):
                keep.append(o)
                seen.add(key)
        jobs.append(LBJob(jb.arrival_ms, jb.qos_ms, tuple(keep)))
    return Instance(tuple(jobs), inst.machines, inst.capacity)


def test_exhaustive_matches_on_small_simulated_cases():
    for seed in range(2):  # random 1-slot cases: all three methods
        case = random_case(seed, n_jobs=6, n_nodes=2, load=1.6)
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        assert solve_milp(inst).lower == solve_cpsat(inst).lower == solve_exhaustive(inst).lower
    found = set()
    for seed in (1, 3):  # 6-job slices of the x86 VM config: a 2-core pool, 1- and 2-thread configs
        for case in config_cases("local_x86", 6, 2, seed, ["workload.load=0.9", "workload.qos_multiplier=2"]):
            inst = instance_from_sim(case.testbed, case.profile, case.stream)
            assert inst.capacity == (2,) and {o.units for jb in inst.jobs for o in jb.options} == {1, 2}
            b, ex = solve_cpsat(inst), solve_exhaustive(pareto(inst))
            assert b.optimal and b.lower == ex.lower, case.label
            found.add(ex.lower)
    assert len(found) >= 2


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in range(5):
        case = random_case(seed, n_jobs=10, n_nodes=3)
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        out.append((seed, case, inst, solve_cpsat(inst)))
    return out


def test_no_policy_beats_the_bound(cases):
    gaps, lowers = [], []
    for seed, case, inst, bound in cases:
        assert bound.optimal and bound.lower == bound.upper == solve_milp(inst).lower
        lowers.append(bound.lower)
        for name in available_policies():
            jobs = run_policy(name, case, seed)
            v = int(jobs["violated"].sum())
            assert v >= bound.lower, (seed, name, v, bound.lower)
            # the run is one of the schedules the bound ranges over: replayed at earliest start it has the same
            # violations (decisions at arrival), or fewer (windowed policies decide later than arrival)
            replay_v = evaluate(inst, *schedule_of_run(inst, jobs))
            assert bound.lower <= replay_v <= v
            if make_policy(name).window_ms == 0:
                assert replay_v == v, (seed, name)
            gaps.append(v - bound.lower)
    assert max(lowers) > 0 and min(lowers) < max(lowers)  # some deadlines are unavoidable, not all alike
    assert max(gaps) > 0 and min(gaps) == 0  # the check has teeth: policies sit at and above the bound


@pytest.fixture(scope="module")
def slices():
    """20-job slices of shipped cluster configs under pressure (fractional ms times, multi-unit CPU pools)."""
    ov = ["workload.load=0.8", "workload.qos_multiplier=2"]
    return [c for cl in ("single_node", "local_x86", "default") for c in config_cases(cl, 20, 1, 3, ov)]


def test_config_slices_policies_never_beat_the_bound(slices):
    policies = ["synergai", "greedy", "slo_mael", "least_outstanding"]
    lowers, gaps, multi = [], [], 0
    for case in slices:
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        multi += any(inst.cap(m) > 1 for m in range(len(inst.machines)))
        rows = bound_case(case, policies, 3, time_limit_s=20, excess_time_limit_s=1)  # raises if a policy beats a bound
        lowers.append(rows[0]["lower_bound"])
        for r in rows:
            assert r["violations"] >= r["lower_bound"] and r["excess_lower_ms"] <= r["excess_upper_ms"] + 1e-9
            if r["failed"] == 0:
                assert r["excess_ms"] >= r["excess_lower_ms"] - 1e-6
            gaps.append(r["violations"] - r["lower_bound"])
    assert multi >= 2 and max(lowers) > 0 and max(gaps) > 0


def test_simulated_runs_are_feasible_on_the_grid(slices):
    """The relaxation argument, checked: each run of a per-arrival policy, fixed as the solver's hint, is a
    feasible grid schedule whose on-time jobs are exactly the simulator's."""
    for case in slices:
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        for name in ("greedy", "least_outstanding", "synergai"):
            jobs = run_policy(name, case, 3)
            fixed = solve_cpsat(inst, time_limit_s=10, hint=hint_of_run(inst, jobs), fix_hint=True)
            assert fixed.lower == fixed.upper == int(jobs["violated"].sum()), (case.label, name)


def test_deterministic_profile_keeps_means():
    noisy = PerformanceProfile([entry("d", "m", ExponentialDist(4.0)), entry("d", "n", DeterministicDist(2.0))])
    det = deterministic_profile(noisy)
    assert [type(e.dist) for e in det.entries] == [DeterministicDist, DeterministicDist]
    assert [e.mean_ms for e in det.entries] == [4.0, 2.0] and "lower bound" in det.entries[0].notes


def test_time_limit_gives_a_valid_bound():
    case = random_case(2, n_jobs=16, n_nodes=3, load=1.6)
    inst = instance_from_sim(case.testbed, case.profile, case.stream)
    exact = solve_cpsat(inst)
    assert exact.optimal and exact.lower == solve_milp(inst).lower
    for early in (solve_milp(inst, time_limit_s=0.0, cuts=False), solve_cpsat(inst, time_limit_s=0.0),
                  solve_cpsat(inst, time_limit_s=0.05, workers=1)):
        assert early.optimal or early.status in ("time_limit", "grid_optimal")
        assert early.lower <= exact.lower
        if early.upper is not None:
            assert early.upper >= exact.lower


def test_instance_from_sim_models_multi_unit_pools_and_needs_deterministic_services():
    site = Site("s", "edge")
    testbed, profile, stream = hand_case()
    vm = Bed("t", [Node("V", "vmdev", "edge", "amd64", "s", cpu_cores=2)], Network([site], []))
    prof = PerformanceProfile([entry("vmdev", "loose", DeterministicDist(5.0), CPU1, "cpu", 1),
                               entry("vmdev", "loose", DeterministicDist(3.0), CPU2, "cpu", 2),
                               entry("vmdev", "tight", DeterministicDist(3.0), CPU2, "cpu", 2)])
    inst = instance_from_sim(vm, prof, stream)
    assert inst.machines == ("V/cpu",) and inst.capacity == (2,) and not inst.unit_pools
    assert [o.units for o in inst.jobs[0].options] == [1, 2]
    b = solve_cpsat(inst)
    ex = solve_exhaustive(inst)
    assert b.optimal and b.lower == ex.lower == 0  # e.g. tight 1-4 on both cores, the loose ones side by side 4-9
    noisy = PerformanceProfile([entry("fastdev", "loose", ExponentialDist(4.0)),
                                entry("fastdev", "tight", DeterministicDist(4.0))])
    with pytest.raises(ValueError, match="DeterministicDist"):
        instance_from_sim(Bed("t", testbed.nodes[:1], testbed.network), noisy, stream)


def test_cli_random_writes_csv(tmp_path, capsys):
    out = tmp_path / "lb.csv"
    assert main(["--random", "--jobs", "6", "--nodes", "2", "--seeds", "2", "--policies", "greedy,random",
                 "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and set(df["policy"]) == {"greedy", "random"}
    assert (df["gap"] == df["violations"] - df["lower_bound"]).all() and (df["gap"] >= 0).all()
    assert df["optimal"].all()
    assert "optimum" in capsys.readouterr().out


def test_cli_config_report(tmp_path, capsys):
    out = tmp_path / "lb.csv"
    assert main(["--clusters", "single_node", "--jobs", "8", "--slices", "2", "--seeds", "1", "--policies",
                 "greedy,no_such_policy,synergai", "-s", "", "-o", "workload.load=0.9", "--time-limit", "10",
                 "--excess-time-limit", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "skipping policy 'no_such_policy'" in text and "greedy_x" in text
    df = pd.read_csv(out)
    assert len(df) == 4 and set(df["policy"]) == {"greedy", "synergai"} and set(df["slice"]) == {0, 1}
    assert (df["violations"] >= df["lower_bound"]).all() and (df["jobs"] == 8).all()
    assert (df["setting"] == "workload.load=0.9").all()


@pytest.mark.parametrize("argv, msg", [
    (["--clusters", "nowhere"], "--clusters: unknown cluster 'nowhere'"),
    (["--clusters", "single_node", "-o", "workload.load=-1"], "workload.load"),
    (["--jobs", "20,x"], "--jobs: must be comma-separated integers"),
    (["--policies", "nope"], "--policies: no registered policy"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_replay_matches_the_simulator_rule_on_one_unit():
    # unit pools: earliest start = max(release, previous finish), as #4's evaluate
    inst = one_machine((0.0, 3.0, 10.0), (1.0, 3.0, 3.0), (2.0, 1.0, 9.0))
    assert replay(inst, [0, 0, 0], [[0, 1, 2]]) == [3.0, 6.0, 7.0]
    assert math.isnan(replay(inst, [0, None, 0], [[0, 2]])[1]) and evaluate(inst, [0, None, 0], [[0, 2]]) == 1
