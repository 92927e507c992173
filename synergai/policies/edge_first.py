"""Edge first: keep work on the edge; offload to the cloud only when every eligible edge node is busy.

Among edge nodes with a free unit now (predicted wait 0) the one with the cheapest transfer from the job's
origin wins. If none is free and a cloud node is, the job is offloaded; otherwise it joins the edge node
with the fewest outstanding jobs per unit. Private jobs never leave the edge (``eligible`` drops cloud nodes).
"""
from ..policy import Policy, register


@register("edge_first")
class EdgeFirstPolicy(Policy):
    def schedule(self, jobs, view):
        out = []
        now = view.now_ms
        for job in jobs:
            cands = [c for c in self.candidates(job) if view.ready_at(c.i)]
            if not cands:
                out.append(self.no_node(job))
                continue
            edge = [c for c in cands if c.node.is_edge]
            cloud = [c for c in cands if not c.node.is_edge]
            idle_edge = [c for c in edge if view.start_at(c.i, c.entry.resource, c.entry.units, now) <= now]
            if idle_edge:
                choice, why = min(idle_edge, key=lambda c: c.transfer_ms), "edge node idle"
            else:
                idle_cloud = [c for c in cloud if view.start_at(c.i, c.entry.resource, c.entry.units, now) <= now]
                if idle_cloud:
                    choice, why = min(idle_cloud, key=lambda c: c.transfer_ms), "edge busy, cloud idle: offload"
                else:
                    pool = edge or cloud
                    choice = min(pool, key=lambda c: view.outstanding_at(c.i) / c.node.capacity(c.entry.resource))
                    why = "all busy: least loaded " + ("edge" if edge else "cloud")
            out.append(self.place(job, choice.node, choice.entry, view, reason=f"{self.name}: {why}"))
        return out
