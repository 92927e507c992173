"""Cross-job batching (``Placement.riders``, synergai.central "Batches"), worked out by hand on the conftest
two-site testbed with one more config: the `fast` board runs a call of up to 4 inputs in 3 ms (batch 1: 2 ms).

Transfers: 0.5 ms inside site `e`; from cloud site `c` to the edge boards 10.5 ms (10 ms link + LAN).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TRT, entry, two_site_profile, two_site_testbed

from sim import simulate
from synergai.central import FREED, Wake
from synergai.cluster import ClusterView
from synergai.domain import Config, Job, Placement
from synergai.faults import faults_from_dict
from synergai.policy import Policy, make_policy
from synergai.profile import DeterministicDist, PerformanceProfile
from synergai.workload import JobStream

TRT2 = Config("tensorrt", "int8", 2, 0, "MAXN")
TRT4 = Config("tensorrt", "int8", 4, 0, "MAXN")


def batch_profile(b2_ms=None):
    """+ `fast` batch 4: 3 ms a call; with ``b2_ms`` also batch 2 (a call of 2 inputs takes that long)."""
    extra = [entry("fastdev", "m", DeterministicDist(3.0), config=TRT4, power_w=10.0)]
    if b2_ms is not None:
        extra.append(entry("fastdev", "m", DeterministicDist(b2_ms), config=TRT2, power_w=10.0))
    return PerformanceProfile([*two_site_profile().entries, *extra])


def prepared(name, **params):
    tb = two_site_testbed()
    pol = make_policy(name, **params)
    pol.prepare(batch_profile(), tb.nodes, tb.network, np.random.default_rng(0))
    return pol, ClusterView(tb.nodes, pol.queue_discipline)


def busy(view, node, k, until, resource="accel", units=1):
    view.on_placed(Job(k, "m", 1e6, "e", 0.0), Placement(k, node, TRT), resource, units, 0.0, until)
    view.on_started(k, 0.0)


def stream(arrivals, qos_ms, origins=None):
    n = len(arrivals)
    sites = ["e", "c"]
    idx = np.zeros(n, np.int64) if origins is None else np.array([sites.index(o) for o in origins], np.int64)
    return JobStream(np.asarray(arrivals, dtype=float), np.zeros(n, dtype=np.int64), idx, np.zeros(n, dtype=bool),
                     ["m"], sites if origins is not None else ["e"], {"m": qos_ms}, {"m": 0}, 1)


# ----------------------------------------------------------------------------- choosing riders
def test_a_freed_node_batches_the_held_jobs_of_the_model_that_still_make_their_deadlines():
    pol, view = prepared("clockwork")
    busy(view, "fast", 90, 5.0)
    busy(view, "slow", 91, 30.0)
    busy(view, "vm", 92, 30.0, "cpu", 2)
    jobs = [Job(1, "m", 10.0, "e", 0.0), Job(2, "m", 11.0, "e", 0.0), Job(3, "m", 12.0, "e", 0.0),
            Job(4, "m", 12.0, "c", 0.0)]  # job 4's input needs 10.5 ms to reach `fast`
    for j in jobs:
        view.held.hold(j, 0.0)
    view.on_completed(90, 4.0)
    view.on_clock(4.0)
    gen = pol.dispatch(view.held.jobs, view, Wake(FREED, 0, view.held.pop_due(4.0)))
    p = next(gen)
    # head job 1 on fast at 4.5: batch 4 takes 2 and 3 (finish 4.5 + 3 = 7.5 <= 10, 11, 12); job 4 would make
    # the call start at 14.5 and finish at 17.5, past every deadline: left out
    assert (p.job_id, p.node, p.config, p.riders) == (1, "fast", TRT4, (2, 3))
    assert p.predicted_latency_ms == pytest.approx(7.5) and p.predicted_service_ms == pytest.approx(3.0)
    for k in (1, 2, 3):  # what the backend does before asking for the next answer
        view.held.release(view.held.job(k), 4.0)
    view.on_placed(jobs[0], p, "accel", 1, 4.5, 3.0)
    view.on_riders(1, (2, 3))
    assert view.outstanding("fast") == 3
    assert list(gen) == []  # job 4 alone on fast would finish at 14.5 + 2 > 12: not pulled
    # without batching the node takes only its most urgent job, on the batch-1 config
    pol, view = prepared("clockwork", batching=False)
    busy(view, "fast", 90, 5.0)
    busy(view, "slow", 91, 30.0)
    busy(view, "vm", 92, 30.0, "cpu", 2)
    for j in jobs:
        view.held.hold(j, 0.0)
    view.on_completed(90, 4.0)
    view.on_clock(4.0)
    p = next(pol.dispatch(view.held.jobs, view, Wake(FREED, 0, view.held.pop_due(4.0))))
    assert (p.job_id, p.config, p.riders) == (1, TRT, ())


def test_batch_riders_stop_at_the_batch_size_and_respect_each_deadline():
    pol, view = prepared("clockwork")
    e4 = pol.profile.entry("m", "fastdev", TRT4)
    for k in range(2, 8):
        view.held.hold(Job(k, "m", 3.0 if k == 2 else 20.0, "e", 0.0), 0.0)
    riders, arrive, start, finish = pol.batch_riders(Job(1, "m", 20.0, "e", 0.0), 0, e4, view, 0.5)
    # job 2's deadline (3 ms) is before the call's finish (0.5 + 3): skipped; then 3 more fill the batch of 4
    assert riders == (3, 4, 5) and (arrive, start, finish) == (0.5, 0.5, 3.5)
    riders, *_ = pol.batch_riders(Job(1, "m", 20.0, "e", 0.0), 0, e4, view, 0.5, taken={3, 4})
    assert riders == (5, 6, 7)
    e1 = pol.profile.entry("m", "fastdev", TRT)
    assert pol.batch_riders(Job(1, "m", 20.0, "e", 0.0), 0, e1, view, 0.5)[0] == ()  # batch 1: no room


# ----------------------------------------------------------------------------- the simulator runs a batch once
def test_a_batch_runs_as_one_execution_in_the_simulator():
    tb = two_site_testbed()
    # t=0: job 0 takes fast (0.5 + 2), job 1 slow (0.5 + 8); jobs 2-4 would wait for fast: held, recalled at 2.0,
    # when binding to fast is just in time; job 2 goes with 3 and 4 as riders in one batch-4 call: 2.5 -> 5.5
    r = simulate(tb, batch_profile(), make_policy("clockwork"), stream([0, 0, 0, 0, 0], 10.0), seed=1)
    j = r.jobs.set_index("job_id")
    assert list(j.status) == ["completed"] * 5
    assert list(j.batch_jobs) == [1, 1, 3, 3, 3]
    b = j.loc[[2, 3, 4]]
    assert (b.node == "fast").all() and (b.batch == 4).all()
    assert b.start_ms.tolist() == [2.5] * 3 and b.finish_ms.tolist() == [5.5] * 3 and b.service_ms.tolist() == [3.0] * 3
    assert b.hold_ms.tolist() == [2.0] * 3 and b.transfer_ms.tolist() == [0.5] * 3 and b.wait_ms.tolist() == [0.0] * 3
    assert b.energy_mj.tolist() == pytest.approx([10.0] * 3)  # 10 W x 3 ms shared by three one-query jobs
    busy_ms = r.nodes.set_index("node").loc["fast", "busy_accel_unit_ms"]
    assert busy_ms == pytest.approx(2.0 + 3.0)  # job 0, then the batch once
    off = simulate(tb, batch_profile(), make_policy("clockwork", batching=False), stream([0] * 5, 10.0), seed=1)
    assert (off.jobs.batch_jobs == 1).all() and (off.jobs.status == "completed").all()


def test_riders_of_another_model_or_not_held_are_policy_errors():
    class Bad(Policy):
        name = "bad"

        def schedule(self, jobs, view):
            return [Placement(j.id, "fast", TRT, riders=(j.id + 1,)) for j in jobs]

    with pytest.raises(RuntimeError, match="is not a held job"):
        simulate(two_site_testbed(), batch_profile(), Bad(), stream([0, 1], 10.0), seed=1)


def test_a_rider_that_fails_a_filter_stays_held():
    tb = two_site_testbed()
    pol, view = prepared("clockwork")
    busy(view, "fast", 90, 5.0)
    private = Job(2, "m", 40.0, "e", 0.0, private=True)
    assert pol.allowed(private, tb.nodes[0])  # fast is an edge node: the private job may ride there
    cloud = tb.nodes[2]
    assert not pol.allowed(private, cloud)
    e_vm = pol.profile.entry("m", "vmdev", Config("onnxruntime", "fp32", 1, 2, "default"))
    view.held.hold(private, 0.0)
    assert pol.batch_riders(Job(1, "m", 40.0, "e", 0.0), 2, e_vm, view, 10.5)[0] == ()  # vm: batch 1 anyway


# ----------------------------------------------------------------------------- invariants, with faults
@pytest.mark.parametrize("faults", [None, "crash"])
def test_batched_runs_conserve_jobs_and_are_deterministic(faults):
    from experiments.runner import compose_config, make_stream, prepare

    over = ["workload.n_jobs=2000", "cluster=default", "workload.load=0.8"] + ([f"faults={faults}",
                                                                                 "faults.events.0.at_s=1"]
                                                                                if faults else [])
    p = prepare(compose_config(over))
    st = make_stream(p)
    a = simulate(p.testbed, p.profile, make_policy("clockwork"), st, seed=p.seed, faults=p.faults)
    b = simulate(p.testbed, p.profile, make_policy("clockwork"), st, seed=p.seed, faults=p.faults)
    pd.testing.assert_frame_equal(a.jobs, b.jobs)
    j = a.jobs
    assert len(j) == len(st) and set(j.status) <= {"completed", "failed"}
    assert (j.reason[j.status == "failed"].str.len() > 0).all()
    batched = j[j.batch_jobs > 1]
    assert len(batched) > 0
    # members of one execution: same node, config, start, finish and service; as many as batch_jobs says
    groups = batched[batched.status == "completed"].groupby(["node", "start_ms", "finish_ms"], observed=True)
    assert len(groups) > 0
    for _, g in groups:
        assert len(g) == g.batch_jobs.iloc[0] and g.service_ms.nunique() == 1 and g.batch.nunique() == 1
        assert g.queries.sum() <= g.batch.iloc[0]
    if faults:
        assert (j.retries > 0).any()


def test_a_crash_loses_every_member_of_a_batch_and_retries_them():
    tb = two_site_testbed()
    fs = faults_from_dict({"max_retries": 1, "events": [{"kind": "crash", "node": "fast", "at_s": 0.004,
                                                         "for_s": 0.001}]}, tb.nodes, tb.network)
    # as in the simulator test above, the batch of jobs 2-4 runs on fast from 2.5 to 5.5: the crash at 4 ms loses
    # it; each member is decided again at 4 ms, when no node can make 10 ms any more (slow: 4.5 + 8 after job 1)
    r = simulate(tb, batch_profile(), make_policy("clockwork"), stream([0, 0, 0, 0, 0], 10.0), seed=1, faults=fs)
    j = r.jobs.set_index("job_id")
    assert list(j.retries) == [0, 0, 1, 1, 1]
    assert list(j.status) == ["completed", "completed", "failed", "failed", "failed"]
    assert j.reason.loc[[2, 3, 4]].str.contains("cannot meet its deadline").all()
    assert r.nodes.set_index("node").loc["fast", "busy_accel_unit_ms"] == pytest.approx(2.0 + 1.5)  # 1.5 ms wasted


# ----------------------------------------------------------------------------- a call runs the inputs it has
def test_call_plan_times_the_last_call_at_the_smallest_batch_that_holds_it():
    prof = batch_profile(b2_ms=2.0)
    e4 = prof.entry("m", "fastdev", TRT4)
    assert [(e.config.batch, n) for e, n in e4.call_plan(1)] == [(1, 1)]  # one input: the batch-1 call, 2 ms
    assert e4.service_ms(1) == 2.0 and e4.service_ms(2) == 2.0 and e4.service_ms(3) == 3.0
    assert [(e.config.batch, n) for e, n in e4.call_plan(9)] == [(4, 2), (1, 1)] and e4.service_ms(9) == 8.0
    assert e4.takes_more(1, 1) and not e4.takes_more(2, 1)  # 2 -> 3 inputs: the 3 ms call
    assert prof.entry("m", "fastdev", TRT).service_ms(3) == 6.0  # batch 1: three calls


# ----------------------------------------------------------------------------- joins (Placement.joins)
class Joiner(Policy):
    """Job 0 on `fast` with batch 4; every later job asks to join job 0's execution."""

    name = "joiner"

    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self.seen = []

    def schedule(self, jobs, view):
        return [Placement(j.id, "fast", TRT4, joins=-1 if j.id == 0 else 0) for j in jobs]

    def observe(self, completion):
        self.seen.append((completion.job_id, completion.service_ms, completion.queries))


def test_a_job_joins_a_bound_execution_before_it_starts_else_runs_alone():
    tb = two_site_testbed()
    # job 0 reaches fast at 0.5 and starts; job 1 (also at 0) arrives with it: one call of 2 inputs, 2 ms
    pol = Joiner()
    j = simulate(tb, batch_profile(b2_ms=2.0), pol, stream([0, 0], 10.0), seed=1).jobs.set_index("job_id")
    assert list(j.batch_jobs) == [2, 2] and list(j.finish_ms) == [2.5, 2.5] and list(j.service_ms) == [2.0, 2.0]
    assert sorted(pol.seen) == [(0, 2.0, 2), (1, 2.0, 2)]  # each completion covers the execution's two inputs
    # job 1 arrives at 0.2: its input reaches fast at 0.7, after the call started at 0.5: it runs alone after it
    j = simulate(tb, batch_profile(b2_ms=2.0), Joiner(), stream([0, 0.2], 10.0), seed=1).jobs.set_index("job_id")
    assert list(j.batch_jobs) == [1, 1] and list(j.start_ms) == [0.5, 2.5] and list(j.finish_ms) == [2.5, 4.5]
    # a third input makes the call longer (3 ms at batch 4): the backend takes it while the call has room -- whether
    # that is worth it is the policy's choice -- and the execution runs 3 ms; a fifth input finds no room: alone
    j = simulate(tb, batch_profile(b2_ms=2.0), Joiner(), stream([0, 0, 0], 10.0), seed=1).jobs.set_index("job_id")
    assert list(j.batch_jobs) == [3, 3, 3] and list(j.finish_ms) == [3.5] * 3 and list(j.service_ms) == [3.0] * 3
    j = simulate(tb, batch_profile(b2_ms=2.0), Joiner(), stream([0] * 5, 10.0), seed=1).jobs.set_index("job_id")
    assert list(j.batch_jobs) == [4, 4, 4, 4, 1] and list(j.finish_ms) == [3.5] * 4 + [5.5]
    assert (j.status == "completed").all()


def test_synergai_leaves_costless_room_and_a_later_job_joins():
    tb = two_site_testbed()
    pol = make_policy("synergai")
    pol.prepare(batch_profile(b2_ms=2.0), tb.nodes, tb.network, np.random.default_rng(0))
    view = ClusterView(tb.nodes, pol.queue_discipline)
    busy(view, "fast", 90, 5.0)
    busy(view, "slow", 91, 50.0)
    busy(view, "vm", 92, 50.0, "cpu", 2)
    [p0] = pol.schedule([Job(0, "m", 10.0, "e", 0.0)], view)
    assert p0.node == "fast" and p0.config == TRT4  # batch 4 runs one input as fast as batch 1: room for free
    view.on_placed(Job(0, "m", 10.0, "e", 0.0), p0, "accel", 1, 0.5, 2.0)
    [p1] = pol.schedule([Job(1, "m", 10.0, "e", 0.0)], view)
    # fast frees at 5: job 0 runs 5 -> 7; job 1 rides in it (2 inputs, still 2 ms) and finishes at 7 too
    assert (p1.node, p1.config, p1.joins) == ("fast", TRT4, 0) and p1.predicted_latency_ms == pytest.approx(7.0)
    off = make_policy("synergai", batching=False)
    off.prepare(batch_profile(b2_ms=2.0), tb.nodes, tb.network, np.random.default_rng(0))
    [q0] = off.schedule([Job(0, "m", 10.0, "e", 0.0)], ClusterView(tb.nodes, off.queue_discipline))
    assert q0.config == TRT and q0.joins == -1


# ----------------------------------------------------------------------------- joins that lengthen the call
def test_has_room_is_the_backends_rule_and_takes_more_the_free_case():
    e4 = batch_profile(b2_ms=2.0).entry("m", "fastdev", TRT4)
    assert e4.has_room(1, 1) and e4.takes_more(1, 1)  # 2 inputs: the 2 ms call, as 1 input
    assert e4.has_room(2, 2) and not e4.takes_more(2, 2)  # 4 inputs fit the call, which takes 3 ms then
    assert not e4.has_room(3, 2)  # 5 inputs need a second call


def test_the_view_retimes_an_execution_a_job_joins_and_keeps_its_members_earliest_deadline():
    tb = two_site_testbed()
    view = ClusterView(tb.nodes, "priority")
    busy(view, "fast", 90, 5.0)
    view.on_placed(Job(0, "m", 20.0, "e", 0.0), Placement(0, "fast", TRT4, priority=20.0), "accel", 1, 0.5, 2.0)
    view.on_placed(Job(1, "m", 30.0, "e", 0.0), Placement(1, "fast", TRT, priority=30.0), "accel", 1, 0.5, 2.0)
    assert view.open_executions("m")[0] == [0, TRT4, 1, 20.0]
    assert view.scheduled_at(0) == (5.0, 7.0) and view.scheduled_at(1) == (7.0, 9.0)
    view.on_riders(0, [7], 2, due_ms=12.0)
    view.on_service(0, 3.0)  # a call of 3 inputs: 3 ms; job 1 behind it moves with it
    assert view.open_executions("m")[0] == [0, TRT4, 3, 12.0]
    assert view.scheduled_at(0) == (5.0, 8.0) and view.scheduled_at(1) == (8.0, 10.0)
    view.on_completed(90, 5.0)
    view.on_started(0, 5.0)
    view.on_service(0, 9.0)  # started: too late to change
    assert view.scheduled_at(1) == (8.0, 10.0)


def joins_view(pol, due0=20.0):
    """`fast` busy until 5; job 0 bound there on batch 4 (one input, 2 ms: 5 -> 7), deadline ``due0``."""
    view = ClusterView(two_site_testbed().nodes, pol.queue_discipline)
    busy(view, "fast", 90, 5.0)
    job0 = Job(0, "m", due0, "e", 0.0)
    view.on_placed(job0, Placement(0, "fast", TRT4, priority=due0), "accel", 1, 0.5, 2.0)
    return view


def test_joinable_takes_a_longer_call_only_when_asked_and_every_member_and_queued_job_stays_on_time():
    tb = two_site_testbed()
    pol = Policy()
    pol.prepare(batch_profile(b2_ms=2.0), tb.nodes, tb.network, np.random.default_rng(0))
    view = joins_view(pol)
    view.on_riders(0, [5], 1)  # a second input already rides: a third makes the call 3 ms
    job = Job(1, "m", 10.0, "e", 0.0)
    assert pol.joinable(job, view, 10.0) is None
    lid, i, e, tr, finish, longer = pol.joinable(job, view, 10.0, lengthen=True)
    assert (lid, i, e.config, tr, longer) == (0, 0, TRT4, 0.5, True) and finish == pytest.approx(8.0)  # 5 + 3
    assert pol.joinable(job, view, 7.9, lengthen=True) is None  # the job's own deadline
    view.on_riders(0, [], 0, due_ms=7.5)  # a member due at 7.5 would be made late
    assert pol.joinable(job, view, 10.0, lengthen=True) is None
    # a queued on-time job behind the execution that the longer call would make late
    for queues in ("fifo", "priority"):
        pol.queue_discipline = queues
        view = joins_view(pol)
        view.on_riders(0, [5], 1)
        view.on_placed(Job(2, "m", 9.5, "e", 0.0), Placement(2, "fast", TRT, priority=30.0, protect_until_ms=9.5),
                       "accel", 1, 0.5, 2.0)  # runs 7 -> 9, due 9.5; behind a 3 ms call it would end at 10
        assert view.lengthened_late(0, 1.0) == 1 and view.lengthened_late(0, 0.4) == 0
        assert pol.joinable(job, view, 10.0, lengthen=True) is None, queues


def test_synergai_joins_a_longer_call_before_holding_a_job_that_misses_elsewhere():
    tb = two_site_testbed()
    for name, joins in (("synergai", 0), ("synergai_free_joins", -1)):
        pol = make_policy(name)
        pol.prepare(batch_profile(b2_ms=2.0), tb.nodes, tb.network, np.random.default_rng(0))
        view = joins_view(pol, due0=8.0)
        view.on_riders(0, [5], 1)
        busy(view, "slow", 91, 50.0)
        busy(view, "vm", 92, 50.0, "cpu", 2)
        # job 1 (target 8.5): behind job 0 on fast it would run 7 -> 9; ahead of it, job 0 (due 8) would end at 9:
        # no option meets it; riding in job 0's call (now 3 inputs, 3 ms) all finish at 8
        [p] = pol.schedule([Job(1, "m", 8.5, "e", 0.0)], view)
        assert p.joins == joins, name
        if joins == 0:
            assert (p.node, p.config) == ("fast", TRT4) and p.predicted_latency_ms == pytest.approx(8.0)
        else:
            assert p.held
    # in the simulator, four jobs at once with a 3.6 ms target: job 0 on fast (0.5 -> 2.5), job 1 joins for free;
    # job 2 meets its target nowhere on its own but in job 0's call, then 3 ms (0.5 -> 3.5); job 3 joins for free
    j = simulate(tb, batch_profile(b2_ms=2.0), make_policy("synergai"), stream([0] * 4, 3.6),
                 seed=1).jobs.set_index("job_id")
    assert (j.status == "completed").all() and list(j.batch_jobs) == [4] * 4 and list(j.finish_ms) == [3.5] * 4
    j = simulate(tb, batch_profile(b2_ms=2.0), make_policy("synergai_free_joins"), stream([0] * 4, 3.6),
                 seed=1).jobs.set_index("job_id")
    # free joins only: job 1's free join fails the check of the job alone (behind job 0 it would end at 4.5), so jobs 1-3
    # are held and fail at their deadlines
    assert list(j.status) == ["completed", "failed", "failed", "failed"] and (j.batch_jobs == 1).all()


def test_an_execution_whose_input_is_overdue_on_an_idle_pool_looks_held_up_and_is_not_joined():
    tb = two_site_testbed()
    pol = Policy()
    pol.prepare(batch_profile(b2_ms=2.0), tb.nodes, tb.network, np.random.default_rng(0))
    view = ClusterView(tb.nodes, "priority")
    job0 = Job(0, "m", 20.0, "e", 0.0)
    view.on_placed(job0, Placement(0, "fast", TRT4, priority=20.0), "accel", 1, 0.5, 2.0)  # input due at 0.5
    job = Job(1, "m", 20.0, "e", 0.0)
    assert not view.held_up(0) and pol.joinable(job, view, 20.0)[0] == 0  # in flight: both inputs are in at 0.5
    view.on_clock(3.0)  # due 2.5 ms ago on an idle board, not started: a partition or a slow link holds it
    assert view.held_up(0) and pol.joinable(job, view, 20.0, lengthen=True) is None
    busy(view, "fast", 90, 9.0)  # the board is busy: the execution may well be queued behind that
    assert not view.held_up(0) and pol.joinable(job, view, 20.0)[0] == 0
    view.on_started(0, 3.0)
    assert not view.held_up(0)
