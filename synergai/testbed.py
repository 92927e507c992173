"""A testbed description (sites, links, device types, nodes) parsed from a plain dict (Hydra's ``cluster``).

Backend-neutral: the simulator instantiates these nodes; the Kubernetes backend reads nodes from the API but
uses the same sites/links for transfer predictions.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .domain import CLOUD, CPU, EDGE, Node, Site
from .errors import ConfigError
from .network import Link, Network

if TYPE_CHECKING:
    from .profile import PerformanceProfile

MAX_NODES = 100_000  # a typo guard for `count`
MAX_LATENCY_MS = 1e9  # one-way latency of a LAN or link (11.6 days): anything larger is a typo


@dataclass
class Testbed:
    name: str
    nodes: list[Node]
    network: Network


def _mapping(v, key: str) -> Mapping:
    if not isinstance(v, Mapping):
        raise ConfigError(key, f"must be a mapping, got {v!r}")
    return v


def _list(v, key: str) -> Sequence:
    if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Sequence):
        raise ConfigError(key, f"must be a list, got {v!r}")
    return v


_KEYS = {  # every key each part of a cluster config may have: anything else is a typo, not a silent no-op
    "cluster": ("name", "sites", "links", "device_types", "nodes"),
    "site": ("name", "tier", "lan_latency_ms", "lan_bandwidth_mbps"),
    "link": ("a", "b", "latency_ms", "bandwidth_mbps"),
    "device_type": ("tier", "arch", "cpu_cores", "accel_slots", "power_modes"),
    "node": ("name", "device_type", "site", "count", "power_modes"),
}


def _known(d: Mapping, kind: str, where: str) -> None:
    for k in d:
        if k not in _KEYS[kind]:
            raise ConfigError(f"{where}.{k}", f"unknown key (known: {', '.join(_KEYS[kind])})")


def _get(d: Mapping, key: str, where: str, kind=None, default=Ellipsis, minimum=None, maximum=None):
    if key not in d or d[key] is None:
        if default is Ellipsis:
            raise ConfigError(f"{where}.{key}", "missing")
        return default
    v = d[key]
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}.{key}", f"must be a number, got {v!r}")
        try:
            v = float(v)
        except OverflowError:
            raise ConfigError(f"{where}.{key}", "must be a number, got a too large integer") from None
        if math.isnan(v):
            raise ConfigError(f"{where}.{key}", "must be a number, got nan")
    elif kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}.{key}", f"must be an integer, got {v!r}")
    elif kind is str:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{where}.{key}", f"must be a non-empty string, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{where}.{key}", f"must be >= {minimum}, got {v!r}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"{where}.{key}", f"must be <= {maximum:g}, got {v!r}")
    return v


def _latency(d: Mapping, key: str, where: str, default=Ellipsis) -> float:
    return _get(d, key, where, float, default, 0.0, MAX_LATENCY_MS)


def _power_modes(v, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    modes = tuple(_list(v, key))
    for m in modes:
        if not isinstance(m, str) or not m.strip():
            raise ConfigError(key, f"power modes must be non-empty strings, got {m!r}")
    return modes


def testbed_from_dict(cfg: Mapping[str, Any], where: str = "cluster",
                      profile: PerformanceProfile | None = None) -> Testbed:
    """Validate and build. Every problem raises ConfigError with the dotted key, e.g. cluster.nodes[2].site.

    With a ``profile``, every node must also be able to run at least one of its trace configurations: a
    device type without trace rows (or none in the node's power modes, or none that fits its cores and slots)
    is an error at the key to fix, not a node that silently never gets a job.
    """
    _mapping(cfg, where)
    _known(cfg, "cluster", where)
    sites = []
    for i, s in enumerate(_list(_get(cfg, "sites", where), f"{where}.sites")):
        w = f"{where}.sites[{i}]"
        _mapping(s, w)
        _known(s, "site", w)
        tier = _get(s, "tier", w, str)
        if tier not in (EDGE, CLOUD):
            raise ConfigError(f"{w}.tier", f"must be {EDGE} or {CLOUD}, got {tier!r}")
        sites.append(Site(_get(s, "name", w, str), tier, _latency(s, "lan_latency_ms", w, 0.0),
                          _get(s, "lan_bandwidth_mbps", w, float, math.inf, 1e-9)))
    names = [s.name for s in sites]
    if not sites:
        raise ConfigError(f"{where}.sites", "at least one site is required")
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"{where}.sites[{i}].name", f"duplicate site name {n!r}")
    links = []
    seen: dict[frozenset, int] = {}
    for i, ln in enumerate(_list(_get(cfg, "links", where, default=[]), f"{where}.links")):
        w = f"{where}.links[{i}]"
        _mapping(ln, w)
        _known(ln, "link", w)
        a, b = _get(ln, "a", w, str), _get(ln, "b", w, str)
        for k, v in (("a", a), ("b", b)):
            if v not in names:
                raise ConfigError(f"{w}.{k}", f"unknown site {v!r}")
        if a == b:
            raise ConfigError(w, f"a link needs two different sites, got {a!r} twice")
        pair = frozenset((a, b))
        if pair in seen:
            raise ConfigError(w, f"duplicate link between {a!r} and {b!r} (first at {where}.links[{seen[pair]}])")
        seen[pair] = i
        links.append(Link(a, b, _latency(ln, "latency_ms", w), _get(ln, "bandwidth_mbps", w, float, minimum=1e-9)))
    types = _mapping(_get(cfg, "device_types", where), f"{where}.device_types")
    for dt, spec in types.items():
        _known(_mapping(spec, f"{where}.device_types.{dt}"), "device_type", f"{where}.device_types.{dt}")
    nodes: list[Node] = []
    for i, nd in enumerate(_list(_get(cfg, "nodes", where), f"{where}.nodes")):
        w = f"{where}.nodes[{i}]"
        _mapping(nd, w)
        _known(nd, "node", w)
        dt = _get(nd, "device_type", w, str)
        if dt not in types:
            raise ConfigError(f"{w}.device_type", f"unknown device type {dt!r} (define it in {where}.device_types)")
        tw = f"{where}.device_types.{dt}"
        spec = _mapping(types[dt], tw)
        site = _get(nd, "site", w, str)
        if site not in names:
            raise ConfigError(f"{w}.site", f"unknown site {site!r}")
        count = _get(nd, "count", w, int, 1, 1, MAX_NODES)
        if len(nodes) + count > MAX_NODES:
            raise ConfigError(f"{w}.count", f"the cluster would have more than {MAX_NODES:,} nodes")
        base = _get(nd, "name", w, str)
        cores = _get(spec, "cpu_cores", tw, int, 0, 0, 10**6)
        slots = _get(spec, "accel_slots", tw, int, 0, 0, 10**6)
        if cores + slots == 0:
            raise ConfigError(tw, "a device type needs cpu_cores or accel_slots > 0")
        tier = _get(spec, "tier", tw, str)
        if tier not in (EDGE, CLOUD):
            raise ConfigError(f"{tw}.tier", f"must be {EDGE} or {CLOUD}, got {tier!r}")
        arch = _get(spec, "arch", tw, str)
        own = _power_modes(nd.get("power_modes"), f"{w}.power_modes")
        modes = own or _power_modes(spec.get("power_modes"), f"{tw}.power_modes")
        if profile is not None:
            _check_traces(profile, dt, cores, slots, modes, f"{w}.device_type", tw,
                          f"{w}.power_modes" if own else f"{tw}.power_modes")
        for k in range(count):
            nodes.append(Node(f"{base}-{k}" if count > 1 else base, dt, tier, arch, site, cores, slots, modes))
    if not nodes:
        raise ConfigError(f"{where}.nodes", "the cluster has no nodes")
    seen_names: set[str] = set()
    for n in nodes:
        if n.name in seen_names:
            raise ConfigError(f"{where}.nodes", f"duplicate node name {n.name!r}")
        seen_names.add(n.name)
    return Testbed(str(cfg.get("name", "cluster")), nodes, Network(sites, links))


def _check_traces(profile: PerformanceProfile, dt: str, cores: int, slots: int, modes: tuple[str, ...],
                  dt_key: str, type_key: str, modes_key: str) -> None:
    """A node of this type must be able to run at least one trace configuration (of any model)."""
    rows = [e for e in profile.entries if e.device_type == dt]
    if not rows:
        raise ConfigError(dt_key, f"no trace rows for device type {dt!r}, so its nodes could never run a job "
                          f"(device types in the traces: {', '.join(profile.device_types())})")
    if modes:
        known = sorted({e.config.power_mode for e in rows})
        rows = [e for e in rows if e.config.power_mode in modes]
        if not rows:
            raise ConfigError(modes_key, f"no trace rows for {dt} in power modes {', '.join(modes)} "
                              f"(the traces have {', '.join(known)})")
    if not any((cores if e.resource == CPU else slots) >= e.units for e in rows):
        need = min(((e.resource, e.units) for e in rows), key=lambda x: x[1])
        raise ConfigError(type_key, f"no trace configuration of {dt} fits cpu_cores={cores}, accel_slots={slots} "
                          f"(the smallest needs {need[1]} {need[0]} unit(s))")
