"""Late binding (synergai.central): the central queue, the simulator's hold/dispatch path, Clockwork and
SynergAI's held late jobs, worked out by hand on the conftest two-site testbed.

Testbed: edge site `e` (LAN 0.5 ms: a transfer there takes 0.5 ms) with one-slot boards `fast` (2 ms) and `slow`
(8 ms), cloud site `c` with VM `vm` (transfer 10.5 ms; 20 ms on 1 thread, 12 ms on 2), deterministic service.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import two_site_profile, two_site_testbed

from sim import simulate
from synergai.central import FREED, RECALL, CentralQueue, Wake
from synergai.cluster import ClusterView
from synergai.domain import Config, Job, Placement
from synergai.policy import Policy, make_policy
from synergai.workload import JobStream

CPU2 = Config("onnxruntime", "fp32", 1, 2, "default")


def prepared(name, **params):
    tb = two_site_testbed()
    pol = make_policy(name, **params)
    pol.prepare(two_site_profile(), tb.nodes, tb.network, np.random.default_rng(0))
    return pol, ClusterView(tb.nodes, pol.queue_discipline)


def running(view, pol, node, k, svc, start=0.0):
    """Job k running on ``node``'s accelerator since ``start`` for a predicted ``svc`` ms."""
    e = pol.profile.default_entry("m", view.node(node).device_type)
    view.on_placed(Job(k, "m", 1e6, "e", start), Placement(k, node, e.config), "accel", 1, start, svc)
    view.on_started(k, start)


def stream(arrivals, qos_ms):
    n = len(arrivals)
    return JobStream(np.asarray(arrivals, dtype=float), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                     np.zeros(n, dtype=bool), ["m"], ["e"], {"m": qos_ms}, {"m": 0}, 1)


# ----------------------------------------------------------------------------- the central queue
def test_central_queue_keeps_deadline_order_and_wake_times():
    q = CentralQueue()
    a, b, c = Job(1, "m", 50.0, "e", 0.0), Job(2, "m", 10.0, "e", 5.0), Job(3, "m", 10.0, "e", 5.0)
    q.hold(a, 0.0, recall_ms=7.0)
    q.hold(c, 5.0)
    q.hold(b, 5.0)
    assert [j.id for j in q.jobs] == [2, 3, 1]  # deadlines 15, 15 (by id), 50
    assert q.next_wake_ms() == 7.0  # a's recall before the deadlines
    assert q.pop_due(7.0) == {1} and q.recall_ms(1) == math.inf
    assert q.next_wake_ms() == 15.0
    q.hold(a, 8.0, recall_ms=8.0)  # a recall time that is not in the future asks for nothing
    assert q.recall_ms(1) == math.inf and q.next_wake_ms() == 15.0
    assert [j.id for j in q.expired(15.0)] == [2, 3]
    assert q.release(b, 12.0) == pytest.approx(7.0) and 2 not in q and len(q) == 2
    assert q.pop_due(15.0) == {3}  # b's deadline entry is stale now
    assert q.next_wake_ms() == 50.0


# ----------------------------------------------------------------------------- the simulator's path
class HoldThenBind(Policy):
    """Holds every new job until its recall time (arrival + 3 ms), then binds it to `fast`."""

    name = "test_hold_then_bind"

    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            if view.now_ms >= job.arrival_ms + 3.0:
                out.append(self.place(job, self.nodes[0], self.profile.default_entry("m", "fastdev"), view))
            else:
                out.append(Placement.hold(job.id, "wait", job.arrival_ms + 3.0))
        return out


class HoldForever(Policy):
    name = "test_hold_forever"

    def schedule(self, jobs, view):
        return [Placement.hold(j.id, "never") for j in jobs]


def test_held_job_is_recalled_at_its_time_and_its_hold_is_measured():
    tb = two_site_testbed()
    r = simulate(tb, two_site_profile(), HoldThenBind(), stream([0.0, 1.0], 100.0), seed=1)
    j = r.jobs
    assert (j.status == "completed").all() and (j.node == "fast").all()
    assert j.hold_ms.tolist() == pytest.approx([3.0, 3.0])
    assert j.decision_ms.tolist() == pytest.approx([3.0, 4.0])
    # job 0: bound at 3, transfer 0.5, runs 3.5-5.5; job 1: bound at 4, arrives 4.5, waits for the slot until 5.5
    assert j.finish_ms.tolist() == pytest.approx([5.5, 7.5]) and j.wait_ms.tolist() == pytest.approx([0.0, 1.0])
    assert j.latency_ms.tolist() == pytest.approx([5.5, 6.5])  # hold time is part of the latency


def test_job_held_past_its_deadline_fails_with_reason_and_the_run_ends():
    r = simulate(two_site_testbed(), two_site_profile(), HoldForever(), stream([0.0, 2.0, 2.0], 10.0), seed=1)
    j = r.jobs
    assert (j.status == "failed").all() and j.reason.str.startswith("held past its deadline").all()
    assert "never" in j.reason.iloc[0]
    assert j.hold_ms.tolist() == pytest.approx([10.0, 10.0, 10.0])  # failed exactly at the deadline
    assert j.violated.all()


# ----------------------------------------------------------------------------- clockwork by hand
def test_clockwork_binds_just_in_time_or_holds():
    pol, view = prepared("clockwork")
    [p] = pol.schedule([Job(1, "m", 50.0, "e", 0.0)], view)
    assert p.node == "fast" and p.predicted_latency_ms == pytest.approx(2.5)  # idle: earliest finish at once
    pol, view = prepared("clockwork")
    running(view, pol, "fast", 90, 45.0)
    [p] = pol.schedule([Job(1, "m", 40.0, "e", 0.0)], view)
    assert p.node == "slow" and p.predicted_latency_ms == pytest.approx(8.5)
    running(view, pol, "slow", 91, 45.0)
    [p] = pol.schedule([Job(2, "m", 40.0, "e", 0.0)], view)
    assert (p.node, p.config) == ("vm", CPU2) and p.predicted_latency_ms == pytest.approx(22.5)
    [p] = pol.schedule([Job(3, "m", 20.0, "e", 0.0)], view)  # 22.5 > 20 on the best option: rejected now
    assert p.node is None and not p.held and "cannot meet its deadline" in p.reason


def test_clockwork_holds_for_the_node_that_finishes_earliest_and_it_pulls_the_job():
    pol, view = prepared("clockwork")
    running(view, pol, "fast", 90, 5.0)
    running(view, pol, "slow", 91, 30.0)
    job = Job(1, "m", 10.0, "e", 0.0)
    # fast frees at 5: finish 7 <= 10, but it would wait 4.5 ms on the node; slow (38.5) and vm (22.5) miss 10
    [p] = pol.schedule([job], view)
    assert p.held and p.recall_ms == pytest.approx(4.5)  # when binding to fast becomes just in time
    pol2, view2 = prepared("clockwork", bind="immediate")
    running(view2, pol2, "fast", 90, 5.0)
    running(view2, pol2, "slow", 91, 30.0)
    [p2] = pol2.schedule([job], view2)
    assert p2.node == "fast" and p2.predicted_latency_ms == pytest.approx(7.0)
    # the fast job finishes early, at 4: the node pulls the held job (finish 4 + 0.5 + 2 = 6.5)
    view.held.hold(job, 0.0, p.recall_ms)
    view.on_completed(90, 4.0)
    out = list(pol.dispatch(view.held.jobs, view, Wake(FREED, 0, view.held.pop_due(4.0))))
    assert len(out) == 1 and out[0].node == "fast" and out[0].predicted_latency_ms == pytest.approx(6.5)


def test_clockwork_rejects_a_held_job_at_its_deadline_check():
    pol, view = prepared("clockwork")
    running(view, pol, "fast", 90, 5.0)
    running(view, pol, "slow", 91, 30.0)
    job = Job(1, "m", 10.0, "e", 0.0)
    view.held.hold(job, 0.0, 4.5)
    running(view, pol, "fast", 92, 100.0, start=0.0)  # the fast node is taken for longer meanwhile
    view.on_completed(90, 4.5)
    view.on_clock(4.5)
    [p] = list(pol.dispatch(view.held.jobs, view, Wake(RECALL, -1, view.held.pop_due(4.5))))
    assert p.node is None and not p.held and "cannot meet its deadline" in p.reason


# ----------------------------------------------------------------------------- SynergAI's held late jobs
def test_synergai_holds_a_job_only_load_makes_late_and_a_freed_node_takes_it():
    pol, view = prepared("synergai")
    for node, k in (("fast", 90), ("slow", 91)):
        running(view, pol, node, k, 50.0)
    job = Job(1, "m", 25.0, "e", 0.0)
    view.on_placed(Job(92, "m", 1e6, "c", 0.0), Placement(92, "vm", CPU2), "cpu", 2, 0.0, 60.0)
    view.on_started(92, 0.0)
    [p] = pol.schedule([job], view)  # every pool busy for 50-60 ms: late everywhere; an idle cluster makes 2.5 ms
    assert p.held and "held for capacity" in p.reason
    view.held.hold(job, 0.0, p.recall_ms)
    view.on_completed(90, 10.0)  # fast frees at 10: 10 + 0.5 + 2 = 12.5 <= 25
    view.on_clock(10.0)
    out = list(pol.dispatch(view.held.jobs, view, Wake(FREED, 0, view.held.pop_due(10.0))))
    assert len(out) == 1 and out[0].node == "fast" and out[0].predicted_latency_ms == pytest.approx(12.5)
    pol, view = prepared("synergai_run_late")  # the previous rule runs it late instead
    for node, k in (("fast", 90), ("slow", 91)):
        running(view, pol, node, k, 50.0)
    [p] = pol.schedule([job], view)
    assert not p.held and p.node is not None


def test_synergai_rejects_a_job_no_node_could_ever_make_and_the_old_rule_runs_it_late():
    pol, view = prepared("synergai")
    [p] = pol.schedule([Job(1, "m", 1.0, "e", 0.0)], view)  # 1 ms: less than any transfer + service
    assert p.node is None and not p.held and "even when idle" in p.reason
    pol, view = prepared("synergai_run_late")
    [p] = pol.schedule([Job(1, "m", 1.0, "e", 0.0)], view)
    assert not p.held and p.node == "fast"


# ----------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("policy", ["clockwork", "synergai", "synergai_late"])
def test_late_binding_runs_are_deterministic_and_conserve_jobs(policy):
    from experiments.runner import compose_config, make_stream, prepare

    p = prepare(compose_config(["workload.n_jobs=1500", "cluster=scarce_fast", "workload.load=0.6"]))
    st = make_stream(p)
    a = simulate(p.testbed, p.profile, make_policy(policy), st, seed=p.seed)
    b = simulate(p.testbed, p.profile, make_policy(policy), st, seed=p.seed)
    pd.testing.assert_frame_equal(a.jobs, b.jobs)
    j = a.jobs
    assert len(j) == len(st) and set(j.status) <= {"completed", "failed"}
    assert (j.hold_ms > 0).any() and (j.hold_ms >= 0).all()
    done = j[j.status == "completed"]
    assert (done.hold_ms <= done.decision_ms - done.arrival_ms + 1e-9).all()
    failed = j[j.status == "failed"]
    assert (failed.reason.str.len() > 0).all()


def test_policies_that_never_hold_see_no_change():
    """A run of a policy that never holds has no held job and no dispatch call (one call per job)."""
    from experiments.runner import compose_config, make_stream, prepare

    p = prepare(compose_config(["workload.n_jobs=500"]))
    r = simulate(p.testbed, p.profile, make_policy("greedy"), make_stream(p), seed=p.seed)
    assert (r.jobs.hold_ms == 0).all() and len(r.decisions) == 500


# ----------------------------------------------------------------------------- the experiments
def test_late_binding_benchmark_and_comparison_run_small(tmp_path, capsys):
    from experiments import bench_late_binding, late_binding

    bench_late_binding.main(["--nodes", "3", "--loads", "0.8", "--reps", "1", "--min-jobs", "300",
                             "--pairs", "clockwork", "--out", str(tmp_path / "b.csv")])
    b = pd.read_csv(tmp_path / "b.csv")
    assert list(b.columns) == list(bench_late_binding.COLUMNS) and len(b) == 1
    assert b["late_us_per_job"].iloc[0] > 0 and b["immediate_us_per_job"].iloc[0] > 0
    assert b["late_held_share"].iloc[0] > 0 and b["late_dispatch_calls_per_job"].iloc[0] > 0
    late_binding.main(["--clusters", "default", "--loads", "0.8", "--seeds", "1", "2", "--jobs", "400",
                       "--out", str(tmp_path / "q")])
    s = pd.read_csv(tmp_path / "q" / "summary.csv")
    assert set(s["policy"]) == {"synergai", "synergai_run_late", "synergai_late", "synergai batching=False",
                                "clockwork", "clockwork bind=immediate", "clockwork batching=False"}
    assert (s["seeds"] == 2).all() and s["violation_rate"].between(0, 1).all()
    assert (s.loc[s["policy"] == "clockwork bind=immediate", "held_share"] == 0).all()
    assert (s.loc[s["policy"] == "synergai_run_late", "held_share"] == 0).all()
