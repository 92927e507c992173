"""Faults on the live backend: node crashes, vanished pods, an apiserver restart — and no job is ever lost."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("kubernetes")

from backends.kubernetes.controlplane import api_client  # noqa: E402
from backends.kubernetes.driver import KubernetesBackend  # noqa: E402
from experiments.runner import compose_config, make_stream, prepare  # noqa: E402
from synergai.faults import faults_from_dict  # noqa: E402
from synergai.policy import make_policy  # noqa: E402


def setup(k8s, n_jobs, policy="greedy", **opts):
    p = prepare(compose_config([f"workload.n_jobs={n_jobs}", "experiment.progress=false"]))
    be = KubernetesBackend(state_dir=str(k8s.state_dir), time_scale=opts.pop("time_scale", 20.0),
                           timeout_s=opts.pop("timeout_s", 60.0), **opts)
    return p, make_stream(p), be, make_policy(policy)


def accounted(jobs, n):
    assert len(jobs) == n and sorted(jobs["job_id"]) == list(range(n))
    assert set(jobs["status"]) <= {"completed", "failed"}
    assert (jobs.loc[jobs["status"] == "failed", "reason"].str.len() > 0).all()


def test_node_crash_mid_run_fails_its_pods_and_retries_their_jobs(k8s):
    p, stream, be, pol = setup(k8s, 80)
    span_s = stream.arrival_ms[-1] / 1000.0
    faults = faults_from_dict({"max_retries": 2, "events": [
        {"kind": "crash", "node": "orin-a", "at_s": 0.3 * span_s, "for_s": 0.4 * span_s},
        {"kind": "crash", "node": "l4", "at_s": 0.5 * span_s, "for_s": 0.3 * span_s}]},
        p.testbed.nodes, p.testbed.network)
    r = be.run(p.testbed, p.profile, pol, stream, p.seed, faults=faults)
    jobs = r.jobs
    accounted(jobs, 80)
    assert r.faults is not None and len(r.faults) == 2
    # jobs whose pod died with its node were retried; retried jobs end like any other, never twice
    assert jobs["retries"].sum() >= 1, "no job was running on a crashed node?"
    assert be.last_run["driver"]["retried"] == jobs["retries"].sum()
    retried = jobs[jobs["retries"] > 0]
    assert (retried["status"] == "completed").mean() >= 0.5
    # once a node had reported NotReady, and until it came back, the scheduler placed nothing new there
    landed = dict(be.last_run["agent"].down_reported_ms)
    for node, t0, t1 in (("orin-a", 0.3, 0.7), ("l4", 0.5, 0.8)):
        assert t0 * span_s * 1000 <= landed[node] < t1 * span_s * 1000
        lo, hi = landed[node] + 5, t1 * span_s * 1000  # 5 ms: the scheduler's node watch delivers the report
        placed = jobs[(jobs["node"] == node) & (jobs["decision_ms"] > lo) & (jobs["decision_ms"] < hi)]
        assert len(placed) == 0, placed[["job_id", "decision_ms"]]


def test_pods_that_vanish_are_retried(k8s):
    p, stream, be, pol = setup(k8s, 40, time_scale=50.0)
    api = api_client(k8s.admin_kubeconfig)
    stop = threading.Event()
    deleted = set()

    def vandal():  # deletes (grace 0) the first attempt of jobs 5..9 as soon as they are bound
        while not stop.is_set() and len(deleted) < 5:
            for ns in (n.metadata.name for n in api.list_namespace().items if n.metadata.name.startswith("synergai-")):
                for pod in api.list_namespaced_pod(ns).items:
                    name = pod.metadata.name
                    if name in {f"job-{i}" for i in range(5, 10)} and pod.spec.node_name and name not in deleted:
                        api.delete_namespaced_pod(name, ns, grace_period_seconds=0)
                        deleted.add(name)
            time.sleep(0.01)

    t = threading.Thread(target=vandal, daemon=True)
    t.start()
    try:
        r = be.run(p.testbed, p.profile, pol, stream, p.seed)
    finally:
        stop.set()
        t.join(5)
    jobs = r.jobs
    accounted(jobs, 40)
    hit = [int(x.split("-")[1]) for x in deleted]
    assert hit, "the vandal found nothing to delete"
    for i in hit:  # a deleted pod either had finished already (its result kept) or its job was retried
        row = jobs.iloc[i]
        assert row["status"] == "completed" or row["reason"], row


def test_live_soak_with_node_failures_and_an_apiserver_restart_loses_nothing(k8s):
    n = 300
    p, stream, be, pol = setup(k8s, n, policy="synergai", timeout_s=90.0)
    span_s = stream.arrival_ms[-1] / 1000.0
    faults = faults_from_dict({"max_retries": 3, "events": [
        {"kind": "random_crashes", "mtbf_s": span_s / 2, "mttr_s": span_s / 10}]},
        p.testbed.nodes, p.testbed.network)
    restart_at_wall_s = 0.4 * span_s * 20.0  # time_scale 20

    def restart():
        time.sleep(5.0 + restart_at_wall_s)
        k8s.stop("apiserver")
        time.sleep(1.0)
        k8s.start()

    t = threading.Thread(target=restart, daemon=True)
    t.start()
    r = be.run(p.testbed, p.profile, pol, stream, p.seed, faults=faults)
    t.join(60)
    jobs = r.jobs
    accounted(jobs, n)  # zero lost: every job has exactly one row, completed or failed with a reason
    crashes = int((r.faults["kind"] == "crash").sum())
    assert crashes >= 3
    st = be.last_run
    print(f"\nlive soak: {n} jobs, {crashes} node crashes + 1 apiserver restart; retried "
          f"{st['driver']['retried']}, completed {(jobs.status == 'completed').sum()}, failed "
          f"{(jobs.status == 'failed').sum()} ({jobs.loc[jobs.status == 'failed', 'reason'].str[:40].value_counts().to_dict()}); "
          f"scheduler watch errors {st['scheduler'].watch.errors}, conflicts {st['scheduler'].conflicts}; "
          f"timed out {st['driver']['timed_out']}")
    assert st["driver"]["timed_out"] == 0
    assert np.isfinite(jobs.loc[jobs.status == "completed", "latency_ms"]).all()


def test_a_crash_fails_every_member_of_a_batch_and_their_jobs_are_retried(k8s):
    """clockwork batching on one Orin board that crashes mid-burst: every pod of an execution on it fails with
    the node (lost, retried), and every job still ends, completed or failed with a reason."""
    p = prepare(compose_config(["cluster=single_node", "workload.n_jobs=80", "workload.load=1.5", "seed=1",
                                "workload.mix.bert-99=0", "workload.mix.retinanet=0", "workload.private_fraction=0",
                                "experiment.progress=false"]))
    stream = make_stream(p)
    span_s = stream.arrival_ms[-1] / 1000.0
    faults = faults_from_dict({"max_retries": 2, "events": [
        {"kind": "crash", "node": "orin-a", "at_s": 0.4 * span_s, "for_s": 0.1 * span_s}]},
        p.testbed.nodes, p.testbed.network)
    be = KubernetesBackend(state_dir=str(k8s.state_dir), time_scale=100.0, timeout_s=60.0)
    r = be.run(p.testbed, p.profile, make_policy("clockwork"), stream, p.seed, faults=faults)
    jobs = r.jobs
    accounted(jobs, 80)
    assert be.last_run["driver"]["timed_out"] == 0
    assert be.last_run["scheduler"].batches > 0
    assert jobs["retries"].sum() >= 1, "nothing was on the board when it crashed?"
    assert be.last_run["driver"]["retried"] == jobs["retries"].sum()
