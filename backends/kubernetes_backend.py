"""Registers the live Kubernetes backend without importing the Kubernetes client until it is used."""
from __future__ import annotations

from .base import register_backend


@register_backend("kubernetes")
def _kubernetes(**options):
    from .kubernetes.driver import KubernetesBackend

    return KubernetesBackend(**options)
