"""The command lines: one-line errors without a cluster, and synergai-scheduler as a real process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("kubernetes")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(module_main, *args, timeout=60):
    code = f"import sys; from backends.kubernetes.cli import {module_main}; {module_main}(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("main, args, expect", [
    ("scheduler_main", ["--cluster", "/nonexistent.yaml"], "synergai-scheduler: error: /nonexistent.yaml: No such file"),
    ("scheduler_main", ["--cluster", "configs/cluster/default.yaml", "--policy", "nope"],
     "synergai-scheduler: error: policy: unknown policy 'nope'"),
    ("scheduler_main", ["--cluster", "configs/cluster/default.yaml", "--param", "oops"],
     "synergai-scheduler: error: --param: expected KEY=VALUE"),
    ("scheduler_main", ["--cluster", "configs/cluster/default.yaml", "--traces", "/nonexistent"],
     "synergai-scheduler: error: --traces: /nonexistent: directory not found"),
    ("scheduler_main", ["--cluster", "configs/cluster/default.yaml", "--kubeconfig", "/nonexistent"],
     "synergai-scheduler: error: --kubeconfig: /nonexistent: file not found"),
    ("agent_main", ["--cluster", "configs/cluster/default.yaml", "--nodes", "orin-a,ghost"],
     "synergai-agent: error: --nodes: not in configs/cluster/default.yaml: ghost"),
])
def test_cli_errors_are_one_line_and_exit_2(main, args, expect):
    r = run(main, *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expect), r.stderr


def test_scheduler_process_binds_and_stops_on_sigterm(k8s, tmp_path):
    from kubernetes import client

    from backends.kubernetes import names as N
    from backends.kubernetes.agent import NodeAgent
    from backends.kubernetes.controlplane import api_client
    from backends.kubernetes.driver import ensure_scheduler_rbac
    from experiments.runner import compose_config, prepare

    admin = api_client(k8s.admin_kubeconfig)
    ensure_scheduler_rbac(admin)
    ns = f"cli-{os.getpid()}"
    admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    p = prepare(compose_config([]))
    agent = NodeAgent(admin, p.testbed.nodes[:3], p.testbed.network, p.profile, execute=False,
                      labels={"cli": ns})
    agent.register()
    import socket
    import urllib.request

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from backends.kubernetes.cli import scheduler_main; "
                             "scheduler_main()", "--cluster", "configs/cluster/default.yaml", "--policy", "greedy",
                             "--kubeconfig", str(k8s.scheduler_kubeconfig), "--namespace", ns,
                             "--node-selector", f"cli={ns}", "--log-level", "INFO", "--leader-elect", "true",
                             "--lease-name", f"cli-{ns}", "--serve-address", "127.0.0.1", "--serve-port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ann = {N.ANN_MODEL: "resnet50", N.ANN_QOS_MS: "50", N.ANN_ORIGIN_SITE: "edge-a"}
        for i in range(5):
            admin.create_namespaced_pod(ns, client.V1Pod(
                metadata=client.V1ObjectMeta(name=f"c{i}", annotations=ann),
                spec=client.V1PodSpec(scheduler_name="synergai", containers=[client.V1Container(name="w", image="x")])))
        t_end = time.time() + 30
        while time.time() < t_end:
            pods = admin.list_namespaced_pod(ns).items
            if len(pods) == 5 and all(x.spec.node_name for x in pods):
                break
            time.sleep(0.2)
        assert all(x.spec.node_name in {n.name for n in p.testbed.nodes[:3]} for x in pods)
        assert {x.metadata.annotations[N.ANN_POLICY] for x in pods} == {"greedy"}
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).read() == b"ok"
        assert urllib.request.urlopen(f"{base}/readyz", timeout=5).read() == b"ok"
        t_end = time.time() + 10  # the last bind answers may still be on their way to the scheduler's loop
        while True:
            metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
            if "synergai_scheduler_binds_total 5.0" in metrics or time.time() > t_end:
                break
            time.sleep(0.2)
        assert "synergai_scheduler_binds_total 5.0" in metrics and "synergai_scheduler_leader 1.0" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        agent.unregister()
        admin.delete_collection_namespaced_pod(ns, grace_period_seconds=0)
        admin.delete_namespace(ns)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "became leader" in err and "/healthz /readyz /metrics on 127.0.0.1" in err
    assert "token" not in err.lower()  # no credentials in the log
