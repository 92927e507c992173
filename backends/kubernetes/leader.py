"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does it.

Every replica tries, each ``retry_period_s``, to acquire or renew the Lease ``<namespace>/<name>``: it takes a
Lease whose holder is empty, itself, or has not renewed it for ``lease_duration_s`` (judged by when *this*
replica saw the record change, so clocks need not agree), with an optimistic-concurrency update
(resourceVersion: of two replicas racing, one gets 409). A leader that cannot renew for ``renew_deadline_s``
stops leading. On a clean stop the leader releases the Lease (empty holder, 1 s duration), so a standby takes
over at its next retry instead of after a full lease duration. API calls: get, create and update on leases
(``names.SCHEDULER_RBAC_RULES``).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from .watch import short_error

log = logging.getLogger("synergai.leader")


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class LeaderElector:
    def __init__(self, api, namespace: str = "synergai-system", name: str = "synergai-scheduler", *,
                 identity: str | None = None, lease_duration_s: float = 15.0, renew_deadline_s: float = 10.0,
                 retry_period_s: float = 2.0, on_change=None):
        if not (lease_duration_s > renew_deadline_s > retry_period_s > 0):
            raise ValueError("leader election: need lease_duration_s > renew_deadline_s > retry_period_s > 0")
        from kubernetes import client

        self.coord = client.CoordinationV1Api(api.api_client)
        self.namespace, self.name = namespace, name
        self.identity = identity or default_identity()
        self.lease_s, self.deadline_s, self.retry_s = lease_duration_s, renew_deadline_s, retry_period_s
        self.on_change = on_change
        self.leading = threading.Event()
        self.transitions = 0  # times this replica became leader
        self._observed = None  # (holder, renewTime, resourceVersion) last seen
        self._observed_at = 0.0  # monotonic time it was first seen
        self._renewed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        return self.leading.is_set()

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._loop, name="synergai-leader", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.retry_s + 12)
        if release and self.leading.is_set():
            self._release()
        self._set(False)

    # ------------------------------------------------------------------ internals
    def _set(self, leading: bool) -> None:
        if leading == self.leading.is_set():
            return
        if leading:
            self.leading.set()
            self.transitions += 1
            log.info("%s: became leader (lease %s/%s)", self.identity, self.namespace, self.name)
        else:
            self.leading.clear()
            log.info("%s: not leading any more (lease %s/%s)", self.identity, self.namespace, self.name)
        if self.on_change is not None:
            self.on_change(leading)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                ok = self._try_acquire_or_renew(now)
            except Exception as exc:  # noqa: BLE001  -- apiserver away: keep trying; leadership lapses by time
                log.debug("lease %s/%s: %s", self.namespace, self.name, short_error(exc))
                ok = False
            if ok:
                self._renewed_at = now
                self._set(True)
            elif self.leading.is_set() and now - self._renewed_at > self.deadline_s:
                self._set(False)
            self._stop.wait(self.retry_s)

    def _spec(self, acquire_time, transitions: int, holder: str | None = None, duration: float | None = None):
        from kubernetes import client

        now = datetime.now(timezone.utc)
        return client.V1LeaseSpec(holder_identity=self.identity if holder is None else holder,
                                  lease_duration_seconds=max(1, int(round(duration or self.lease_s))),
                                  acquire_time=acquire_time or now, renew_time=now, lease_transitions=transitions)

    def _try_acquire_or_renew(self, now: float) -> bool:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        try:
            lease = self.coord.read_namespaced_lease(self.name, self.namespace, _request_timeout=5)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                                  spec=self._spec(None, 0))
            try:
                self.coord.create_namespaced_lease(self.namespace, body, _request_timeout=5)
            except ApiException as exc2:
                if exc2.status == 409:  # someone else created it first
                    return False
                raise
            return True
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        record = (holder, spec.renew_time, lease.metadata.resource_version)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = spec.lease_duration_seconds or self.lease_s
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False  # held by a live leader
        mine = holder == self.identity
        lease.spec = self._spec(spec.acquire_time if mine else None,
                                (spec.lease_transitions or 0) + (0 if mine else 1))
        try:  # metadata.resourceVersion makes this an optimistic-concurrency update: a racing replica gets 409
            self.coord.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=5)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _release(self) -> None:
        try:
            lease = self.coord.read_namespaced_lease(self.name, self.namespace, _request_timeout=5)
            if (lease.spec.holder_identity or "") != self.identity:
                return
            lease.spec = self._spec(lease.spec.acquire_time, lease.spec.lease_transitions or 0, holder="",
                                    duration=1)
            self.coord.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=5)
        except Exception as exc:  # noqa: BLE001  -- the lease then simply expires
            log.info("lease %s/%s not released: %s", self.namespace, self.name, short_error(exc))
