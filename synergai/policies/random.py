"""Random: a uniformly random eligible node, default config. The floor any policy must beat."""
from ..policy import Policy, register


@register("random")
class RandomPolicy(Policy):
    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            cands = self.ready_eligible(job, view)
            if not cands:
                out.append(self.no_node(job))
                continue
            node, entry = cands[int(self.rng.integers(len(cands)))]
            out.append(self.place(job, node, entry, view))
        return out
