"""``backend=kubernetes``: replay a workload as inference-job pods on a cluster and build the simulator's table.

One run: (optionally) start the loopback control plane, register the testbed's nodes through the node agent,
start the scheduler with the policy object the runner built (or rely on one deployed in the cluster), create
one pod per job at its arrival time, watch every pod to its end, and account for every job: completed,
failed with the reason the scheduler / agent gave, retried when its pod failed with its node or vanished, or
failed as timed out. Pods, namespace and emulated nodes are removed afterwards.
"""
from __future__ import annotations

import atexit
import logging
import math
import queue
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synergai.domain import Config
from synergai.errors import ConfigError, SynergAIError

from . import names as N
from .convert import Clock, ann_float, rejection
from .watch import WatchStats, call_with_retry, short_error, start_watch

log = logging.getLogger("synergai.driver")
DEPLOY = Path(__file__).resolve().parent / "deploy"
OPTIONS = {
    "kubeconfig": None,  # null: in-cluster credentials or ~/.kube/config; ignored with control_plane=local
    "control_plane": "local",  # local: start the loopback apiserver (tests, laptops); external: use kubeconfig
    "state_dir": None,  # local control plane state (default /tmp/synergai-k8s)
    "agent": "emulated",  # emulated | local_hardware | none (the cluster's own nodes run the pods)
    "scheduler": "in_process",  # in_process: this policy object schedules; external: a deployed synergai-scheduler
    "scheduler_kubeconfig": None,  # identity of the in-process scheduler (local: the RBAC-limited account)
    "time_scale": 1.0,  # > 1: slow motion (each emulated ms takes time_scale wall ms)
    "timeout_s": 120.0,  # wall seconds to wait for stragglers after the last arrival
    "max_retries": 2,  # new pods for a job whose pod failed with its node or vanished
    "namespace": None,  # default: a fresh synergai-<policy>-<seed>-<hex> per run
    "emit_events": True,
    "cleanup": True,
    "heartbeat_s": 10.0,
    "model_dir": None,  # local_hardware: where the worker keeps ONNX files
}
CHOICES = {"control_plane": ("local", "external"), "agent": ("emulated", "local_hardware", "none"),
           "scheduler": ("in_process", "external")}
RETRYABLE = ("node ", "pod vanished", "pod deleted")  # failure reasons that say "the job never got its chance"


@dataclass
class _JobState:
    i: int
    attempt: int = 0
    pod: str = ""
    uid: str | None = None
    created_wall: float = math.nan
    ended: bool = False
    row: dict = field(default_factory=dict)


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, **options):
        for k in options:
            if k not in OPTIONS:
                raise ConfigError(f"backend.{k}", f"unknown option for backend kubernetes (known: {', '.join(OPTIONS)})")
        o = {**OPTIONS, **{k: v for k, v in options.items() if v is not None or k in ("kubeconfig", "namespace")}}
        for k, allowed in CHOICES.items():
            if o[k] not in allowed:
                raise ConfigError(f"backend.{k}", f"must be one of {', '.join(allowed)}, got {o[k]!r}")
        for k in ("time_scale", "timeout_s", "heartbeat_s"):
            v = o[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"backend.{k}", f"must be a positive number, got {v!r}")
        if isinstance(o["max_retries"], bool) or not isinstance(o["max_retries"], int) or o["max_retries"] < 0:
            raise ConfigError("backend.max_retries", f"must be an integer >= 0, got {o['max_retries']!r}")
        if o["agent"] == "local_hardware" and o["time_scale"] != 1.0:
            raise ConfigError("backend.time_scale", "must be 1 with agent=local_hardware (real execution)")
        if o["control_plane"] == "external" and o["kubeconfig"] and not Path(o["kubeconfig"]).is_file():
            raise ConfigError("backend.kubeconfig", f"{o['kubeconfig']}: file not found")
        self.o = o
        self._cp = None
        self.last_run: dict = {}  # stats of the last run (scheduler, agent, driver), for reports and tests

    # ------------------------------------------------------------------ connection
    def _connect(self):
        from .controlplane import ControlPlane, api_client

        if self.o["control_plane"] == "local":
            if self._cp is None:
                cp = ControlPlane(self.o["state_dir"] or "/tmp/synergai-k8s")
                already = cp.pid("apiserver") is not None
                cp.start()
                if not already:
                    atexit.register(cp.stop)
                self._cp = cp
            admin = api_client(self._cp.admin_kubeconfig)
            ensure_scheduler_rbac(admin)
            sched = api_client(self.o["scheduler_kubeconfig"] or self._cp.scheduler_kubeconfig)
            return admin, sched
        api = api_client(self.o["kubeconfig"])
        sk = self.o["scheduler_kubeconfig"]
        return api, (api_client(sk) if sk else api)

    # ------------------------------------------------------------------ run
    def run(self, testbed, profile, policy, stream, seed, progress=False, faults=None):
        from kubernetes import client

        from .agent import NodeAgent
        from .scheduler import Scheduler

        o = self.o
        self._seed, self._faults_table = seed, None
        if faults:
            self._max_retries = faults.max_retries
        else:
            self._max_retries = o["max_retries"]
        api, sched_api = self._connect()
        ns = o["namespace"] or f"synergai-{policy.name.replace('_', '-')}-{seed}-{secrets.token_hex(3)}"
        try:
            call_with_retry(api.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        except client.exceptions.ApiException as exc:
            if exc.status != 409:
                raise SynergAIError(f"backend.namespace: cannot create {ns}: {short_error(exc)}") from None
        clock = Clock(scale=float(o["time_scale"]))
        agent = sched = None
        try:
            if o["agent"] != "none":
                agent = NodeAgent(api, testbed.nodes, testbed.network, profile, clock=clock, mode=o["agent"],
                                  seed=seed, heartbeat_s=o["heartbeat_s"], model_dir=o["model_dir"],
                                  labels={f"{N.DOMAIN}/run": ns})
                agent.register()
                agent.start()
            if o["scheduler"] == "in_process":
                sched = Scheduler(sched_api, policy, profile, testbed.network, clock=clock, namespace=ns,
                                  node_order=[n.name for n in testbed.nodes], seed=seed, emit_events=o["emit_events"],
                                  node_selector=f"{N.DOMAIN}/run={ns}" if agent else None)
                sched.start()
                _wait_nodes(sched, [n.name for n in testbed.nodes] if agent else [], 60.0)
            clock.epoch_s = time.time() + 0.2  # experiment time 0: the first arrival is due now
            rows, dstats = self._replay(api, ns, stream, clock, faults, agent, progress)
        finally:
            if sched is not None:
                sched.stop()
            if agent is not None:
                agent.stop()
            if o["cleanup"]:
                _cleanup(api, ns, agent)
        self.last_run = {"namespace": ns, "driver": dstats,
                         "scheduler": sched.stats if sched else None, "agent": agent.stats if agent else None}
        jobs = _jobs_table(rows, stream, testbed, profile)
        decisions = pd.DataFrame(sched.stats.decisions if sched else [], columns=["sim_ms", "jobs", "wall_ns"])
        decisions["overhead_us"] = decisions.pop("wall_ns") / 1000.0
        nodes = _nodes_table(testbed, agent)
        from backends.base import RunResult

        horizon = float(np.nanmax(jobs["finish_ms"])) if jobs["finish_ms"].notna().any() else 0.0
        return RunResult(policy.name, jobs, decisions, nodes, horizon, self._faults_table)

    def _replay(self, api, ns, stream, clock, faults, agent, progress):
        from kubernetes import client

        o = self.o
        n = len(stream)
        arrival = stream.arrival_ms.tolist()
        models = [stream.models[m] for m in stream.model_idx.tolist()]
        origins = [stream.origins[k] for k in stream.origin_idx.tolist()]
        private = stream.private.tolist()
        jobs = [_JobState(i) for i in range(n)]
        by_pod: dict[str, _JobState] = {}
        q: queue.Queue = queue.Queue()
        stop = threading.Event()
        wstats = WatchStats()
        start_watch("pod", api.list_namespaced_pod, q, stop, wstats, namespace=ns)
        creators = ThreadPoolExecutor(4, thread_name_prefix="driver-create")
        deleters = ThreadPoolExecutor(2, thread_name_prefix="driver-delete")
        stats = {"created": 0, "retried": 0, "late_ms": [], "timed_out": 0, "watch": wstats}
        remaining = n

        def create(js: _JobState) -> None:
            i = js.i
            ann = {N.ANN_JOB_ID: str(i), N.ANN_MODEL: models[i], N.ANN_QOS_MS: repr(float(stream.job_qos_ms[i])),
                   N.ANN_ORIGIN_SITE: origins[i], N.ANN_ARRIVAL_MS: repr(float(arrival[i])),
                   N.ANN_QUERIES: str(int(stream.queries[i])), N.ANN_INPUT_BYTES: str(int(stream.input_bytes[models[i]])),
                   N.ANN_PRIVATE: "true" if private[i] else "false", N.ANN_ATTEMPT: str(js.attempt)}
            pod = client.V1Pod(
                metadata=client.V1ObjectMeta(name=js.pod, annotations=ann, labels={"app.kubernetes.io/name": "synergai-job",
                                                                                   f"{N.DOMAIN}/job": str(i)}),
                spec=client.V1PodSpec(scheduler_name=N.SCHEDULER_NAME, restart_policy="Never",
                                      termination_grace_period_seconds=0,
                                      tolerations=[client.V1Toleration(operator="Exists", effect="NoExecute",
                                                                       toleration_seconds=0)],
                                      containers=[client.V1Container(name="worker", image="synergai-worker:latest")]))
            try:
                # keep trying through an apiserver outage; the run's deadline (stop) ends it
                call_with_retry(api.create_namespaced_pod, ns, pod, _request_timeout=30, stop=stop, attempts=None)
            except Exception as exc:  # noqa: BLE001
                q.put(("created", "error", (js, f"pod could not be created: {short_error(exc)}")))
                return
            q.put(("created", "ok", (js, clock.now_ms())))

        def submit(js: _JobState) -> None:
            js.pod = f"job-{js.i}" + (f"-r{js.attempt}" if js.attempt else "")
            by_pod[js.pod] = js
            creators.submit(create, js)

        def end(js: _JobState, row: dict) -> None:
            nonlocal remaining
            if js.ended:
                return
            js.ended = True
            js.row = {**row, "retries": js.attempt}
            remaining -= 1

        def fail_or_retry(js: _JobState, reason: str) -> None:
            if js.ended:
                return
            if reason.startswith(RETRYABLE) and js.attempt < self._max_retries:
                by_pod.pop(js.pod, None)
                js.attempt += 1
                js.uid = None
                stats["retried"] += 1
                submit(js)
                return
            end(js, {"status": "failed", "reason": reason})

        def outcome(pod) -> None:
            js = by_pod.get(pod.metadata.name)
            if js is None or js.ended:
                return
            js.uid = pod.metadata.uid
            ann = pod.metadata.annotations or {}
            phase = pod.status.phase if pod.status else None
            rej = rejection(pod)
            if phase == "Succeeded":
                if N.ANN_FINISH_MS in ann:
                    end(js, _row_from(ann, pod, "completed", ""))
                else:  # a worker that exits 0 without reporting: its result is unknown, say so
                    end(js, _row_from(ann, pod, "failed", "pod succeeded without reporting a result"))
            elif phase == "Failed":
                why = ann.get(N.ANN_FAIL_REASON) or (pod.status.message or pod.status.reason or "pod failed")
                row = _row_from(ann, pod, "failed", why)
                if why.startswith(RETRYABLE) and js.attempt < self._max_retries:
                    fail_or_retry(js, why)
                else:
                    end(js, row)
            elif rej is not None:
                end(js, _row_from(ann, pod, "failed", rej))
            else:
                return
            deleters.submit(_delete_pod, api, ns, pod.metadata.name)

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n, unit="job", leave=False)
        fault_events, self._faults_table = _fault_timeline(faults, agent, float(arrival[-1]) if n else 0.0,
                                                           self._seed)
        nxt = 0
        deadline = None
        try:
            while remaining > 0:
                now = clock.now_ms()
                while nxt < n and arrival[nxt] <= now:
                    stats["late_ms"].append(now - arrival[nxt])
                    submit(jobs[nxt])
                    nxt += 1
                while fault_events and fault_events[0][0] <= now:
                    _, fn, arg = fault_events.pop(0)
                    fn(*arg)
                if nxt == n and deadline is None:
                    deadline = time.time() + float(o["timeout_s"])
                if deadline is not None and time.time() > deadline:
                    break
                wait = 0.2
                if nxt < n:
                    wait = min(wait, clock.wall_delay_s(arrival[nxt] - clock.now_ms()))
                if fault_events:
                    wait = min(wait, clock.wall_delay_s(fault_events[0][0] - clock.now_ms()))
                try:
                    item = q.get(timeout=max(wait, 0.0005))
                except queue.Empty:
                    continue
                before = remaining
                while True:
                    kind, typ, obj = item
                    if kind == "created":
                        js = obj[0]
                        if typ == "ok":
                            stats["created"] += 1
                            js.created_wall = time.time()
                        else:
                            fail_or_retry(js, obj[1])
                    elif typ == "SYNC":
                        names = {p.metadata.name for p in obj}
                        for p in obj:
                            outcome(p)
                        for js in list(by_pod.values()):  # created, then gone while we were not watching
                            if not js.ended and js.uid is not None and js.pod not in names:
                                fail_or_retry(js, "pod vanished before it finished")
                    elif typ == "DELETED":
                        js = by_pod.get(obj.metadata.name)
                        outcome(obj)
                        if js is not None and not js.ended and js.uid == obj.metadata.uid:
                            fail_or_retry(js, "pod deleted before it finished")
                    else:
                        outcome(obj)
                    try:
                        item = q.get_nowait()
                    except queue.Empty:
                        break
                if bar is not None and remaining != before:
                    bar.update(before - remaining)
        finally:
            stop.set()
            creators.shutdown(wait=True)
            deleters.shutdown(wait=True)
            if bar is not None:
                bar.close()
        for js in jobs:  # whatever is left ran out of time: failed, with what we last knew
            if not js.ended:
                stats["timed_out"] += 1
                end(js, {"status": "failed", "reason": f"timed out after {o['timeout_s']} s waiting for pod {js.pod}"})
        stats["late_ms"] = np.asarray(stats["late_ms"])
        return [js.row for js in jobs], stats


# ---------------------------------------------------------------------- helpers
def _wait_nodes(sched, names, timeout_s: float) -> None:
    t_end = time.time() + timeout_s
    while time.time() < t_end:
        v = sched.view
        if sched.ready.is_set() and v is not None and all(n in v.index and v.ready(n) for n in names):
            return
        time.sleep(0.05)
    raise SynergAIError(f"backend: the scheduler did not see nodes {', '.join(names)} Ready within {timeout_s:.0f} s")


def _row_from(ann, pod, status, reason) -> dict:
    return {
        "status": status, "reason": reason, "node": pod.spec.node_name,
        "engine": ann.get(N.ANN_ENGINE), "precision": ann.get(N.ANN_PRECISION),
        "batch": int(ann_float(ann, N.ANN_BATCH, 0)), "threads": int(ann_float(ann, N.ANN_THREADS, 0)),
        "power_mode": ann.get(N.ANN_POWER_MODE),
        "predicted_latency_ms": ann_float(ann, N.ANN_PREDICTED_LATENCY_MS),
        "decision_ms": ann_float(ann, N.ANN_DECISION_MS), "transfer_ms": ann_float(ann, N.ANN_TRANSFER_MS),
        "start_ms": ann_float(ann, N.ANN_START_MS), "finish_ms": ann_float(ann, N.ANN_FINISH_MS),
        "service_ms": ann_float(ann, N.ANN_SERVICE_MS),
    }


def _delete_pod(api, ns, name) -> None:
    try:
        api.delete_namespaced_pod(name, ns, grace_period_seconds=0, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001  -- the namespace delete at the end sweeps leftovers
        log.debug("delete %s/%s: %s", ns, name, short_error(exc))


def _cleanup(api, ns, agent) -> None:
    """Pods first (grace 0: without a namespace controller, e.g. the loopback fixture, a namespace delete leaves
    its pods behind), then the namespace, then the emulated nodes."""
    try:
        api.delete_collection_namespaced_pod(ns, grace_period_seconds=0, _request_timeout=30)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not delete the pods of %s: %s", ns, short_error(exc))
    try:
        api.delete_namespace(ns, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not delete namespace %s: %s", ns, short_error(exc))
    if agent is not None:
        agent.unregister()


def _fault_timeline(faults, agent, horizon_ms: float, seed: int):
    """(experiment ms, fn, args) for the faults the node agent injects, and the injected faults as a table."""
    from synergai.faults import CRASH, DEGRADE, FAULT_COLUMNS, PARTITION, THROTTLE
    from synergai.network import Link

    if not faults or agent is None:
        return [], None
    agent.partition_policy = faults.partition_policy
    base = {frozenset((ln.a, ln.b)): ln for ln in agent.base_network.links()}
    out, rows = [], []
    for e in faults.expand(horizon_ms, seed):
        if e.kind == CRASH:
            why = f"crash injected ({e.source})"
            out += [(e.start_ms, agent.fail_node, (e.node, why)), (e.end_ms, agent.recover_node, (e.node,))]
        elif e.kind == THROTTLE:
            out += [(e.start_ms, agent.throttle, (e.node, e.factor)), (e.end_ms, agent.throttle, (e.node, 1.0))]
        elif e.kind in (PARTITION, DEGRADE):
            ln = base.get(frozenset((e.a, e.b)))
            new = None
            if e.kind == DEGRADE and ln is not None:
                new = Link(e.a, e.b, ln.latency_ms if e.latency_ms is None else e.latency_ms,
                           ln.bandwidth_mbps if e.bandwidth_mbps is None else e.bandwidth_mbps)
            out += [(e.start_ms, agent.set_link, (e.a, e.b, new)), (e.end_ms, agent.set_link, (e.a, e.b, ln))]
        rows.append(e.row())
    out.sort(key=lambda x: x[0])  # stable: a crash that ends when the next begins recovers first
    return out, pd.DataFrame(rows, columns=list(FAULT_COLUMNS))


def _jobs_table(rows, stream, testbed, profile) -> pd.DataFrame:
    """The drivers' per-job rows -> the simulator's results table (sim.engine.jobs_table)."""
    from sim.engine import jobs_table

    node_by_name = {nd.name: nd for nd in testbed.nodes}
    power = {(e.device_type, e.model, e.config): e.power_w for e in profile.entries}
    df = pd.DataFrame(rows).reset_index(drop=True)
    for c in ("node", "engine", "precision", "power_mode", "reason", "status"):
        if c not in df:
            df[c] = None
    for c in ("decision_ms", "transfer_ms", "start_ms", "finish_ms", "service_ms", "predicted_latency_ms"):
        if c not in df:
            df[c] = np.nan
    for c in ("batch", "threads", "retries"):
        df[c] = df[c].fillna(0).astype(np.int64) if c in df else 0
    ok = (df["status"] == "completed").to_numpy()
    node = [x if x in node_by_name else None for x in df["node"]]
    dev = [node_by_name[x].device_type if x else None for x in node]
    models = np.asarray(stream.models, dtype=object)[stream.model_idx]
    pw = np.array([power.get((d, m, Config(e, p, b, t, pm)), np.nan) if d else np.nan
                   for d, m, e, p, b, t, pm in zip(dev, models, df["engine"], df["precision"], df["batch"],
                                                   df["threads"], df["power_mode"])], dtype=float)
    cols = {"node": np.asarray(df["node"].where(df["node"].notna(), None), dtype=object),
            "device_type": np.asarray(dev, dtype=object),
            "tier": np.asarray([node_by_name[x].tier if x else None for x in node], dtype=object)}
    for c in ("decision_ms", "predicted_latency_ms", "transfer_ms", "start_ms", "finish_ms", "service_ms"):
        cols[c] = df[c].to_numpy(float)
    for c in ("engine", "precision", "power_mode"):
        cols[c] = df[c].to_numpy(object)
    cols.update(batch=df["batch"].to_numpy(), threads=df["threads"].to_numpy(), retries=df["retries"].to_numpy(),
                reason=df["reason"].fillna("").to_numpy(object))
    return jobs_table(stream, ok, cols, pw)


def _nodes_table(testbed, agent) -> pd.DataFrame:
    from synergai.domain import ACCEL, CPU

    busy = agent.stats.busy_unit_ms if agent else {}
    return pd.DataFrame([{"node": nd.name, "device_type": nd.device_type, "tier": nd.tier, "site": nd.site,
                          "cpu_cores": nd.cpu_cores, "accel_slots": nd.accel_slots,
                          "busy_cpu_unit_ms": busy.get((nd.name, CPU), 0.0),
                          "busy_accel_unit_ms": busy.get((nd.name, ACCEL), 0.0)} for nd in testbed.nodes])


def ensure_scheduler_rbac(api) -> None:
    """Apply deploy/rbac.yaml (namespace, ServiceAccount, ClusterRole, binding) if the role is missing, so the
    in-process scheduler runs with exactly the deployed least-privilege rights."""
    import yaml
    from kubernetes import client, utils

    rbac = client.RbacAuthorizationV1Api(api.api_client)
    try:
        rbac.read_cluster_role("synergai-scheduler", _request_timeout=10)
        return
    except client.exceptions.ApiException as exc:
        if exc.status != 404:
            raise
    docs = [d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d]
    try:
        api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="synergai-system")))
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    for d in docs:
        if d.get("kind") == "Namespace":
            continue
        try:
            utils.create_from_dict(api.api_client, d)
        except utils.FailToCreateError as exc:
            if any(getattr(e, "status", None) != 409 for e in exc.api_exceptions):
                raise
