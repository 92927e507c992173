"""``synergai-agent``: a node agent in the spirit of KWOK, for tests and local validation.

It registers Node objects for the device types of a testbed (labels, capacity, Ready condition), keeps their
heartbeats fresh, and plays kubelet for pods bound to them:

- **emulated**: the pod's input crosses the testbed network (transfer time from its origin site), queues on
  the node's resource pool like in the simulator (FIFO, or by the scheduler's priority annotation), and "runs"
  for a service time sampled from the traces (the simulator's sampler and seed), optionally in slow motion;
- **local hardware**: the same, but the job really executes through the worker (ONNX Runtime) on this machine
  and the measured wall time is its service time.

A batch (``synergai.io/batch-riders`` on the leader's Binding, ``batch-leader`` on each rider's; see
scheduler.py) is one execution, as in the simulator: it queues once every member's input has arrived (each
member's own transfer from its origin site), runs ``ceil(total queries / batch)`` calls, books its units once,
and every member ends with it (same start, finish and service; its own transfer; ``batch-jobs`` and
``batch-queries`` for the energy share). A member deleted before the start is left out. A rider waits on its
node for its leader; it runs alone when the leader is seen bound without it or elsewhere, ends, is deleted, or is
not bound within ``batch_wait_s`` wall seconds (the scheduler's rule when the leader's Binding fails). In
local-hardware mode the worker really runs the batch: one ``run_inference`` over all members' queries.

A joiner (``synergai.io/batch-join`` = its leader's pod, ``Placement.joins``) is decided when its own input has
arrived, first come first served: it becomes a member of the leader's execution if that is on this node, not
started, of the same config and its last call has room for the joiner's queries (``ProfileEntry.has_room``;
the call may then run longer, which the policy chose); otherwise -- started, full, ended, or not seen here (yet) -- it runs alone, queued like any pod. This is the
simulator's outcome (a job joins iff its input arrives before the execution starts and there is room), and it
never waits. The outcome goes onto the pod (``batch-join-result``: ``joined`` / ``alone``) before it turns
Running, so the scheduler re-records a joiner that ran alone as a placement of its own.

Outcomes go onto the pod: annotations with experiment-clock times (Kubernetes timestamps have 1 s
resolution), then phase Running / Succeeded / Failed. Pods marked for deletion are stopped and deleted with
grace period 0, as a kubelet confirms a deletion. ``fail_node`` / ``recover_node`` inject node failures.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sim.shared import PriorityPool, ServiceSampler
from synergai.domain import ACCEL, CPU, Node
from synergai.network import Network
from synergai.profile import PerformanceProfile

from . import names as N
from .convert import Clock, InvalidObject, ann_float, pod_config
from .watch import WatchStats, call_with_retry, short_error, start_watch

log = logging.getLogger("synergai.agent")
MODES = ("emulated", "local_hardware")


@dataclass
class AgentStats:
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    busy_unit_ms: dict = field(default_factory=dict)  # (node, resource) -> unit-ms of service
    down_reported_ms: list = field(default_factory=list)  # (node, experiment ms its NotReady report landed)
    watch: WatchStats = field(default_factory=WatchStats)


@dataclass
class _Member:
    """A pod in an execution: its own transfer and queries."""

    pod: object
    transfer_ms: float
    queries: int


class _PodRun:
    """One execution on one node -- a pod, or a batch's pods (``members``, leader first): transfer -> pool queue
    -> service, driven by the agent's timer loop."""

    __slots__ = ("agent", "uid", "pod", "node", "entry", "units", "pool", "arrive_ms", "transfer_ms",
                 "start_ms", "service_ms", "done", "priority", "members", "batch", "jobs", "queries", "joins")

    def __init__(self, agent, uid, pod, node, entry, pool, priority, transfer_ms, arrive_ms, queries):
        self.agent, self.uid, self.pod, self.node, self.entry = agent, uid, pod, node, entry
        self.units, self.pool, self.transfer_ms, self.arrive_ms = entry.units, pool, transfer_ms, arrive_ms
        self.priority = priority  # the PriorityPool queue key (sim.shared: a pool waiter)
        self.start_ms = self.service_ms = math.nan
        self.done = False
        self.members = {uid: _Member(pod, transfer_ms, queries)}  # uid -> member; ended or deleted ones leave
        self.batch = False  # formed with riders: its members say so (batch-jobs, batch-queries)
        self.jobs, self.queries = 1, queries  # the execution's size, fixed at its start
        self.joins = None  # a joiner: (namespace, leader pod) whose execution it asks to ride in

    def start(self):  # called by the pool when units are free
        self.agent._start(self)


class _ForeignRun:
    """A pod no SynergAI scheduler placed: it holds the units its requests name (accelerator slots if it asks
    for any, else whole cores) for the agent's ``foreign_duration_ms``, or until it is deleted."""

    __slots__ = ("agent", "uid", "pod", "node", "units", "pool", "priority", "start_ms", "service_ms", "done",
                 "resource", "transfer_ms")

    def __init__(self, agent, uid, pod, node, resource, units, pool):
        self.agent, self.uid, self.pod, self.node, self.resource = agent, uid, pod, node, resource
        self.units, self.pool, self.priority, self.transfer_ms = units, pool, 0.0, 0.0  # a FIFO-order pool waiter
        self.start_ms = self.service_ms = math.nan
        self.done = False

    def start(self):
        self.agent._start_foreign(self)


class NodeAgent:
    def __init__(self, api, nodes: list[Node], network: Network, profile: PerformanceProfile, *,
                 clock: Clock | None = None, mode: str = "emulated", seed: int = 0, heartbeat_s: float = 10.0,
                 execute: bool = True, writers: int = 4, model_dir=None, labels: dict | None = None,
                 foreign_duration_ms: float | None = None, batch_wait_s: float = 10.0):
        if mode not in MODES:
            raise ValueError(f"agent mode must be one of {MODES}, got {mode!r}")
        self.api, self.network, self.profile = api, network, profile
        self.nodes = {n.name: n for n in nodes}
        self.clock = clock or Clock()
        self.mode, self.heartbeat_s, self.execute, self.model_dir = mode, heartbeat_s, execute, model_dir
        self.sampler = ServiceSampler(profile, seed)
        self.labels = dict(labels or {})  # extra node labels (e.g. for a scheduler's node selector)
        # pods bound to our nodes that no SynergAI scheduler placed: Succeeded after this long (experiment ms),
        # None: they run until deleted (as with KWOK)
        self.foreign_duration_ms = foreign_duration_ms
        self.batch_wait_s = batch_wait_s  # a rider whose leader is not bound within this runs alone
        self._waiting: dict[tuple, dict] = {}  # (namespace, leader pod) -> {uid: rider pod} bound, waiting
        self._parked: dict[str, tuple] = {}  # rider uid -> its key in _waiting
        self.base_network = network
        self.partition_policy = "wait"  # a pod whose input has no path: wait for a path, or fail at once
        self._links: dict = {}  # frozenset(a, b) -> replacement Link, or None (partition)
        self._throttle: dict[str, float] = {}  # node -> service time factor for runs that start now
        self._blocked: list = []  # pods waiting for a network path (partition_policy wait)
        self._unblocked_at: dict[str, float] = {}
        self.stats = AgentStats()
        # one queue per node and pool, ordered by the scheduler's priority annotation (absent: 0, i.e. FIFO)
        self.pools = {n.name: {CPU: PriorityPool(n.cpu_cores), ACCEL: PriorityPool(n.accel_slots)} for n in nodes}
        self._down: set[str] = set()
        self._down_report: dict = {}  # node -> the future of its last NotReady report
        self._runs: dict[str, _PodRun] = {}
        self._ended: set[str] = set()
        self._q: queue.Queue = queue.Queue()
        self._timers: list = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._writers = [ThreadPoolExecutor(1, thread_name_prefix=f"agent-w{i}") for i in range(writers)]
        self._exec = ThreadPoolExecutor(max(1, sum(n.cpu_cores for n in nodes)), thread_name_prefix="agent-run") \
            if mode == "local_hardware" else None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ node objects
    def _node_body(self, n: Node) -> dict:
        labels = {N.LABEL_DEVICE_TYPE: n.device_type, N.LABEL_SITE: n.site, N.LABEL_TIER: n.tier,
                  N.LABEL_ARCH: n.arch, "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                  N.LABEL_AGENT: self.mode.replace("_", "-"), **self.labels}
        ann = {"node.alpha.kubernetes.io/ttl": "0"}
        if n.power_modes:
            ann[f"{N.DOMAIN}/power-modes"] = ",".join(n.power_modes)
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name, "labels": labels, "annotations": ann}}

    def _status_body(self, n: Node, ready: bool, reason: str = "") -> dict:
        now = _iso()
        cap = {"cpu": str(n.cpu_cores), "memory": "64Gi", "pods": "1000", N.RESOURCE_ACCEL: str(n.accel_slots)}
        cond = {"type": "Ready", "status": "True" if ready else "False", "lastHeartbeatTime": now,
                "lastTransitionTime": now, "reason": reason or ("KubeletReady" if ready else "SynergAIAgentDown"),
                "message": "synergai node agent" + ("" if ready else f": {reason or 'node failed'}")}
        return {"status": {"capacity": cap, "allocatable": cap, "conditions": [cond],
                           "nodeInfo": {"architecture": n.arch, "operatingSystem": "linux",
                                        "kubeletVersion": f"synergai-agent/{self.mode}"}}}

    def register(self) -> None:
        """Create (or take over) the Node objects and report them Ready."""
        from kubernetes.client.rest import ApiException

        for n in self.nodes.values():
            body = self._node_body(n)
            try:
                call_with_retry(self.api.create_node, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                call_with_retry(self.api.patch_node, n.name, {"metadata": body["metadata"]})
            self._report(n.name, True)

    def _report(self, name: str, ready: bool, reason: str = "") -> None:
        n = self.nodes[name]
        call_with_retry(self.api.patch_node_status, name, self._status_body(n, ready, reason), stop=self._stop)
        if not ready:
            self.stats.down_reported_ms.append((name, self.clock.now_ms()))
        if ready:  # what the node lifecycle controller does once a node reports Ready
            node = call_with_retry(self.api.read_node, name)
            taints = [t for t in (node.spec.taints or []) if not t.key.startswith("node.kubernetes.io/")]
            if len(taints) != len(node.spec.taints or []):
                call_with_retry(self.api.patch_node, name,
                                {"spec": {"taints": [t.to_dict() for t in taints] or None}})

    def unregister(self) -> None:
        for name in self.nodes:
            try:
                self.api.delete_node(name, _request_timeout=10)
            except Exception as exc:  # noqa: BLE001
                log.debug("delete node %s: %s", name, short_error(exc))

    # ------------------------------------------------------------------ faults
    def fail_node(self, name: str, reason: str = "node failed") -> None:
        """Stop heartbeats, report NotReady, and fail every pod queued or running on the node."""
        self._q.put(("fail", name, reason))

    def recover_node(self, name: str) -> None:
        self._q.put(("recover", name, None))

    def throttle(self, name: str, factor: float) -> None:
        """Service times of runs that start on ``name`` from now on are multiplied by ``factor`` (1: normal)."""
        self._q.put(("throttle", name, factor))

    def set_link(self, a: str, b: str, link) -> None:
        """Replace the a-b link for transfers that start from now on (None: partitioned; the base link: healed)."""
        self._q.put(("link", (a, b), link))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._threads.append(start_watch("pod", self.api.list_pod_for_all_namespaces, self._q, self._stop,
                                         self.stats.watch))
        for target, nm in ((self._loop, "agent-loop"), (self._heartbeats, "agent-heartbeat")):
            t = threading.Thread(target=target, name=nm, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._q.put(("wake", None, None))
        for t in self._threads:  # the loop and heartbeats end within one wait; the watch thread is a daemon
            if t.name in ("agent-loop", "agent-heartbeat"):
                t.join(15)
        for w in self._writers:
            w.shutdown(wait=True)
        if self._exec is not None:
            self._exec.shutdown(wait=False, cancel_futures=True)

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            for name in list(self.nodes):
                if name in self._down:
                    continue
                try:
                    self.api.patch_node_status(name, self._status_body(self.nodes[name], True), _request_timeout=10)
                except Exception as exc:  # noqa: BLE001  -- next beat retries
                    log.debug("heartbeat %s: %s", name, short_error(exc))

    def _loop(self) -> None:
        while not self._stop.is_set():
            timeout = 0.5
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.time()))
            try:
                self._handle(self._q.get(timeout=timeout))
                while True:
                    self._handle(self._q.get_nowait())
            except queue.Empty:
                pass
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn, arg = heapq.heappop(self._timers)
                fn(arg)

    def _at(self, exp_ms: float, fn, arg) -> None:
        heapq.heappush(self._timers, (self.clock.wall_s(exp_ms), next(self._seq), fn, arg))

    def _write(self, uid: str, fn, *args, **kw) -> None:
        """API writes for one pod go through one writer thread, so they land in order."""
        if self._stop.is_set():
            return  # stopping: nothing new is reported (a stopped kubelet reports nothing either)
        return self._writers[hash(uid) % len(self._writers)].submit(self._safe_call, fn, *args, **kw)

    def _safe_call(self, fn, *args, **kw) -> None:
        from kubernetes.client.rest import ApiException

        try:  # a result must not be dropped because the apiserver is restarting: retry until stopped
            call_with_retry(fn, *args, stop=self._stop, attempts=None, **kw)
        except ApiException as exc:
            if exc.status != 404:  # the pod is gone: nothing left to report
                log.warning("agent write failed: %s", short_error(exc))
        except Exception as exc:  # noqa: BLE001
            log.warning("agent write failed: %s", short_error(exc))

    # ------------------------------------------------------------------ pods
    def _handle(self, item) -> None:
        kind, typ, obj = item
        if kind == "pod":
            # a relist: riders before leaders, so a leader finds its riders (a watch delivers them first anyway)
            for pod in (sorted(obj, key=lambda p: N.ANN_BATCH_LEADER not in (p.metadata.annotations or {}))
                        if typ == "SYNC" else [obj]):
                if typ == "DELETED":
                    self._gone(pod.metadata.uid)
                    self._orphan((pod.metadata.namespace, pod.metadata.name))
                else:
                    self._pod(pod)
        elif kind == "fail":
            self._fail_node(typ, obj)
        elif kind == "recover":
            self._down.discard(typ)
            self._write(typ, self._report, typ, True)
        elif kind == "done":
            self._finished(*obj)
        elif kind == "throttle":
            self._throttle[typ] = obj
        elif kind == "link":
            self._links[frozenset(typ)] = obj
            self.network = self.base_network.with_links(self._links) if self._links else self.base_network
            blocked, self._blocked = self._blocked, []
            for pod in blocked:  # a path may exist again: the transfer starts now
                self._unblocked_at[pod.metadata.uid] = self.clock.now_ms()
                self._pod(pod)

    def _pod(self, pod, alone: bool = False) -> None:
        self._pod_run(pod, alone)
        md = pod.metadata
        key = (md.namespace, md.name)
        if key in self._waiting and (pod.spec.node_name or md.deletion_timestamp is not None
                                     or (pod.status and pod.status.phase in ("Succeeded", "Failed"))):
            self._orphan(key)  # a leader riders wait for, bound without taking them (elsewhere, failed, gone)

    def _orphan(self, key) -> None:
        """Riders whose leader will not take them: each runs alone."""
        for uid, pod in self._waiting.pop(key, {}).items():
            self._parked.pop(uid, None)
            self._pod(pod, alone=True)

    def _unpark(self, uid: str):
        """A waiting rider leaves the wait: its pod, or None if it was not waiting."""
        key = self._parked.pop(uid, None)
        if key is None:
            return None
        w = self._waiting[key]
        pod = w.pop(uid)
        if not w:
            del self._waiting[key]
        return pod

    def _wait_over(self, uid: str) -> None:
        key = self._parked.get(uid)
        pod = self._unpark(uid)
        if pod is not None:
            log.info("rider %s/%s: leader %s not bound within %.0f s, it runs alone", key[0], pod.metadata.name,
                     key[1], self.batch_wait_s)
            self._pod(pod, alone=True)

    def _pod_run(self, pod, alone: bool) -> None:
        node = pod.spec.node_name
        if node not in self.nodes:
            return
        uid, md = pod.metadata.uid, pod.metadata
        if md.deletion_timestamp is not None:  # kubelet's part of a graceful delete: stop, then confirm
            self._gone(uid)
            self._write(uid, self.api.delete_namespaced_pod, md.name, md.namespace, grace_period_seconds=0,
                        _request_timeout=10)
            self.stats.deleted += 1
            return
        if uid in self._runs or uid in self._ended or uid in self._parked or \
                (pod.status and pod.status.phase in ("Succeeded", "Failed")):
            return
        if not self.execute:
            return
        if node in self._down:
            self._end(uid, pod, False, f"node {node} is down", lost=True)
            return
        ann = md.annotations or {}
        n = self.nodes[node]
        if N.ANN_POLICY not in ann:  # bound by another scheduler or by hand: run it, KWOK-like
            self._foreign(uid, pod, n)
            return
        try:
            cfg = pod_config(ann)
            entry = self.profile.entry(ann.get(N.ANN_MODEL, ""), n.device_type, cfg)
        except InvalidObject as exc:
            self._end(uid, pod, False, f"invalid pod: {exc}")
            return
        except KeyError as exc:
            self._end(uid, pod, False, str(exc.args[0]))
            return
        if n.capacity(entry.resource) < entry.units:
            self._end(uid, pod, False, f"config needs {entry.units} {entry.resource} units, {node} has "
                                       f"{n.capacity(entry.resource)}")
            return
        if N.ANN_BATCH_LEADER in ann and not alone:  # a rider: its leader's execution takes it
            key = self._parked[uid] = (md.namespace, ann[N.ANN_BATCH_LEADER])
            self._waiting.setdefault(key, {})[uid] = pod
            self._at(self.clock.now_ms() + self.batch_wait_s * 1000.0 / self.clock.scale, self._wait_over, uid)
            return
        transfer = self._transfer(ann, n)
        if not math.isfinite(transfer):
            if self.partition_policy == "wait" and self.base_network.route(ann.get(N.ANN_ORIGIN_SITE), n.site):
                self._blocked.append(pod)  # partitioned now, reachable by design: wait for the link to heal
                return
            self._end(uid, pod, False, f"no network route from {ann.get(N.ANN_ORIGIN_SITE)} to {n.site}")
            return
        decided = max(ann_float(ann, N.ANN_DECISION_MS, self.clock.now_ms()), self._unblocked_at.pop(uid, -math.inf))
        prio = ann_float(ann, N.ANN_PRIORITY)
        queries = max(1, int(ann_float(ann, N.ANN_QUERIES, 1.0)))
        run = _PodRun(self, uid, pod, node, entry, self.pools[node][entry.resource], prio if math.isfinite(prio) else 0.0,
                      transfer, decided + transfer, queries)
        self._runs[uid] = run
        if ann.get(N.ANN_BATCH_JOIN) and not alone:
            run.joins = (md.namespace, ann[N.ANN_BATCH_JOIN])
        if ann.get(N.ANN_BATCH_RIDERS):
            self._join_riders(run, ann[N.ANN_BATCH_RIDERS].split(","), decided)
        self._at(run.arrive_ms, self._arrived, run)

    def _transfer(self, ann, n: Node) -> float:
        nbytes = int(ann_float(ann, N.ANN_INPUT_BYTES, 0.0))
        return self.network.transfer_ms(ann.get(N.ANN_ORIGIN_SITE, n.site), n.site, nbytes)

    def _join_riders(self, run: _PodRun, names: list[str], decided: float) -> None:
        """The leader's listed riders waiting on its node join its execution (the last input starts it); any
        other rider waiting for it runs alone."""
        md = run.pod.metadata
        n, listed = self.nodes[run.node], set(names)
        for uid, pod in self._waiting.pop((md.namespace, md.name), {}).items():
            del self._parked[uid]
            ann = pod.metadata.annotations or {}
            tr = self._transfer(ann, n)
            if pod.spec.node_name != run.node or pod.metadata.name not in listed or not math.isfinite(tr):
                self._pod(pod, alone=True)
                continue
            run.members[uid] = _Member(pod, tr, max(1, int(ann_float(ann, N.ANN_QUERIES, 1.0))))
            run.arrive_ms = max(run.arrive_ms, decided + tr)
            run.batch = True
            self._runs[uid] = run

    def _foreign(self, uid, pod, n: Node) -> None:
        from .constraints import pod_constraints

        try:
            req = dict(pod_constraints(pod).requests)
        except InvalidObject:
            req = {}
        accel, cpu = math.ceil(req.get(N.RESOURCE_ACCEL, 0) / 1000), math.ceil(req.get("cpu", 0) / 1000)
        res, units = (ACCEL, min(accel, n.accel_slots)) if accel else (CPU, min(cpu, n.cpu_cores))
        run = _ForeignRun(self, uid, pod, n.name, res, units, self.pools[n.name][res])
        self._runs[uid] = run
        if units > 0:
            run.pool.admit(run)
        else:
            run.start()

    def _start_foreign(self, run: _ForeignRun) -> None:
        run.start_ms = self.clock.now_ms()
        self.stats.started += 1
        md = run.pod.metadata
        self._write(run.uid, self.api.patch_namespaced_pod_status, md.name, md.namespace,
                    {"status": {"phase": "Running", "startTime": _iso()}})
        if self.foreign_duration_ms is not None:
            self._at(run.start_ms + self.foreign_duration_ms, self._foreign_done, run)

    def _foreign_done(self, run: _ForeignRun) -> None:
        if run.done:
            return
        run.service_ms = self.clock.now_ms() - run.start_ms
        if run.units:
            key = (run.node, run.resource)
            self.stats.busy_unit_ms[key] = self.stats.busy_unit_ms.get(key, 0.0) + run.units * run.service_ms
            run.pool.release(run.units)
        self._end(run.uid, run.pod, True, "", run, self.clock.now_ms())

    def _arrived(self, run: _PodRun) -> None:
        if not run.done and not (run.joins is not None and self._join(run)):
            run.pool.admit(run)

    def _join(self, run: _PodRun) -> bool:
        """A joiner whose input is in: into its leader's execution if that is here, not started, of the same
        config and has room (True); else it runs alone (False). The pod says which before it turns Running."""
        ns, name = run.joins
        lead = next((r for r in self._runs.values() if isinstance(r, _PodRun) and r is not run
                     and r.pod.metadata.name == name and r.pod.metadata.namespace == ns), None)
        ok = (lead is not None and not lead.done and math.isnan(lead.start_ms) and lead.node == run.node
              and lead.entry is run.entry
              and run.entry.has_room(sum(m.queries for m in lead.members.values()), run.queries))
        md = run.pod.metadata
        self._write(run.uid, self.api.patch_namespaced_pod, md.name, md.namespace,
                    {"metadata": {"annotations": {N.ANN_BATCH_JOIN_RESULT: "joined" if ok else "alone"}}})
        if not ok:
            return False
        lead.members[run.uid] = _Member(run.pod, run.transfer_ms, run.queries)
        lead.batch = True
        run.done = True  # this run object is spent: the pod is the leader execution's member now
        self._runs[run.uid] = lead
        return True

    def _start(self, run: _PodRun) -> None:
        run.start_ms = max(self.clock.now_ms(), run.arrive_ms)
        run.jobs, run.queries = len(run.members), sum(m.queries for m in run.members.values())
        self.stats.started += 1
        for uid, m in run.members.items():
            md = m.pod.metadata
            self._write(uid, self.api.patch_namespaced_pod_status, md.name, md.namespace,
                        {"status": {"phase": "Running", "startTime": _iso()}})
        if self.mode == "emulated":
            svc = self.sampler.draw_for(run.entry, run.queries)
            run.service_ms = svc * self._throttle.get(run.node, 1.0)
            self._at(run.start_ms + run.service_ms, self._done_emulated, run)
        elif not self._stop.is_set():
            self._exec.submit(self._execute, run)

    def _done_emulated(self, run: _PodRun) -> None:
        self._finished(run, True, "")

    def _execute(self, run: _PodRun) -> None:
        from .worker import run_inference

        c = run.entry.config
        try:
            r = run_inference(run.entry.model, c.engine, c.precision, c.batch, c.threads, run.queries,
                              model_dir=self.model_dir)
            run.service_ms = r.service_ms
            self._q.put(("done", None, (run, True, "")))
        except Exception as exc:  # noqa: BLE001  -- the job fails with the worker's reason
            self._q.put(("done", None, (run, False, f"worker: {short_error(exc)}")))

    def _finished(self, run: _PodRun, ok: bool, reason: str) -> None:
        if run.done:
            return
        if self.mode == "local_hardware":  # measured: the job ends when the worker returns
            run.service_ms = run.service_ms if ok else self.clock.now_ms() - run.start_ms
        finish = run.start_ms + run.service_ms
        key = (run.node, run.entry.resource)
        self.stats.busy_unit_ms[key] = self.stats.busy_unit_ms.get(key, 0.0) + run.units * run.service_ms
        run.pool.release(run.units)
        for uid, m in list(run.members.items()):
            self._end(uid, m.pod, ok, reason, run, finish)

    def _end(self, uid, pod, ok, reason, run: _PodRun | None = None, finish_ms: float | None = None,
             lost: bool = False) -> None:
        """Report the pod's end. ``lost``: it failed with its node (status reason SynergAINodeLost), not on its
        own account."""
        if uid in self._ended:
            return
        self._ended.add(uid)
        if run is not None:
            run.done = True
            self._runs.pop(uid, None)
        md = pod.metadata
        now = self.clock.now_ms()
        ann = {N.ANN_FINISH_MS: repr(float(finish_ms if finish_ms is not None else now))}
        if run is not None:
            m = run.members.get(uid) if isinstance(run, _PodRun) else None
            ann.update({N.ANN_TRANSFER_MS: repr(m.transfer_ms if m else run.transfer_ms),
                        N.ANN_START_MS: repr(run.start_ms), N.ANN_SERVICE_MS: repr(run.service_ms)})
            if m is not None and run.batch:
                ann.update({N.ANN_BATCH_JOBS: str(run.jobs), N.ANN_BATCH_QUERIES: str(run.queries)})
        if not ok:
            ann[N.ANN_FAIL_REASON] = reason
        self.stats.succeeded += ok
        self.stats.failed += not ok
        status = {"phase": "Succeeded" if ok else "Failed"}
        if not ok:
            status.update(reason=N.REASON_NODE_LOST if lost else "SynergAIJobFailed", message=reason[:1024])
        after = self._down_report.get(pod.spec.node_name) if lost else None
        self._write(uid, self._report_end, md.name, md.namespace, ann, status, after=after)

    def _report_end(self, name, namespace, ann, status, after=None, **kw) -> None:
        """Result annotations first, then the phase: whoever sees the phase finds the result. ``after``: the
        node's NotReady report, which a lost pod's end must not overtake."""
        if after is not None:
            after.result()  # _safe_call returns once stopping, so this wait ends with the agent
        call_with_retry(self.api.patch_namespaced_pod, name, namespace, {"metadata": {"annotations": ann}},
                        stop=self._stop, attempts=None)
        call_with_retry(self.api.patch_namespaced_pod_status, name, namespace, {"status": status},
                        stop=self._stop, attempts=None)

    def _gone(self, uid: str) -> None:
        self._blocked = [p for p in self._blocked if p.metadata.uid != uid]
        self._unpark(uid)
        run = self._runs.pop(uid, None)
        if isinstance(run, _PodRun) and len(run.members) > 1:  # a batch goes on without the member
            del run.members[uid]
        elif run is not None and not run.done:
            run.done = True
            if not math.isnan(run.start_ms):  # it held units: give them back
                run.pool.release(run.units)
            else:
                _unqueue(run)
        self._ended.add(uid)

    def _fail_node(self, name: str, reason: str) -> None:
        if name not in self.nodes:
            return
        self._down.add(name)
        # the pods it loses are reported after the node's NotReady: a job retried on seeing its pod lost must
        # not reach a scheduler that still thinks the node is up
        self._down_report[name] = self._write(name, self._report, name, False, reason)
        n = self.nodes[name]
        self.pools[name] = {CPU: PriorityPool(n.cpu_cores), ACCEL: PriorityPool(n.accel_slots)}
        blocked = [p for p in self._blocked if p.spec.node_name == name]
        self._blocked = [p for p in self._blocked if p.spec.node_name != name]
        parked = [self._waiting[k][u] for u, k in self._parked.items() if self._waiting[k][u].spec.node_name == name]
        for pod in parked:
            self._unpark(pod.metadata.uid)
        for pod in blocked + parked:
            self._end(pod.metadata.uid, pod, False, f"node {name} failed: {reason}", lost=True)
        for uid, run in list(self._runs.items()):
            if run.node == name:  # the old pools die with the node: nothing queued there starts any more
                run.done = True
                self._runs.pop(uid, None)
                m = run.members.get(uid) if isinstance(run, _PodRun) else None
                self._end(uid, m.pod if m else run.pod, False, f"node {name} failed: {reason}", lost=True)


def _unqueue(run: _PodRun) -> None:
    q = run.pool.queue
    q[:] = [x for x in q if x[2] is not run]
    heapq.heapify(q)


def _iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
