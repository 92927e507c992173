"""A scheduler one can put on a shared cluster: pod constraints as kube-scheduler enforces them, every pod on a
node counted, the unschedulable queue, leader election, and the health/metrics endpoints. Against the real
kube-apiserver of the session fixture; the expected placement of every probe pod is also checked against the
stock kube-scheduler v1.20.2 built with it."""
from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

kubernetes = pytest.importorskip("kubernetes")
import test_k8s_live as live  # noqa: E402
from conftest import two_site_profile, two_site_testbed  # noqa: E402
from kubernetes import client  # noqa: E402
from test_k8s_live import api_client_copy, job_pod, pods, start_scheduler, wait_for  # noqa: E402

from backends.kubernetes import names as N  # noqa: E402
from backends.kubernetes.agent import NodeAgent  # noqa: E402
from backends.kubernetes.leader import LeaderElector  # noqa: E402
from backends.kubernetes.scheduler import Scheduler  # noqa: E402
from synergai.domain import Node  # noqa: E402
from synergai.policy import make_policy  # noqa: E402

apis, ns, cluster = live.apis, live.ns, live.cluster  # the live tests' fixtures
BIN = Path(os.environ.get("SYNERGAI_K8S_CACHE", Path.home() / ".cache/synergai/k8s-v1.20.2")) / "bin"


def tol(key=None, op="Equal", value=None, effect=None):
    return client.V1Toleration(key=key, operator=op, value=value, effect=effect)


def affinity(*exprs, fields=()):
    term = client.V1NodeSelectorTerm(
        match_expressions=[client.V1NodeSelectorRequirement(key=k, operator=o, values=v) for k, o, v in exprs] or None,
        match_fields=[client.V1NodeSelectorRequirement(key=k, operator=o, values=v) for k, o, v in fields] or None)
    return client.V1Affinity(node_affinity=client.V1NodeAffinity(
        required_during_scheduling_ignored_during_execution=client.V1NodeSelector(node_selector_terms=[term])))


def probe(name, scheduler=N.SCHEDULER_NAME, selector=None, aff=None, tolerations=None, requests=None):
    p = job_pod(name, scheduler=scheduler)
    p.spec.node_selector = selector
    p.spec.affinity = aff
    p.spec.tolerations = tolerations
    if requests:
        ext = {k: v for k, v in requests.items() if "/" in k}  # extended resources: limit = request
        p.spec.containers[0].resources = client.V1ResourceRequirements(requests=requests, limits=ext or None)
    return p


# probe -> nodes kube-scheduler's filters allow (A = fast: 4 cpu, 1 accel, zone z1, disk ssd; B = slow: 4 cpu,
# 1 accel, zone z2, taint dedicated=accel:NoSchedule; C = vm: 2 cpu, no accel, zone z1, gen 5, taint
# spot=true:NoExecute)
PROBES = {
    "sel-z1": (dict(selector={"zone": "z1"}), {"A"}),
    "sel-none": (dict(selector={"zone": "z3"}), set()),
    "aff-z2-untolerated": (dict(aff=affinity(("zone", "In", ["z2"]))), set()),
    "aff-z2-tolerated": (dict(aff=affinity(("zone", "In", ["z2"])),
                              tolerations=[tol("dedicated", "Equal", "accel", "NoSchedule")]), {"B"}),
    "tol-all-notin-z1": (dict(aff=affinity(("zone", "NotIn", ["z1"])), tolerations=[tol(op="Exists")]), {"B"}),
    "gt-untolerated": (dict(aff=affinity(("gen", "Gt", ["4"]))), set()),
    "gt-noexecute-tolerated": (dict(aff=affinity(("gen", "Gt", ["4"])),
                                    tolerations=[tol("spot", "Equal", "true", "NoExecute")]), {"C"}),
    "gt-wrong-effect": (dict(aff=affinity(("gen", "Gt", ["4"])), tolerations=[tol("spot", "Exists", None,
                                                                                   "NoSchedule")]), set()),
    "nodisk-all-tolerated": (dict(aff=affinity(("disk", "DoesNotExist", None)), tolerations=[tol(op="Exists")]),
                             {"B", "C"}),
    "field-name-a": (dict(aff=affinity(fields=[("metadata.name", "In", ["A"])])), {"A"}),
    "cpu-64": (dict(requests={"cpu": "64"}), set()),
    "mem-1ti": (dict(requests={"memory": "1Ti"}), set()),
    "accel-2": (dict(requests={N.RESOURCE_ACCEL: "2"}, tolerations=[tol(op="Exists")]), set()),
    "accel-1": (dict(requests={N.RESOURCE_ACCEL: "1"}), {"A"}),
    "cpu-3": (dict(requests={"cpu": "3"}, tolerations=[tol(op="Exists")]), {"A", "B"}),
    "cpu-1500m-on-c": (dict(requests={"cpu": "1500m"}, aff=affinity(("gen", "Exists", None)),
                            tolerations=[tol(op="Exists")]), {"C"}),
}


@pytest.fixture
def constrained(apis, ns):
    """fast/slow/vm, labelled and tainted as described above PROBES; A/B/C map to their node names."""
    admin = apis[0]
    tb = two_site_testbed()
    nodes = [Node(f"{ns}-{n.name}", n.device_type, n.tier, n.arch, n.site, n.cpu_cores, n.accel_slots)
             for n in tb.nodes]
    agent = NodeAgent(admin, nodes, tb.network, two_site_profile(), execute=False, labels={"test": ns})
    agent.register()
    agent.start()
    names = {"A": nodes[0].name, "B": nodes[1].name, "C": nodes[2].name}
    admin.patch_node(names["A"], {"metadata": {"labels": {"zone": "z1", "disk": "ssd"}}})
    admin.patch_node(names["B"], {"metadata": {"labels": {"zone": "z2"}},
                                  "spec": {"taints": [{"key": "dedicated", "value": "accel", "effect": "NoSchedule"}]}})
    admin.patch_node(names["C"], {"metadata": {"labels": {"zone": "z1", "gen": "5"}},
                                  "spec": {"taints": [{"key": "spot", "value": "true", "effect": "NoExecute"}]}})
    yield agent, tb, names
    agent.stop()
    agent.unregister()


def _probe_pod(name, names, scheduler):
    kw = dict(PROBES[name][0])
    if "aff" in kw and kw["aff"].node_affinity.required_during_scheduling_ignored_during_execution \
            .node_selector_terms[0].match_fields:
        kw["aff"] = affinity(fields=[("metadata.name", "In", [names["A"]])])
    return probe(name, scheduler, **kw)


def _unschedulable(p):
    return next((c for c in (p.status.conditions or []) if c.type == "PodScheduled" and c.status == "False"), None)


def _settled(admin, ns, n):
    ps = pods(admin, ns)
    return len(ps) == n and all(p.spec.node_name or _unschedulable(p) for p in ps.values()) and ps


@pytest.mark.skipif(not (BIN / "kube-scheduler").exists(), reason="kube-scheduler binary not built")
def test_probes_bind_only_where_kube_scheduler_would(k8s, apis, ns, constrained):
    admin, sched_api = apis
    agent, tb, names = constrained
    back = {v: k for k, v in names.items()}
    # 1. the stock kube-scheduler on twins of the probes: its answers must agree with the expectations
    twin_ns = f"{ns}-kube"
    admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=twin_ns)))
    log = open(Path(k8s.state_dir) / "kube-scheduler-probes.log", "w")
    proc = subprocess.Popen([str(BIN / "kube-scheduler"), f"--kubeconfig={k8s.admin_kubeconfig}",
                             "--leader-elect=false", "--port=0", "--secure-port=0", "-v=0"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for name in PROBES:
            admin.create_namespaced_pod(twin_ns, _probe_pod(name, names, "default-scheduler"))
        ps = wait_for(lambda: _settled(admin, twin_ns, len(PROBES)), 60, "kube-scheduler decided every probe")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        admin.delete_collection_namespaced_pod(twin_ns, grace_period_seconds=0)
        admin.delete_namespace(twin_ns)
    kube = {n: back.get(p.spec.node_name) for n, p in ps.items()}
    for name, (_, allowed) in PROBES.items():
        assert (kube[name] in allowed) if allowed else kube[name] is None, (name, kube[name], allowed)
    time.sleep(1.0)  # the twins' deletion reaches the watch: they must not count against the probes below

    # 2. SynergAI on the same probes
    s = start_scheduler(sched_api, make_policy("greedy"), ns, tb)
    try:
        for name in PROBES:
            admin.create_namespaced_pod(ns, _probe_pod(name, names, N.SCHEDULER_NAME))
        ps = wait_for(lambda: _settled(admin, ns, len(PROBES)), 30, "every probe bound or marked unschedulable")
        time.sleep(0.5)
        ps = pods(admin, ns)
    finally:
        s.stop()
    broken = []
    for name, (_, allowed) in PROBES.items():
        got = back.get(ps[name].spec.node_name)
        if (got not in allowed) if allowed else got is not None:
            broken.append((name, got, allowed))
        if not allowed:
            c = _unschedulable(ps[name])
            assert c is not None and c.reason.startswith("SynergAI") and c.message, name
    assert broken == []
    assert "Insufficient cpu" in _unschedulable(ps["cpu-64"]).message
    assert "Insufficient memory" in _unschedulable(ps["mem-1ti"]).message
    assert f"Insufficient {N.RESOURCE_ACCEL}" in _unschedulable(ps["accel-2"]).message
    assert "node selector" in _unschedulable(ps["sel-none"]).message
    assert "taint {dedicated=accel: NoSchedule}" in _unschedulable(ps["aff-z2-untolerated"]).message


def test_requests_never_exceed_allocatable_and_freed_resources_are_reused(apis, ns, constrained):
    """Three 3-cpu pods for the two 4-cpu nodes that tolerate nothing special: one binds per node at most,
    the third waits (Insufficient cpu) and binds once a pod on a node is deleted."""
    admin, sched_api = apis
    agent, tb, names = constrained
    s = start_scheduler(sched_api, make_policy("greedy"), ns, tb)
    try:
        req = {"cpu": "3"}
        for i in range(3):
            admin.create_namespaced_pod(ns, probe(f"big{i}", requests=req,
                                                  aff=affinity(("gen", "DoesNotExist", None)),
                                                  tolerations=[tol("dedicated", "Exists")]))
        ps = wait_for(lambda: _settled(admin, ns, 3), 20, "three pods decided")
        bound = [p for p in ps.values() if p.spec.node_name]
        assert sorted(p.spec.node_name for p in bound) == sorted([names["A"], names["B"]])
        (waiting,) = [p for p in ps.values() if not p.spec.node_name]
        assert "Insufficient cpu" in _unschedulable(waiting).message
        admin.delete_namespaced_pod(bound[0].metadata.name, ns, grace_period_seconds=0)
        ps = wait_for(lambda: (lambda d: d.get(waiting.metadata.name) is not None
                               and d[waiting.metadata.name].spec.node_name and d)(pods(admin, ns)), 30,
                      "the waiting pod bound after resources were freed")
        assert ps[waiting.metadata.name].spec.node_name == bound[0].spec.node_name
        assert s.stats.retried >= 1
    finally:
        s.stop()


def test_foreign_pods_requests_make_it_avoid_their_node(apis, ns, cluster):
    """A pod bound by hand to `fast` holding its only accelerator: greedy (fast is 4x faster than slow) sends
    new jobs to slow while it holds it, and to fast again once it is gone."""
    admin, sched_api = apis
    agent, tb = cluster
    fast, slow = f"{ns}-fast", f"{ns}-slow"
    s = start_scheduler(sched_api, make_policy("greedy"), ns, tb)
    try:
        hog = client.V1Pod(metadata=client.V1ObjectMeta(name="hog"), spec=client.V1PodSpec(
            node_name=fast, containers=[client.V1Container(name="c", image="x", resources=client.V1ResourceRequirements(
                requests={N.RESOURCE_ACCEL: "1"}, limits={N.RESOURCE_ACCEL: "1"}))]))
        admin.create_namespaced_pod(ns, hog)
        on_fast = lambda: [u for u, f in s._foreign.items() if f[0] == fast]  # noqa: E731
        wait_for(on_fast, 10, "the foreign pod seen")
        for i in range(3):
            admin.create_namespaced_pod(ns, job_pod(f"j{i}"))
        ps = wait_for(lambda: (lambda d: all(d.get(f"j{i}") and d[f"j{i}"].spec.node_name for i in range(3))
                               and d)(pods(admin, ns)), 20, "3 jobs bound")
        assert {ps[f"j{i}"].spec.node_name for i in range(3)} == {slow}
        admin.delete_namespaced_pod("hog", ns, grace_period_seconds=0)
        wait_for(lambda: not on_fast(), 10, "the foreign pod seen gone")
        for p in ps.values():  # the jobs finish, so the view holds nothing on the boards
            if p.metadata.name.startswith("j"):
                admin.delete_namespaced_pod(p.metadata.name, ns, grace_period_seconds=0)
        wait_for(lambda: not s._placed, 10, "jobs seen gone")
        admin.create_namespaced_pod(ns, job_pod("after"))
        p = wait_for(lambda: (lambda x: x.spec.node_name and x)(admin.read_namespaced_pod("after", ns)), 20, "bound")
        assert p.spec.node_name == fast
    finally:
        s.stop()


def test_rejected_pods_are_retried_on_fix_on_new_nodes_and_after_a_restart(apis, ns):
    """No node at first: a pod created then is bound once nodes appear. A pod with a bad annotation is bound
    once the annotation is fixed. A pod that waits for a toleration is bound once it gets one, also by a
    scheduler restarted in between."""
    admin, sched_api = apis
    tb = two_site_testbed()
    s = Scheduler(sched_api, make_policy("greedy"), two_site_profile(), tb.network, namespace=ns,
                  node_selector=f"test={ns}")
    s.start()
    agent = None
    try:
        wait_for(lambda: s.ready.is_set(), 20, "sync")
        admin.create_namespaced_pod(ns, job_pod("early"))
        admin.create_namespaced_pod(ns, job_pod("bad", **{N.ANN_QOS_MS: "soon"}))
        admin.create_namespaced_pod(ns, probe("needs-tol", selector={"pool": "dedicated"}))
        wait_for(lambda: all(_unschedulable(p) for p in pods(admin, ns).values()), 20, "all three unschedulable")
        assert _unschedulable(admin.read_namespaced_pod("bad", ns)).reason == N.REASON_INVALID
        nodes = [Node(f"{ns}-fast", "fastdev", "edge", "arm64", "e", 4, 1),
                 Node(f"{ns}-slow", "slowdev", "edge", "arm64", "e", 4, 1)]
        agent = NodeAgent(admin, nodes, tb.network, two_site_profile(), execute=False, labels={"test": ns})
        agent.register()
        admin.patch_node(nodes[1].name, {"metadata": {"labels": {"pool": "dedicated"}}, "spec": {"taints": [
            {"key": "dedicated", "effect": "NoSchedule"}]}})
        wait_for(lambda: admin.read_namespaced_pod("early", ns).spec.node_name, 20, "early pod bound on the new node")
        admin.patch_namespaced_pod("bad", ns, {"metadata": {"annotations": {N.ANN_QOS_MS: "100"}}})
        wait_for(lambda: admin.read_namespaced_pod("bad", ns).spec.node_name, 20, "fixed pod bound")
        time.sleep(0.5)
        assert not admin.read_namespaced_pod("needs-tol", ns).spec.node_name  # taint not tolerated yet
        s.stop()
        s = Scheduler(sched_api, make_policy("greedy"), two_site_profile(), tb.network, namespace=ns,
                      node_selector=f"test={ns}")
        s.start()
        admin.patch_namespaced_pod("needs-tol", ns, {"spec": {"tolerations": [
            {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]}})
        p = wait_for(lambda: (lambda x: x.spec.node_name and x)(admin.read_namespaced_pod("needs-tol", ns)), 20,
                     "pod bound after it got its toleration, by the restarted scheduler")
        assert p.spec.node_name == nodes[1].name
    finally:
        s.stop()
        if agent is not None:
            agent.unregister()


def test_two_replicas_one_leads_the_other_takes_over(apis, ns, cluster):
    admin, sched_api = apis
    agent, tb = cluster
    lease = f"lease-{secrets.token_hex(3)}"

    def replica(api, who):
        el = LeaderElector(api, ns, lease, identity=who, lease_duration_s=3.0, renew_deadline_s=2.0,
                           retry_period_s=0.3)
        return Scheduler(api, make_policy("greedy"), two_site_profile(), tb.network, namespace=ns,
                         node_selector=f"test={ns}", leader=el)

    a, b = replica(sched_api, "a"), replica(api_client_copy(sched_api), "b")
    a.start()
    wait_for(a.is_leader, 10, "a leads")
    b.start()
    try:
        wait_for(lambda: b.ready.is_set(), 20, "b synced")
        for i in range(30):
            admin.create_namespaced_pod(ns, job_pod(f"p{i}"))
        wait_for(lambda: a.stats.bound == 30, 30, "30 pods bound by the leader")
        time.sleep(0.5)
        assert b.stats.bound == 0 and not b.is_leader() and a.stats.conflicts + b.stats.conflicts == 0
        assert not b.stats.decisions  # the standby never decided
        t0 = time.time()
        a.stop()  # releases the lease
        wait_for(b.is_leader, 10, "b takes over")
        takeover_s = time.time() - t0
        for i in range(10):
            admin.create_namespaced_pod(ns, job_pod(f"q{i}"))
        wait_for(lambda: b.stats.bound == 10, 20, "10 more pods bound by the new leader")
        assert b.stats.conflicts == 0 and takeover_s < 5.0
        lease_obj = client.CoordinationV1Api(admin.api_client).read_namespaced_lease(lease, ns)
        assert lease_obj.spec.holder_identity == "b" and lease_obj.spec.lease_transitions >= 1
    finally:
        b.stop()
        a.stop()


def test_health_ready_and_metrics_endpoints(apis, ns, cluster):
    import urllib.request

    from backends.kubernetes.health import HealthServer

    admin, sched_api = apis
    agent, tb = cluster
    s = start_scheduler(sched_api, make_policy("greedy"), ns, tb)
    srv = HealthServer(s, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{srv.port}"
    try:
        for i in range(4):
            admin.create_namespaced_pod(ns, job_pod(f"m{i}"))
        admin.create_namespaced_pod(ns, job_pod("nope", model="gpt-17"))
        wait_for(lambda: s.stats.bound == 4 and s.stats.invalid >= 1, 20, "4 bound, 1 invalid")
        assert urllib.request.urlopen(f"{base}/healthz").read() == b"ok"
        assert urllib.request.urlopen(f"{base}/readyz").read() == b"ok"
        text = urllib.request.urlopen(f"{base}/metrics").read().decode()
    finally:
        srv.stop()
        s.stop()
    metrics = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines() if ln and ln[0] != "#"}
    assert metrics["synergai_scheduler_binds_total"] == 4
    assert metrics['synergai_scheduler_rejections_total{reason="SynergAIInvalidJob"}'] >= 1
    assert metrics["synergai_scheduler_decision_duration_seconds_count"] == 4
    assert metrics["synergai_scheduler_leader"] == 1
    assert metrics['synergai_scheduler_queue_depth{queue="unschedulable"}'] == 1
    assert "synergai_scheduler_watch_restarts_total" in metrics


def test_agent_runs_pods_no_synergai_scheduler_placed(apis, ns):
    """KWOK-like: a pod bound by hand runs for the configured time, holding the accelerator it requests, and a
    SynergAI job placed on the same board starts only after it."""
    from backends.kubernetes.convert import Clock

    admin, sched_api = apis
    tb = two_site_testbed()
    node = Node(f"{ns}-fast", "fastdev", "edge", "arm64", "e", 4, 1)
    agent = NodeAgent(admin, [node], tb.network, two_site_profile(), clock=Clock(scale=1.0),
                      labels={"test": ns}, foreign_duration_ms=1500.0)
    agent.register()
    agent.start()
    s = Scheduler(sched_api, make_policy("greedy"), two_site_profile(), tb.network, namespace=ns,
                  node_selector=f"test={ns}")
    s.start()
    try:
        wait_for(lambda: s.ready.is_set() and s.view is not None and len(s.view.nodes) == 1, 20, "sync")
        hog = client.V1Pod(metadata=client.V1ObjectMeta(name="hog"), spec=client.V1PodSpec(
            node_name=node.name, restart_policy="Never", containers=[client.V1Container(
                name="c", image="x", resources=client.V1ResourceRequirements(
                    requests={N.RESOURCE_ACCEL: "1"}, limits={N.RESOURCE_ACCEL: "1"}))]))
        admin.create_namespaced_pod(ns, hog)
        wait_for(lambda: (admin.read_namespaced_pod("hog", ns).status.phase == "Running"), 10, "hog Running")
        admin.create_namespaced_pod(ns, job_pod("job"))
        done = wait_for(lambda: (lambda p: p.status.phase == "Succeeded" and p)(admin.read_namespaced_pod("job", ns)),
                        20, "the job ran after the hog")
        hog_done = admin.read_namespaced_pod("hog", ns)
    finally:
        s.stop()
        agent.stop()
        agent.unregister()
    assert hog_done.status.phase == "Succeeded"
    a_job, a_hog = done.metadata.annotations, hog_done.metadata.annotations
    assert float(a_job[N.ANN_START_MS]) >= float(a_hog[N.ANN_FINISH_MS]) - 1e-6  # queued behind the hog's slot
    assert float(a_hog[N.ANN_FINISH_MS]) - float(a_hog[N.ANN_START_MS]) == pytest.approx(1500.0, abs=300.0)


def test_a_half_started_control_plane_is_stopped(k8s, tmp_path):
    """etcd starts, the apiserver cannot (an invalid port): the start fails with one line and etcd is stopped."""
    from backends.kubernetes.controlplane import ControlPlane
    from synergai.errors import SynergAIError

    cp = ControlPlane(tmp_path / "cp", api_port=99999, etcd_port=24890)
    with pytest.raises(SynergAIError, match="start.sh failed"):
        cp.start()
    assert (tmp_path / "cp" / "logs" / "etcd.log").exists()  # etcd had been started
    assert (tmp_path / "cp" / "logs" / "apiserver.log").exists()
    assert cp.pid("etcd") is None and cp.pid("apiserver") is None
    r = subprocess.run(["pgrep", "-f", f"127.0.0.1:{24890}"], capture_output=True, text=True)
    assert r.stdout.strip() == ""


def test_a_placement_that_fails_a_filter_is_refused_never_bound(apis, ns, cluster):
    """A test-only policy that ignores privacy sends everything to the cloud VM: the private pod is refused with
    the filter's reason (PodScheduled=False + FailedScheduling Event), the public one is bound there."""
    from synergai.domain import Placement
    from synergai.policy import Policy

    class CloudAlways(Policy):
        name = "cloud_always"

        def schedule(self, jobs, view):
            vm = next(n for n in self.nodes if n.tier == "cloud")
            e = self.profile.default_entry(jobs[0].model, vm.device_type)
            return [Placement(j.id, vm.name, e.config, reason="ignores privacy") for j in jobs]

    admin, sched_api = apis
    agent, tb = cluster
    s = start_scheduler(sched_api, CloudAlways(), ns, tb)
    try:
        admin.create_namespaced_pod(ns, job_pod("private", **{N.ANN_PRIVATE: "true"}))
        admin.create_namespaced_pod(ns, job_pod("public"))
        ps = wait_for(lambda: _settled(admin, ns, 2), 20, "both decided")
        ev = wait_for(lambda: [e for e in admin.list_namespaced_event(ns).items if e.reason == "FailedScheduling"],
                      10, "a FailedScheduling Event")
    finally:
        s.stop()
    assert ps["public"].spec.node_name == f"{ns}-vm"
    assert ps["private"].spec.node_name is None
    c = _unschedulable(ps["private"])
    assert c.reason == N.REASON_UNSCHEDULABLE
    assert "refused by filter Privacy: private job: only edge nodes may run it" in c.message
    assert ev[0].involved_object.name == "private" and "Privacy" in ev[0].message
    assert s.stats.refused >= 1 and s.stats.bound == 1
