"""Kubernetes backend pieces that need no cluster: the pod-constraint filters, the clock contract, Backoff."""
from __future__ import annotations

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
