"""``synergai-scheduler``: any registered policy as a Kubernetes custom scheduler.

Extension points, in the order a pod meets them (kube-scheduler's framework, reduced to what a policy needs):

- **queue**: one list+watch of every pod (410 -> relist). Pods with ``spec.schedulerName: synergai`` and no
  node wait in the *active* queue; a pod that could not be placed waits in the *unschedulable* queue until a
  pod update, a node change or a freed resource moves it back (with per-pod backoff 1 s doubling to 10 s), and
  at least every ``unschedulable_flush_s``; after a restart every pending pod is tried again;
- **snapshot**: Nodes -> the policy's node list and a ``ClusterView`` (Ready condition, cordon -> not ready);
  a change of the node set re-runs the policy's offline ``prepare``. *Every pod counts*: every pod bound to a
  node, whoever bound it, holds its resource requests there (``constraints.Ledger``); one the scheduler did not
  place also holds the view units its requests name (``view.on_foreign``), busy for a time the scheduler
  cannot predict, until it is seen gone;
- **filter**: the core filters (``synergai.filters``) and the pod's own constraints
  (``constraints.pod_filters``: node selector, required node affinity, taints/tolerations, resource requests):
  nodes failing one for this pod are not ready in the view for the decision;
- **decide**: ``policy.schedule`` (one pod at a time, or a window of pods, per group of identical constraints,
  for windowed policies), exactly as in the simulator;
- **hold / dispatch** (late binding, ``synergai.central``): a job the policy holds (``Placement.hold``) waits in
  ``self.held``, the views' central queue (kept across view rebuilds); its pod stays Pending with
  ``PodScheduled=False`` reason ``SynergAIHeld`` and a ``Held`` Event, written once per pod. ``policy.dispatch``
  is called when a placed pod finishes or vanishes (``FREED``), a node turns ready or usable (``READY``), and at
  the earliest recall time or held job's deadline (``RECALL`` / ``DEADLINE``; the loop's wait is cut to it); each
  placement it yields is applied before the next is asked for: a bind is re-checked and bound as below, a
  placement failing a filter is refused and the job stays held, a rejection fails the pod. The pods' own filters
  mask nodes for the call only when every held job has the same constraints (the usual case; the re-check holds
  in every case). A job still held after the call at its deadline is rejected ("held past its deadline"); a pod
  deleted, bound elsewhere or changed by its user leaves the queue (a changed one is decided afresh). The ms a pod
  was held go on its Binding (``synergai.io/hold-ms``) and into ``stats.hold_ms``;
- **re-check, bind**: the placement is checked against every filter again (a placement that fails is refused
  with the filter's reason, never bound), then a Binding whose annotations carry the chosen config, so node and
  config land atomically; one bind per pod ever (409 = someone else won: forget it); transient errors back off;
- **batches** (``Placement.riders``, ``synergai.central``): riders must be held jobs of the leader's model (else
  a RuntimeError: a policy bug, as in the simulator); each is re-checked against every filter on the leader's
  node and config, and one that fails stays held. The view gets the leader's entry for the whole execution (the
  last member's arrival, the service of all queries) and ``on_riders``. One API task binds the riders first
  (``synergai.io/batch-leader`` = the leader's pod), then the leader with ``synergai.io/batch-riders`` = the
  riders that were bound, so the node agent never waits for a member that will not come. The rule when the
  leader's Binding fails: its bound riders run alone (the view records them as single placements; the agent
  runs a rider alone whose leader is seen bound without it, elsewhere, or gone, or is not bound within its
  ``batch_wait_s``); a rider whose own Binding fails is decided afresh like any pod whose bind failed;
- **joins** (``Placement.joins``): the job's own filters are re-checked as for any bind. It rides in the named
  execution only if that leader is bound here to the same node and config, is not a member of another execution,
  is still open in the view (not seen started) and its last call has room for the job's queries
  (``ProfileEntry.has_room``; whether a longer call is worth it is the policy's choice): then its Binding names
  the leader pod (``synergai.io/batch-join``), is written after the leader's, and the view counts it as a rider
  (``on_riders``) and re-times the execution (``on_service``). Otherwise it is bound as an ordinary
  placement on that node and config -- ``joins`` is advice, as in the simulator, and a joiner is never held (a
  joiner's own ``riders``, if a policy gave any, stay held, as in the simulator). The
  node agent has the last word when the joiner's input arrives (``synergai.io/batch-join-result``); one it ran
  alone is recorded in the view as a placement of its own, as the simulator's ``_split`` does;
- **explain**: an Event per decision, and ``PodScheduled=False`` with the reason on a rejection (a pod's API writes
  go out in order: a hold's condition never lands after the rejection or the Binding that follows it);
- **observe**: pods that start, finish or vanish update the view and feed ``policy.observe``.

With leader election (``leader``), only the replica holding the Lease decides; a standby keeps its caches warm.
All state is owned by one thread (``run``); watches and API writes run in helper threads and talk to it
through a queue, so no lock guards the policy or the view.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from synergai.central import DEADLINE, FREED, READY, RECALL, CentralQueue, Wake, expired_reason
from synergai.cluster import ClusterView
from synergai.domain import ACCEL, CPU, Completion, Job, Placement
from synergai.filters import Code, FilterChain, Status, core_filters, summary
from synergai.network import Network
from synergai.policy import Policy
from synergai.profile import PerformanceProfile

from . import names as N
from .constraints import Ledger, PodConstraints, pod_constraints, pod_filters
from .convert import (
    Clock,
    InvalidObject,
    NodeState,
    ann_float,
    node_state,
    placement_annotations,
    pod_config,
    pod_job,
    scheduled_false,
)
from .watch import Backoff, WatchStats, call_with_retry, is_transient, short_error, start_watch

log = logging.getLogger("synergai.scheduler")
INITIAL_BACKOFF_S, MAX_BACKOFF_S = 1.0, 10.0  # kube-scheduler's podInitialBackoffSeconds / podMaxBackoffSeconds
SLOW_CALL_S = 5.0  # an API call slower than this is worth an INFO line (a stalled apiserver)


@dataclass
class SchedulerStats:
    # (experiment ms, jobs in call, wall ns of policy.schedule -- or of policy.dispatch's generator, jobs answered)
    decisions: list = field(default_factory=list)
    bind_latency_s: list = field(default_factory=list)  # first seen pending -> bind acknowledged (wall)
    bind_call_s: list = field(default_factory=list)  # one Binding API call, request -> answer (wall)
    bound: int = 0
    conflicts: int = 0  # 409 on bind: another scheduler (or an earlier life of this one) won
    bind_retries: int = 0
    rejected: int = 0  # rejections by the policy
    invalid: int = 0
    refused: int = 0  # placements the policy made that failed a filter
    retried: int = 0  # decisions of pods taken back from the unschedulable queue
    vanished: int = 0  # placed pods deleted before they finished
    rebuilds: int = 0  # node set changed -> policy.prepare again
    rejections: dict = field(default_factory=dict)  # PodScheduled=False reason -> count
    held: int = 0  # late binding: jobs the policy held (entries into the central queue)
    expired: int = 0  # held jobs failed because their deadline passed while held
    hold_conditions: list = field(default_factory=list)  # pods whose PodScheduled=False SynergAIHeld was written
    hold_ms: dict = field(default_factory=dict)  # pod name -> ms in the central queue (pods ever held)
    batches: int = 0  # batch executions bound (leaders with at least one rider)
    riders: int = 0  # riders bound into them (binds submitted)
    orphaned: int = 0  # bound riders whose leader's bind failed: they run alone
    joins: int = 0  # Placement.joins bound into their leader's execution (binds submitted)
    joins_refused: int = 0  # Placement.joins whose execution could not take them here: bound alone
    joins_alone: int = 0  # bound joiners the node agent ran alone (the execution had started, or no room)
    watch: WatchStats = field(default_factory=WatchStats)


@dataclass
class _Placed:
    job: Job
    node: str
    placement: Placement
    started: bool = False
    riders: list = field(default_factory=list)  # a batch's leader: its riders' uids (placed, not seen to finish)
    leader: str | None = None  # a batch's rider: its leader's uid
    joined: bool = False  # a rider by Placement.joins: the node agent may still run it alone
    name: str = ""  # its pod's name (a joiner's Binding names its leader's)


@dataclass
class _Unschedulable:
    pod: object
    fingerprint: tuple
    attempts: int
    last_s: float  # wall time of the last attempt
    since_s: float  # wall time it entered the queue


def _fingerprint(pod) -> tuple:
    """What a user can change to make a pod schedulable: its annotations and placement constraints (not its
    status, which our own PodScheduled=False patch changes)."""
    try:
        c = pod_constraints(pod)
    except InvalidObject as exc:
        c = str(exc)
    return tuple(sorted((pod.metadata.annotations or {}).items())), c


def backoff_s(attempts: int) -> float:
    return min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2.0 ** min(max(attempts - 1, 0), 16))


class Scheduler:
    def __init__(self, api, policy: Policy, profile: PerformanceProfile, network: Network, *,
                 clock: Clock | None = None, scheduler_name: str = N.SCHEDULER_NAME, namespace: str | None = None,
                 node_order: Sequence[str] = (), node_selector: str | None = None, seed: int = 0,
                 emit_events: bool = True, bind_workers: int = 16, leader=None,
                 unschedulable_flush_s: float = 60.0):
        self.api, self.policy, self.profile, self.network = api, policy, profile, network
        self.clock = clock or Clock()
        self.scheduler_name, self.namespace, self.seed = scheduler_name, namespace, seed
        self.node_order = {n: i for i, n in enumerate(node_order)}
        self.emit_events = emit_events
        self.node_selector = node_selector  # label selector: the nodes this scheduler may use (None: all)
        self.leader = leader  # a leader.LeaderElector, or None: always decide
        self.unschedulable_flush_s = unschedulable_flush_s
        self.stats = SchedulerStats()
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(bind_workers, thread_name_prefix="synergai-bind")
        self._events = ThreadPoolExecutor(2, thread_name_prefix="synergai-event")  # never delays a bind
        self._models = set(profile.models())
        self._site_tiers = {s.name: s.tier for s in network.sites.values()}
        self._nodes: dict[str, NodeState] = {}
        self._facts: dict = {}  # node name -> constraints.NodeFacts (the Kubernetes filters read it)
        self._node_warned: dict[str, str] = {}
        self.view: ClusterView | None = None
        self.ledger = Ledger()
        self.filters = FilterChain(())
        self._pending: dict[str, object] = {}  # uid -> pod: the active queue (ours, unbound, not yet decided)
        self._unsched: dict[str, _Unschedulable] = {}  # uid -> the unschedulable queue
        self._recorded: dict[str, tuple[str, str]] = {}  # uid -> (reason, message) last written to the pod
        self._attempts: dict[str, int] = {}  # uid -> failed attempts so far (backoff)
        self._first_seen: dict[str, float] = {}  # uid -> wall time first seen pending
        self._retry_at: dict[str, float] = {}  # uid -> wall time before which a pod is not decided again
        self._inflight: set[str] = set()  # bind submitted, answer not back
        self._writes: dict[str, object] = {}  # uid -> Future of its last API write (a pod's writes go in order)
        self._seen_bound: dict[str, object] = {}  # in flight and already seen bound: adopt if our bind loses
        self._placed: dict[str, _Placed] = {}  # bound (by us or adopted), not seen to finish
        self._foreign: dict[str, tuple[str, tuple, dict]] = {}  # uid -> (node, view keys, units): not placed by us
        self._finished: set[str] = set()
        self.held = CentralQueue()  # late binding: every view's ``held`` (kept across view rebuilds)
        self._held: dict[int, list] = {}  # job id -> [uid, pod, fingerprint]: in the central queue, Pending
        self._held_ms: dict[str, float] = {}  # uid -> ms held so far (summed over its holds)
        self._pod_chain = FilterChain(())  # the pod-constraint filters alone (dispatch masks with them)
        self._job_ids: dict[str, int] = {}
        self._uid_of: dict[int, str] = {}  # job id -> uid (Placement.joins names a job)
        self._next_job = 0
        self._flush_at: float | None = None  # windowed policies: experiment ms of the next window
        self._next_flush_s = 0.0
        self.ready = threading.Event()  # set once nodes and pods were listed
        self.last_loop_s = time.monotonic()
        self._slow_logged = -math.inf
        self._thread: threading.Thread | None = None
        from .health import Metrics

        self.metrics = Metrics(self)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> threading.Thread:
        if self.leader is not None:
            self.leader.on_change = lambda leading: self._q.put(("leader", leading, None))
            self.leader.start()
        t = self._thread = threading.Thread(target=self.run, name="synergai-scheduler", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()
        self._q.put(("wake", None, None))
        if self._thread is not None:
            self._thread.join(40)
        if self.leader is not None:
            self.leader.stop()  # after the last bind: the standby takes over once this one is quiet

    def is_leader(self) -> bool:
        return self.leader is None or self.leader.is_leader()

    def loop_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        api = self.api
        nkw = {"label_selector": self.node_selector} if self.node_selector else {}
        start_watch("node", api.list_node, self._q, self._stop, self.stats.watch, **nkw)
        # every pod: ours to schedule, and any pod bound to our nodes (its requests count, whoever placed it)
        start_watch("pod", api.list_pod_for_all_namespaces, self._q, self._stop, self.stats.watch)
        synced = set()
        try:
            while not self._stop.is_set():
                self.last_loop_s = time.monotonic()
                try:
                    item = self._q.get(timeout=self._idle_timeout_s())
                    self._handle(item, synced)
                    while True:  # drain: decide on the freshest state
                        self._handle(self._q.get_nowait(), synced)
                except queue.Empty:
                    pass
                if len(synced) == 2:
                    self.ready.set()
                    self._flush_unschedulable()
                    if self.is_leader():
                        self._schedule_due()
                        self._recall_due()
        finally:
            now = self.clock.now_ms()
            for jid in list(self._held):  # still held: their time so far, for the driver's hold_ms
                self._release_held(self.held.job(jid), now)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._events.shutdown(wait=True, cancel_futures=True)
            while True:  # account for the answers of the last binds
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item[0] == "bind":
                    self._bind_answer(item[1], item[2])

    def _idle_timeout_s(self) -> float:
        t = 0.5
        now = time.time()
        if self._retry_at and self._pending:
            t = min(t, max(0.0, min(self._retry_at.get(u, 0.0) for u in self._pending) - now))
        if self._flush_at is not None:
            t = min(t, self.clock.wall_delay_s(self._flush_at - self.clock.now_ms()))
        if self.held and self.is_leader():  # the earliest recall time or deadline of a held job
            t = min(t, self.clock.wall_delay_s(self.held.next_wake_ms() - self.clock.now_ms()))
        return max(t, 0.0005)

    # ------------------------------------------------------------------ events
    def _handle(self, item, synced: set) -> None:
        kind, typ, obj = item
        if kind == "node":
            if typ == "SYNC":
                synced.add("node")
                self._sync_nodes(obj)
            elif typ == "DELETED":
                if self._nodes.pop(obj.metadata.name, None) is not None:
                    self._facts.pop(obj.metadata.name, None)
                    self._rebuild()
            else:
                self._node_event(obj)
        elif kind == "pod":
            if typ == "SYNC":
                synced.add("pod")
                self._sync_pods(obj)
            elif typ == "DELETED":
                self._pod_gone(obj.metadata.uid, "pod deleted")
            else:
                self._pod_event(obj)
        elif kind == "bind":
            self._bind_answer(typ, obj)
        elif kind == "unreject":  # the rejection could not be recorded: try the pod again after a pause
            uid = obj.metadata.uid
            self._recorded.pop(uid, None)
            if uid in self._unsched:
                self._activate(uid, time.time() + 1.0)
        elif kind == "leader" and typ:
            self._requeue_all("became leader")

    # ------------------------------------------------------------------ nodes -> view
    def _read_node(self, obj) -> NodeState | None:
        name = obj.metadata.name
        try:
            st = node_state(obj, self._site_tiers)
        except InvalidObject as exc:
            if self._node_warned.get(name) != str(exc):
                self._node_warned[name] = str(exc)
                log.warning("node %s ignored: %s", name, exc)
            return None
        if st.node.device_type not in self.profile.device_types() and self._node_warned.get(name) != "type":
            self._node_warned[name] = "type"
            log.warning("node %s: no trace has device type %r; it will never be chosen", name,
                        st.node.device_type)
        return st

    def _sync_nodes(self, items) -> None:
        self._nodes = {}
        for obj in items:
            st = self._read_node(obj)
            if st is not None:
                self._nodes[st.node.name] = st
        self._rebuild()

    def _node_event(self, obj) -> None:
        name = obj.metadata.name
        st = self._read_node(obj)
        old = self._nodes.get(name)
        if st is None:
            if old is not None:
                del self._nodes[name]
                self._rebuild()
            return
        self._nodes[name] = st
        if old is None or old.node != st.node or self.view is None:
            self._rebuild()
            if st.schedulable:
                self._dispatch(READY, name)
            return
        ready = st.schedulable and (old.facts != st.facts or not old.schedulable)  # held jobs may go there now
        if old.facts != st.facts:  # labels, taints or allocatable: new filter answers, maybe a fit now
            self._facts[name] = st.facts
            self._new_filters()
            self._requeue_all(f"node {name} changed")
        if old.schedulable != st.schedulable:
            self.view.on_ready(name, st.schedulable)
            log.info("node %s %s", name, "schedulable" if st.schedulable else f"unschedulable ({st.why_not})")
            if st.schedulable:
                self._requeue_all(f"node {name} schedulable")
        if ready:
            self._dispatch(READY, name)

    def _new_filters(self) -> None:
        self.filters = FilterChain(core_filters(self.profile, self.network) + pod_filters(self._facts, self.ledger))
        self._pod_chain = FilterChain(pod_filters(self._facts, self.ledger))

    def _rebuild(self) -> None:
        """The node set changed: a fresh view and the policy's offline step again, then re-add what is placed."""
        big = len(self.node_order)
        states = sorted(self._nodes.values(), key=lambda s: (self.node_order.get(s.node.name, big), s.node.name))
        nodes = [s.node for s in states]
        self._facts.clear()
        self._facts.update({s.node.name: s.facts for s in states})
        self._new_filters()
        self.stats.rebuilds += 1
        self.view = ClusterView(nodes, self.policy.queue_discipline, anchor_to_clock=False)
        self.view.held = self.held  # held jobs stay held, with their times, across node-set changes
        self.view.on_clock(self.clock.now_ms())
        for s in states:
            self.view.on_ready(s.node.name, s.schedulable)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(2,))))
        self.policy.prepare(self.profile, nodes, self.network, rng)
        for p in self._placed.values():
            if p.leader is None or p.leader not in self._placed:  # a rider is part of its leader's entry
                self._record(p.job, p.placement, [self._placed[u].job for u in p.riders if u in self._placed])
        foreign, self._foreign = self._foreign, {}
        for uid, (node, _keys, units) in foreign.items():
            self._add_foreign(uid, node, units)
        self._requeue_all("node set changed")

    def _record(self, job: Job, pl: Placement, riders: Sequence[Job] = ()) -> bool:
        """Tell the view about a placement (its prediction of when the node frees up); a batch's leader entry
        stands for the execution: the last member's arrival, the service of every member's queries."""
        view = self.view
        if view is None or pl.node not in view.index:
            return False
        node = view.node(pl.node)
        try:
            entry = self.profile.entry(job.model, node.device_type, pl.config)
        except KeyError:
            return False
        if node.capacity(entry.resource) < entry.units:  # e.g. 2 threads on a 1-core node: it can never start
            return False
        transfer = max(self.network.transfer_ms(j.origin_site, node.site, j.input_bytes) for j in (job, *riders))
        if not math.isfinite(transfer):
            return False
        view.on_placed(job, pl, entry.resource, entry.units, view.now_ms + transfer,
                       entry.service_ms(job.queries + sum(r.queries for r in riders)))
        if riders:
            view.on_riders(job.id, [r.id for r in riders], sum(r.queries for r in riders),
                           min(r.arrival_ms + r.qos_ms for r in riders))
        return True

    def _retime(self, lp: _Placed, changed: int) -> None:
        """A leader's execution gained (``changed`` > 0) or lost (< 0) a joiner of that many queries: where that
        makes its call longer or shorter, the view's predicted service follows (as the simulator's ``_join`` and
        ``_split``)."""
        if self.view is None or lp.started or lp.node not in self.view.index:
            return
        queries = lp.job.queries + sum(self._placed[r].job.queries for r in lp.riders if r in self._placed)
        try:
            entry = self.profile.entry(lp.job.model, self.view.node(lp.node).device_type, lp.placement.config)
        except KeyError:
            return
        self.view.on_queries(lp.job.id, entry, queries - changed, queries)

    # ------------------------------------------------------------------ pods we did not place
    def _add_foreign(self, uid: str, node: str, units: dict) -> None:
        """A pod we did not place holds the view units its requests name, until it is seen gone (conservative:
        its finish cannot be predicted, so those units are busy for an unknown time)."""
        keys = []
        if self.view is not None and node in self.view.index:
            n = self.view.node(node)
            for res, u in units.items():
                u = min(u, n.capacity(res))
                if u > 0:
                    self.view.on_foreign((uid, res), node, res, u)
                    keys.append((uid, res))
        self._foreign[uid] = (node, tuple(keys), units)

    def _drop_foreign(self, uid: str) -> None:
        f = self._foreign.pop(uid, None)
        if f is not None and self.view is not None:
            for k in f[1]:
                self.view.on_foreign_gone(k)

    @staticmethod
    def _view_units(c: PodConstraints) -> dict:
        req = dict(c.requests)
        return {ACCEL: math.ceil(req.get(N.RESOURCE_ACCEL, 0) / 1000), CPU: math.ceil(req.get("cpu", 0) / 1000)}

    # ------------------------------------------------------------------ pods
    def _ours(self, pod) -> bool:
        return (pod.spec.scheduler_name == self.scheduler_name
                and (self.namespace is None or pod.metadata.namespace == self.namespace))

    def _sync_pods(self, items) -> None:
        seen = {p.metadata.uid for p in items}
        for uid in list(self._placed):
            if uid not in seen:
                self._pod_gone(uid, "pod vanished while the watch was down")
        for uid in (list(self._pending) + list(self._unsched) + list(self._foreign) + list(self.ledger.holds)
                    + [h[0] for h in self._held.values()]):
            if uid not in seen:
                self._pod_gone(uid, "pod vanished while the watch was down")
        for p in items:
            self._pod_event(p)

    def _pod_event(self, pod) -> None:
        uid, md = pod.metadata.uid, pod.metadata
        if uid in self._finished:
            return
        ours = self._ours(pod)
        phase = pod.status.phase if pod.status else None
        ann = md.annotations or {}
        if N.ANN_FINISH_MS in ann and uid in self._placed:  # the agent/worker reports the end before the phase
            phase = "Failed" if N.ANN_FAIL_REASON in ann else "Succeeded"
        if md.deletion_timestamp is not None or phase in ("Succeeded", "Failed"):
            self._release(uid)
            self._unhold(uid)
            self._held_ms.pop(uid, None)
            self._writes.pop(uid, None)
            self._pending.pop(uid, None)
            self._unsched.pop(uid, None)
            if uid in self._placed:
                self._finish(uid, pod, phase == "Succeeded")
            elif ours:
                self._finished.add(uid)
            return
        if pod.spec.node_name:
            self._unhold(uid)  # held here, bound by another scheduler (or by hand)
            try:
                c = pod_constraints(pod)
            except InvalidObject:
                c = PodConstraints()
            self.ledger.hold(uid, pod.spec.node_name, c.requests)
            if not ours and uid not in self._placed:
                if uid not in self._foreign:
                    self._add_foreign(uid, pod.spec.node_name, self._view_units(c))
                return
            self._pending.pop(uid, None)
            self._unsched.pop(uid, None)
            if uid in self._inflight:
                self._seen_bound[uid] = pod
            elif uid not in self._placed:
                self._adopt(uid, pod)  # bound by another scheduler instance, or by us before a restart
            p = self._placed.get(uid)
            if p is not None and p.joined and ann.get(N.ANN_BATCH_JOIN_RESULT) == "alone":
                self._join_alone(uid, p)  # written before Running: the view has it alone before it starts
            if p is not None and phase == "Running" and not p.started:
                p.started = True
                if self.view is not None:
                    self.view.on_started(p.job.id, self.clock.now_ms())
            return
        if not ours or uid in self._inflight or uid in self._placed:
            return
        h = self._held.get(self._job_ids.get(uid, -1))
        if h is not None:  # held (late binding): it stays in the central queue unless the user changed it
            if _fingerprint(pod) != h[2]:
                self._unhold(uid)
                self._pending[uid] = pod
            else:
                h[1] = pod
            return
        u = self._unsched.get(uid)
        if u is not None:
            fp = _fingerprint(pod)
            if fp != u.fingerprint:  # the user changed the pod: try again (after its backoff)
                self._activate(uid, u.last_s + backoff_s(u.attempts), pod)
            else:
                u.pod = pod
            return
        if uid not in self._pending and uid not in self._recorded and (c := scheduled_false(pod)) is not None:
            self._recorded[uid] = c  # rejected or held by an earlier life: decided again now, not rewritten
        self._pending[uid] = pod
        self._first_seen.setdefault(uid, time.time())

    def _activate(self, uid: str, at_s: float, pod=None) -> None:
        u = self._unsched.pop(uid)
        self._pending[uid] = pod if pod is not None else u.pod
        self._retry_at[uid] = at_s
        self.stats.retried += 1

    def _requeue_all(self, why: str) -> None:
        """A cluster event that may make unschedulable pods fit: move them back, each after its backoff."""
        if self._unsched:
            log.debug("%d unschedulable pods back to the active queue: %s", len(self._unsched), why)
        for uid in list(self._unsched):
            u = self._unsched[uid]
            self._activate(uid, u.last_s + backoff_s(u.attempts))

    def _flush_unschedulable(self) -> None:
        now = time.time()
        if now < self._next_flush_s or not self._unsched:
            return
        self._next_flush_s = now + min(1.0, self.unschedulable_flush_s)
        for uid in [u for u, x in self._unsched.items() if now - x.since_s >= self.unschedulable_flush_s]:
            self._activate(uid, now)

    def _job_for(self, uid: str, pod, now_ms: float) -> Job:
        jid = self._job_ids.get(uid)
        if jid is None:
            jid = self._job_ids[uid] = self._next_job
            self._uid_of[jid] = uid
            self._next_job += 1
        return pod_job(pod, jid, now_ms, self._models, set(self._site_tiers), self.clock, pod_constraints(pod))

    def _adopt(self, uid: str, pod) -> None:
        ann = pod.metadata.annotations or {}
        try:
            job = self._job_for(uid, pod, self.clock.now_ms())
            cfg = pod_config(ann)
        except InvalidObject:  # ours by name but not predictable: it holds its requests like a foreign pod
            if uid not in self._foreign:
                try:
                    c = pod_constraints(pod)
                except InvalidObject:
                    c = PodConstraints()
                self._add_foreign(uid, pod.spec.node_name, self._view_units(c))
            return
        pl = Placement(job.id, pod.spec.node_name, cfg, ann_float(ann, N.ANN_PREDICTED_LATENCY_MS),
                       ann_float(ann, N.ANN_PREDICTED_SERVICE_MS))
        self._placed[uid] = _Placed(job, pod.spec.node_name, pl, name=pod.metadata.name)
        self._record(job, pl)

    def _release(self, uid: str) -> None:
        """The pod no longer holds resources: maybe an unschedulable pod fits now."""
        released = self.ledger.release(uid)
        if uid in self._foreign:
            self._drop_foreign(uid)
            released = True
        if released and self._unsched:
            self._requeue_all("resources freed")

    def _pod_gone(self, uid: str, why: str) -> None:
        self._release(uid)
        self._unhold(uid)
        self._held_ms.pop(uid, None)
        self._writes.pop(uid, None)
        self._pending.pop(uid, None)
        self._unsched.pop(uid, None)
        self._first_seen.pop(uid, None)
        self._recorded.pop(uid, None)
        self._attempts.pop(uid, None)
        if uid in self._placed:
            self.stats.vanished += 1
            self._finish(uid, None, False, why)

    def _unlink(self, uid: str, p: _Placed) -> None:
        """A rider's pod is done with (or its bind failed): its leader no longer counts it."""
        lead = self._placed.get(p.leader) if p.leader is not None else None
        if lead is not None and uid in lead.riders:
            lead.riders.remove(uid)

    def _join_alone(self, uid: str, p: _Placed) -> None:
        """A joiner the node agent ran on its own (the execution had started, had no room, or was not there): a
        placement of its own in the view, as the simulator's ``_split``."""
        lead = self._placed.get(p.leader) if p.leader is not None else None
        self._unlink(uid, p)
        p.leader, p.joined = None, False
        self.stats.joins_alone += 1
        if lead is not None:
            self._retime(lead, -p.job.queries)
        if self.view is not None:
            self.view.on_completed(p.job.id)
            self._record(p.job, p.placement)

    def _finish(self, uid: str, pod, ok: bool, why: str = "") -> None:
        p = self._placed.pop(uid)
        self._unlink(uid, p)
        self._finished.add(uid)
        now = self.clock.now_ms()
        ann = (pod.metadata.annotations or {}) if pod is not None else {}
        finish = ann_float(ann, N.ANN_FINISH_MS, now)
        service = ann_float(ann, N.ANN_SERVICE_MS)
        if self.view is not None:
            self.view.on_completed(p.job.id, max(now, self.view.now_ms), service)
        if not ok and not why:
            why = ann.get(N.ANN_FAIL_REASON) or (pod.status.message if pod is not None and pod.status else "") \
                or "pod failed"
        covered = max(1, int(ann_float(ann, N.ANN_BATCH_QUERIES, p.job.queries)))  # a batch: the execution's
        self.policy.observe(Completion(p.job.id, p.node, p.placement.config, finish, service, ok, why,
                                       p.job.model, covered))
        if self.held and self.view is not None and p.node in self.view.index:
            self._dispatch(FREED, p.node)  # late binding: capacity freed there, a held job may take it

    # ------------------------------------------------------------------ decide
    def _schedule_due(self) -> None:
        if not self._pending or self.view is None:
            return
        now_wall = time.time()
        due = [(uid, pod) for uid, pod in self._pending.items() if self._retry_at.get(uid, 0.0) <= now_wall]
        if not due:
            return
        window = self.policy.window_ms
        now = self.clock.now_ms()
        if window > 0:
            if self._flush_at is None:
                self._flush_at = (math.floor(now / window) + 1) * window
            if now < self._flush_at:
                return
            self._flush_at = None
        jobs = []
        for uid, pod in due:
            del self._pending[uid]
            self._retry_at.pop(uid, None)
            try:
                jobs.append((uid, pod, self._job_for(uid, pod, now)))
            except InvalidObject as exc:
                self.stats.invalid += 1
                self._unschedulable(uid, pod, N.REASON_INVALID, str(exc))
        jobs.sort(key=lambda t: (t[2].arrival_ms, t[2].id))
        if not jobs:
            return
        if window > 0:  # one call per group of pods with the same constraints: the filters hold for all of it
            groups: dict = {}
            for one in jobs:
                groups.setdefault(one[2].constraints, []).append(one)
            for batch in groups.values():
                self._decide(batch, now)
        else:
            for one in jobs:  # as in the simulator: each job sees the placements made before it
                self._decide([one], self.clock.now_ms())

    def _masked(self, job: Job) -> list[tuple[str, Status]]:
        """(node, failing status) for the nodes this job's filters exclude right now."""
        fc = self.filters
        return [(n.name, st) for n in self.view.nodes if not (st := fc.check(job, n)).ok]

    def _decide(self, batch, now: float) -> None:
        view = self.view
        view.on_clock(max(now, view.now_ms))
        masked = self._masked(batch[0][2])
        for name, _ in masked:  # not ready for this decision: the policy only sees nodes that pass
            view.on_ready(name, False)
        t0 = time.perf_counter_ns()
        try:
            placements = self.policy.schedule([j for _, _, j in batch], view)
        finally:
            for name, _ in masked:
                view.on_ready(name, self._nodes[name].schedulable)
        dt = time.perf_counter_ns() - t0
        self.stats.decisions.append((now, len(batch), dt))
        self.metrics.decision.observe(dt / 1e9)
        if len(placements) != len(batch):
            raise RuntimeError(f"policy {self.policy.name} returned {len(placements)} placements for {len(batch)} jobs")
        for (uid, pod, job), pl in zip(batch, placements):
            if pl.held:
                self._hold(uid, pod, job, pl, now)
            elif pl.node is None:
                msg = pl.reason or "rejected by policy"
                if masked:
                    msg += "; " + summary(masked, len(view.nodes))
                self.stats.rejected += 1
                self._unschedulable(uid, pod, N.REASON_REJECTED, msg)
            else:
                self._bind_checked(uid, pod, job, pl, now, self._check(job, pl))

    def _bind_checked(self, uid, pod, job: Job, pl: Placement, now: float, st: Status) -> None:
        """Bind a placement the re-check passed (``st``); one that failed goes to the unschedulable queue."""
        lead = self._join_target(job, pl) if st.ok and pl.joins >= 0 else None
        if lead is not None:
            self._bind_join(uid, pod, job, pl, now, *lead)
            return
        if st.ok and not self._record(job, pl):
            st = Status(Code.UNRESOLVABLE, "no route to the node", "Reachability")
        if not st.ok:
            self.stats.refused += 1
            self._unschedulable(uid, pod, N.REASON_UNSCHEDULABLE,
                                f"{self.policy.name} chose {pl.node} with {pl.config}, refused by filter "
                                f"{st.filter}: {st.reason}")
            return
        prio = self.policy.queue_discipline == "priority"
        ann = placement_annotations(pl, self.policy.name, now, prio, self._held_ms.get(uid, 0.0))
        p = self._placed[uid] = _Placed(job, pl.node, pl, name=pod.metadata.name)
        self.ledger.hold(uid, pl.node, job.constraints.requests if job.constraints else ())
        self._inflight.add(uid)
        riders = self._take_riders(job, pl, now) if pl.riders else []
        if not riders:
            self._submit(uid, self._bind, uid, pod, pl, ann, job)
            return
        self.view.on_completed(job.id)  # placed again as the whole execution's entry
        self._record(job, pl, [r for _, _, r, _ in riders])
        group = []
        for ruid, rpod, r, rpl in riders:
            rann = placement_annotations(rpl, self.policy.name, now, prio, self._held_ms.get(ruid, 0.0))
            rann[N.ANN_BATCH_LEADER] = pod.metadata.name
            self._placed[ruid] = _Placed(r, pl.node, rpl, leader=uid, name=rpod.metadata.name)
            p.riders.append(ruid)
            self._inflight.add(ruid)
            group.append((ruid, rpod, rpl, rann, r))
        self.stats.batches += 1
        self.stats.riders += len(group)
        self._submit_group([uid] + p.riders, self._bind_batch, (uid, pod, pl, ann, job), group)

    def _join_target(self, job: Job, pl: Placement):
        """The execution a ``Placement.joins`` rides in: (leader uid, its _Placed), or None -- the job is then
        bound alone on that node and config (``joins`` is advice: the execution may have started, filled up or
        gone since the policy looked)."""
        luid = self._uid_of.get(pl.joins)
        lp = self._placed.get(luid) if luid is not None else None
        view = self.view
        o = view.open_executions(job.model).get(pl.joins)
        if (lp is None or lp.leader is not None or lp.started or lp.node != pl.node or lp.placement.config != pl.config
                or lp.job.model != job.model or o is None or o[0] != view.index[pl.node] or o[1] != pl.config
                or not self.profile.entry(job.model, view.node(pl.node).device_type, pl.config).has_room(
                    o[2], job.queries)):
            self.stats.joins_refused += 1
            return None
        return luid, lp

    def _bind_join(self, uid, pod, job: Job, pl: Placement, now: float, luid: str, lp: _Placed) -> None:
        """Bind a joiner into its leader's execution: the view counts it as a rider (its units are the leader's);
        its Binding is written after the leader's, so the node agent sees the leader first."""
        prio = self.policy.queue_discipline == "priority"
        ann = placement_annotations(pl, self.policy.name, now, prio, self._held_ms.get(uid, 0.0))
        ann[N.ANN_BATCH_JOIN] = lp.name
        self._placed[uid] = _Placed(job, pl.node, pl, leader=luid, joined=True, name=pod.metadata.name)
        lp.riders.append(uid)
        self.view.on_riders(lp.job.id, [job.id], job.queries, job.arrival_ms + job.qos_ms)
        self._retime(lp, job.queries)
        self.ledger.hold(uid, pl.node, job.constraints.requests if job.constraints else ())
        self._inflight.add(uid)
        self.stats.joins += 1
        self._submit_group([uid, luid], self._bind, uid, pod, pl, ann, job)

    def _take_riders(self, job: Job, pl: Placement, now: float) -> list:
        """A bind's riders, out of the central queue: [(uid, pod, job, placement)]. Each must be held and of the
        job's model (else a policy error, as in the simulator); one failing a filter there stays held."""
        out = []
        for rid in pl.riders:
            if rid == job.id or rid not in self.held:
                raise RuntimeError(f"policy {self.policy.name}: rider {rid} of job {job.id} is not a held job")
            r = self.held.job(rid)
            if r.model != job.model:
                raise RuntimeError(f"policy {self.policy.name}: rider {rid} ({r.model}) cannot join a batch of "
                                   f"{job.model} (job {job.id})")
            st = self._check(r, pl)
            if not st.ok:
                self.stats.refused += 1
                log.debug("rider %d of job %d refused on %s by filter %s (%s): it stays held", rid, job.id, pl.node,
                          st.filter, st.reason)
                continue
            ruid, rpod = self._release_held(r, now)
            self.ledger.hold(ruid, pl.node, r.constraints.requests if r.constraints else ())
            # the execution's predicted finish, as the rider's latency; no riders of its own
            rpl = replace(pl, job_id=rid, riders=(), predicted_latency_ms=job.arrival_ms + pl.predicted_latency_ms
                          - r.arrival_ms, reason=f"{pl.reason} (rider of job {job.id})")
            out.append((ruid, rpod, r, rpl))
        return out

    # ------------------------------------------------------------------ late binding (synergai.central)
    def _hold(self, uid, pod, job: Job, pl: Placement, now: float) -> None:
        """The policy holds the job: into the central queue. The pod stays Pending and says so, once."""
        if job.id not in self._held:
            self.stats.held += 1
        self.held.hold(job, now, pl.recall_ms)
        self._held[job.id] = [uid, pod, _fingerprint(pod)]
        if self._recorded.get(uid, ("", ""))[0] == N.REASON_HELD:
            return  # the pod says so already: a re-hold writes nothing
        msg = f"{self.policy.name}: held for late binding ({pl.reason or 'no reason given'})"
        self._recorded[uid] = (N.REASON_HELD, msg)
        self._submit(uid, self._mark_unschedulable, pod, N.REASON_HELD, msg, "Held", "Normal")

    def _release_held(self, job: Job, now: float) -> tuple:
        """Out of the central queue (bound, rejected, expired, gone): (uid, pod); its held ms are kept."""
        uid, pod, _ = self._held.pop(job.id)
        ms = self._held_ms[uid] = self._held_ms.get(uid, 0.0) + self.held.release(job, now)
        self.stats.hold_ms[pod.metadata.name] = ms
        return uid, pod

    def _unhold(self, uid: str) -> None:
        jid = self._job_ids.get(uid)
        if jid in self._held:
            self._release_held(self.held.job(jid), self.clock.now_ms())

    def _recall_due(self) -> None:
        if self.held and self.held.next_wake_ms() <= self.clock.now_ms():
            self._dispatch(RECALL)

    def _dispatch(self, reason: str, node: str | None = None) -> None:
        """Ask the policy about the held jobs (``policy.dispatch``), applying each placement it yields before
        asking for the next; then fail the held jobs whose deadline has passed (as ``sim.engine``'s).

        The pods' own filters: when every held job has the same constraints (the usual case), the nodes failing
        them are not ready for the call, as in ``_decide``. Every yielded bind is re-checked against every filter;
        one that fails is refused and the job stays held (until a later call, at the latest its deadline)."""
        view, q = self.view, self.held
        i = view.index.get(node, -1) if view is not None else -1
        if view is None or not q or not self.is_leader() or (node is not None and i < 0):
            return
        now = self.clock.now_ms()
        view.on_clock(max(now, view.now_ms))
        due = q.pop_due(now)
        if reason == RECALL and q.expired(now):
            reason = DEADLINE
        masked = []
        if len({j.constraints for j in q.jobs}) == 1:
            masked = [n.name for n in view.nodes if not self._pod_chain.check(q.jobs[0], n).ok]
        for name in masked:
            view.on_ready(name, False)
        answered: dict[int, Placement] = {}
        gen = self.policy.dispatch(q.jobs, view, Wake(reason, i, due))
        spent, t0 = 0, time.perf_counter_ns()
        try:
            for pl in gen:
                spent += time.perf_counter_ns() - t0
                self._apply_held(pl, answered, now)
                t0 = time.perf_counter_ns()
            spent += time.perf_counter_ns() - t0
        finally:
            gen.close()
            for name in masked:
                view.on_ready(name, self._nodes[name].schedulable)
        self.stats.decisions.append((now, len(answered), spent))
        self.metrics.decision.observe(spent / 1e9)
        for job in q.expired(now):  # they had their last chance in this call
            uid, pod = self._release_held(job, now)
            pl = answered.get(job.id)
            self.stats.expired += 1
            self._unschedulable(uid, pod, N.REASON_REJECTED, expired_reason(job, pl.reason if pl is not None else ""))

    def _apply_held(self, pl: Placement, answered: dict, now: float) -> None:
        q, jid = self.held, pl.job_id
        if jid in answered or jid not in q:
            raise RuntimeError(f"policy {self.policy.name} answered held job {jid} twice or it is not held")
        answered[jid] = pl
        job = q.job(jid)
        if pl.held:
            q.hold(job, now, pl.recall_ms)
        elif pl.node is None:
            uid, pod = self._release_held(job, now)
            self.stats.rejected += 1
            self._unschedulable(uid, pod, N.REASON_REJECTED, pl.reason or "rejected by policy")
        elif not (st := self._check(job, pl)).ok:
            self.stats.refused += 1
            log.debug("%s chose %s for held job %d, refused by filter %s (%s): it stays held", self.policy.name,
                      pl.node, jid, st.filter, st.reason)
        else:
            uid, pod = self._release_held(job, now)
            self._bind_checked(uid, pod, job, pl, now, st)

    def _check(self, job: Job, pl: Placement) -> Status:
        """Every filter, for the (node, config) the policy returned, right before binding."""
        view = self.view
        if pl.node not in view.index:
            return Status(Code.UNRESOLVABLE, f"unknown node {pl.node!r}", "NodeExists")
        node = view.node(pl.node)
        try:
            entry = self.profile.entry(job.model, node.device_type, pl.config)
        except KeyError as exc:
            return Status(Code.UNRESOLVABLE, str(exc.args[0]), "ConfigValid")
        if not self._nodes[pl.node].schedulable:
            return Status(Code.UNSCHEDULABLE, f"node not ready ({self._nodes[pl.node].why_not})", "NodeReady")
        return self.filters.check(job, node, entry)

    # ------------------------------------------------------------------ bind / reject (API threads)
    def _submit(self, uid: str, fn, *args) -> None:
        """An API write for a pod, run after that pod's previous one: a hold's PodScheduled=False must never land
        after the rejection or the Binding that follows it."""
        self._submit_group([uid], fn, *args)

    def _submit_group(self, uids, fn, *args) -> None:
        """One API task for several pods (a batch's binds), run after each one's previous write."""
        prev = [f for u in uids if (f := self._writes.get(u)) is not None and not f.done()]
        fut = self._pool.submit(self._after, prev, fn, *args)
        for u in uids:
            self._writes[u] = fut

    @staticmethod
    def _after(prev, fn, *args) -> None:
        if prev:  # submitted earlier to the same FIFO pool: running or done, never waiting on us
            wait(prev)
        fn(*args)

    def _bind_batch(self, leader, riders) -> None:
        """Riders first, then the leader naming the riders bound: the agent starts the execution from the leader."""
        bound = [r[1].metadata.name for r in riders if self._bind(*r)]
        uid, pod, pl, ann, job = leader
        self._bind(uid, pod, pl, {**ann, N.ANN_BATCH_RIDERS: ",".join(bound)} if bound else ann, job)

    def _bind(self, uid, pod, pl, ann, job) -> bool:
        from kubernetes import client

        md = pod.metadata
        body = client.V1Binding(metadata=client.V1ObjectMeta(name=md.name, annotations=ann),
                                target=client.V1ObjectReference(api_version="v1", kind="Node", name=pl.node))
        try:
            # the server answers a Status the client cannot deserialize as a Binding: don't let it try
            t0 = time.perf_counter()
            call_with_retry(self.api.create_namespaced_pod_binding, md.name, md.namespace, body,
                            _preload_content=False, _request_timeout=30, stop=self._stop, attempts=3)
            dt = time.perf_counter() - t0
            self.stats.bind_call_s.append(dt)
            if dt > SLOW_CALL_S and time.monotonic() - self._slow_logged > 10.0:  # a stall shows before a timeout
                self._slow_logged = time.monotonic()
                log.info("apiserver slow: a Binding call took %.1f s", dt)
            self._q.put(("bind", "ok", (uid, pod, pl, job)))
        except Exception as exc:  # noqa: BLE001
            self._q.put(("bind", "error", (uid, pod, pl, job, exc)))
            return False
        if self.emit_events:
            q = f"{job.qos_ms:.1f}"
            self._events.submit(self._event, pod, "Scheduled", "Normal",
                        f"{self.policy.name}: {pl.node} with {pl.config}; predicted {pl.predicted_latency_ms:.1f} ms "
                        f"(service {pl.predicted_service_ms:.1f} ms) vs QoS {q} ms; {pl.reason}")
        return True

    def _bind_answer(self, typ, payload) -> None:
        uid, pod = payload[0], payload[1]
        self._inflight.discard(uid)
        seen_bound = self._seen_bound.pop(uid, None)
        if typ == "ok":
            self.stats.bound += 1
            self._attempts.pop(uid, None)
            self._recorded.pop(uid, None)
            t = self._first_seen.pop(uid, None)
            if t is not None:
                self.stats.bind_latency_s.append(time.time() - t)
            return
        exc = payload[4]
        p = self._placed.pop(uid, None)
        if p is not None:
            self._unlink(uid, p)
            if self.view is not None:
                self.view.on_completed(p.job.id)  # undo the optimistic placement
            for ruid in p.riders:  # bound riders of a leader that was not: they run alone (module docstring)
                r = self._placed.get(ruid)
                if r is None:
                    continue
                r.leader, r.joined = None, False
                self.stats.orphaned += 1
                if self.view is not None:
                    self.view.on_completed(r.job.id)
                    self._record(r.job, r.placement)
        self.ledger.release(uid)
        status = getattr(exc, "status", None)
        if status == 409:
            self.stats.conflicts += 1  # bound by someone else: never bind again; the watch shows where
            self._first_seen.pop(uid, None)
            if seen_bound is not None and seen_bound.spec.node_name:
                self._pod_event(seen_bound)
        elif status == 404:
            self._first_seen.pop(uid, None)
        elif is_transient(exc) or status in (401, 403):
            # 401/403 too: right after an apiserver restart its RBAC cache may not be filled yet; a role that
            # is really missing keeps failing, with a warning each time, and the pod stays Pending (as with
            # kube-scheduler) rather than being failed for a transient reason
            if status in (401, 403):
                log.warning("bind of %s/%s refused (%s); retrying", pod.metadata.namespace, pod.metadata.name,
                            short_error(exc))
            self.stats.bind_retries += 1
            b = Backoff(0.2, 5.0)
            b.n = min(self.stats.bind_retries, 5)
            self._retry_at[uid] = time.time() + b.next_s()
            self._pending[uid] = pod
        else:
            self._unschedulable(uid, pod, "SynergAIBindFailed", f"bind to {payload[2].node} failed: "
                                f"{short_error(exc)}")

    def _unschedulable(self, uid, pod, reason: str, message: str) -> None:
        """Into the unschedulable queue; the reason is recorded on the pod (once per distinct message)."""
        now = time.time()
        n = self._attempts[uid] = self._attempts.get(uid, 0) + 1
        self._unsched[uid] = _Unschedulable(pod, _fingerprint(pod), n, now, now)
        self.stats.rejections[reason] = self.stats.rejections.get(reason, 0) + 1
        if self._recorded.get(uid, ("", ""))[1] == message:
            return  # the pod already says so: no write, no Event (a retry storm would cost the apiserver)
        self._recorded[uid] = (reason, message)
        self._submit(uid, self._mark_unschedulable, pod, reason, message)

    def _mark_unschedulable(self, pod, reason: str, message: str, event: str = "FailedScheduling",
                            event_type: str = "Warning") -> None:
        md = pod.metadata
        now = datetime.now(timezone.utc).isoformat()
        body = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": reason,
                                           "message": message, "lastTransitionTime": now}]}}
        try:
            call_with_retry(self.api.patch_namespaced_pod_status, md.name, md.namespace, body, stop=self._stop,
                            _request_timeout=30, retry_on=(401, 403, 429, 500, 502, 503, 504))
        except Exception as exc:  # noqa: BLE001  -- unrecorded, the rejection would leave the pod Pending forever
            if getattr(exc, "status", None) == 404:
                return
            log.warning("pod %s/%s: could not record %s (%s); %s", md.namespace, md.name, reason, short_error(exc),
                        "it stays Pending, held" if reason == N.REASON_HELD else "deciding again later")
            self._q.put(("unreject", None, pod))
            return
        if reason == N.REASON_HELD:  # its message names the policy already
            self.stats.hold_conditions.append(md.name)
        elif self.emit_events:
            message = f"{self.policy.name}: {message}"
        if self.emit_events:
            self._events.submit(self._event, pod, event, event_type, message)

    def _event(self, pod, reason: str, typ: str, message: str) -> None:
        from kubernetes import client

        md = pod.metadata
        now = datetime.now(timezone.utc)
        ev = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{md.name}.", namespace=md.namespace),
            involved_object=client.V1ObjectReference(api_version="v1", kind="Pod", name=md.name,
                                                     namespace=md.namespace, uid=md.uid),
            reason=reason, message=message[:1024], type=typ, count=1, first_timestamp=now, last_timestamp=now,
            source=client.V1EventSource(component=f"{self.scheduler_name}-scheduler"),
            reporting_component=f"{N.DOMAIN}/scheduler", reporting_instance=self.scheduler_name)
        try:
            self.api.create_namespaced_event(md.namespace, ev, _request_timeout=10)
        except Exception as exc:  # noqa: BLE001  -- an explanation is best effort, never worth a retry storm
            log.debug("event for %s/%s not recorded: %s", md.namespace, md.name, short_error(exc))
