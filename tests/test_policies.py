"""Each baseline policy on a hand-built cluster view, with the expected choice worked out by hand.

Testbed (conftest.two_site_testbed): edge site `e` with boards `fast` (2 ms) and `slow` (8 ms), each one
accelerator slot; cloud VM `vm` (2 cores; 12 ms holding 2 cores) 10 ms + LAN away. Model `m`, no input bytes.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import two_site_profile, two_site_testbed

from synergai.cluster import ClusterView
from synergai.domain import Job
from synergai.errors import ConfigError
from synergai.policy import available_policies, make_policy


def setup(name, seed=0):
    tb, prof = two_site_testbed(), two_site_profile()
    pol = make_policy(name)
    pol.prepare(prof, tb.nodes, tb.network, np.random.default_rng(seed))
    return tb, prof, pol, ClusterView(tb.nodes)


def job(i=0, private=False, model="m", t=0.0):
    return Job(i, model, qos_ms=100.0, origin_site="e", arrival_ms=t, private=private)


def occupy(view, prof, node, n, t=0.0, service_ms=None):
    """Record n placements of model m on node (as a backend would), each with its predicted service."""
    dev = view.node(node).device_type
    e = prof.default_entry("m", dev)
    from synergai.domain import Placement

    for k in range(n):
        j = Job(1000 + k + hash(node) % 1000 * 100, "m", 100.0, "e", t)
        view.on_placed(j, Placement(j.id, node, e.config), e.resource, e.units, t, service_ms or e.mean_ms)


def test_registry_lists_all_baselines():
    assert {"random", "round_robin", "least_outstanding", "greedy", "edge_first", "cloud_only",
            "k8s_default"} <= set(available_policies())
    with pytest.raises(ConfigError, match="^policy: unknown policy 'nope'"):
        make_policy("nope")
    with pytest.raises(ConfigError, match="policy.params.greedy"):
        make_policy("greedy", bogus=1)


def test_greedy_picks_minimum_predicted_completion():
    tb, prof, pol, view = setup("greedy")
    [p] = pol.schedule([job()], view)
    assert p.node == "fast" and p.predicted_service_ms == 2.0
    assert p.predicted_latency_ms == pytest.approx(0.5 + 2.0)  # LAN 0.5 ms + service
    occupy(view, prof, "fast", 4)  # fast busy until 8 ms: 0.5 + (8) + 2 = 10.5 > slow 0.5 + 8 = 8.5
    [p] = pol.schedule([job()], view)
    assert p.node == "slow" and p.predicted_latency_ms == pytest.approx(8.5)
    occupy(view, prof, "slow", 2)  # slow until 16: cloud = 0.5 + 10 + 0 LAN + 12 = 22.5; fast: 8 + 2 = 10
    [p] = pol.schedule([job()], view)
    assert p.node == "fast"


def test_greedy_respects_privacy_readiness_and_unknown_models():
    tb, prof, pol, view = setup("greedy")
    occupy(view, prof, "fast", 50)
    occupy(view, prof, "slow", 50)
    assert pol.schedule([job()], view)[0].node == "vm"
    assert pol.schedule([job(private=True)], view)[0].node in ("fast", "slow")
    view.on_ready("fast", False)
    view.on_ready("slow", False)
    [p] = pol.schedule([job(private=True)], view)
    assert p.node is None and "private" in p.reason
    [p] = pol.schedule([job(model="unknown-model")], view)
    assert p.node is None and "unknown-model" in p.reason


def test_round_robin_cycles():
    tb, prof, pol, view = setup("round_robin")
    nodes = [p.node for p in pol.schedule([job(i) for i in range(6)], view)]
    assert nodes == ["fast", "slow", "vm", "fast", "slow", "vm"]


def test_random_is_seeded_and_covers_all():
    picks = [p.node for p in setup("random", seed=5)[2].schedule([job(i) for i in range(300)],
                                                                 setup("random")[3])]
    again = [p.node for p in setup("random", seed=5)[2].schedule([job(i) for i in range(300)],
                                                                 setup("random")[3])]
    assert picks == again and set(picks) == {"fast", "slow", "vm"}


def test_least_outstanding_normalises_by_capacity():
    tb, prof, pol, view = setup("least_outstanding")
    assert pol.schedule([job()], view)[0].node == "vm"  # 0/2 ties 0/1: more capacity wins
    occupy(view, prof, "vm", 1)  # vm 1/2 = 0.5 outstanding per unit; fast 0/1
    assert pol.schedule([job()], view)[0].node == "fast"


def test_edge_first_offloads_only_when_edge_busy():
    tb, prof, pol, view = setup("edge_first")
    [p] = pol.schedule([job()], view)
    assert p.node == "fast" and "edge node idle" in p.reason  # both idle, same transfer: first
    occupy(view, prof, "fast", 1)
    assert pol.schedule([job()], view)[0].node == "slow"
    occupy(view, prof, "slow", 1)
    [p] = pol.schedule([job()], view)
    assert p.node == "vm" and "offload" in p.reason
    [p] = pol.schedule([job(private=True)], view)
    assert p.node in ("fast", "slow")


def test_cloud_only():
    tb, prof, pol, view = setup("cloud_only")
    assert pol.schedule([job()], view)[0].node == "vm"
    [p] = pol.schedule([job(private=True)], view)
    assert p.node in ("fast", "slow") and "private" in p.reason
    [p] = pol.schedule([job(model="big")], view)  # only fastdev runs `big`: no cloud node
    assert p.node is None and "no ready cloud node" in p.reason


def test_k8s_default_least_allocated():
    tb, prof, pol, view = setup("k8s_default")
    # the vm's default config requests 2 of 2 cores -> score 0; boards request 1 of 1 slot -> score 0 too;
    # all tie at 0 -> random among the three. After one job on fast, fast no longer fits (score -1).
    occupy(view, prof, "fast", 1)
    picks = {pol.schedule([job(i)], view)[0].node for i in range(50)}
    assert picks == {"slow", "vm"}
    occupy(view, prof, "slow", 1)
    occupy(view, prof, "vm", 1)
    # nothing fits any more: least allocated overall (each is over by one request) -> all tie at -1
    assert {pol.schedule([job(i)], view)[0].node for i in range(50)} == {"fast", "slow", "vm"}
