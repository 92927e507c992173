"""Cloud only: the classic offload-everything deployment; least-outstanding cloud node, default config.

A private job may not leave the edge, so it runs on the least-loaded edge node instead (said in the reason).
If no ready cloud node can run the model, the job fails with a reason.
"""
from ..domain import Placement
from ..policy import Policy, register


@register("cloud_only")
class CloudOnlyPolicy(Policy):
    def choose(self, job, ready, view):
        pool = ready if job.private else [c for c in ready if not c.node.is_edge]
        if not pool:
            return Placement.reject(job.id, f"cloud_only: no ready cloud node can run model {job.model!r}")
        c = min(pool, key=lambda c: view.outstanding_at(c.i) / c.node.capacity(c.resource))
        why = "private job kept on the edge" if job.private else "cloud"
        return self.place(job, c.node, c.entry, view, reason=f"{self.name}: {why}")
