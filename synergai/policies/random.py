"""Random: a uniformly random ready node that can run the job, default config. The floor to beat."""
from ..policy import Policy, register


@register("random")
class RandomPolicy(Policy):
    def choose(self, job, ready, view):
        return ready[int(self.rng.integers(len(ready)))]
