"""Built-in policies, one per module; importing this package registers them all."""
from . import (  # noqa: F401
    clockwork,
    cloud_only,
    edf,
    edge_first,
    greedy,
    infaas,
    k8s_default,
    least_outstanding,
    mael,
    random,
    round_robin,
    slo_mael,
    synergai,
)
