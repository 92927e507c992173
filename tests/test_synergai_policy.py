"""The SynergAI policy on hand-built views: Pareto pruning, feasibility with tail service, the objective."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import entry

from synergai.cluster import ClusterView
from synergai.domain import Config, Job, Node, Placement, Site
from synergai.network import Network
from synergai.policies.synergai import pareto
from synergai.policy import make_policy
from synergai.profile import DeterministicDist, PerformanceProfile, QuantileDist

T1 = Config("onnxruntime", "fp32", 1, 1, "default")
T2 = Config("onnxruntime", "fp32", 1, 2, "default")
B8 = Config("onnxruntime", "fp32", 8, 2, "default")


def setup(objective="least_capable", percentile=0.9, **params):
    # fast board (5 ms on its accelerator), slow VM (20 ms on 1 core, 12 ms on 2 cores, batch-8 call 60 ms)
    nodes = [Node("fast", "board", "edge", "arm64", "s", 4, 1), Node("vm", "vm", "edge", "amd64", "s", 2, 0)]
    prof = PerformanceProfile([
        entry("board", "m", QuantileDist([0, 0.5, 0.9, 1], [4.0, 5.0, 6.0, 7.0])),
        entry("vm", "m", DeterministicDist(20.0), config=T1, resource="cpu", units=1),
        entry("vm", "m", DeterministicDist(12.0), config=T2, resource="cpu", units=2),
        entry("vm", "m", DeterministicDist(60.0), config=B8, resource="cpu", units=2),
    ])
    pol = make_policy("synergai", objective=objective, percentile=percentile, **params)
    pol.prepare(prof, nodes, Network([Site("s", "edge")], []), np.random.default_rng(0))
    return pol, ClusterView(nodes, pol.queue_discipline), prof


def job(qos, queries=1, i=0):
    return Job(i, "m", qos_ms=qos, origin_site="s", arrival_ms=0.0, queries=queries)


def test_pareto():
    assert pareto([(1, 1), (2, 2), (1, 2), (2, 1)]) == [0]
    assert pareto([(1, 2), (2, 1), (1, 2)]) == [0, 1]


def test_offline_keeps_only_pareto_configs():
    pol, view, _ = setup()
    opts = {(o.node.name, o.entry.config.threads, o.entry.config.batch) for o in pol.options(job(100))[1]}
    # 1 thread (20 ms, 1 unit) and 2 threads (12 ms, 2 units) trade off. Batch 8 runs one query in a call of one
    # (call_plan: the 12 ms of batch 1), so it costs nothing and leaves room for jobs to join: it stands for 2 threads
    assert opts == {("fast", 0, 1), ("vm", 1, 1), ("vm", 2, 8)}
    pol, _, _ = setup(batching=False)  # without cross-job batching the room is worth nothing: batch 1
    assert {(o.node.name, o.entry.config.threads, o.entry.config.batch) for o in pol.options(job(100))[1]} == {
        ("fast", 0, 1), ("vm", 1, 1), ("vm", 2, 1)}
    # for 8 queries, batch 8 (one 60 ms call) beats 8 x 12 ms at 2 threads: it enters the front
    opts8 = {(o.node.name, o.entry.config.batch) for o in pol.options(job(1000, queries=8))[1]}
    assert ("vm", 8) in opts8


def test_least_capable_feasible_option_keeps_fast_node_free():
    pol, view, _ = setup()
    [p] = pol.schedule([job(qos=25.0)], view)
    # VM is the least capable for m; among its options 1 thread (20 ms <= 25) holds fewer units
    assert (p.node, p.config) == ("vm", T1) and p.predicted_latency_ms == 20.0
    [p] = pol.schedule([job(qos=15.0)], view)
    assert (p.node, p.config) == ("vm", B8)  # 1 thread misses 15 ms, 2 threads make it (batch 8: room, same 12 ms)
    [p] = pol.schedule([job(qos=8.0)], view)
    assert p.node == "fast" and p.predicted_latency_ms == pytest.approx(6.0)  # tail (p90) service on the board


def test_wait_counts_and_infeasible_goes_to_least_excess():
    pol, view, prof = setup(late="fit")
    e = prof.default_entry("m", "board")
    view.on_placed(Job(99, "m", 1, "s", 0), Placement(99, "fast", e.config), "accel", 1, 0.0, 50.0)  # board busy
    [p] = pol.schedule([job(qos=8.0)], view)
    # board: 50 + 6 > 8; vm 2 threads 12 > 8: nothing feasible -> earliest mean completion: vm/2 threads (12)
    assert (p.node, p.config) == ("vm", B8) and "least excess" in p.reason
    # by default (late="hold") it is held instead: only the busy board makes it late (idle, it takes 5.25 ms)
    pol, view, prof = setup()
    view.on_placed(Job(99, "m", 1, "s", 0), Placement(99, "fast", e.config), "accel", 1, 0.0, 50.0)
    [p] = pol.schedule([job(qos=8.0)], view)
    assert p.held and p.node is None


def test_fastest_objective():
    pol, view, _ = setup(objective="fastest")
    [p] = pol.schedule([job(qos=100.0)], view)
    assert p.node == "fast"


def test_ablation_switches():
    pol, view, _ = setup()
    pol.config_selection = False
    pol._kinds.clear()
    # default config on the VM is the fastest batch-1 one (2 threads); 1 thread is no longer an option
    assert {(o.node.name, o.entry.config.threads) for o in pol.options(job(100))[1]} == {("fast", 0), ("vm", 2)}
    pol, view, _ = setup()
    pol.tail_aware = False
    [p] = pol.schedule([job(qos=5.5)], view)  # mean of the board's distribution is 5.25 <= 5.5; p90 6 is not
    assert p.node == "fast"
    pol, view, _ = setup()
    [p] = pol.schedule([job(qos=5.5)], view)  # tail-aware: nothing is feasible -> least excess: board
    assert p.node == "fast" and "least excess" in p.reason
    pol, view, _ = setup()
    pol.admission = True
    [p] = pol.schedule([job(qos=5.5)], view)
    assert p.node is None and "admission control" in p.reason


def test_online_correction_follows_slow_node():
    from synergai.domain import Completion

    pol, view, _ = setup()
    pol.online_correction = True
    [p] = pol.schedule([job(qos=25.0)], view)
    assert (p.node, p.config) == ("vm", T1)
    for k in range(60):  # the VM's 1-thread config now takes 30 ms instead of 20 (throttled)
        pol.observe(Completion(k, "vm", T1, 0.0, 30.0, model="m"))
    assert pol._factor[("vm", T1)] == pytest.approx(1.5, rel=0.05)
    [p] = pol.schedule([job(qos=25.0)], view)
    assert (p.node, p.config) == ("vm", B8)  # 1 thread no longer predicted to make 25 ms


def test_marginal_cost_without_traffic_is_earliest_feasible_completion():
    pol, view, _ = setup(objective="marginal_cost")
    [p] = pol.schedule([job(qos=25.0)], view)
    # no traffic observed yet: no externality, so the score is the predicted completion (board: 6 ms tail)
    assert p.node == "fast" and p.predicted_latency_ms == pytest.approx(6.0)
    assert p.priority == 25.0  # deadline-ordered node queues: the deadline is the queue key


def twin_boards(**params):
    nodes = [Node("a", "board", "edge", "arm64", "s", 4, 1), Node("b", "board", "edge", "arm64", "s", 4, 1)]
    prof = PerformanceProfile([entry("board", "m", DeterministicDist(10.0))])
    pol = make_policy("synergai", **params)
    pol.prepare(prof, nodes, Network([Site("s", "edge")], []), np.random.default_rng(0))
    return pol, ClusterView(nodes, pol.queue_discipline)


def test_externality_is_the_mg1_marginal_delay():
    pol, view = twin_boards()
    [o] = [o for o in pol.options(job(100))[0] if o.node.name == "a"]
    pol._rate, pol._rho, pol._resid = (np.array([0.0, 0.05, 0.0, 0.0]), np.array([0.0, 0.5, 0.0, 0.0]),
                                       np.array([0.0, 2.5, 0.0, 0.0]))
    # pool a's accelerator (flat id 1): rate 0.05 jobs/ms, rho 0.5, R 2.5 ms; the job holds it for s = 10 ms:
    # 0.05 * (100 / 2) / 0.5 + 0.05 * 2.5 * 10 / 0.25 = 5 + 5 = 10 ms of others' waiting
    assert pol.externality(o) == pytest.approx(10.0)


def test_job_avoids_the_pool_whose_traffic_it_would_delay():
    pol, view = twin_boards()
    n = 2 * len(pol.nodes)
    busy = np.zeros(n)
    busy[1] = 0.05  # pool a (accelerator of node 0) carries short jobs; b carries nothing
    pol._rate, pol._rho, pol._resid = busy, busy * 10, busy * 50
    pol._rho_list = [0.0] * n  # no transit term (same site)
    [p] = pol.schedule([job(qos=100.0)], view)
    assert p.node == "b"
    pol._order.clear()
    pol._rate, pol._rho, pol._resid = busy[[0, 3, 2, 1]], busy[[0, 3, 2, 1]] * 10, busy[[0, 3, 2, 1]] * 50
    [p] = pol.schedule([job(qos=100.0, i=1)], view)
    assert p.node == "a"


def test_protects_queued_jobs_from_being_made_late():
    pol, view = twin_boards()
    e = pol.profile.default_entry("m", "board")
    # node a: one job running until 10, one loose job queued (deadline 25: on time, finishing at 20)
    view.on_placed(Job(90, "m", 100, "s", 0), Placement(90, "a", e.config, priority=100), "accel", 1, 0.0, 10.0)
    view.on_started(90, 0.0)
    view.on_placed(Job(91, "m", 25, "s", 0), Placement(91, "a", e.config, priority=25), "accel", 1, 0.0, 10.0)
    view.on_placed(Job(92, "m", 100, "s", 0), Placement(92, "b", e.config, priority=100), "accel", 1, 0.0, 10.0)
    view.on_started(92, 0.0)
    # a tighter job (deadline 22) would go ahead of job 91 on a and make it late (finish 30 > 25): it goes to b,
    # where it finishes at 20 behind the running job
    assert view.overtaken_late(0, "accel", 1, 0.0, 22.0, 10.0) == 1
    [p] = pol.schedule([Job(1, "m", 22.0, "s", 0.0)], view)
    assert p.node == "b" and p.predicted_latency_ms == pytest.approx(20.0)


def test_late_job_queues_behind_on_time_jobs_where_it_would_hurt_them():
    pol, view = twin_boards(late="fit")
    e = pol.profile.default_entry("m", "board")
    for k, node in ((90, "a"), (92, "b")):
        view.on_placed(Job(k, "m", 100, "s", 0), Placement(k, node, e.config, priority=100), "accel", 1, 0.0, 10.0)
        view.on_started(k, 0.0)
    view.on_placed(Job(91, "m", 25, "s", 0), Placement(91, "a", e.config, priority=25), "accel", 1, 0.0, 10.0)
    view.on_placed(Job(93, "m", 25, "s", 0), Placement(93, "b", e.config, priority=25), "accel", 1, 0.0, 10.0)
    # a job with a 15 ms target can make it nowhere (>= 20 ms on either board); ahead of 91 / 93 it would make
    # them late, so it is queued behind them: deadline + late_delay (10) x its target = 15 + 150
    [p] = pol.schedule([Job(1, "m", 15.0, "s", 0.0)], view)
    assert "least excess" in p.reason and p.priority == pytest.approx(165.0)
    assert p.predicted_latency_ms == pytest.approx(30.0)
