"""Scheduler throughput against the local apiserver: 1,000 pending pods, SynergAI's scheduler vs stock
kube-scheduler v1.20.2 binding the same kind of pods to the same nodes.

    python -m experiments.bench_k8s [--pods 1000] [--reps 3] [--policy synergai]

Per repetition (alternating the two schedulers): create the pods while no scheduler runs, start the scheduler,
time until every pod is bound. Reports pods bound per second (median over reps), SynergAI's per-decision policy
time and per-Binding API round trip, and the machine's load. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np


def _create_pods(api, ns, n, scheduler):
    from kubernetes import client

    from backends.kubernetes import names as N

    ann = {N.ANN_MODEL: "resnet50", N.ANN_QOS_MS: "1000", N.ANN_ORIGIN_SITE: "edge-a", N.ANN_INPUT_BYTES: "150528"}
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        api.create_namespaced_pod(ns, client.V1Pod(
            metadata=client.V1ObjectMeta(name=f"b{i}", annotations={**ann, N.ANN_JOB_ID: str(i)}),
            spec=client.V1PodSpec(scheduler_name=scheduler, restart_policy="Never",
                                  containers=[client.V1Container(name="w", image="synergai-worker")])))

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))


def _bound(api, ns) -> int:
    return sum(1 for p in api.list_namespaced_pod(ns, field_selector="spec.nodeName!=").items)


def _wait_all_bound(api, ns, n, timeout_s=600) -> tuple[float, float]:
    """(seconds until the first pod was seen bound, seconds until all were), from now."""
    t0 = time.perf_counter()
    first = None
    while time.perf_counter() - t0 < timeout_s:
        k = _bound(api, ns)
        if k and first is None:
            first = time.perf_counter() - t0
        if k >= n:
            return first, time.perf_counter() - t0
        time.sleep(0.05)
    raise RuntimeError(f"only {_bound(api, ns)} of {n} pods bound after {timeout_s} s")


def _scrape(servers, stop) -> None:
    """What a Prometheus server would do: read /metrics of every replica once a second."""
    import urllib.request

    while not stop.wait(1.0):
        for srv in servers:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=2).read()
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--policy", default="synergai")
    ap.add_argument("--bind-workers", type=int, default=16)
    ap.add_argument("--only", default=None, help="comma-separated subset of the contenders")
    ap.add_argument("--state-dir", default="/tmp/synergai-k8s-bench")
    ap.add_argument("--replicas", type=int, default=1, help="SynergAI replicas, with leader election (1 or 2)")
    ap.add_argument("--no-leader-elect", action="store_true", help="SynergAI without a Lease (replicas race)")
    a = ap.parse_args(argv)

    from kubernetes import client

    from backends.kubernetes.agent import NodeAgent
    from backends.kubernetes.controlplane import ControlPlane, api_client
    from backends.kubernetes.driver import ensure_scheduler_rbac
    from backends.kubernetes.health import HealthServer
    from backends.kubernetes.leader import LeaderElector
    from backends.kubernetes.scheduler import Scheduler
    from experiments.runner import compose_config, prepare
    from synergai.policy import make_policy

    cp = ControlPlane(a.state_dir, api_port=16643, etcd_port=24090).start()
    bin_dir = Path(os.environ.get("SYNERGAI_K8S_CACHE", Path.home() / ".cache/synergai/k8s-v1.20.2")) / "bin"
    admin = api_client(cp.admin_kubeconfig)
    ensure_scheduler_rbac(admin)
    p = prepare(compose_config([]))
    agent = NodeAgent(admin, p.testbed.nodes, p.testbed.network, p.profile, execute=False, labels={"bench": "1"})
    agent.register()
    agent.start()
    contenders = ("synergai", "kube-scheduler", "kube-scheduler-qps1000")
    if a.only:
        contenders = tuple(c for c in contenders if c in a.only.split(","))
    res = {k: [] for k in contenders}
    dec_us, call_ms, conflict_share = [], [], []
    loads = [os.getloadavg()[0]]
    try:
        for rep in range(a.reps):
            for who in contenders if rep % 2 == 0 else contenders[::-1]:
                ns = f"bench-{who}-{rep}-{os.urandom(3).hex()}"
                admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
                _create_pods(admin, ns, a.pods, "synergai" if who == "synergai" else "default-scheduler")
                time.sleep(1.0)
                if who == "synergai":
                    # as deployed: leader election (Lease), filters, metrics endpoint scraped once a second
                    reps = []
                    for r in range(a.replicas):
                        el = None if a.no_leader_elect else LeaderElector(
                            api_client(cp.scheduler_kubeconfig), "synergai-system", f"bench-{ns}", identity=f"r{r}")
                        reps.append(Scheduler(api_client(cp.scheduler_kubeconfig), make_policy(a.policy), p.profile,
                                              p.testbed.network, namespace=ns, node_selector="bench=1",
                                              node_order=[n.name for n in p.testbed.nodes],
                                              bind_workers=a.bind_workers, leader=el))
                    servers = [HealthServer(x, "127.0.0.1", 0).start() for x in reps]
                    scraping = threading.Event()
                    threading.Thread(target=_scrape, args=(servers, scraping), daemon=True).start()
                    for x in reps:
                        x.start()
                    first, dt = _wait_all_bound(admin, ns, a.pods)
                    scraping.set()
                    for x in reps:
                        x.stop()
                    for srv in servers:
                        srv.stop()
                    bound = sum(x.stats.bound for x in reps)
                    conflicts = sum(x.stats.conflicts for x in reps)
                    assert bound == a.pods, [x.stats for x in reps]
                    conflict_share.append(conflicts / max(1, bound + conflicts))
                    for s in reps:
                        dec_us += [ns_ / 1000 for _, _, ns_ in s.stats.decisions]
                        call_ms += [x * 1000 for x in s.stats.bind_call_s]
                else:
                    log = open(Path(a.state_dir) / "logs" / "kube-scheduler.log", "w")
                    # defaults: client-side rate limit of 50 requests/s (burst 100); the -qps1000 variant lifts it
                    qps = ["--kube-api-qps=1000", "--kube-api-burst=1000"] if who.endswith("qps1000") else []
                    proc = subprocess.Popen([str(bin_dir / "kube-scheduler"), f"--kubeconfig={cp.admin_kubeconfig}",
                                             "--leader-elect=false", "--port=0", "--secure-port=0", "-v=0", *qps],
                                            stdout=log, stderr=subprocess.STDOUT)
                    try:
                        first, dt = _wait_all_bound(admin, ns, a.pods)
                    finally:
                        proc.terminate()
                        proc.wait(10)
                        log.close()
                res[who].append((a.pods / dt, (a.pods - 1) / max(dt - first, 1e-9)))
                print(f"rep {rep} {who:<15} {a.pods} pods bound {dt:6.2f} s after start = {a.pods / dt:7.1f} pods/s; "
                      f"first bind after {first:5.2f} s, then {(a.pods - 1) / max(dt - first, 1e-9):7.1f} pods/s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
                loads.append(os.getloadavg()[0])
                admin.delete_collection_namespaced_pod(ns, grace_period_seconds=0)
                admin.delete_namespace(ns)
    finally:
        agent.stop()
        agent.unregister()
        cp.stop()
    for k, label in ((0, "from start"), (1, "after the first bind")):
        med = {w: np.median([r[k] for r in res[w]]) for w in contenders}
        print(f"median pods/s {label}: " + ", ".join(f"{w} {v:.1f}" for w, v in med.items()))
    if dec_us:
        print(f"synergai policy decision p50 {np.percentile(dec_us, 50):.1f} us p99 {np.percentile(dec_us, 99):.1f} us; "
              f"Binding call p50 {np.percentile(call_ms, 50):.1f} ms p99 {np.percentile(call_ms, 99):.1f} ms")
    if conflict_share:
        print(f"synergai x{a.replicas} ({'no lease' if a.no_leader_elect else 'leader election'}): "
              f"{100 * np.mean(conflict_share):.2f} % of Binding calls answered 409")
    print(f"load average 1 min during the runs: {min(loads):.2f}-{max(loads):.2f} (2 cores)")


if __name__ == "__main__":
    main()
