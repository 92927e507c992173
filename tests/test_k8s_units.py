"""Kubernetes backend pieces that need no cluster: the pod-constraint filters, the clock contract, Backoff."""
from __future__ import annotations

import heapq

import pytest

pytest.importorskip("kubernetes")
from kubernetes import client  # noqa: E402

from backends.kubernetes import names as N  # noqa: E402
from backends.kubernetes.constraints import (  # noqa: E402
    Ledger,
    NodeFacts,
    PodConstraints,
    pod_constraints,
    pod_filters,
    tolerates,
)
from backends.kubernetes.convert import Clock, InvalidObject, pod_job  # noqa: E402
from backends.kubernetes.watch import Backoff, call_with_retry  # noqa: E402
from synergai.domain import Job, Node  # noqa: E402
from synergai.filters import Code, FilterChain  # noqa: E402


def test_backoff_never_overflows():
    b = Backoff(0.1, 5.0)
    delays = [b.next_s() for _ in range(5000)]  # ~2**5000 would overflow a float
    assert max(delays) <= 5.0 and min(delays[-100:]) >= 2.5


def test_call_with_retry_keeps_trying_past_1024_failures():
    import time

    n = {"calls": 0}

    def flaky():
        n["calls"] += 1
        if n["calls"] < 1100:
            raise OSError("connection refused")
        return "ok"

    real = time.sleep
    time.sleep = lambda s: None
    try:
        assert call_with_retry(flaky, attempts=None) == "ok"
    finally:
        time.sleep = real


def test_pod_requests_sum_containers_max_init_and_count_one_pod():
    spec = client.V1PodSpec(containers=[
        client.V1Container(name="a", resources=client.V1ResourceRequirements(requests={"cpu": "500m", "memory": "1Gi"})),
        client.V1Container(name="b", resources=client.V1ResourceRequirements(requests={"cpu": "1"}))],
        init_containers=[client.V1Container(name="i", resources=client.V1ResourceRequirements(requests={"cpu": "2"}))])
    c = pod_constraints(client.V1Pod(metadata=client.V1ObjectMeta(name="p"), spec=spec))
    assert dict(c.requests) == {"cpu": 2000, "memory": 1024 ** 3 * 1000, "pods": 1000}


@pytest.mark.parametrize("tol, taint, ok", [
    (("k", "Equal", "v", "NoSchedule"), ("k", "v", "NoSchedule"), True),
    (("k", "Equal", "w", "NoSchedule"), ("k", "v", "NoSchedule"), False),
    (("k", "Exists", "", ""), ("k", "v", "NoExecute"), True),  # empty effect: every effect
    (("k", "Exists", "", "NoSchedule"), ("k", "v", "NoExecute"), False),  # per effect
    (("", "Exists", "", ""), ("any", "x", "NoSchedule"), True),  # empty key + Exists: everything
    (("other", "Exists", "", ""), ("k", "v", "NoSchedule"), False),
])
def test_toleration_matching_is_kube_schedulers(tol, taint, ok):
    assert tolerates(tol, taint) is ok


def test_resources_fit_counts_every_pod_and_says_which_resource():
    facts = {"n": NodeFacts("n", (), (), (("cpu", 2000), ("pods", 110_000), (N.RESOURCE_ACCEL, 1000)))}
    ledger = Ledger()
    fc = FilterChain(pod_filters(facts, ledger))
    node = Node("n", "d", "edge", "arm64", "s", 2, 1)
    want = PodConstraints(requests=(("cpu", 1500), ("pods", 1000)))
    job = Job(0, "m", 1.0, "s", 0.0, constraints=want)
    assert fc.check(job, node).ok
    ledger.hold("foreign", "n", (("cpu", 1000), ("pods", 1000)))  # a pod someone else placed
    st = fc.check(job, node)
    assert st.code is Code.UNSCHEDULABLE and st.reason == "Insufficient cpu" and st.filter == "NodeResourcesFit"
    ledger.release("foreign")
    assert fc.check(job, node).ok
    never = Job(1, "m", 1.0, "s", 0.0, constraints=PodConstraints(requests=((N.RESOURCE_ACCEL, 2000),)))
    assert fc.check(never, node).code is Code.UNRESOLVABLE


def test_arrival_needs_the_clock_and_a_scheduler_on_another_clock_refuses():
    from types import SimpleNamespace

    ann = {N.ANN_MODEL: "m", N.ANN_QOS_MS: "10", N.ANN_ORIGIN_SITE: "s", N.ANN_ARRIVAL_MS: "5"}
    pod = SimpleNamespace(metadata=SimpleNamespace(annotations=ann))
    with pytest.raises(InvalidObject, match="needs synergai.io/clock"):
        pod_job(pod, 0, 0.0, {"m"}, {"s"})
    mine = Clock(100.0, 20.0)
    ann[N.ANN_CLOCK] = mine.annotation()
    assert pod_job(pod, 0, 0.0, {"m"}, {"s"}, mine).arrival_ms == 5.0
    with pytest.raises(InvalidObject, match=r"start it with --epoch-s 100.0 --time-scale 20.0"):
        pod_job(pod, 0, 0.0, {"m"}, {"s"}, Clock(0.0, 1.0))
    ann[N.ANN_CLOCK] = "tomorrow"
    with pytest.raises(InvalidObject, match="expected 'epoch_s="):
        pod_job(pod, 0, 0.0, {"m"}, {"s"}, mine)


def test_parity_report_says_plainly_when_the_lag_is_too_large():
    from experiments.parity_k8s import lag_verdict

    ok = lag_verdict(0.2, 0.5, 10.2)
    assert "4.9% of the tightest QoS target (10.2 ms): within 10%" in ok
    bad = lag_verdict(0.6, 2.0, 10.2)
    assert "19.6%" in bad and "ABOVE 10%" in bad and "not comparable" in bad


def test_driver_retries_by_typed_outcome_not_by_message():
    from types import SimpleNamespace as NS

    from backends.kubernetes.driver import Outcome, _Replay

    def pod(phase, reason=None, message="", ann=None, conditions=None):
        return NS(metadata=NS(annotations=ann or {}, name="p", uid="u"), spec=NS(node_name="n"),
                  status=NS(phase=phase, reason=reason, message=message, conditions=conditions))

    r = object.__new__(_Replay)
    r.offset_ms = 0.0
    lost = r._classify(pod("Failed", N.REASON_NODE_LOST, "node n failed: crash"))
    assert lost.kind is Outcome.LOST
    # a job's own failure whose message happens to start like a node failure is final
    own = r._classify(pod("Failed", "SynergAIJobFailed", "node-local cache full", {N.ANN_FAIL_REASON: "node x"}))
    assert own.kind is Outcome.FAILED and own.reason == "node x"
    done = r._classify(pod("Succeeded", ann={N.ANN_FINISH_MS: "5.0"}))
    assert done.kind is Outcome.COMPLETED and done.row["finish_ms"] == 5.0
    assert r._classify(pod("Succeeded")).kind is Outcome.FAILED  # no result reported
    assert r._classify(pod("Pending")) is None
    rejected = r._classify(pod("Pending", conditions=[NS(type="PodScheduled", status="False",
                                                        reason="SynergAIRejected", message="no node")]))
    assert rejected.kind is Outcome.FAILED and rejected.reason == "no node"


def _pod_with_condition(reason, message):
    from types import SimpleNamespace as NS

    return NS(status=NS(conditions=[NS(type="PodScheduled", status="False", reason=reason, message=message)]))


def test_a_held_pod_is_pending_not_rejected():
    from backends.kubernetes.convert import rejection, scheduled_false

    held = _pod_with_condition(N.REASON_HELD, "clockwork: held for late binding (...)")
    assert rejection(held) is None  # the driver keeps waiting for it
    assert scheduled_false(held) == (N.REASON_HELD, "clockwork: held for late binding (...)")
    for reason in (N.REASON_REJECTED, N.REASON_UNSCHEDULABLE, N.REASON_INVALID, "SynergAIBindFailed"):
        assert rejection(_pod_with_condition(reason, "why")) == "why"
    assert rejection(_pod_with_condition("Unschedulable", "kube-scheduler's")) is None  # not ours
    from types import SimpleNamespace as NS

    from backends.kubernetes.driver import _Replay

    r = object.__new__(_Replay)
    pod = NS(metadata=NS(annotations={}, name="p", uid="u"), spec=NS(node_name=None),
             status=NS(phase="Pending", reason=None, message="", conditions=held.status.conditions))
    assert r._classify(pod) is None  # the job goes on waiting


# ---------------------------------------------------------------- the scheduler's late binding, with a fake API
def fire_timers(ag, clk, t):
    """Fire the agent's timers due up to experiment ms ``t`` on the manual clock, then set the clock to ``t``."""
    while ag._timers and ag._timers[0][0] <= clk.wall_s(t):
        w, _, fn, arg = heapq.heappop(ag._timers)
        clk.t = max(clk.t, w * 1000.0)
        fn(arg)
    clk.t = t


class _ManualClock(Clock):
    def __init__(self):
        super().__init__(0.0, 1.0)
        self.t = 0.0

    def now_ms(self):
        return self.t


class _FakeApi:
    """Records the scheduler's writes (appends from its API threads); a hold's write is slow."""

    def __init__(self):
        self.calls = []

    def create_namespaced_pod_binding(self, name, ns, body, **kw):
        self.calls.append(("bind", name, body.target.name, dict(body.metadata.annotations)))

    def patch_namespaced_pod_status(self, name, ns, body, **kw):
        import time

        c = body["status"]["conditions"][0]
        if c["reason"] == N.REASON_HELD:
            time.sleep(0.05)  # what follows it for the same pod must still land after it
        self.calls.append(("status", name, c["reason"], c["message"]))

    def create_namespaced_event(self, ns, ev, **kw):
        self.calls.append(("event", ev.involved_object.name, ev.reason, ev.type))


def _node(name, accel=1):
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels={N.LABEL_DEVICE_TYPE: "dev", N.LABEL_SITE: "s",
                                                        N.LABEL_TIER: "edge", N.LABEL_ARCH: "arm64"}),
        spec=client.V1NodeSpec(),
        status=client.V1NodeStatus(allocatable={N.RESOURCE_ACCEL: str(accel), "pods": "110"},
                                   conditions=[client.V1NodeCondition(type="Ready", status="True")]))


def _job_pod(name, qos_ms):
    ann = {N.ANN_MODEL: "m", N.ANN_QOS_MS: str(qos_ms), N.ANN_ORIGIN_SITE: "s"}
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", annotations=ann),
                        spec=client.V1PodSpec(scheduler_name=N.SCHEDULER_NAME, containers=[]),
                        status=client.V1PodStatus(phase="Pending"))


def test_scheduler_holds_recalls_binds_on_freed_capacity_and_expires():
    """A policy that holds while the node is busy: the pods stay Pending with one SynergAIHeld write each; recall
    times wake the loop and re-holds write nothing; a held job whose deadline passes is rejected with the reason;
    a freed slot and a new node bind the next held job, its Binding carrying the ms it was held; the queue survives
    a change of the node set; a deleted held pod leaves it."""
    from conftest import entry, single_node_testbed

    from backends.kubernetes.scheduler import Scheduler
    from synergai.central import FREED, READY
    from synergai.domain import Placement
    from synergai.policy import Policy
    from synergai.profile import DeterministicDist, PerformanceProfile

    class HoldWhileBusy(Policy):
        name = "hold_while_busy"

        def _one(self, job, view, bind):
            free = [c for c in self.candidates(job) if view.ready_at(c.i) and view.outstanding(c.node.name) == 0]
            if bind and free:
                return self.place(job, free[0].node, free[0].entry, view)
            return Placement.hold(job.id, "node busy", view.now_ms + 1.0)

        def schedule(self, jobs, view):
            return [self._one(j, view, True) for j in jobs]

        def dispatch(self, held, view, wake):
            for j in list(held):
                yield self._one(j, view, wake.reason in (FREED, READY))

    clk, api = _ManualClock(), _FakeApi()
    tb = single_node_testbed()
    s = Scheduler(api, HoldWhileBusy(), PerformanceProfile([entry("dev", "m", DeterministicDist(10.0))]),
                  tb.network, clock=clk)
    try:
        s._sync_nodes([_node("n0")])
        a, b, c, d, e = (_job_pod(x, 3 if x == "c" else 100) for x in "abcde")
        s._pod_event(a)
        s._schedule_due()  # a: bound at once
        clk.t = 1.0
        s._pod_event(b)
        s._pod_event(c)  # deadline 1 + 3 = 4 ms
        s._schedule_due()
        assert [j.id for j in s.held.jobs] == [s._job_ids["uid-c"], s._job_ids["uid-b"]]  # deadline order
        assert s.view.held is s.held and s.stats.held == 2
        assert s._idle_timeout_s() <= 0.0011  # the loop wakes for the recall time (2 ms, 1 ms of wall away)
        s._pod_event(b)  # its own status write coming back: still held, not back in the active queue
        assert "uid-b" not in s._pending and len(s.held) == 2
        clk.t = 1.5
        b = _job_pod("b", 100)
        b.metadata.annotations["example.com/note"] = "edited"
        s._pod_event(b)  # the user changed it: out of the queue, decided afresh (held again, no second write)
        assert "uid-b" in s._pending and len(s.held) == 1
        s._schedule_due()
        assert len(s.held) == 2 and s.stats.held == 3
        clk.t = 2.0
        s._recall_due()  # both held again (recall 3 ms)
        clk.t = 4.0
        s._recall_due()  # c's deadline: rejected
        assert [j.id for j in s.held.jobs] == [s._job_ids["uid-b"]] and s.stats.expired == 1
        assert s._recorded["uid-c"][0] == N.REASON_REJECTED
        assert s._recorded["uid-c"][1].startswith("held past its deadline (3.0 ms target) without being bound")
        clk.t = 5.0
        done = _job_pod("a", 100)
        done.spec.node_name = "n0"
        done.status.phase = "Succeeded"
        done.metadata.annotations.update({N.ANN_FINISH_MS: "5.0", N.ANN_SERVICE_MS: "5.0"})
        s._pod_event(done)  # a slot frees: b is bound (FREED)
        assert not s.held and "uid-b" in s._placed
        clk.t = 6.0
        s._pod_event(d)
        s._pod_event(e)
        s._schedule_due()  # b runs: d and e held
        clk.t = 7.0
        s._node_event(_node("n1"))  # a new node: a new view with the same queue, then READY binds d there
        assert s.view.held is s.held and s._placed["uid-d"].node == "n1"
        assert [j.id for j in s.held.jobs] == [s._job_ids["uid-e"]] and s.held.since_ms(s._job_ids["uid-e"]) == 6.0
        # a, b, c, b again; two recalls; the freed slot; d, e; the new node (d bound, e held again)
        assert [r[1] for r in s.stats.decisions] == [1, 1, 1, 1, 2, 2, 1, 1, 1, 2]
        clk.t = 8.5
        s._pod_gone("uid-e", "pod deleted")
        assert not s.held and s.stats.hold_ms == {"b": 4.0, "c": 3.0, "d": 1.0, "e": 2.5}
    finally:  # every write done, then every Event (sent after the write it explains)
        s._pool.shutdown(wait=True)
        s._events.shutdown(wait=True)
    binds = {x[1]: x for x in api.calls if x[0] == "bind"}
    assert [binds[x][3][N.ANN_HOLD_MS] for x in "abd"] == ["0.0", "4.0", "1.0"]
    status = [x[1:3] for x in api.calls if x[0] == "status"]
    assert sorted(status) == [("b", N.REASON_HELD), ("c", N.REASON_HELD), ("c", N.REASON_REJECTED),
                              ("d", N.REASON_HELD), ("e", N.REASON_HELD)]  # once per pod, however often held
    order = [x[:2] for x in api.calls if x[0] != "event"]  # a pod's writes land in the order they were made
    assert [x[2] for x in api.calls if x[:2] == ("status", "c")] == [N.REASON_HELD, N.REASON_REJECTED]
    assert order.index(("status", "b")) < order.index(("bind", "b"))
    held_msg = next(x[3] for x in api.calls if x[:3] == ("status", "b", N.REASON_HELD))
    assert held_msg == "hold_while_busy: held for late binding (node busy)"
    events = sorted(x[1:] for x in api.calls if x[0] == "event")
    assert events == [("a", "Scheduled", "Normal"), ("b", "Held", "Normal"), ("b", "Scheduled", "Normal"),
                      ("c", "FailedScheduling", "Warning"), ("c", "Held", "Normal"), ("d", "Held", "Normal"),
                      ("d", "Scheduled", "Normal"), ("e", "Held", "Normal")]


def test_scheduler_binds_a_batchs_riders_then_its_leader_and_keeps_refused_riders_held():
    """Placement.riders live: riders are bound before the leader, each Binding naming the other side (the leader's
    only the riders that were bound), with its own hold ms; the view holds the whole execution on the leader's
    entry and counts riders until each is seen to finish; a rider failing a filter there stays held; a rider that
    is not held, or of another model, is a policy error; when the leader's Binding fails its bound riders are
    recorded to run alone."""
    from concurrent.futures import wait

    from conftest import entry, single_node_testbed

    from backends.kubernetes.scheduler import Scheduler
    from synergai.central import FREED
    from synergai.domain import Config, Placement
    from synergai.policy import Policy
    from synergai.profile import DeterministicDist, PerformanceProfile

    b4 = Config("tensorrt", "int8", 4, 0, "MAXN")

    class BatchOnFree(Policy):
        """Holds every new job; a freed node takes the most urgent held job with ``riders(held)`` riding."""

        name = "batch_on_free"
        riders = staticmethod(lambda held: tuple(j.id for j in held[1:]))

        def schedule(self, jobs, view):
            return [Placement.hold(j.id, "wait") for j in jobs]

        def dispatch(self, held, view, wake):
            if wake.reason == FREED:
                yield Placement(held[0].id, "n0", b4, 20.0, 10.0, "batch", riders=self.riders(held))

    clk, api = _ManualClock(), _FakeApi()
    profile = PerformanceProfile([entry("dev", "m", DeterministicDist(10.0), config=b4),
                                  entry("dev", "m2", DeterministicDist(10.0), config=b4)])
    pol = BatchOnFree()
    s = Scheduler(api, pol, profile, single_node_testbed().network, clock=clk)

    def free_slot(t):  # capacity freed on n0
        clk.t = t
        s._dispatch(FREED, "n0")

    try:
        s._sync_nodes([_node("n0")])
        pods = {x: _job_pod(x, 100) for x in "abcd"}
        pods["c"].spec.node_selector = {"zone": "elsewhere"}  # fails NodeAffinity on n0: stays held
        for t, x in enumerate("abcd"):
            clk.t = float(t)
            s._pod_event(pods[x])
            s._schedule_due()
        assert len(s.held) == 4
        free_slot(5.0)
        ids = {x: s._job_ids[f"uid-{x}"] for x in "abcd"}
        assert {"uid-a", "uid-b", "uid-d"} <= set(s._placed) and [j.id for j in s.held.jobs] == [ids["c"]]
        assert s._placed["uid-a"].riders == ["uid-b", "uid-d"] and s._placed["uid-b"].leader == "uid-a"
        assert s.view.outstanding("n0") == 3 and s.stats.batches == 1 and s.stats.riders == 2
        assert s.stats.hold_ms == {"a": 5.0, "b": 4.0, "d": 2.0}
        done = _job_pod("b", 100)
        done.spec.node_name, done.status.phase = "n0", "Succeeded"
        done.metadata.annotations.update({N.ANN_FINISH_MS: "16.0", N.ANN_SERVICE_MS: "10.0"})
        clk.t = 16.0
        s._pod_event(done)  # a rider seen to finish: no longer outstanding, its leader forgets it
        assert s.view.outstanding("n0") == 2 and s._placed["uid-a"].riders == ["uid-d"]
        s._pod_gone("uid-c", "pod deleted")  # the policies below batch the most urgent held job
        m2 = _job_pod("f", 100)
        m2.metadata.annotations[N.ANN_MODEL] = "m2"
        for pod in (_job_pod("e", 100), m2):
            s._pod_event(pod)
        s._schedule_due()
        pol.riders = staticmethod(lambda held: tuple(j.id for j in held if j.model == "m2"))
        with pytest.raises(RuntimeError, match=r"\(m2\) cannot join a batch of m"):
            free_slot(17.0)  # e leads
        pol.riders = staticmethod(lambda held: (10_000,))
        with pytest.raises(RuntimeError, match="rider 10000 of job .* is not a held job"):
            free_slot(18.0)  # f leads
    finally:
        s._pool.shutdown(wait=True)
        s._events.shutdown(wait=True)
    binds = [x for x in api.calls if x[0] == "bind"]
    assert [x[1] for x in binds] == ["b", "d", "a"]  # riders first, then the leader naming them
    assert binds[2][3][N.ANN_BATCH_RIDERS] == "b,d" and N.ANN_BATCH_LEADER not in binds[2][3]
    assert all(x[3][N.ANN_BATCH_LEADER] == "a" and x[2] == "n0" for x in binds[:2])
    assert [x[3][N.ANN_HOLD_MS] for x in binds] == ["4.0", "2.0", "5.0"]
    assert {x[3][N.ANN_BATCH] for x in binds} == {"4"}

    # the leader's Binding fails: the rider that was bound is recorded alone (the agent runs it alone)
    class FailLeader(_FakeApi):
        def create_namespaced_pod_binding(self, name, ns, body, **kw):
            if name == "a":
                from kubernetes.client.rest import ApiException

                raise ApiException(status=422, reason="Unprocessable")
            super().create_namespaced_pod_binding(name, ns, body, **kw)

    clk, api = _ManualClock(), FailLeader()
    pol = BatchOnFree()
    s = Scheduler(api, pol, profile, single_node_testbed().network, clock=clk)
    try:
        s._sync_nodes([_node("n0")])
        for x in "ab":
            s._pod_event(_job_pod(x, 100))
        s._schedule_due()
        free_slot(1.0)
        wait(list(s._writes.values()))
        while not s._q.empty():
            item = s._q.get_nowait()
            if item[0] == "bind":
                s._bind_answer(item[1], item[2])
        assert "uid-a" not in s._placed and s._placed["uid-b"].leader is None and s.stats.orphaned == 1
        assert s.view.outstanding("n0") == 1 and s._recorded["uid-a"][0] == "SynergAIBindFailed"
    finally:
        s._pool.shutdown(wait=True)
        s._events.shutdown(wait=True)
    assert [x[1] for x in api.calls if x[0] == "bind"] == ["b"]


# ---------------------------------------------------------------- the node agent's batches, with a fake API
class _AgentApi:
    def __init__(self):
        self.ann, self.phase = {}, {}

    def patch_namespaced_pod(self, name, ns, body, **kw):
        self.ann.setdefault(name, {}).update(body["metadata"]["annotations"])

    def patch_namespaced_pod_status(self, name, ns, body, **kw):
        self.phase.setdefault(name, []).append((body["status"]["phase"], body["status"].get("reason")))

    def patch_node_status(self, *a, **kw):
        pass


def _bound_pod(name, queries=1, **ann_over):
    ann = {N.ANN_MODEL: "m", N.ANN_ORIGIN_SITE: "s", N.ANN_QUERIES: str(queries), N.ANN_POLICY: "p",
           N.ANN_ENGINE: "tensorrt", N.ANN_PRECISION: "int8", N.ANN_BATCH: "4", N.ANN_THREADS: "0",
           N.ANN_POWER_MODE: "MAXN", N.ANN_DECISION_MS: "0.0", **ann_over}
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", annotations=ann),
                        spec=client.V1PodSpec(node_name="n0", containers=[]), status=client.V1PodStatus(phase="Pending"))


def test_agent_runs_a_batch_as_one_execution_and_riders_without_a_leader_alone():
    """A leader and the riders it lists: one execution once all inputs are in, one service draw for all queries,
    units booked once, every member ends with it (same times, batch-jobs / batch-queries); a member deleted before
    the start is left out; a rider whose leader is bound without it, or never bound, runs alone; a node failure
    fails every member (and a waiting rider) as lost."""
    from conftest import entry, single_node_testbed

    from backends.kubernetes.agent import NodeAgent
    from synergai.domain import Config
    from synergai.profile import DeterministicDist, PerformanceProfile

    b4 = Config("tensorrt", "int8", 4, 0, "MAXN")
    tb = single_node_testbed()
    clk, api = _ManualClock(), _AgentApi()
    ag = NodeAgent(api, tb.nodes, tb.network, PerformanceProfile([entry("dev", "m", DeterministicDist(10.0), config=b4)]),
                   clock=clk, writers=1, batch_wait_s=0.05)

    def advance(t):  # fire the agent's timers up to experiment ms t
        fire_timers(ag, clk, t)

    pod = lambda name, **kw: ("pod", "MODIFIED", _bound_pod(name, **kw))  # noqa: E731
    for x in "bc":
        ag._handle(pod(x, **{N.ANN_BATCH_LEADER: "a"}))
    ag._handle(pod("a", queries=2, **{N.ANN_BATCH_RIDERS: "b,c"}))
    ag._handle(pod("e", **{N.ANN_BATCH_LEADER: "y"}))
    ag._handle(pod("y"))  # e's leader, bound without it: e runs alone
    ag._handle(pod("d", **{N.ANN_BATCH_LEADER: "x"}))  # x is never bound: d runs alone after batch_wait_s
    ag._handle(("pod", "DELETED", _bound_pod("c", **{N.ANN_BATCH_LEADER: "a"})))  # before the start: left out
    advance(100.0)
    for w in ag._writers:
        w.submit(lambda: None).result()
    a, b = api.ann["a"], api.ann["b"]
    assert "c" not in api.ann and api.phase["a"][-1] == ("Succeeded", None) == api.phase["b"][-1]
    assert a[N.ANN_BATCH_JOBS] == b[N.ANN_BATCH_JOBS] == "2" and a[N.ANN_BATCH_QUERIES] == "3"
    for k in (N.ANN_START_MS, N.ANN_FINISH_MS, N.ANN_SERVICE_MS):
        assert a[k] == b[k]
    assert float(a[N.ANN_SERVICE_MS]) == 10.0  # ceil(3 / 4) = 1 call
    for x in "dey":
        assert api.phase[x][-1] == ("Succeeded", None) and N.ANN_BATCH_JOBS not in api.ann[x]
    assert float(api.ann["d"][N.ANN_START_MS]) >= 50.0  # it waited batch_wait_s for its leader
    assert ag.stats.busy_unit_ms[("n0", "accel")] == pytest.approx(4 * 10.0)  # a's batch once; d, e, y alone

    ag._handle(pod("g", **{N.ANN_BATCH_LEADER: "f", N.ANN_DECISION_MS: "100.0"}))
    ag._handle(pod("h", **{N.ANN_BATCH_LEADER: "z", N.ANN_DECISION_MS: "100.0"}))  # still waiting
    ag._handle(pod("f", **{N.ANN_BATCH_RIDERS: "g", N.ANN_DECISION_MS: "100.0"}))
    ag._handle(("fail", "n0", "crash"))
    for w in ag._writers:
        w.submit(lambda: None).result()
        w.shutdown(wait=True)
    for x in "fgh":
        assert api.phase[x][-1] == ("Failed", N.REASON_NODE_LOST) and "crash" in api.ann[x][N.ANN_FAIL_REASON]
    assert not ag._runs and not ag._waiting and not ag._parked


def test_driver_fills_batch_jobs_and_splits_a_batchs_energy_by_queries():
    """The agent's batch-jobs / batch-queries on each member -> the batch_jobs column and power x queries/total, as
    the simulator's jobs table; a job alone keeps its whole power."""
    import numpy as np
    from conftest import entry, single_node_testbed

    from backends.kubernetes.driver import _jobs_table, _row_from
    from synergai.domain import Config
    from synergai.profile import DeterministicDist, PerformanceProfile
    from synergai.workload import JobStream

    b4 = Config("tensorrt", "int8", 4, 0, "MAXN")
    profile = PerformanceProfile([entry("dev", "m", DeterministicDist(10.0), config=b4, power_w=6.0)])
    stream = JobStream(np.array([0.0, 1.0, 2.0]), np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64),
                       np.zeros(3, dtype=bool), ["m"], ["s"], {"m": 100.0}, {"m": 0}, np.array([1, 2, 1]))
    rows = []
    for q, batch in ((1, {N.ANN_BATCH_JOBS: "2", N.ANN_BATCH_QUERIES: "3"}),
                     (2, {N.ANN_BATCH_JOBS: "2", N.ANN_BATCH_QUERIES: "3"}), (1, {})):
        pod = _bound_pod("p", queries=q, **{N.ANN_START_MS: "5.0", N.ANN_FINISH_MS: "15.0", N.ANN_SERVICE_MS: "10.0",
                                            **batch})
        rows.append({**_row_from(pod.metadata.annotations, pod, "completed", ""), "retries": 0})
    j = _jobs_table(rows, stream, single_node_testbed(), profile)
    assert j["batch_jobs"].tolist() == [2, 2, 1]
    assert j["energy_mj"].tolist() == pytest.approx([6.0 * 10 / 3, 6.0 * 10 * 2 / 3, 6.0 * 10])


# ---------------------------------------------------------------- joins (Placement.joins), scheduler and agent
def test_scheduler_binds_a_join_into_an_open_execution_else_alone_and_records_one_run_alone():
    """Placement.joins live: a joiner the leader's execution can take is bound to it (its Binding names the leader
    pod, written after the leader's) and counted as a rider in the view; one without room, or whose leader was seen
    started, is bound as an ordinary placement on that node and config; a joiner the agent says ran alone becomes
    a placement of its own in the view (open for others to join), as the simulator's split."""
    from conftest import entry, single_node_testbed

    from backends.kubernetes.scheduler import Scheduler
    from synergai.domain import Config, Placement
    from synergai.policy import Policy
    from synergai.profile import DeterministicDist, PerformanceProfile

    b4 = Config("tensorrt", "int8", 4, 0, "MAXN")

    class JoinFirst(Policy):
        """Job 0 alone on n0 with batch 4; every later job asks to join job 0's execution."""

        name = "join_first"

        def schedule(self, jobs, view):
            return [Placement(j.id, "n0", b4, 10.0, 10.0, "join", joins=0 if j.id else -1) for j in jobs]

    clk, api = _ManualClock(), _FakeApi()
    s = Scheduler(api, JoinFirst(), PerformanceProfile([entry("dev", "m", DeterministicDist(10.0), config=b4)]),
                  single_node_testbed().network, clock=clk)
    try:
        s._sync_nodes([_node("n0")])
        pods = {x: _job_pod(x, 100) for x in "abcd"}
        pods["c"].metadata.annotations[N.ANN_QUERIES] = "3"  # 1 + 1 + 3 > 4: a second call, no room
        for x in "abc":
            s._pod_event(pods[x])
            s._schedule_due()
        ids = {x: s._job_ids[f"uid-{x}"] for x in "abcd" if f"uid-{x}" in s._job_ids}
        assert s._placed["uid-b"].leader == "uid-a" and s._placed["uid-b"].joined
        assert s._placed["uid-a"].riders == ["uid-b"] and s._placed["uid-c"].leader is None
        assert s.view.open_executions("m")[ids["a"]][2] == 2 and s.view.outstanding("n0") == 3
        assert (s.stats.joins, s.stats.joins_refused) == (1, 1)
        running = _job_pod("a", 100)
        running.spec.node_name, running.status.phase = "n0", "Running"
        s._pod_event(running)  # the leader started: closed
        s._pod_event(pods["d"])
        s._schedule_due()
        assert s._placed["uid-d"].leader is None and s.stats.joins_refused == 2
        alone = _job_pod("b", 100)
        alone.spec.node_name = "n0"
        alone.metadata.annotations[N.ANN_BATCH_JOIN_RESULT] = "alone"
        s._pod_event(alone)  # the agent ran b on its own: its own placement now, open for joins
        assert s._placed["uid-b"].leader is None and s._placed["uid-a"].riders == [] and s.stats.joins_alone == 1
        assert s._job_ids["uid-b"] in s.view.open_executions("m") and s.view.outstanding("n0") == 4
        s._pod_event(alone)  # seen again: nothing more
        assert s.stats.joins_alone == 1 and s.view.outstanding("n0") == 4
    finally:
        s._pool.shutdown(wait=True)
        s._events.shutdown(wait=True)
    order = [x[1] for x in api.calls if x[0] == "bind"]
    binds = {x[1]: x for x in api.calls if x[0] == "bind"}
    assert sorted(order) == ["a", "b", "c", "d"] and order.index("a") < order.index("b")  # the leader's first
    assert all(x[2] == "n0" for x in binds.values()) and binds["b"][3][N.ANN_BATCH_JOIN] == "a"
    assert all(N.ANN_BATCH_JOIN not in binds[x][3] for x in "acd")
    assert {x[3][N.ANN_BATCH] for x in binds.values()} == {"4"}


def test_scheduler_takes_a_join_that_makes_the_call_longer_and_retimes_the_execution_in_the_view():
    """A join whose inputs make the leader's call longer (batch 1: 5 ms; two inputs need the batch-4 call, 10 ms) is
    the policy's choice: the scheduler binds it while the call has room (``ProfileEntry.has_room``) and the view's
    execution runs the longer call; when the agent runs the joiner alone, the execution is back to 5 ms."""
    from conftest import entry, single_node_testbed

    from backends.kubernetes.scheduler import Scheduler
    from synergai.domain import Config, Placement
    from synergai.policy import Policy
    from synergai.profile import DeterministicDist, PerformanceProfile

    b1, b4 = Config("tensorrt", "int8", 1, 0, "MAXN"), Config("tensorrt", "int8", 4, 0, "MAXN")

    class JoinFirst(Policy):
        name = "join_first"

        def schedule(self, jobs, view):
            return [Placement(j.id, "n0", b4, 10.0, 10.0, "join", joins=0 if j.id else -1) for j in jobs]

    clk, api = _ManualClock(), _FakeApi()
    prof = PerformanceProfile([entry("dev", "m", DeterministicDist(5.0), config=b1),
                               entry("dev", "m", DeterministicDist(10.0), config=b4)])
    s = Scheduler(api, JoinFirst(), prof, single_node_testbed().network, clock=clk)
    try:
        s._sync_nodes([_node("n0")])
        pods = {x: _job_pod(x, 100) for x in "ab"}
        s._pod_event(pods["a"])
        s._schedule_due()
        a = s._job_ids["uid-a"]
        start, finish = s.view.scheduled_at(a)
        assert finish - start == pytest.approx(5.0)  # one input: the batch-1 call
        s._pod_event(pods["b"])
        s._schedule_due()
        assert s._placed["uid-b"].leader == "uid-a" and (s.stats.joins, s.stats.joins_refused) == (1, 0)
        start, finish = s.view.scheduled_at(a)
        assert finish - start == pytest.approx(10.0) and s.view.open_executions("m")[a][2] == 2
        alone = _job_pod("b", 100)
        alone.spec.node_name = "n0"
        alone.metadata.annotations[N.ANN_BATCH_JOIN_RESULT] = "alone"
        s._pod_event(alone)
        start, finish = s.view.scheduled_at(a)
        assert finish - start == pytest.approx(5.0) and s.stats.joins_alone == 1
    finally:
        s._pool.shutdown(wait=True)
        s._events.shutdown(wait=True)


def test_agent_joins_a_joiner_into_a_queued_execution_else_runs_it_alone():
    """A joiner decided when its input arrives: into its leader's queued execution (same start, finish, service;
    batch-jobs / batch-queries on both; units booked once) when there is room; alone -- queued like any pod -- when
    there is no room, the execution started, or the leader is not known here. The outcome is on the pod before it
    turns Running."""
    from conftest import entry, single_node_testbed

    from backends.kubernetes.agent import NodeAgent
    from synergai.domain import Config
    from synergai.profile import DeterministicDist, PerformanceProfile

    class OrderedApi(_AgentApi):
        def __init__(self):
            super().__init__()
            self.log = []

        def patch_namespaced_pod(self, name, ns, body, **kw):
            super().patch_namespaced_pod(name, ns, body, **kw)
            self.log.append((name, "ann"))

        def patch_namespaced_pod_status(self, name, ns, body, **kw):
            super().patch_namespaced_pod_status(name, ns, body, **kw)
            self.log.append((name, body["status"]["phase"]))

    b4 = Config("tensorrt", "int8", 4, 0, "MAXN")
    tb = single_node_testbed()
    clk, api = _ManualClock(), OrderedApi()
    ag = NodeAgent(api, tb.nodes, tb.network, PerformanceProfile([entry("dev", "m", DeterministicDist(10.0), config=b4)]),
                   clock=clk, writers=1)

    def advance(t):
        fire_timers(ag, clk, t)

    pod = lambda name, **kw: ("pod", "MODIFIED", _bound_pod(name, **kw))  # noqa: E731
    ag._handle(pod("x"))  # holds the slot 0-10 ms: a queues behind it
    advance(0.0)
    ag._handle(pod("a"))
    advance(0.5)
    clk.t = 1.0
    ag._handle(pod("b", **{N.ANN_BATCH_JOIN: "a", N.ANN_DECISION_MS: "1.0"}))  # room: joins
    ag._handle(pod("c", queries=3, **{N.ANN_BATCH_JOIN: "a", N.ANN_DECISION_MS: "1.0"}))  # 2 + 3 > 4: alone
    ag._handle(pod("e", **{N.ANN_BATCH_JOIN: "nobody", N.ANN_DECISION_MS: "1.0"}))  # leader unknown: alone
    advance(15.0)  # a (with b) started at 10
    ag._handle(pod("d", **{N.ANN_BATCH_JOIN: "a", N.ANN_DECISION_MS: "15.0"}))  # started: alone
    advance(100.0)
    for w in ag._writers:
        w.submit(lambda: None).result()
        w.shutdown(wait=True)
    a, b = api.ann["a"], api.ann["b"]
    assert all(api.phase[x][-1] == ("Succeeded", None) for x in "abcdex")
    assert a[N.ANN_BATCH_JOBS] == b[N.ANN_BATCH_JOBS] == "2" and a[N.ANN_BATCH_QUERIES] == b[N.ANN_BATCH_QUERIES] == "2"
    for k in (N.ANN_START_MS, N.ANN_FINISH_MS, N.ANN_SERVICE_MS):
        assert a[k] == b[k]
    assert float(a[N.ANN_START_MS]) == 10.0 and float(a[N.ANN_SERVICE_MS]) == 10.0
    assert b[N.ANN_BATCH_JOIN_RESULT] == "joined" and N.ANN_BATCH_JOIN_RESULT not in a
    for x in "cde":
        assert api.ann[x][N.ANN_BATCH_JOIN_RESULT] == "alone" and N.ANN_BATCH_JOBS not in api.ann[x]
        assert float(api.ann[x][N.ANN_START_MS]) >= 20.0  # queued behind the execution
    for x in "bcde":  # the outcome lands before Running
        assert api.log.index((x, "ann")) < api.log.index((x, "Running"))
    assert ag.stats.busy_unit_ms[("n0", "accel")] == pytest.approx(5 * 10.0)  # x, a+b once, c, d, e
    assert not ag._runs
