"""``/healthz``, ``/readyz`` and ``/metrics`` for the scheduler (Prometheus text format via prometheus_client).

- ``/healthz``: 200 while the scheduling loop turns (it wakes at least every 0.5 s); 500 once it has been stuck
  for ``stuck_s`` or has ended.
- ``/readyz``: 200 once nodes and pods were listed (a standby replica is ready: it serves the moment it leads).
- ``/metrics``: counters, gauges and the decision latency histogram below, read from the scheduler's own stats
  at scrape time (one registry per scheduler, no global state).
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "synergai_scheduler"
DECISION_BUCKETS_S = (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


class Metrics:
    """The scheduler's Prometheus metrics. Counters are read from ``SchedulerStats`` when scraped."""

    def __init__(self, sched):
        from prometheus_client import CollectorRegistry, Histogram

        self.sched = sched
        self.registry = CollectorRegistry(auto_describe=True)
        self.decision = Histogram(f"{PREFIX}_decision_duration_seconds", "Wall time of one policy.schedule call",
                                  buckets=DECISION_BUCKETS_S, registry=self.registry)
        self.registry.register(_Collector(sched))

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Collector:
    def __init__(self, sched):
        self.sched = sched

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.sched
        st = s.stats

        def counter(name, doc, v):
            m = CounterMetricFamily(f"{PREFIX}_{name}", doc)
            m.add_metric([], v)
            return m

        def gauge(name, doc, v):
            m = GaugeMetricFamily(f"{PREFIX}_{name}", doc)
            m.add_metric([], v)
            return m

        yield counter("binds", "Pods bound", st.bound)
        yield counter("bind_conflicts", "Bindings answered 409 (bound by someone else)", st.conflicts)
        yield counter("bind_retries", "Bindings retried after a transient error", st.bind_retries)
        rej = CounterMetricFamily(f"{PREFIX}_rejections", "Pods marked unschedulable, by reason", labels=["reason"])
        for reason, n in sorted(st.rejections.items()):
            rej.add_metric([reason], n)
        yield rej
        w = st.watch
        yield counter("watch_restarts", "Watch streams restarted after an error or a 410 relist",
                      w.errors + w.relists)
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Pods waiting, by queue", labels=["queue"])
        depth.add_metric(["active"], len(s._pending))
        depth.add_metric(["unschedulable"], len(s._unsched))
        depth.add_metric(["binding"], len(s._inflight))
        depth.add_metric(["held"], len(s._held))  # late binding: the central queue
        yield depth
        yield gauge("leader", "1 while this replica leads (always 1 without leader election)",
                    1.0 if s.is_leader() else 0.0)
        yield gauge("foreign_pods", "Pods on the scheduler's nodes that it did not place", len(s._foreign))


class HealthServer:
    def __init__(self, sched, address: str = "0.0.0.0", port: int = 10251, stuck_s: float = 30.0):
        self.sched, self.stuck_s = sched, stuck_s
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, code, ctype = owner.sched.metrics.text(), 200, "text/plain; version=0.0.4"
                elif path in ("/healthz", "/livez"):
                    ok = owner.alive()
                    body, code, ctype = (b"ok" if ok else b"scheduling loop stuck"), (200 if ok else 500), "text/plain"
                elif path == "/readyz":
                    ok = owner.sched.ready.is_set() and owner.alive()
                    body, code, ctype = (b"ok" if ok else b"not synced"), (200 if ok else 503), "text/plain"
                else:
                    body, code, ctype = b"not found", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):  # probes every few seconds: not worth a log line each
                pass

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.port = self.httpd.server_address[1]
        self._t = threading.Thread(target=self.httpd.serve_forever, name="synergai-health", daemon=True)

    def alive(self) -> bool:
        s = self.sched
        return s.loop_alive() and time.monotonic() - s.last_loop_s < self.stuck_s

    def start(self) -> HealthServer:
        self._t.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
