"""k8s_default: what the stock kube-scheduler does with a pod that requests the default config's units.

Filter: nodes whose unrequested capacity fits the request (NodeResourcesFit). Score: LeastAllocated, i.e.
the fraction of the pool left free after placing the pod (the default scoring strategy), ties broken at
random like kube-scheduler's selectHost. Blind to model speed and network. Where no node fits, a live
kube-scheduler would keep the pod Pending; here the job goes to the least allocated node and waits in its
queue, so the queue forms at the node instead of at the scheduler.
"""
from ..policy import Policy, register


@register("k8s_default")
class K8sDefaultPolicy(Policy):
    def choose(self, job, ready, view):
        scored = []
        for c in ready:
            cap = c.node.capacity(c.resource)
            left = cap - view.allocated(c.node.name, c.resource) - c.units
            scored.append((left / cap, left >= 0, c))
        fits = [s for s in scored if s[1]] or scored
        top = max(s[0] for s in fits)
        best = [s[2] for s in fits if s[0] == top]
        return best[int(self.rng.integers(len(best)))] if len(best) > 1 else best[0]
