"""Least outstanding: the node with the fewest placed-but-unfinished jobs per unit of the pool the job uses
(join the shortest queue). Ties go to the node with more capacity, then to node order.
"""
from ..policy import Policy, register


@register("least_outstanding")
class LeastOutstandingPolicy(Policy):
    def choose(self, job, ready, view):
        return min(ready, key=lambda c: (view.outstanding_at(c.i) / c.node.capacity(c.resource),
                                         -c.node.capacity(c.resource)))
