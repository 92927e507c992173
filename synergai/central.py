"""Late binding: the central queue of jobs a policy holds instead of placing them on a node at once.

Every policy may answer ``Placement.hold(job_id, reason, recall_ms)`` for a job it does not want to commit to a
node yet (Clockwork's central controller, or Kubernetes' own Pending pods). The backend (simulator or Kubernetes
scheduler) then keeps the job here, in deadline order, and asks the policy again through
``Policy.dispatch(held, view, wake)`` when:

- capacity frees on a node (``FREED``: a job there completed or failed; ``wake.node`` says which node),
- a node turns ready (``READY``: repaired, uncordoned, added),
- a time a hold asked for comes (``RECALL``), or a held job's deadline comes (``DEADLINE``); ``wake.due`` lists
  those jobs.

``dispatch`` yields placements one at a time and the backend applies each before the next is asked for, so
every answer sees the placements made before it. A job it yields a node for is bound; a rejection fails it; a
hold keeps it (with a new recall time); a job it does not mention stays as it was. A job still held after the
call made at its deadline fails ("held past its deadline"): every job ends. The time a job spends here is
its ``hold_ms`` in the per-job table.

**Batches.** A bind may carry ``riders``: held jobs of the same model that run in the bound job's execution on
the same node and config (Clockwork batches queued requests of one model). The backend releases them from the
queue, starts the execution once the last member's input has reached the node, runs ``ceil(total queries /
batch)`` calls, and ends every member with it (shared service time; energy split by queries; ``batch_jobs`` in
the per-job table). A rider that fails a hard constraint on that node and config stays held. A rider must be
held: a job that is not (or another model's) is a policy error. ``Policy.batch_riders`` picks them.

Nothing here knows a backend: both keep their queue in a ``CentralQueue``, which the ``ClusterView`` carries
(``view.held``) so that a policy deciding a new arrival also sees what waits centrally.
"""
from __future__ import annotations

import bisect
import heapq
import math
from typing import NamedTuple

from .domain import Job

FREED, READY, RECALL, DEADLINE = "freed", "ready", "recall", "deadline"
INF = math.inf


class Wake(NamedTuple):
    """Why the backend calls ``Policy.dispatch``."""

    reason: str  # FREED, READY, RECALL (a hold's recall time came) or DEADLINE (a held job's deadline came)
    node: int = -1  # FREED / READY: the node's index in the view; -1 otherwise
    due: frozenset = frozenset()  # RECALL / DEADLINE: ids of the jobs whose time came


def deadline_ms(job: Job) -> float:
    return job.arrival_ms + job.qos_ms


def expired_reason(job: Job, last_reason: str = "") -> str:
    """The failure reason of a job still held after the call at its deadline (both backends)."""
    return (f"held past its deadline ({job.qos_ms:.1f} ms target) without being bound"
            f"{': ' + last_reason if last_reason else ''}")


class CentralQueue:
    """Held jobs in (deadline, job id) order, with their recall times.

    ``jobs`` is the queue itself as a list (read it, never change it; it changes only between ``dispatch``
    calls). The wake-up heap holds each held job's recall time and deadline; stale entries are skipped lazily.
    """

    def __init__(self):
        self._keys: list[tuple[float, int]] = []
        self.jobs: list[Job] = []
        self._since: dict[int, float] = {}  # job id -> when it was held (ms)
        self._job: dict[int, Job] = {}
        self._recall: dict[int, float] = {}  # job id -> recall time (ms; inf: none)
        self._wake: list[tuple[float, int]] = []  # (time, job id): recall times and deadlines

    def __len__(self) -> int:
        return len(self.jobs)

    def __bool__(self) -> bool:
        return bool(self.jobs)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._since

    def job(self, job_id: int) -> Job:
        return self._job[job_id]

    def since_ms(self, job_id: int) -> float:
        """When the job entered the queue."""
        return self._since[job_id]

    def recall_ms(self, job_id: int) -> float:
        return self._recall[job_id]

    def hold(self, job: Job, now_ms: float, recall_ms: float = INF) -> None:
        """Hold ``job`` (or, if held already, set its recall time). A recall time that is not after ``now_ms``
        asks for nothing (the job would be recalled at once, forever): capacity events and its deadline still
        wake it."""
        if not now_ms < recall_ms < INF:  # NaN, inf, or not in the future: no recall time
            recall_ms = INF
        if job.id not in self._since:
            key = (deadline_ms(job), job.id)
            k = bisect.bisect_left(self._keys, key)
            self._keys.insert(k, key)
            self.jobs.insert(k, job)
            self._since[job.id] = now_ms
            self._job[job.id] = job
            heapq.heappush(self._wake, key)
        if recall_ms < INF:
            heapq.heappush(self._wake, (recall_ms, job.id))
        self._recall[job.id] = recall_ms

    def release(self, job: Job, now_ms: float) -> float:
        """Take ``job`` out (bound, rejected or expired); returns the ms it was held."""
        since = self._since.pop(job.id)
        del self._job[job.id]
        self._recall.pop(job.id)
        key = (deadline_ms(job), job.id)
        k = bisect.bisect_left(self._keys, key)
        del self._keys[k]
        del self.jobs[k]
        return now_ms - since

    def _valid(self, t: float, jid: int) -> bool:
        return jid in self._since and (t == self._recall[jid] or t == deadline_ms(self._job[jid]))

    def next_wake_ms(self) -> float:
        """The earliest recall time or deadline of a held job (inf when none)."""
        w = self._wake
        while w:
            if self._valid(*w[0]):
                return w[0][0]
            heapq.heappop(w)
        return INF

    def pop_due(self, now_ms: float) -> frozenset:
        """Ids of the held jobs whose recall time or deadline is ``now_ms`` or earlier; their recall is cleared."""
        due = set()
        w = self._wake
        while w and w[0][0] <= now_ms:
            t, jid = heapq.heappop(w)
            if self._valid(t, jid):
                due.add(jid)
                if self._recall[jid] <= now_ms:
                    self._recall[jid] = INF
        return frozenset(due)

    def expired(self, now_ms: float) -> list[Job]:
        """Held jobs whose deadline is ``now_ms`` or earlier (the front of the queue)."""
        k = bisect.bisect_right(self._keys, (now_ms, INF))
        return self.jobs[:k]
