"""``backend=kubernetes``: replay a workload as inference-job pods on a cluster and build the simulator's table.

One run: (optionally) start the loopback control plane, register the testbed's nodes through the node agent,
start the scheduler with the policy object the runner built (or rely on one deployed in the cluster), create
one pod per job at its arrival time, watch every pod to its end, and account for every job: completed,
failed with the reason the scheduler / agent gave, retried when its pod failed with its node or vanished, or
failed as timed out. Pods, namespace and emulated nodes are removed afterwards.
"""
from __future__ import annotations

import atexit
import enum
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
    "scheduler_epoch_s": 0.0,  # scheduler=external: the --epoch-s the deployed scheduler runs with (its default)
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


@dataclass
class _JobState:
    i: int
    attempt: int = 0
    pod: str = ""
    uid: str | None = None
    created_wall: float = math.nan
    ended: bool = False
    pods: list = field(default_factory=list)  # every pod name the job had (one per attempt)
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
        v = o["scheduler_epoch_s"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError("backend.scheduler_epoch_s", f"must be a number >= 0 (unix seconds), got {v!r}")
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
        external = o["scheduler"] == "external"
        # the pods carry their clock (synergai.io/clock): an external scheduler must run on the same one, its
        # --epoch-s and --time-scale; it refuses pods of another clock with a message saying which
        clock = Clock(float(o["scheduler_epoch_s"]) if external else None, scale=float(o["time_scale"]))
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
            offset = 0.0
            if external:  # the clock is the scheduler's: the stream's time 0 is 0.2 s from now on it
                if agent is not None:
                    time.sleep(1.0)  # the deployed scheduler cannot tell us when it has seen the new nodes
                offset = clock.now_ms() + 200.0 / clock.scale
            else:
                clock.epoch_s = time.time() + 0.2  # experiment time 0: the first arrival is due now
            rows, dstats = self._replay(api, ns, stream, clock, faults, agent, progress, offset)
        finally:
            if sched is not None:
                sched.stop()
            if agent is not None:
                agent.stop()
            if o["cleanup"]:
                _cleanup(api, ns, agent)
        self.last_run = {"namespace": ns, "driver": dstats,
                         "scheduler": sched.stats if sched else None, "agent": agent.stats if agent else None}
        if sched is not None:  # it knows each pod's time in its central queue, bound or not (held ms, summed)
            held = sched.stats.hold_ms
            for r in rows:
                r["hold_ms"] = sum(held.get(name, 0.0) for name in r["pods"])
        jobs = _jobs_table(rows, stream, testbed, profile)
        decisions = pd.DataFrame(sched.stats.decisions if sched else [], columns=["sim_ms", "jobs", "wall_ns"])
        decisions["overhead_us"] = decisions.pop("wall_ns") / 1000.0
        nodes = _nodes_table(testbed, agent)
        from backends.base import RunResult

        horizon = float(np.nanmax(jobs["finish_ms"])) if jobs["finish_ms"].notna().any() else 0.0
        return RunResult(policy.name, jobs, decisions, nodes, horizon, self._faults_table)

    def _replay(self, api, ns, stream, clock, faults, agent, progress, offset_ms=0.0):
        fault_events, self._faults_table = _fault_timeline(faults, agent, float(stream.arrival_ms[-1])
                                                           if len(stream) else 0.0, self._seed)
        r = _Replay(api, ns, stream, clock, fault_events, self._max_retries, float(self.o["timeout_s"]), progress,
                    offset_ms)
        return r.run()


class Outcome(enum.Enum):
    """How a job's pod ended, as the driver decides retries: by kind, never by the text of a reason."""

    COMPLETED = "completed"
    FAILED = "failed"  # final: the job had its chance (rejected, invalid, the worker failed, no result)
    LOST = "lost"  # the job never got its chance (its node failed, its pod vanished or was deleted): retryable


@dataclass(frozen=True)
class PodOutcome:
    kind: Outcome
    reason: str = ""
    row: dict | None = None  # the per-job row, when the pod says where and how it ran


class _Replay:
    """One replay of a job stream as pods: create each pod at its arrival, follow every pod to its outcome,
    retry the jobs whose pod was lost, and give every job one row. Steps: ``_submit_due``, ``_inject_faults``,
    ``_drain`` (-> ``_on_created`` / ``_on_sync`` / ``_on_deleted`` / ``_on_pod``) and ``_settle``."""

    def __init__(self, api, ns, stream, clock, fault_events, max_retries, timeout_s, progress, offset_ms):
        self.api, self.ns, self.stream, self.clock = api, ns, stream, clock
        self.fault_events, self.max_retries, self.timeout_s = fault_events, max_retries, timeout_s
        self.offset_ms = offset_ms  # experiment time of the stream's time 0 on ``clock`` (external schedulers)
        n = self.n = len(stream)
        self.arrival = stream.arrival_ms.tolist()
        self.models = [stream.models[m] for m in stream.model_idx.tolist()]
        self.origins = [stream.origins[k] for k in stream.origin_idx.tolist()]
        self.private = stream.private.tolist()
        self.jobs = [_JobState(i) for i in range(n)]
        self.by_pod: dict[str, _JobState] = {}
        self.q: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.wstats = WatchStats()
        self.stats = {"created": 0, "retried": 0, "late_ms": [], "timed_out": 0, "watch": self.wstats}
        self.remaining = n
        self.next = 0
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=n, unit="job", leave=False)

    # ------------------------------------------------------------------ the loop
    def run(self):
        start_watch("pod", self.api.list_namespaced_pod, self.q, self.stop, self.wstats, namespace=self.ns)
        self.creators = ThreadPoolExecutor(4, thread_name_prefix="driver-create")
        self.deleters = ThreadPoolExecutor(2, thread_name_prefix="driver-delete")
        deadline = None
        try:
            while self.remaining > 0:
                now = self._now()
                self._submit_due(now)
                self._inject_faults(now)
                if self.next == self.n and deadline is None:
                    deadline = time.time() + self.timeout_s
                if deadline is not None and time.time() > deadline:
                    break
                self._drain(self._wait_s())
        finally:
            self.stop.set()
            self.creators.shutdown(wait=True)
            self.deleters.shutdown(wait=True)
            if self.bar is not None:
                self.bar.close()
        for js in self.jobs:  # whatever is left ran out of time: failed, with what we last knew
            if not js.ended:
                self.stats["timed_out"] += 1
                self._end(js, {"status": "failed", "reason": f"timed out after {self.timeout_s} s waiting for pod "
                                                             f"{js.pod}"})
        self.stats["late_ms"] = np.asarray(self.stats["late_ms"])
        return [js.row for js in self.jobs], self.stats

    def _now(self) -> float:
        return self.clock.now_ms() - self.offset_ms

    def _wait_s(self) -> float:
        wait = 0.2
        if self.next < self.n:
            wait = min(wait, self.clock.wall_delay_s(self.arrival[self.next] - self._now()))
        if self.fault_events:
            wait = min(wait, self.clock.wall_delay_s(self.fault_events[0][0] - self._now()))
        return max(wait, 0.0005)

    def _submit_due(self, now: float) -> None:
        while self.next < self.n and self.arrival[self.next] <= now:
            self.stats["late_ms"].append(now - self.arrival[self.next])
            self._submit(self.jobs[self.next])
            self.next += 1

    def _inject_faults(self, now: float) -> None:
        while self.fault_events and self.fault_events[0][0] <= now:
            _, fn, arg = self.fault_events.pop(0)
            fn(*arg)

    def _drain(self, timeout_s: float) -> None:
        try:
            item = self.q.get(timeout=timeout_s)
        except queue.Empty:
            return
        before = self.remaining
        while True:
            kind, typ, obj = item
            if kind == "created":
                self._on_created(typ, obj)
            elif typ == "SYNC":
                self._on_sync(obj)
            elif typ == "DELETED":
                self._on_deleted(obj)
            else:
                self._on_pod(obj)
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                break
        if self.bar is not None and self.remaining != before:
            self.bar.update(before - self.remaining)

    # ------------------------------------------------------------------ pods
    def _pod_body(self, js: _JobState):
        from kubernetes import client

        i, st = js.i, self.stream
        ann = {N.ANN_JOB_ID: str(i), N.ANN_MODEL: self.models[i], N.ANN_QOS_MS: repr(float(st.job_qos_ms[i])),
               N.ANN_ORIGIN_SITE: self.origins[i], N.ANN_ARRIVAL_MS: repr(float(self.arrival[i] + self.offset_ms)),
               N.ANN_CLOCK: self.clock.annotation(), N.ANN_QUERIES: str(int(st.queries[i])),
               N.ANN_INPUT_BYTES: str(int(st.input_bytes[self.models[i]])),
               N.ANN_PRIVATE: "true" if self.private[i] else "false", N.ANN_ATTEMPT: str(js.attempt)}
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=js.pod, annotations=ann,
                                         labels={"app.kubernetes.io/name": "synergai-job", f"{N.DOMAIN}/job": str(i)}),
            spec=client.V1PodSpec(scheduler_name=N.SCHEDULER_NAME, restart_policy="Never",
                                  termination_grace_period_seconds=0,
                                  tolerations=[client.V1Toleration(operator="Exists", effect="NoExecute",
                                                                   toleration_seconds=0)],
                                  containers=[client.V1Container(name="worker", image="synergai-worker:latest")]))

    def _create(self, js: _JobState) -> None:
        try:
            # keep trying through an apiserver outage; the run's deadline (stop) ends it
            call_with_retry(self.api.create_namespaced_pod, self.ns, self._pod_body(js), _request_timeout=30,
                            stop=self.stop, attempts=None)
        except Exception as exc:  # noqa: BLE001
            self.q.put(("created", "error", (js, f"pod could not be created: {short_error(exc)}")))
            return
        self.q.put(("created", "ok", (js, self._now())))

    def _submit(self, js: _JobState) -> None:
        js.pod = f"job-{js.i}" + (f"-r{js.attempt}" if js.attempt else "")
        js.pods.append(js.pod)
        self.by_pod[js.pod] = js
        self.creators.submit(self._create, js)

    def _end(self, js: _JobState, row: dict) -> None:
        if js.ended:
            return
        js.ended = True
        js.row = {**row, "retries": js.attempt, "pods": tuple(js.pods)}
        self.remaining -= 1

    def _settle(self, js: _JobState, o: PodOutcome) -> None:
        """The job's pod ended: a lost job gets a new pod while retries are left; otherwise the job ends."""
        if js.ended:
            return
        if o.kind is Outcome.LOST and js.attempt < self.max_retries:
            self.by_pod.pop(js.pod, None)
            js.attempt += 1
            js.uid = None
            self.stats["retried"] += 1
            self._submit(js)
            return
        row = o.row or {"status": "failed", "reason": o.reason}
        if o.kind is not Outcome.COMPLETED:
            row = {**row, "status": "failed", "reason": o.reason}
        self._end(js, row)

    def _classify(self, pod) -> PodOutcome | None:
        """The pod's outcome, or None while it is still pending or running."""
        ann = pod.metadata.annotations or {}
        phase = pod.status.phase if pod.status else None
        if phase == "Succeeded":
            if N.ANN_FINISH_MS in ann:
                return PodOutcome(Outcome.COMPLETED, "", self._row(ann, pod, "completed", ""))
            # a worker that exits 0 without reporting: its result is unknown, say so
            why = "pod succeeded without reporting a result"
            return PodOutcome(Outcome.FAILED, why, self._row(ann, pod, "failed", why))
        if phase == "Failed":
            why = ann.get(N.ANN_FAIL_REASON) or (pod.status.message or pod.status.reason or "pod failed")
            kind = Outcome.LOST if pod.status.reason == N.REASON_NODE_LOST else Outcome.FAILED
            return PodOutcome(kind, why, self._row(ann, pod, "failed", why))
        rej = rejection(pod)
        if rej is not None:
            return PodOutcome(Outcome.FAILED, rej, self._row(ann, pod, "failed", rej))
        return None

    def _row(self, ann, pod, status, reason) -> dict:
        row = _row_from(ann, pod, status, reason)
        if self.offset_ms:
            for k in ("decision_ms", "start_ms", "finish_ms"):
                row[k] -= self.offset_ms
        return row

    def _on_pod(self, pod) -> None:
        js = self.by_pod.get(pod.metadata.name)
        if js is None or js.ended:
            return
        js.uid = pod.metadata.uid
        o = self._classify(pod)
        if o is None:
            return
        self._settle(js, o)
        self.deleters.submit(_delete_pod, self.api, self.ns, pod.metadata.name)

    def _on_created(self, typ, obj) -> None:
        js = obj[0]
        if typ == "ok":
            self.stats["created"] += 1
            js.created_wall = time.time()
        else:
            self._settle(js, PodOutcome(Outcome.FAILED, obj[1]))

    def _on_sync(self, pods) -> None:
        names = {p.metadata.name for p in pods}
        for p in pods:
            self._on_pod(p)
        for js in list(self.by_pod.values()):  # created, then gone while we were not watching
            if not js.ended and js.uid is not None and js.pod not in names:
                self._settle(js, PodOutcome(Outcome.LOST, "pod vanished before it finished"))

    def _on_deleted(self, pod) -> None:
        js = self.by_pod.get(pod.metadata.name)
        self._on_pod(pod)
        if js is not None and not js.ended and js.uid == pod.metadata.uid:
            self._settle(js, PodOutcome(Outcome.LOST, "pod deleted before it finished"))


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
        "decision_ms": ann_float(ann, N.ANN_DECISION_MS), "hold_ms": ann_float(ann, N.ANN_HOLD_MS),
        "transfer_ms": ann_float(ann, N.ANN_TRANSFER_MS),
        "start_ms": ann_float(ann, N.ANN_START_MS), "finish_ms": ann_float(ann, N.ANN_FINISH_MS),
        "service_ms": ann_float(ann, N.ANN_SERVICE_MS),
        # a batch's member (the agent writes both on each): jobs and total queries of its execution
        "batch_jobs": int(ann_float(ann, N.ANN_BATCH_JOBS, 1)), "batch_queries": ann_float(ann, N.ANN_BATCH_QUERIES),
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
    from sim.shared import jobs_table

    node_by_name = {nd.name: nd for nd in testbed.nodes}
    power = {(e.device_type, e.model, e.config): e.power_w for e in profile.entries}
    df = pd.DataFrame(rows).reset_index(drop=True)
    for c in ("node", "engine", "precision", "power_mode", "reason", "status"):
        if c not in df:
            df[c] = None
    for c in ("decision_ms", "hold_ms", "transfer_ms", "start_ms", "finish_ms", "service_ms", "predicted_latency_ms"):
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
    for c in ("decision_ms", "hold_ms", "predicted_latency_ms", "transfer_ms", "start_ms", "finish_ms", "service_ms"):
        cols[c] = df[c].to_numpy(float)
    for c in ("engine", "precision", "power_mode"):
        cols[c] = df[c].to_numpy(object)
    bj = df["batch_jobs"].fillna(1).to_numpy(np.int32) if "batch_jobs" in df else np.ones(len(df), np.int32)
    if "batch_queries" in df:  # a batch's energy is shared by its members, by queries (as the simulator does)
        bq = df["batch_queries"].to_numpy(float)
        pw *= np.where(np.isfinite(bq) & (bq > 0), stream.queries / np.where(bq > 0, bq, 1.0), 1.0)
    cols.update(batch=df["batch"].to_numpy(), batch_jobs=bj, threads=df["threads"].to_numpy(),
                retries=df["retries"].to_numpy(),
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
    docs = [d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d]
    try:
        role = rbac.read_cluster_role("synergai-scheduler", _request_timeout=10)
        want = next(d for d in docs if d.get("kind") == "ClusterRole")
        have = [{"apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs} for r in role.rules or []]
        if have != want["rules"]:  # a state dir from an older version (e.g. before leases): bring it up to date
            role.rules = [client.V1PolicyRule(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"])
                          for r in want["rules"]]
            rbac.replace_cluster_role("synergai-scheduler", role, _request_timeout=10)
        return
    except client.exceptions.ApiException as exc:
        if exc.status != 404:
            raise
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
