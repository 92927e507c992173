"""Round robin: cycle through the eligible ready nodes, default config, blind to load and speed."""
from ..policy import Policy, register


@register("round_robin")
class RoundRobinPolicy(Policy):
    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self._next = 0

    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            cands = self.ready_eligible(job, view)
            if not cands:
                out.append(self.no_node(job))
                continue
            node, entry = cands[self._next % len(cands)]
            self._next += 1
            out.append(self.place(job, node, entry, view))
        return out
