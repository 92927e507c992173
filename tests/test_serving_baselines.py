"""The serving-literature baselines on hand-built views: EDF (deadline-ordered queues) and INFaaS-style
cheapest-feasible variant selection with escalation under load."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import entry, two_site_profile, two_site_testbed

from synergai.cluster import ClusterView
from synergai.domain import Config, Job, Placement
from synergai.policy import make_policy
from synergai.profile import DeterministicDist, PerformanceProfile

CPU1 = Config("onnxruntime", "fp32", 1, 1, "default")
CPU2 = Config("onnxruntime", "fp32", 1, 2, "default")


def prepared(name, profile=None, **params):
    tb = two_site_testbed()
    pol = make_policy(name, **params)
    pol.prepare(profile or two_site_profile(), tb.nodes, tb.network, np.random.default_rng(0))
    return pol, ClusterView(tb.nodes, pol.queue_discipline), tb


def busy(view, pol, node, k, arrival, qos, svc):
    """A job placed (by this policy's queue key) and queued on ``node``'s accelerator."""
    e = pol.profile.default_entry("m", view.node(node).device_type)
    job = Job(k, "m", qos, "e", arrival)
    prio = pol.priority(job) if hasattr(pol, "priority") else 0.0
    view.on_placed(job, Placement(k, node, e.config, priority=prio), "accel", 1, arrival, svc)
    return k


def test_edf_uses_deadline_order_where_greedy_sees_fifo():
    pol, view, _ = prepared("greedy")
    view.on_started(busy(view, pol, "fast", 90, 0.0, 100.0, 2.0), 0.0)
    for k in range(91, 95):  # four loose jobs queued: FIFO start 10, finish 12 > slow's 8.5
        busy(view, pol, "fast", k, 0.0, 100.0, 2.0)
    [p] = pol.schedule([Job(1, "m", 10.0, "e", 0.0)], view)
    assert p.node == "slow" and p.predicted_latency_ms == pytest.approx(8.5)
    pol, view, _ = prepared("edf")
    view.on_started(busy(view, pol, "fast", 90, 0.0, 100.0, 2.0), 0.0)
    for k in range(91, 95):
        busy(view, pol, "fast", k, 0.0, 100.0, 2.0)
    [p] = pol.schedule([Job(1, "m", 10.0, "e", 0.0)], view)
    # EDF: deadline 10 goes ahead of the deadline-100 jobs: starts when the running job ends (2), done at 4
    assert p.node == "fast" and p.predicted_latency_ms == pytest.approx(4.0) and p.priority == 10.0


def test_infaas_picks_the_cheapest_variant_that_meets_the_target():
    pol, view, _ = prepared("infaas")
    # unit-ms: fast board 2, slow board 8, VM 1 thread 20, VM 2 threads 24
    [p] = pol.schedule([Job(1, "m", 50.0, "e", 0.0)], view)
    assert p.node == "fast"
    busy(view, pol, "fast", 90, 0.0, 100.0, 45.0)  # the fast board is busy for 45 ms
    [p] = pol.schedule([Job(2, "m", 40.0, "e", 0.0)], view)
    assert p.node == "slow" and p.predicted_latency_ms == pytest.approx(8.5)  # escalates to the next variant
    busy(view, pol, "slow", 91, 0.0, 100.0, 45.0)
    [p] = pol.schedule([Job(3, "m", 40.0, "e", 0.0)], view)
    # both boards busy: VM 1 thread (transfer 10.5 + 20 = 30.5 <= 40) is cheaper than 2 threads (24 unit-ms)
    assert (p.node, p.config) == ("vm", CPU1) and p.predicted_latency_ms == pytest.approx(30.5, abs=0.1)
    [p] = pol.schedule([Job(4, "m", 25.0, "e", 0.0)], view)
    # 1 thread misses 25 ms, 2 threads (10.5 + 12) make it
    assert (p.node, p.config) == ("vm", CPU2)
    [p] = pol.schedule([Job(5, "m", 5.0, "e", 0.0)], view)
    assert "fastest" in p.reason and p.node == "vm"  # nothing meets 5 ms: earliest completion (22.6 ms)


def test_infaas_energy_cost_prefers_known_low_energy():
    prof = PerformanceProfile([
        entry("fastdev", "m", DeterministicDist(2.0), power_w=30.0),  # 60 mJ
        entry("slowdev", "m", DeterministicDist(8.0), power_w=5.0),  # 40 mJ
        entry("vmdev", "m", DeterministicDist(20.0), config=CPU1, resource="cpu", units=1),  # power unknown
    ])
    pol, view, _ = prepared("infaas", prof, cost="energy")
    [p] = pol.schedule([Job(1, "m", 50.0, "e", 0.0)], view)
    assert p.node == "slow"
    pol, view, _ = prepared("infaas", prof)  # unit-ms
    [p] = pol.schedule([Job(1, "m", 50.0, "e", 0.0)], view)
    assert p.node == "fast"
    with pytest.raises(Exception, match="cost"):
        make_policy("infaas", cost="dollars")
