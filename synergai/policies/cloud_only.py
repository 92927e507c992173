"""Cloud only: the classic offload-everything deployment; least-outstanding cloud node, default config.

A private job may not leave the edge, so it runs on the least-loaded edge node instead (counted in the
reason). If the cluster has no cloud node that can run the model, the job fails with a reason.
"""
from ..domain import Placement
from ..policy import Policy, register


@register("cloud_only")
class CloudOnlyPolicy(Policy):
    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            cands = self.ready_eligible(job, view)
            pool = [ne for ne in cands if not ne[0].is_edge]
            why = "cloud"
            if job.private:
                pool, why = cands, "private job kept on the edge"
            if not pool:
                out.append(self.no_node(job) if job.private or not cands else Placement.reject(
                    job.id, f"cloud_only: no ready cloud node can run model {job.model!r}"))
                continue
            node, entry = min(pool, key=lambda ne: view.outstanding(ne[0].name) / ne[0].capacity(ne[1].resource))
            out.append(self.place(job, node, entry, view, reason=f"{self.name}: {why}"))
        return out
