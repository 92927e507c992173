"""The ClusterView's predictions, worked out by hand: service order, closed loop, slowdown, priority pools,
foreign pods, multi-unit head-of-line blocking, and the memo against a fresh replay on random histories."""
from __future__ import annotations

import math

import numpy as np
import pytest

from synergai.cluster import ClusterView
from synergai.domain import Config, Job, Node, Placement

C = Config("e", "fp32", 1, 1, "default")


def view(discipline="fifo", cores=0, slots=1):
    return ClusterView([Node("n", "d", "edge", "arm64", "s", cores, slots)], discipline)


def place(v, k, arrive, svc, prio=0.0, qos=1e9, res="accel", units=1, placed_at=0.0):
    v.on_clock(placed_at)
    return v.on_placed(Job(k, "m", qos, "s", placed_at), Placement(k, "n", C, priority=prio), res, units, arrive,
                       svc)


def test_a_job_in_transit_does_not_delay_one_that_arrives_first():
    v = view()
    assert place(v, 1, arrive=100.0, svc=10.0) == 110.0  # long WAN transfer: reaches the node at 100
    # placed later, arrives at 5: served first (FIFO by arrival at the node), nothing ahead of it
    assert place(v, 2, arrive=5.0, svc=10.0, placed_at=1.0) == 15.0
    assert v.start_at(0, "accel", 1, 50.0) == 50.0
    assert v.start_at(0, "accel", 1, 105.0) == 110.0  # behind job 1
    assert v.waiting_jobs("n", "accel") == [2, 1]


def test_completions_close_the_loop():
    v = view()
    place(v, 1, 0.0, 10.0)
    v.on_started(1, 0.0)
    place(v, 2, 0.0, 10.0)
    assert v.start_at(0, "accel", 1, 0.0) == 20.0
    v.on_completed(1, now_ms=4.0, service_ms=4.0)  # early: job 2 starts now, the next job at 14
    v.on_started(2, 4.0)
    assert v.start_at(0, "accel", 1, 4.0) == pytest.approx(4.0 + 10.0 * v.slowdown_at(0))
    v2 = view()
    place(v2, 1, 0.0, 10.0)
    v2.on_started(1, 0.0)
    v2.on_clock(25.0)  # overdue and not reported: assumed to end now, never predicted in the past
    assert v2.start_at(0, "accel", 1, 25.0) == 25.0


def test_slowdown_follows_observed_service_times():
    v = view()
    for k in range(100):  # the node runs 2x slower than predicted (throttled)
        place(v, k, float(k), 10.0, placed_at=float(k))
        v.on_started(k, float(k))
        v.on_completed(k, float(k) + 20.0, service_ms=20.0)
    assert v.slowdown_at(0) == pytest.approx(2.0, rel=1e-3)
    place(v, 1000, 200.0, 10.0, placed_at=200.0)
    v.on_started(1000, 200.0)
    assert v.start_at(0, "accel", 1, 200.0) == pytest.approx(200.0 + 20.0, rel=1e-3)
    for k in range(2000, 2100):  # recovered
        v.on_completed(k, None)  # unknown jobs are ignored
        place(v, k, 300.0, 10.0, placed_at=300.0)
        v.on_completed(k, 300.0, service_ms=10.0)
    assert v.slowdown_at(0) == pytest.approx(1.0, rel=1e-3)
    assert v.min_slowdown() == pytest.approx(v.slowdown_at(0))


def test_priority_pool_serves_by_key_and_models_non_preemption():
    v = view("priority")
    place(v, 1, 0.0, 10.0, prio=100.0)
    v.on_started(1, 0.0)
    place(v, 2, 0.0, 10.0, prio=50.0)  # queued behind the running job
    # a tighter job reaching the node at 1 is served before job 2 (key 20 < 50), after the running job
    assert v.start_at(0, "accel", 1, 1.0, priority=20.0) == 10.0
    assert v.start_at(0, "accel", 1, 1.0, priority=60.0) == 20.0
    # non-preemptive: a loose job that reaches an idle pool first starts first and blocks a tight one
    w = view("priority")
    place(w, 1, 5.0, 30.0, prio=1000.0)  # in transit, arrives at 5
    assert w.start_at(0, "accel", 1, 6.0, priority=1.0) == 35.0
    assert w.start_at(0, "accel", 1, 4.0, priority=1.0) == 4.0
    # overtaking: the tight job at 4 pushes job 1 from 35 to 45 finish (it had until 40)
    w2 = view("priority")
    place(w2, 1, 5.0, 30.0, prio=1000.0, qos=40.0)
    assert w2.overtaken_late(0, "accel", 1, 4.0, 1.0, 10.0) == 1
    assert w2.overtaken_late(0, "accel", 1, 4.0, 1.0, 5.0) == 0  # finish 39: still on time


def test_fifo_overtaking_by_arrival():
    v = view()
    place(v, 1, 20.0, 10.0, qos=30.0)  # in transit, due by 30, finishing at 30
    assert v.overtaken_late(0, "accel", 1, 15.0, 0.0, 8.0) == 1  # reaches the idle pool first: 1 ends at 33
    assert v.overtaken_late(0, "accel", 1, 15.0, 0.0, 3.0) == 0  # done by 18, before job 1 arrives
    assert v.overtaken_late(0, "accel", 1, 25.0, 0.0, 3.0) == 0  # arrives after it: nobody overtaken


def test_foreign_pods_hold_units_until_gone():
    v = view(cores=4, slots=0)
    v.on_foreign("ns/p", "n", "cpu", 3)
    assert v.start_at(0, "cpu", 2, 0.0) == math.inf
    assert v.start_at(0, "cpu", 1, 0.0) == 0.0
    place(v, 1, 0.0, 10.0, res="cpu")
    v.on_started(1, 0.0)
    assert v.start_at(0, "cpu", 1, 0.0) == 10.0
    v.on_foreign_gone("ns/p")
    assert v.start_at(0, "cpu", 2, 0.0) == 0.0


def test_multi_unit_head_of_line_blocking():
    v = view(cores=4, slots=0)
    place(v, 1, 0.0, 10.0, res="cpu", units=3)
    v.on_started(1, 0.0)
    place(v, 2, 0.0, 5.0, res="cpu", units=2)  # one core is free, it needs two: waits for job 1 (start 10)
    # a 1-unit job behind it cannot use the free core before job 2 starts (both backends block at the head)
    assert v.start_at(0, "cpu", 1, 0.0) == 10.0
    assert v.start_at(0, "cpu", 5, 0.0) == math.inf


@pytest.mark.parametrize("discipline", ["fifo", "priority"])
def test_memoised_predictions_equal_a_fresh_replay(discipline):
    rng = np.random.default_rng(7)
    v = view(discipline, cores=3, slots=0)
    now, k, placed, started = 0.0, 0, [], []
    for _ in range(400):
        now += float(rng.exponential(2.0))
        v.on_clock(now)
        r = rng.random()
        if r < 0.45:
            place(v, k, now + float(rng.choice([0.0, 1.0, 30.0])), float(rng.exponential(5.0)),
                  prio=float(rng.integers(0, 5)), res="cpu", units=int(rng.integers(1, 3)), placed_at=now)
            placed.append(k)
            k += 1
        elif r < 0.7 and placed:
            j = placed.pop(int(rng.integers(len(placed))))
            v.on_started(j, now)
            started.append(j)
        elif started:
            v.on_completed(started.pop(int(rng.integers(len(started)))), now, float(rng.exponential(5.0)))
        for arrive in (now, now + 3.0, now + 50.0):
            got = v.start_at(0, "cpu", 1, arrive, 2.0)
            p = v._pools[0]["cpu"]
            p._memo = None  # force a replay from scratch
            assert v.start_at(0, "cpu", 1, arrive, 2.0) == got


def test_one_slot_priority_shortcut_equals_the_full_replay():
    rng = np.random.default_rng(11)
    v = view("priority")
    now, k, placed, started = 0.0, 0, [], []
    checked = 0
    for _ in range(600):
        now += float(rng.exponential(1.0))
        v.on_clock(now)
        r = rng.random()
        if r < 0.5:
            place(v, k, now + float(rng.choice([0.0, 0.5])), float(rng.exponential(3.0)), prio=float(rng.integers(0, 50)),
                  qos=float(rng.uniform(5, 60)), placed_at=now)
            placed.append(k)
            k += 1
        elif r < 0.75 and placed and not started:
            j = placed.pop(0)
            v.on_started(j, now)
            started.append(j)
        elif started:
            v.on_completed(started.pop(), now, float(rng.exponential(3.0)))
        p = v._pools[0]["accel"]
        if not p.waiting:
            continue
        arrive = now + 2.0
        for prio in (0.0, 25.0, 100.0):
            starts: dict = {}
            p.serve(now, v.slowdown_at(0), (prio, arrive, math.inf, -1, 1, 0.0, math.inf), starts)
            assert v.start_at(0, "accel", 1, arrive, prio) == pytest.approx(starts[-1])
            before = p.serve(now, v.slowdown_at(0))
            after = p.serve(now, v.slowdown_at(0), (prio, arrive, math.inf, -1, 1, 4.0 / v.slowdown_at(0), math.inf))
            want = sum(1 for w in p.waiting if before.get(w[3], math.inf) <= w[6] < after.get(w[3], math.inf))
            assert v.overtaken_late(0, "accel", 1, arrive, prio, 4.0) == want
            checked += 1
    assert checked > 100
