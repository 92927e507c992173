"""Greedy: the node with the minimum predicted completion time (transfer + predicted wait + service).

No configuration choice: every node runs the job with its default config (fastest batch-1 entry), so the
policy is performance-aware in *where*, not in *how*. Predictions are the view's list-scheduling estimate.
"""
from ..domain import Placement
from ..policy import Policy, register


@register("greedy")
class GreedyPolicy(Policy):
    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        for job in jobs:
            best, best_finish = None, float("inf")
            for c in self.candidates(job):
                if not view.ready_at(c.i):
                    continue
                e = c.entry
                finish = view.start_at(c.i, e.resource, e.units, now + c.transfer_ms) + c.service_ms
                if finish < best_finish:
                    best, best_finish = c, finish
            if best is None:
                out.append(self.no_node(job))
            else:
                out.append(Placement(job.id, best.node.name, best.entry.config, best_finish - job.arrival_ms,
                                     best.service_ms, self.name))
        return out
