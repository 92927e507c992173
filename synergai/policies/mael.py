"""MAEL ("min average expected latency"), the SLO-unaware scheduler from the same authors' code.

Same windows, virtual backlogs and exhaustive enumeration as SLO-MAEL (``slo_mael.py``), but the chosen
assignment is simply the one with the smallest sum of expected latencies (ties: enumeration order). The
original dispatches device queues shortest-runtime-first with aging; here node queues stay FIFO.
"""
from ..policy import register
from .slo_mael import SloMaelPolicy


@register("mael")
class MaelPolicy(SloMaelPolicy):
    queue_discipline = "fifo"
    uses_slo = False
