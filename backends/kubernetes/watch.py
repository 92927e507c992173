"""List-then-watch loops with backoff, shared by the scheduler, the node agent and the driver.

A loop lists once (a ``SYNC`` with every object), then watches from the list's resourceVersion and forwards
each event. 410 Gone (the server compacted past our version) -> relist. Any other API or connection error ->
exponential backoff with jitter, then resume from the last version seen (an apiserver restart on the same etcd
keeps versions valid; if it does not, the next watch answers 410 and we relist).
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("synergai.kubernetes")


class Backoff:
    """Exponential backoff with full jitter (AWS style): sleep U(0, min(cap, base * 2**n))."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 5.0, rng: random.Random | None = None):
        self.base_s, self.cap_s, self.n = base_s, cap_s, 0
        self.rng = rng or random.Random(0)

    def next_s(self) -> float:
        # the exponent stops growing once the cap is reached: 2 ** 1024 would overflow a float
        d = self.rng.uniform(0.5, 1.0) * min(self.cap_s, self.base_s * 2.0 ** min(self.n, 64))
        if self.n < 64:
            self.n += 1
        return d

    def reset(self) -> None:
        self.n = 0


@dataclass
class WatchStats:
    relists: int = 0
    errors: int = 0
    events: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, msg: str) -> None:
        with self.lock:
            self.errors += 1
            self.last_error = msg


def is_gone(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 410


def short_error(exc: BaseException) -> str:
    """One line for logs: status and reason for API errors, the class and first line otherwise."""
    status = getattr(exc, "status", None)
    if status is not None:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def watch_loop(kind: str, list_fn: Callable, out: queue.Queue, stop: threading.Event, stats: WatchStats,
               timeout_s: int = 30, **kw) -> None:
    """Forward (kind, 'SYNC', items) after each (re)list and (kind, TYPE, obj) per watch event into ``out``."""
    from kubernetes import watch

    backoff = Backoff()
    rv = None
    down_since = None  # monotonic time of the first error of an outage: one INFO line when it starts and ends
    while not stop.is_set():
        try:
            if rv is None:
                lst = list_fn(_request_timeout=30, **kw)
                rv = lst.metadata.resource_version
                out.put((kind, "SYNC", lst.items))
                backoff.reset()
                if down_since is not None:
                    log.info("%s watch: apiserver answers again after %.1f s", kind, time.monotonic() - down_since)
                    down_since = None
            w = watch.Watch()
            for ev in w.stream(list_fn, resource_version=rv, timeout_seconds=timeout_s,
                               _request_timeout=timeout_s + 15, allow_watch_bookmarks=True, **kw):
                if stop.is_set():
                    w.stop()
                    break
                t, obj = ev["type"], ev["object"]
                if t == "ERROR":
                    raw = ev.get("raw_object") or {}
                    if raw.get("code") == 410:
                        rv = None
                        with stats.lock:
                            stats.relists += 1
                        break
                    stats.error(f"watch error event: {raw.get('message', raw)}")
                    continue
                new_rv = getattr(getattr(obj, "metadata", None), "resource_version", None)
                if new_rv:
                    rv = new_rv
                if down_since is not None:
                    log.info("%s watch: apiserver answers again after %.1f s", kind, time.monotonic() - down_since)
                    down_since = None
                if t == "BOOKMARK":
                    continue
                with stats.lock:
                    stats.events += 1
                out.put((kind, t, obj))
            backoff.reset()
        except Exception as exc:  # noqa: BLE001  -- any failure of the stream: back off and resume
            if is_gone(exc):
                rv = None
                with stats.lock:
                    stats.relists += 1
                continue
            stats.error(short_error(exc))
            if down_since is None:
                down_since = time.monotonic()
                log.info("%s watch: apiserver unreachable or failing (%s); retrying with backoff", kind,
                         short_error(exc))
            else:
                log.debug("%s watch: %s", kind, short_error(exc))
            stop.wait(backoff.next_s())


def start_watch(kind: str, list_fn: Callable, out: queue.Queue, stop: threading.Event, stats: WatchStats,
                **kw) -> threading.Thread:
    t = threading.Thread(target=watch_loop, args=(kind, list_fn, out, stop, stats), kwargs=kw,
                         name=f"watch-{kind}", daemon=True)
    t.start()
    return t


def is_transient(exc: BaseException, retry_on=(429, 500, 502, 503, 504)) -> bool:
    """Worth retrying: a 5xx/429 answer, or no answer at all (connection refused/reset, timeout)."""
    import urllib3

    status = getattr(exc, "status", None)
    if status in retry_on:
        return True
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError)) and not status


def call_with_retry(fn: Callable, *args, stop: threading.Event | None = None, attempts: int | None = 8,
                    retry_on=(429, 500, 502, 503, 504), **kw):
    """An API call retried with backoff on transient failures (5xx, 429, connection errors).

    Other API errors (404, 409, 422...) are answers, not failures: they are raised to the caller at once.
    ``attempts=None``: keep trying until ``stop`` is set (for writes that carry a result).
    """
    backoff = Backoff(0.05, 2.0)
    i = 0
    while True:
        i += 1
        try:
            return fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001
            transient = is_transient(exc, retry_on)
            if not transient or (attempts is not None and i >= attempts) or (stop is not None and stop.is_set()):
                raise
            time.sleep(backoff.next_s())
