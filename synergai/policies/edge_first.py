"""Edge first: keep work on the edge; offload to the cloud only when every eligible edge node is busy.

Among edge nodes with a free unit now (predicted wait 0) the one with the cheapest transfer from the job's
origin wins. If none is free and a cloud node is, the job is offloaded; otherwise it joins the edge node
with the fewest outstanding jobs per unit. Private jobs never leave the edge (``eligible`` drops cloud nodes).
"""
from ..policy import Policy, register


@register("edge_first")
class EdgeFirstPolicy(Policy):
    def choose(self, job, ready, view):
        now = view.now_ms
        edge = [c for c in ready if c.node.is_edge]
        cloud = [c for c in ready if not c.node.is_edge]
        idle_edge = [c for c in edge if view.start_at(c.i, c.resource, c.units, now) <= now]
        if idle_edge:
            c, why = min(idle_edge, key=lambda c: c.transfer_ms), "edge node idle"
        else:
            idle_cloud = [c for c in cloud if view.start_at(c.i, c.resource, c.units, now) <= now]
            if idle_cloud:
                c, why = min(idle_cloud, key=lambda c: c.transfer_ms), "edge busy, cloud idle: offload"
            else:
                c = min(edge or cloud, key=lambda c: view.outstanding_at(c.i) / c.node.capacity(c.resource))
                why = "all busy: least loaded " + ("edge" if edge else "cloud")
        return self.place(job, c.node, c.entry, view, reason=f"{self.name}: {why}")
