"""Multi-query jobs, the usable-capacity load basis and per-origin QoS targets (issue 11 item 1, issue 10 item 4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import entry, two_site_profile, two_site_testbed

from sim.engine import simulate
from synergai.domain import Config
from synergai.errors import ConfigError
from synergai.policy import make_policy
from synergai.profile import DeterministicDist, PerformanceProfile
from synergai.workload import WorkloadSpec, cluster_capacity_per_s, generate, parse_queries, usable_capacity_per_s

B4 = Config("tensorrt", "int8", 4, 0, "MAXN")


def profile_with_batch4():
    """two_site_profile plus a batch-4 config on `fast` (5 ms per call of 4 inputs)."""
    return PerformanceProfile([*(e for e in two_site_profile().entries if e.model == "m"),
                               entry("fastdev", "m", DeterministicDist(5.0), config=B4)])


def gen(prof=None, seed=11, **kw):
    tb, prof = two_site_testbed(), prof or two_site_profile()
    spec = WorkloadSpec(**{"mix": {"m": 1.0}, "n_jobs": 20_000, "rate_per_s": 100.0, "load": None, **kw})
    spec.validate(prof)
    return generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(seed))


def same_draws(a, b):
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("arrival_ms", "model_idx", "origin_idx", "private"))


def test_fixed_queries_draw_nothing_and_distributions_leave_other_streams_alone():
    base = gen()
    assert base.queries.dtype == np.int64 and (base.queries == 1).all()
    one = gen(queries={1: 1.0})  # a one-point distribution is a fixed count: nothing drawn
    assert same_draws(base, one) and np.array_equal(base.job_qos_ms, one.job_qos_ms)
    dist = gen(queries={1: 0.6, 8: 0.3, 32: 0.1})
    assert same_draws(base, dist)  # the query stream is spawned after the others
    vals, counts = np.unique(dist.queries, return_counts=True)
    assert list(vals) == [1, 8, 32]
    n = len(dist)
    for p, c in zip((0.6, 0.3, 0.1), counts):
        assert abs(c - p * n) < 4 * math.sqrt(n * p * (1 - p))
    assert np.array_equal(dist.queries, gen(queries={1: 0.6, 8: 0.3, 32: 0.1}).queries)  # seeded
    assert not np.array_equal(dist.queries, gen(seed=12, queries={1: 0.6, 8: 0.3, 32: 0.1}).queries)


def test_ranges_and_per_model_distributions():
    tb, prof = two_site_testbed(), two_site_profile()
    spec = WorkloadSpec(mix={"m": 0.5, "big": 0.5}, n_jobs=4000, rate_per_s=50.0, load=None,
                        queries={"m": 4, "big": [2, 5]})
    spec.validate(prof)
    s = generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(3))
    m, big = s.queries[s.model_idx == 0], s.queries[s.model_idx == 1]
    assert (m == 4).all() and set(np.unique(big)) == {2, 3, 4, 5}
    assert parse_queries([3, 3], ["x"])["x"].fixed == 3
    d = parse_queries({"8": 1, 1: 3}, ["x"])["x"]  # YAML may give string keys
    assert list(d.values) == [1, 8] and np.allclose(d.probs, [0.75, 0.25])


def test_qos_target_of_each_job_accounts_for_its_queries():
    """target = multiple x min over configs (transfer + ceil(q / b) x median); LAN 0.5 ms, 2 ms b1 or 5 ms b4."""
    s = gen(profile_with_batch4(), queries={1: 0.4, 4: 0.3, 6: 0.3}, qos_multiplier=3.0)
    expected = {1: 3 * (0.5 + 2.0), 4: 3 * (0.5 + 5.0), 6: 3 * (0.5 + 10.0)}
    for q, t in expected.items():
        assert np.allclose(s.job_qos_ms[s.queries == q], t)
    assert s.qos_ms["m"] == pytest.approx(expected[1])


def test_multi_query_jobs_run_full_calls_then_the_rest_at_its_own_batch():
    prof = profile_with_batch4()
    tb = two_site_testbed()
    s = gen(prof, queries=[1, 9], n_jobs=600, rate_per_s=20.0)
    j = simulate(tb, prof, make_policy("synergai"), s, seed=2).jobs
    done = j[j["status"] == "completed"]
    assert set(done["batch"]) == {1, 4}  # both batch sizes used
    # jobs only load made late are held centrally and fail at their deadline (SynergAI's late="hold")
    assert len(done) >= 0.95 * len(j) and j[j["status"] == "failed"]["reason"].str.startswith("held past").all()
    one = {1: 2.0, 4: 5.0}  # a call's time at batch 1 and 4 (deterministic)
    for _, r in done.iterrows():
        q, b = int(r["queries"]), int(r["batch"])
        full, rest = divmod(q, b)  # full calls at batch b; the rest runs as the smallest batch that holds it
        expected = full * one[b] + (one[1 if rest == 1 else 4] if rest else 0.0)
        assert r["service_ms"] == pytest.approx(expected)
    nine = done[(done["queries"] == 9) & (done["batch"] == 4)]
    assert len(nine) and (nine["service_ms"] == 12.0).all()  # 2 calls of 4 (5 ms each) + 1 call of 1 (2 ms)


@pytest.mark.parametrize("bad, key", [
    (0, "workload.queries"), (-3, "workload.queries"), (True, "workload.queries"), (1.5, "workload.queries"),
    ("many", "workload.queries"), ({}, "workload.queries"), ({0: 1.0}, "workload.queries.0"),
    ({1: -1.0}, "workload.queries.1"), ({1: 0.0}, "workload.queries"), ({1: float("nan")}, "workload.queries.1"),
    ([5, 2], "workload.queries"), ([1, 2, 3], "workload.queries"), (10**7, "workload.queries"),
    ({"nosuch": 1}, "workload.queries.nosuch"), ({"big": 2}, "workload.queries.m"),
    ({"m": 2, "big": "x"}, "workload.queries.big"),
])
def test_bad_queries_specs_give_one_line_errors(bad, key):
    spec = WorkloadSpec(mix={"m": 0.5, "big": 0.5}, n_jobs=10, rate_per_s=1.0, load=None, queries=bad)
    with pytest.raises(ConfigError) as ei:
        spec.validate(two_site_profile())
    msg = str(ei.value)
    assert "\n" not in msg and ei.value.key == key, msg


@pytest.mark.parametrize("k, v", [("load_basis", "useful"), ("load_basis", None), ("qos_reference", "site"),
                                  ("qos_reference", 1)])
def test_bad_conventions(k, v):
    spec = WorkloadSpec(mix={"m": 1.0}, **{k: v})
    with pytest.raises(ConfigError, match=f"workload.{k}: must be one of"):
        spec.validate(two_site_profile())


def usable(mult, private=0.0, origins=("e",)):
    tb, prof = two_site_testbed(), two_site_profile()
    d = parse_queries(1, ["m"])
    best = 0.5 + 2.0  # LAN of e + 2 ms on fast
    return usable_capacity_per_s(prof, tb.nodes, tb.network, {"m": 1.0}, d, list(origins),
                                 lambda m, oi, v: np.full(len(v), mult * best), {"m": 0}, private)


def test_usable_capacity_hand_worked():
    """fast 2 ms (500/s) and slow 8 ms (125/s) at the edge, 0.5 ms away; the 2-core VM 10.5 ms away runs
    20 ms on 1 core or 12 ms on 2 cores. Target 10 ms: edge only; 25 ms: + the VM at 2 cores (2 / (2 x 12 ms));
    50 ms: + 1-core calls (2 / 20 ms = 100/s, which the LP prefers). Nominal counts all of it."""
    assert usable(4)[0] == pytest.approx(625.0)
    assert usable(10)[0] == pytest.approx(625 + 1000 / 12)
    assert usable(20)[0] == pytest.approx(725.0)
    assert cluster_capacity_per_s(two_site_profile(), two_site_testbed().nodes, {"m": 1.0}) == pytest.approx(725.0)
    # private jobs only on edge nodes: 0.9 lambda <= 625 binds before lambda <= 725
    assert usable(20, private=0.9)[0] == pytest.approx(625 / 0.9)
    assert usable(20, private=0.5)[0] == pytest.approx(725.0)
    # a target no pair meets: nothing usable, every arrival counted as unservable
    assert usable(0.5) == (0.0, 1.0)


def test_load_basis_usable_sets_the_rate():
    s = gen(load=0.5, rate_per_s=None, load_basis="usable", qos_multiplier=4.0)
    assert len(s) / (s.arrival_ms[-1] / 1000) == pytest.approx(0.5 * 625.0, rel=0.03)
    s = gen(load=0.5, rate_per_s=None, qos_multiplier=4.0)
    assert len(s) / (s.arrival_ms[-1] / 1000) == pytest.approx(0.5 * 725.0, rel=0.03)
    with pytest.raises(ConfigError, match="workload.load_basis: usable: no"):
        gen(load=0.5, rate_per_s=None, load_basis="usable", qos_multiplier=0.5)


def test_qos_reference_origin_is_relative_to_each_site():
    """From the cloud site c the best is the VM at 2 cores (0 + 12 ms); from e, fast (0.5 + 2 ms)."""
    s = gen(origins=["e", "c"], qos_multiplier=2.0, qos_reference="origin")
    o = np.asarray(s.origins)[s.origin_idx]
    assert np.allclose(s.job_qos_ms[o == "e"], 5.0) and np.allclose(s.job_qos_ms[o == "c"], 24.0)
    c = gen(origins=["e", "c"], qos_multiplier=2.0)
    assert np.allclose(c.job_qos_ms, 5.0) and same_draws(s, c)


def test_batch_latency_model_of_the_derived_offline_rows_is_sane():
    """A job of q queries at batch b runs ceil(q / b) calls of max(b / T, p50 at batch 1), T the Offline
    throughput: with the best batch <= q it is never faster than the throughput bound q / T, never slower than
    q calls at batch 1, and per-sample time never rises with b where the Offline run beat SingleStream."""
    import re
    from collections import defaultdict
    from pathlib import Path

    prof = PerformanceProfile.from_csv([Path(__file__).resolve().parents[1] / "traces" / "mlperf_published.csv"])
    groups = defaultdict(dict)
    tput = {}
    for e in prof.entries:
        k = (e.device_type, e.model, e.config.power_mode)
        groups[k][e.config.batch] = e
        m = re.search(r"Offline throughput \(([0-9.]+) samples/s\)", e.notes)
        if m:
            tput[k] = float(m.group(1))
    checked = 0
    for k, rows in groups.items():
        if k not in tput or 1 not in rows:
            continue
        b1 = rows[1].p50_ms
        for b, e in rows.items():
            if b > 1:
                assert e.p50_ms == pytest.approx(max(b / tput[k] * 1000, b1), rel=1e-6), (k, b)
        for q in (1, 3, 8, 32, 100):
            best = min(e.calls(q) * e.p50_ms for b, e in rows.items() if b <= q)
            assert q / tput[k] * 1000 * (1 - 1e-9) <= best <= q * b1 * (1 + 1e-9), (k, q)
            checked += 1
    assert checked >= 5 * 15
