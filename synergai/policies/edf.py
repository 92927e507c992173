"""EDF: greedy's earliest-finish node, with node queues served earliest deadline first.

The smallest change from ``greedy`` that uses ``queue_discipline = "priority"``: every job's queue priority is
its deadline (arrival + QoS target), and the predicted start on each node is read in that order, so a tight
job placed after a loose one may start before it. Nothing else differs (default config per node, no
admission, no protection of the jobs it overtakes), so comparing ``edf`` with ``greedy`` isolates what queue
order alone is worth, and comparing it with ``synergai`` what the rest of SynergAI's online step adds.
"""
from ..policy import register
from .greedy import GreedyPolicy


@register("edf")
class EDFPolicy(GreedyPolicy):
    queue_discipline = "priority"

    def priority(self, job) -> float:
        return job.arrival_ms + job.qos_ms
