"""The clairvoyant lower bound (experiments/lower_bound.py): MILP = exhaustive search, hand-computed optima,
and no simulated policy ever beats the bound."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import entry

from experiments.lower_bound import (
    Case,
    Instance,
    LBJob,
    Option,
    distance_to_optimum,
    evaluate,
    instance_from_sim,
    main,
    random_case,
    run_policy,
    schedule_of_run,
    solve_exhaustive,
    solve_milp,
)
from sim import simulate
from synergai.domain import Node, Site
from synergai.network import Network
from synergai.policy import available_policies, make_policy
from synergai.profile import DeterministicDist, ExponentialDist, PerformanceProfile
from synergai.testbed import Testbed as Bed  # not Test*: pytest would try to collect it
from synergai.workload import JobStream


def one_machine(*jobs):
    """Jobs (arrival, service, qos) on a single machine, no transfer."""
    return Instance(tuple(LBJob(a, q, (Option(0, 0.0, s),)) for a, s, q in jobs), ("m",))


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
    for b in (solve_milp(inst), solve_exhaustive(inst)):
        assert (b.lower, b.upper) == (0, 0)
        assert evaluate(inst, b.assignment, b.orders) == 0
    case = Case(testbed, profile, stream)
    r = distance_to_optimum("greedy", case)
    assert (r["violations"], r["lower_bound"], r["gap"], r["optimal"]) == (1, 0, 1, True)
    # the simulated run, replayed in the model, has exactly the simulator's violations
    assert evaluate(inst, *schedule_of_run(inst, run_policy("greedy", case))) == 1


def random_instance(rng):
    """A tiny abstract instance: 3-6 jobs, 2-3 machines, 0-2 options per machine, integer times."""
    n_m = int(rng.integers(2, 4))
    jobs = []
    for _ in range(int(rng.integers(3, 7))):
        opts = []
        for m in range(n_m):
            t = float(rng.integers(0, 4))
            for _ in range(int(rng.integers(0, 3))):
                opts.append(Option(m, t, float(rng.integers(1, 11))))
        jobs.append(LBJob(float(rng.integers(0, 15)), float(rng.integers(3, 21)), tuple(opts)))
    return Instance(tuple(jobs), tuple(f"m{m}" for m in range(n_m)))


def test_milp_agrees_with_exhaustive_search_on_random_tiny_instances():
    rng = np.random.default_rng(4)
    found = set()
    for _ in range(40):
        inst = random_instance(rng)
        ex = solve_exhaustive(inst)
        assert evaluate(inst, ex.assignment, ex.orders) == ex.lower
        for cuts in (True, False):
            b = solve_milp(inst, cuts=cuts)
            assert b.optimal and b.lower == b.upper == ex.lower, (inst, cuts)
        found.add(ex.lower)
    assert len(found) >= 3  # the instances are not all trivial: optima of several sizes


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in range(6):
        case = random_case(seed, n_jobs=10, n_nodes=3)
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        out.append((seed, case, inst, solve_milp(inst)))
    return out


def test_no_policy_beats_the_bound(cases):
    gaps, lowers = [], []
    for seed, case, inst, bound in cases:
        assert bound.optimal and bound.lower == bound.upper
        lowers.append(bound.lower)
        for name in available_policies():
            jobs = run_policy(name, case, seed)
            v = int(jobs["violated"].sum())
            assert v >= bound.lower, (seed, name, v, bound.lower)
            # the run is one of the schedules the bound ranges over: replayed at earliest start it has the same
            # violations (decisions at arrival), or fewer (windowed policies decide later than arrival)
            replay = evaluate(inst, *schedule_of_run(inst, jobs))
            assert bound.lower <= replay <= v
            if make_policy(name).window_ms == 0:
                assert replay == v, (seed, name)
            gaps.append(v - bound.lower)
    assert max(lowers) > 0 and min(lowers) < max(lowers)  # some deadlines are unavoidable, not all alike
    assert max(gaps) > 0 and min(gaps) == 0  # the check has teeth: policies sit at and above the bound


def test_exhaustive_matches_on_small_simulated_cases():
    for seed in range(3):
        case = random_case(seed, n_jobs=6, n_nodes=2, load=1.6)
        inst = instance_from_sim(case.testbed, case.profile, case.stream)
        assert solve_milp(inst).lower == solve_exhaustive(inst).lower


def test_time_limit_gives_a_valid_bound():
    case = random_case(2, n_jobs=20, n_nodes=3, load=1.6)
    inst = instance_from_sim(case.testbed, case.profile, case.stream)
    exact = solve_milp(inst)
    early = solve_milp(inst, time_limit_s=0.0, cuts=False)
    assert early.optimal or early.status == "time_limit"
    assert early.lower <= exact.lower
    if early.upper is not None:
        assert early.upper >= exact.lower


def test_instance_needs_unit_pools_and_deterministic_services():
    site = Site("s", "edge")
    testbed, profile, stream = hand_case()
    two_slots = Bed("t", [Node("F", "fastdev", "edge", "arm64", "s", 0, 2)], Network([site], []))
    with pytest.raises(ValueError, match="1-unit pools"):
        instance_from_sim(two_slots, profile, stream)
    noisy = PerformanceProfile([entry("fastdev", "loose", ExponentialDist(4.0)),
                                entry("fastdev", "tight", DeterministicDist(4.0))])
    with pytest.raises(ValueError, match="DeterministicDist"):
        instance_from_sim(Bed("t", testbed.nodes[:1], testbed.network), noisy, stream)


def test_cli_writes_csv(tmp_path, capsys):
    out = tmp_path / "lb.csv"
    assert main(["--jobs", "6", "--nodes", "2", "--seeds", "2", "--policies", "greedy,random", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and set(df["policy"]) == {"greedy", "random"}
    assert (df["gap"] == df["violations"] - df["lower_bound"]).all() and (df["gap"] >= 0).all()
    assert df["optimal"].all()
    assert "optimum" in capsys.readouterr().out
