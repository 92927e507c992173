"""Registers the live Kubernetes backend without importing the Kubernetes client until it is used."""
from __future__ import annotations

import importlib.util

from .base import register_backend

REQUIRES = ("kubernetes", "yaml")  # the `kubernetes` extra; checked when the backend is built, before any run


@register_backend("kubernetes")
def _kubernetes(**options):
    for mod in REQUIRES:
        try:
            found = importlib.util.find_spec(mod) is not None
        except ValueError:  # a module set to None in sys.modules (tests): not importable
            found = False
        if not found:
            raise ModuleNotFoundError(f"No module named {mod!r}", name=mod)
    from .kubernetes.driver import KubernetesBackend

    return KubernetesBackend(**options)
