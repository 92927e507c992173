"""Command lines: ``synergai-scheduler`` (in a cluster or beside one) and ``synergai-agent`` (emulated nodes).

Every bad argument or unreadable file ends with one line ``<prog>: error: <what>: <problem>`` and exit 2.
Both stop cleanly on SIGTERM / SIGINT.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from synergai.errors import SynergAIError


def _fail(prog: str, msg: str) -> None:
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_cluster(path: str, need_nodes: bool):
    """A cluster YAML in the format of configs/cluster/*.yaml -> Testbed. The scheduler needs only sites and
    links (nodes come from the API; listed ones fix the order policies see them in); the agent needs nodes."""
    import yaml

    from synergai.testbed import testbed_from_dict

    p = Path(path)
    try:
        cfg = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise SynergAIError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SynergAIError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(cfg, dict):
        raise SynergAIError(f"{path}: expected a mapping with sites, links, device_types, nodes")
    order = [n.get("name") for n in (cfg.get("nodes") or []) if isinstance(n, dict)]
    if not need_nodes and not cfg.get("nodes"):
        # only the network matters: give the validator one placeholder node on the first site
        sites = cfg.get("sites") or []
        site = sites[0].get("name") if sites and isinstance(sites[0], dict) else None
        cfg = {**cfg, "device_types": {"_placeholder": {"tier": "edge", "arch": "none", "cpu_cores": 1}},
               "nodes": [{"name": "_placeholder", "device_type": "_placeholder", "site": site}]}
    try:
        tb = testbed_from_dict(cfg, where=p.name)
    except SynergAIError as exc:
        raise SynergAIError(f"{path}: {exc}") from None
    return tb, order


def _profile(traces: str, basis: str):
    from synergai.profile import PerformanceProfile

    if not Path(traces).is_dir():
        raise SynergAIError(f"--traces: {traces}: directory not found")
    return PerformanceProfile.from_dir(traces, basis=basis)


def _params(items: list[str]) -> dict:
    import yaml

    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise SynergAIError(f"--param: expected KEY=VALUE, got {it!r}")
        out[k] = yaml.safe_load(v)
    return out


def _run_until_signal(stop_fn) -> None:
    done = threading.Event()

    def handler(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not done.wait(1.0):
        pass
    stop_fn()


def _common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--cluster", required=True, help="cluster YAML (sites, links; nodes optional for the scheduler)")
    ap.add_argument("--traces", default="traces", help="trace directory (performance profiles)")
    ap.add_argument("--latency-basis", default="wall", choices=("wall", "cpu"))
    ap.add_argument("--kubeconfig", default=None, help="default: in-cluster credentials, else ~/.kube/config")
    ap.add_argument("--time-scale", type=float, default=1.0, help="slow motion factor shared with the agent")
    ap.add_argument("--epoch-s", type=float, default=0.0,
                    help="experiment time 0 (unix s); default 0, so separate processes share one clock")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-level", default="INFO")


def scheduler_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="synergai-scheduler", description="Run a SynergAI policy as a Kubernetes "
                                                                        "scheduler.")
    _common(ap)
    ap.add_argument("--policy", default="synergai")
    ap.add_argument("--param", action="append", default=[], help="policy parameter KEY=VALUE (repeatable)")
    ap.add_argument("--policy-module", action="append", default=[], help="import to register user policies")
    ap.add_argument("--namespace", default=None, help="only pods of this namespace (default: all)")
    ap.add_argument("--scheduler-name", default="synergai", help="pods' spec.schedulerName to serve")
    ap.add_argument("--node-selector", default=None, help="label selector: nodes this scheduler may use")
    ap.add_argument("--no-events", action="store_true", help="do not record an Event per decision")
    ap.add_argument("--leader-elect", default="false", choices=("true", "false"),
                    help="hold a coordination.k8s.io Lease; only the leader decides (for replicas > 1)")
    ap.add_argument("--lease-namespace", default=None, help="default: $POD_NAMESPACE, else synergai-system")
    ap.add_argument("--lease-name", default="synergai-scheduler")
    ap.add_argument("--identity", default=None, help="this replica's name in the Lease (default: $POD_NAME or "
                                                      "hostname + random suffix)")
    ap.add_argument("--lease-duration-s", type=float, default=15.0)
    ap.add_argument("--renew-deadline-s", type=float, default=10.0)
    ap.add_argument("--retry-period-s", type=float, default=2.0)
    ap.add_argument("--serve-address", default="0.0.0.0", help="address of /healthz, /readyz and /metrics")
    ap.add_argument("--serve-port", type=int, default=10251, help="port of /healthz, /readyz, /metrics (0: off)")
    return ap


def scheduler_main(argv: list[str] | None = None) -> None:
    prog = "synergai-scheduler"
    a = scheduler_parser().parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        import importlib

        from synergai.policy import make_policy

        from .controlplane import api_client
        from .convert import Clock
        from .scheduler import Scheduler

        for m in a.policy_module:
            try:
                importlib.import_module(m)
            except Exception as exc:  # noqa: BLE001
                raise SynergAIError(f"--policy-module: cannot import {m!r}: {exc}") from None
        tb, order = load_cluster(a.cluster, need_nodes=False)
        policy = make_policy(a.policy, **_params(a.param))
        profile = _profile(a.traces, a.latency_basis)
        if not 0 <= a.serve_port <= 65535:
            raise SynergAIError(f"--serve-port: must be 0..65535, got {a.serve_port}")
        api = api_client(a.kubeconfig, "--kubeconfig")
        leader = None
        if a.leader_elect == "true":
            import os

            from .leader import LeaderElector, default_identity

            try:
                lease_ns = a.lease_namespace or os.environ.get("POD_NAMESPACE") or "synergai-system"
                leader = LeaderElector(api, lease_ns, a.lease_name,
                                       identity=a.identity or os.environ.get("POD_NAME") or default_identity(),
                                       lease_duration_s=a.lease_duration_s, renew_deadline_s=a.renew_deadline_s,
                                       retry_period_s=a.retry_period_s)
            except ValueError as exc:
                raise SynergAIError(f"--lease-duration-s/--renew-deadline-s/--retry-period-s: {exc}") from None
        sched = Scheduler(api, policy, profile, tb.network,
                          clock=Clock(a.epoch_s, a.time_scale), scheduler_name=a.scheduler_name,
                          namespace=a.namespace, node_order=order, node_selector=a.node_selector, seed=a.seed,
                          emit_events=not a.no_events, leader=leader)
        server = None
        if a.serve_port:
            from .health import HealthServer

            try:
                server = HealthServer(sched, a.serve_address, a.serve_port).start()
            except OSError as exc:
                raise SynergAIError(f"--serve-port: cannot listen on {a.serve_address}:{a.serve_port}: "
                                    f"{exc.strerror}") from None
    except SynergAIError as exc:
        _fail(prog, str(exc))
    logging.getLogger("synergai.scheduler").info(
        "serving schedulerName=%s with policy %s%s%s", a.scheduler_name, a.policy,
        f"; leader election on lease {leader.namespace}/{leader.name} as {leader.identity}" if leader else "",
        f"; /healthz /readyz /metrics on {a.serve_address}:{server.port}" if server else "")
    sched.start()

    def stop():
        sched.stop()
        if server is not None:
            server.stop()

    _run_until_signal(stop)


def agent_main(argv: list[str] | None = None) -> None:
    prog = "synergai-agent"
    ap = argparse.ArgumentParser(prog=prog, description="Register emulated / local-hardware nodes and run their pods.")
    _common(ap)
    ap.add_argument("--mode", default="emulated", choices=("emulated", "local_hardware"))
    ap.add_argument("--nodes", default=None, help="comma-separated subset of the cluster's nodes (default: all)")
    ap.add_argument("--heartbeat-s", type=float, default=10.0)
    ap.add_argument("--keep-nodes", action="store_true", help="leave the Node objects behind on exit")
    ap.add_argument("--foreign-duration-ms", type=float, default=None,
                    help="pods no SynergAI scheduler placed run this long (experiment ms); default: until deleted")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        from .agent import NodeAgent
        from .controlplane import api_client
        from .convert import Clock

        tb, _ = load_cluster(a.cluster, need_nodes=True)
        nodes = tb.nodes
        if a.nodes:
            want = [x for x in a.nodes.split(",") if x]
            unknown = [x for x in want if x not in {n.name for n in nodes}]
            if unknown:
                raise SynergAIError(f"--nodes: not in {a.cluster}: {', '.join(unknown)}")
            nodes = [n for n in nodes if n.name in want]
        profile = _profile(a.traces, a.latency_basis)
        agent = NodeAgent(api_client(a.kubeconfig, "--kubeconfig"), nodes, tb.network, profile,
                          clock=Clock(a.epoch_s, a.time_scale), mode=a.mode, seed=a.seed, heartbeat_s=a.heartbeat_s,
                          foreign_duration_ms=a.foreign_duration_ms)
        agent.register()
    except SynergAIError as exc:
        _fail(prog, str(exc))
    except Exception as exc:  # noqa: BLE001  -- API refused the registration: say why in one line
        from .watch import short_error

        _fail(prog, f"registering nodes: {short_error(exc)}")
    agent.start()

    def stop():
        agent.stop()
        if not a.keep_nodes:
            agent.unregister()

    _run_until_signal(stop)
