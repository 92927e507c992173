"""Round robin: cycle through the ready nodes that can run the job, default config; blind to load and speed."""
from ..policy import Policy, register


@register("round_robin")
class RoundRobinPolicy(Policy):
    def prepare(self, *args, **kw):
        super().prepare(*args, **kw)
        self._next = 0

    def choose(self, job, ready, view):
        self._next += 1
        return ready[(self._next - 1) % len(ready)]
