"""Least outstanding: the eligible node with the fewest placed-but-unfinished jobs (join the shortest queue).

Ties go to the node with more capacity in the pool the job uses, then to node order.
"""
from ..policy import Policy, register


@register("least_outstanding")
class LeastOutstandingPolicy(Policy):
    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            cands = self.ready_eligible(job, view)
            if not cands:
                out.append(self.no_node(job))
                continue
            node, entry = min(cands, key=lambda ne: (view.outstanding(ne[0].name) / ne[0].capacity(ne[1].resource),
                                                     -ne[0].capacity(ne[1].resource)))
            out.append(self.place(job, node, entry, view))
        return out
