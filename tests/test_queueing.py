"""The simulator against queueing theory: if these fail, no result of the simulator can be trusted."""
from __future__ import annotations

import math

import numpy as np
from conftest import entry, single_node_testbed

from sim import simulate
from synergai.policy import make_policy
from synergai.profile import DeterministicDist, ExponentialDist, PerformanceProfile
from synergai.workload import WorkloadSpec, generate


def run_queue(dist, slots, rate_per_s, n_jobs, seed=7):
    tb = single_node_testbed(slots=slots)
    prof = PerformanceProfile([entry("dev", "m", dist)])
    spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=n_jobs, rate_per_s=rate_per_s, load=None)
    stream = generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(seed))
    res = simulate(tb, prof, make_policy("greedy"), stream, seed=seed)
    assert (res.jobs["status"] == "completed").all()
    return res.jobs


def test_mm1_mean_sojourn_within_3_percent():
    mu, rho = 1.0, 0.7  # per ms
    jobs = run_queue(ExponentialDist(1.0 / mu), 1, rate_per_s=rho * mu * 1000, n_jobs=250_000)
    expected = 1.0 / (mu - rho * mu)
    measured = jobs["latency_ms"].mean()
    assert abs(measured / expected - 1) < 0.03, (measured, expected)
    # and the queue did exist: the mean wait is the M/M/1 value rho/(mu - lambda), not ~0
    assert abs(jobs["wait_ms"].mean() / (rho / (mu - rho * mu)) - 1) < 0.05


def test_md1_mean_wait_pollaczek_khinchine():
    s, rho = 2.0, 0.6  # deterministic service 2 ms
    lam = rho / s
    jobs = run_queue(DeterministicDist(s), 1, rate_per_s=lam * 1000, n_jobs=100_000)
    expected_wait = rho * s / (2 * (1 - rho))
    assert abs(jobs["wait_ms"].mean() / expected_wait - 1) < 0.04
    assert np.allclose(jobs["service_ms"], s)


def test_mmc_erlang_c():
    c, mu, rho = 3, 0.5, 0.75  # three slots, mean service 2 ms
    lam = rho * c * mu
    a = lam / mu
    p0_terms = sum(a**k / math.factorial(k) for k in range(c)) + a**c / (math.factorial(c) * (1 - rho))
    erlang_c = a**c / (math.factorial(c) * (1 - rho)) / p0_terms
    expected_wait = erlang_c / (c * mu - lam)
    jobs = run_queue(ExponentialDist(1 / mu), c, rate_per_s=lam * 1000, n_jobs=150_000)
    assert abs(jobs["wait_ms"].mean() / expected_wait - 1) < 0.06, (jobs["wait_ms"].mean(), expected_wait)
