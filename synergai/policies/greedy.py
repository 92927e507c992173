"""Greedy: the node with the minimum predicted completion time (transfer + predicted wait + service).

No configuration choice: every node runs the job with its default config (fastest batch-1 entry), so the
policy is performance-aware in *where*, not in *how*. Predictions are the view's list-scheduling estimate.
Candidates are visited in order of their lower bound (transfer + service, i.e. no wait), so the search stops
as soon as no remaining node can beat the best found: exact, and cheap when fast nodes have short queues.
"""
from ..domain import Placement
from ..policy import Policy, register


@register("greedy")
class GreedyPolicy(Policy):
    def priority(self, job) -> float:
        """Queue priority of the job on its node (FIFO queues: unused)."""
        return 0.0

    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self._by_bound: dict[tuple, tuple] = {}

    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        ready, start_at = view.ready_at, view.start_at
        for job in jobs:
            prio = self.priority(job)
            k = (job.model, job.origin_site, job.private, job.queries, job.input_bytes)
            cands = self._by_bound.get(k)
            if cands is None:  # stable sort: equal bounds keep node order, so ties go to the first node
                cands = self._by_bound[k] = tuple(sorted(self.candidates(job), key=lambda c: c.transfer_ms + c.service_ms))
            best, best_finish = None, float("inf")
            for c in cands:
                i, resource, units, transfer, service = c[:5]
                if now + transfer + service >= best_finish:
                    break  # every later candidate finishes at or after its bound, which is no better
                if ready(i):
                    finish = start_at(i, resource, units, now + transfer, prio) + service
                    if finish < best_finish:
                        best, best_finish = c, finish
            if best is None:
                out.append(self.no_node(job))
            else:
                out.append(Placement(job.id, best.node.name, best.entry.config, best_finish - job.arrival_ms,
                                     best.service_ms, self.name, prio))
        return out
