"""Simulator invariants: conservation, determinism, lifecycle accounting, network, capacity checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import two_site_profile, two_site_testbed

from experiments.runner import make_stream, prepare
from sim import simulate
from synergai.cluster import ClusterView
from synergai.domain import Job, Placement
from synergai.policy import Policy, available_policies, make_policy, register
from synergai.workload import WorkloadSpec, generate


def small_stream(tb, prof, n=3000, seed=3, private=0.2, mix=None, load=0.8):
    spec = WorkloadSpec(mix=mix or {"m": 0.8, "big": 0.2}, n_jobs=n, load=load, private_fraction=private,
                        input_bytes={"m": 100_000, "big": 1_000_000})
    return generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(seed))


@pytest.mark.parametrize("name", available_policies())
def test_conservation_every_policy(name):
    tb, prof = two_site_testbed(), two_site_profile()
    stream = small_stream(tb, prof)
    r = simulate(tb, prof, make_policy(name), stream, seed=1)
    j = r.jobs
    assert len(j) == len(stream) and j["job_id"].is_unique
    assert set(j["status"]) <= {"completed", "failed"}
    failed = j[j["status"] == "failed"]
    assert (failed["reason"].str.len() > 0).all()
    done = j[j["status"] == "completed"]
    assert len(done) + len(failed) == len(stream)
    # lifecycle accounting: arrival <= decision <= start <= finish, latency = transfer + wait + service
    assert (done["decision_ms"] >= done["arrival_ms"]).all()
    assert (done["start_ms"] >= done["decision_ms"] + done["transfer_ms"] - 1e-9).all()
    assert np.allclose(done["latency_ms"], done["transfer_ms"] + done["wait_ms"] + done["service_ms"]
                       + done["decision_ms"] - done["arrival_ms"])
    assert (done.loc[done["private"], "tier"] == "edge").all(), "a private job left the edge"
    assert np.array_equal(done["violated"], done["latency_ms"] > done["qos_ms"])


def test_transfer_time_is_latency_plus_size_over_bandwidth():
    tb, prof = two_site_testbed(), two_site_profile()
    stream = small_stream(tb, prof, n=500, private=0.0, mix={"m": 1.0})
    j = simulate(tb, prof, make_policy("cloud_only"), stream, seed=1).jobs
    # e LAN 0.5 ms @1000 Mbps, WAN 10 ms @100 Mbps, c LAN 0 ms @10000: bottleneck 100 Mbps
    expected = 0.5 + 10.0 + 100_000 * 8 / (100 * 1e3)
    assert np.allclose(j["transfer_ms"], expected)


def test_batches_and_queries():
    """A job of N queries runs ceil(N / batch) calls: 5 queries at batch 1 = 5 x 2 ms on `fast`."""
    tb, prof = two_site_testbed(), two_site_profile()
    spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=50, rate_per_s=1.0, load=None, queries=5)
    stream = generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))
    j = simulate(tb, prof, make_policy("greedy"), stream, seed=1).jobs
    assert (j.loc[j["node"] == "fast", "service_ms"] == 10.0).all()


def _table_hash(df: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(df, index=False).sum())


def _default_cfg(overrides):
    from experiments.runner import compose_config

    return compose_config(["workload.n_jobs=4000", *overrides])


@pytest.mark.parametrize("policy", ["greedy", "random", "k8s_default"])
def test_determinism_same_seed_same_table(policy):
    p = prepare(_default_cfg([f"policy={policy}"]))
    a = p.backend.run(p.testbed, p.profile, make_policy(policy), make_stream(p), p.seed).jobs
    b = p.backend.run(p.testbed, p.profile, make_policy(policy), make_stream(p), p.seed).jobs
    assert _table_hash(a) == _table_hash(b)
    p2 = prepare(_default_cfg([f"policy={policy}", "seed=2"]))
    c = p2.backend.run(p2.testbed, p2.profile, make_policy(policy), make_stream(p2), p2.seed).jobs
    assert _table_hash(a) != _table_hash(c)


def test_bad_placements_fail_with_reason_not_lost():
    @register("test_bad_placer")
    class Bad(Policy):
        def schedule(self, jobs, view):
            out = []
            for j in jobs:
                k = j.id % 3
                if k == 0:
                    out.append(Placement(j.id, "no-such-node", None))
                elif k == 1:
                    cfg = self.profile.default_entry("m", "vmdev").config
                    out.append(Placement(j.id, "fast", cfg))  # fast has no entry with that config
                else:
                    out.append(Placement.reject(j.id, "admission control"))
            return out

    tb, prof = two_site_testbed(), two_site_profile()
    j = simulate(tb, prof, Bad(), small_stream(tb, prof, n=30, mix={"m": 1.0}), seed=1).jobs
    assert (j["status"] == "failed").all()
    reasons = set(j["reason"])
    assert "admission control" in reasons
    assert any("unknown node" in r for r in reasons) and any("no profile entry" in r for r in reasons)


def test_windowed_policy_gets_batches():
    seen = []

    @register("test_windowed")
    class Windowed(Policy):
        window_ms = 10.0

        def schedule(self, jobs, view):
            seen.append((view.now_ms, [j.arrival_ms for j in jobs]))
            e = self.profile.default_entry("m", "fastdev")
            return [Placement(j.id, "fast", e.config) for j in jobs]

    tb, prof = two_site_testbed(), two_site_profile()
    stream = small_stream(tb, prof, n=200, mix={"m": 1.0}, load=0.5)
    j = simulate(tb, prof, Windowed(), stream, seed=1).jobs
    assert (j["status"] == "completed").all() and sum(len(a) for _, a in seen) == 200
    for now, arrivals in seen:
        assert now % 10.0 == pytest.approx(0.0, abs=1e-9) or now % 10.0 == pytest.approx(10.0)
        assert all(now - 10.0 <= a <= now for a in arrivals)
    assert any(len(a) > 1 for _, a in seen)


def test_view_predictions_reset_when_node_drains():
    tb, prof = two_site_testbed(), two_site_profile()
    view = ClusterView(tb.nodes)
    e = prof.default_entry("m", "fastdev")
    j = Job(1, "m", 10.0, "e", 0.0)
    finish = view.on_placed(j, Placement(1, "fast", e.config), "accel", 1, 0.0, 100.0)
    assert finish == 100.0 and view.predicted_wait_ms("fast", "accel", 1, 0.0) == 100.0
    assert view.outstanding("fast") == 1 and view.allocated("fast", "accel") == 1
    view.on_clock(30.0)
    view.on_completed(1)  # finished early: the slot is free now, not at the predicted 100 ms
    assert view.predicted_wait_ms("fast", "accel", 1, 30.0) == 0.0 and view.outstanding("fast") == 0
    assert view.predicted_start_ms("vm", "cpu", 3, 0.0) == float("inf")  # more cores than the node has


def test_adding_a_trace_does_not_reshuffle_other_streams():
    """Service samples are keyed by (device type, model, config): a new profile entry changes nothing else."""
    from conftest import entry

    from synergai.profile import ExponentialDist, PerformanceProfile

    tb, prof = two_site_testbed(), two_site_profile()
    stream = small_stream(tb, prof, n=300, mix={"big": 1.0})
    a = simulate(tb, prof, make_policy("greedy"), stream, seed=4).jobs
    extra = PerformanceProfile([entry("otherdev", "big", ExponentialDist(1.0)), *prof.entries])
    b = simulate(tb, extra, make_policy("greedy"), stream, seed=4).jobs
    assert _table_hash(a) == _table_hash(b)
