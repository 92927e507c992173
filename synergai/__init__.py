"""SynergAI: architecture-aware scheduling of AI inference across edge-to-cloud infrastructure.

The core is backend-neutral: domain types, the performance profile, the cluster view, policies and
metrics. Backends (``sim``, ``backends``) drive policies; this package imports neither of them.
"""
from .cluster import ClusterView
from .domain import Completion, Config, Job, Node, Placement, Site
from .errors import ConfigError, SynergAIError, TraceError
from .policy import Policy, available_policies, make_policy, register
from .profile import PerformanceProfile, ProfileEntry

__all__ = [
    "ClusterView", "Completion", "Config", "ConfigError", "Job", "Node", "PerformanceProfile", "Placement",
    "Policy", "ProfileEntry", "Site", "SynergAIError", "TraceError", "available_policies", "make_policy",
    "register",
]
__version__ = "0.1.0"
