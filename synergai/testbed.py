"""A testbed description (sites, links, device types, nodes) parsed from a plain dict (Hydra's ``cluster``).

Backend-neutral: the simulator instantiates these nodes; the Kubernetes backend reads nodes from the API but
uses the same sites/links for transfer predictions.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .domain import CLOUD, EDGE, Node, Site
from .errors import ConfigError
from .network import Link, Network


@dataclass
class Testbed:
    name: str
    nodes: list[Node]
    network: Network


def _get(d: Mapping, key: str, where: str, kind=None, default=Ellipsis, minimum=None):
    if key not in d or d[key] is None:
        if default is Ellipsis:
            raise ConfigError(f"{where}.{key}", "missing")
        return default
    v = d[key]
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}.{key}", f"must be a number, got {v!r}")
        v = float(v)
        if math.isnan(v):
            raise ConfigError(f"{where}.{key}", "must be a number, got nan")
    elif kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}.{key}", f"must be an integer, got {v!r}")
    elif kind is str:
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}.{key}", f"must be a non-empty string, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{where}.{key}", f"must be >= {minimum}, got {v!r}")
    return v


def testbed_from_dict(cfg: Mapping[str, Any], where: str = "cluster") -> Testbed:
    """Validate and build. Every problem raises ConfigError with the dotted key, e.g. cluster.nodes[2].site."""
    sites = []
    for i, s in enumerate(_get(cfg, "sites", where) or []):
        w = f"{where}.sites[{i}]"
        tier = _get(s, "tier", w, str)
        if tier not in (EDGE, CLOUD):
            raise ConfigError(f"{w}.tier", f"must be {EDGE} or {CLOUD}, got {tier!r}")
        sites.append(Site(_get(s, "name", w, str), tier,
                          _get(s, "lan_latency_ms", w, float, 0.0, 0.0),
                          _get(s, "lan_bandwidth_mbps", w, float, math.inf, 1e-9)))
    names = [s.name for s in sites]
    if not sites:
        raise ConfigError(f"{where}.sites", "at least one site is required")
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.sites", "duplicate site name")
    links = []
    for i, ln in enumerate(_get(cfg, "links", where, default=[]) or []):
        w = f"{where}.links[{i}]"
        a, b = _get(ln, "a", w, str), _get(ln, "b", w, str)
        for k, v in (("a", a), ("b", b)):
            if v not in names:
                raise ConfigError(f"{w}.{k}", f"unknown site {v!r}")
        links.append(Link(a, b, _get(ln, "latency_ms", w, float, minimum=0.0),
                          _get(ln, "bandwidth_mbps", w, float, minimum=1e-9)))
    types = _get(cfg, "device_types", where)
    nodes: list[Node] = []
    for i, nd in enumerate(_get(cfg, "nodes", where) or []):
        w = f"{where}.nodes[{i}]"
        dt = _get(nd, "device_type", w, str)
        if dt not in types:
            raise ConfigError(f"{w}.device_type", f"unknown device type {dt!r} (define it in {where}.device_types)")
        spec = types[dt]
        tw = f"{where}.device_types.{dt}"
        site = _get(nd, "site", w, str)
        if site not in names:
            raise ConfigError(f"{w}.site", f"unknown site {site!r}")
        count = _get(nd, "count", w, int, 1, 1)
        base = _get(nd, "name", w, str)
        cores = _get(spec, "cpu_cores", tw, int, 0, 0)
        slots = _get(spec, "accel_slots", tw, int, 0, 0)
        if cores + slots == 0:
            raise ConfigError(tw, "a device type needs cpu_cores or accel_slots > 0")
        tier = _get(spec, "tier", tw, str)
        if tier not in (EDGE, CLOUD):
            raise ConfigError(f"{tw}.tier", f"must be {EDGE} or {CLOUD}, got {tier!r}")
        modes = tuple(_get(nd, "power_modes", w, default=None) or _get(spec, "power_modes", tw, default=None) or ())
        for k in range(count):
            nodes.append(Node(f"{base}-{k}" if count > 1 else base, dt, tier, _get(spec, "arch", tw, str),
                              site, cores, slots, modes))
    if not nodes:
        raise ConfigError(f"{where}.nodes", "the cluster has no nodes")
    if len({n.name for n in nodes}) != len(nodes):
        raise ConfigError(f"{where}.nodes", "duplicate node name")
    return Testbed(str(cfg.get("name", "cluster")), nodes, Network(sites, links))
