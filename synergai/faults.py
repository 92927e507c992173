"""Fault schedules: what fails, when and for how long, parsed from a plain dict (Hydra's ``faults`` group).

Backend-neutral: the simulator injects these events into its model, the Kubernetes backend into a live cluster;
both expand random crashes with the same seeded stream, so a seed names one concrete schedule. Config times are
seconds (``*_s``), everything here is milliseconds.

Kinds (``faults.events[k].kind``):

- ``crash``: ``node`` is down from ``at_s`` for ``for_s`` (NotReady; its running and queued jobs are lost).
- ``random_crashes``: every node in ``nodes`` (or of ``device_type``; default every node) alternates up times
  ~ Exp(``mtbf_s``) and repairs ~ Exp(``mttr_s``) within [``from_s``, ``until_s``) (default: the last arrival).
- ``partition``: the link between sites ``a`` and ``b`` is cut from ``at_s`` for ``for_s``.
- ``degrade``: that link's one-way ``latency_ms`` and/or ``bandwidth_mbps`` are replaced for the period.
- ``throttle``: service times on ``node`` are multiplied by ``factor`` (>= 1) for jobs starting in the period.

Top level: ``max_retries`` (times a job lost to a crash is re-submitted to the policy before it fails) and
``partition_policy`` (``wait``: a job whose input has no path holds until one heals; ``fail``: it fails at once).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

CRASH, PARTITION, DEGRADE, THROTTLE, RANDOM = "crash", "partition", "degrade", "throttle", "random_crashes"
KINDS = (CRASH, RANDOM, PARTITION, DEGRADE, THROTTLE)
PARTITION_POLICIES = ("wait", "fail")
FAULT_COLUMNS = ("kind", "target", "start_ms", "end_ms", "detail", "source")
SEED_SPAWN_KEY = 3  # random crashes draw from SeedSequence(seed, spawn_key=(3,)); 0-2 are workload/service/policy

MAX_THROTTLE = 1000.0  # a node over 1000x slower is down: model it as a crash
MAX_CRASHES_PER_NODE = 100_000  # random crashes one node may draw before the last arrival (a typo guard)
_TOP_KEYS = ("max_retries", "partition_policy", "events", "name")
_EVENT_KEYS = {
    CRASH: ("kind", "node", "at_s", "for_s"),
    PARTITION: ("kind", "a", "b", "at_s", "for_s"),
    DEGRADE: ("kind", "a", "b", "at_s", "for_s", "latency_ms", "bandwidth_mbps"),
    THROTTLE: ("kind", "node", "at_s", "for_s", "factor"),
    RANDOM: ("kind", "nodes", "device_type", "mtbf_s", "mttr_s", "from_s", "until_s"),
}


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One concrete fault: a kind, a target (node, or link ``a``-``b``) and a period [start_ms, end_ms)."""

    kind: str
    start_ms: float
    end_ms: float
    node: str | None = None
    a: str | None = None
    b: str | None = None
    factor: float = 1.0  # throttle: service time multiplier
    latency_ms: float | None = None  # degrade: new one-way link latency (None: unchanged)
    bandwidth_mbps: float | None = None  # degrade: new link bandwidth (None: unchanged)
    source: str = ""  # where it came from, e.g. "faults.events[2]" (random crashes: "...events[2]#5")

    @property
    def target(self) -> str:
        return self.node if self.node is not None else f"{self.a}<->{self.b}"

    @property
    def detail(self) -> str:
        if self.kind == THROTTLE:
            return f"x{self.factor:g}"
        if self.kind == DEGRADE:
            parts = [f"latency {self.latency_ms:g} ms" if self.latency_ms is not None else "",
                     f"bandwidth {self.bandwidth_mbps:g} Mbps" if self.bandwidth_mbps is not None else ""]
            return ", ".join(p for p in parts if p)
        return ""

    def row(self) -> dict:
        return {"kind": self.kind, "target": self.target, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "detail": self.detail, "source": self.source}


@dataclass(frozen=True, slots=True)
class RandomCrashes:
    """Crashes drawn per node from exponential up times (mean MTBF) and repair times (mean MTTR)."""

    nodes: tuple[str, ...]
    mtbf_ms: float
    mttr_ms: float
    from_ms: float = 0.0
    until_ms: float | None = None  # None: the backend's horizon (the last arrival)
    source: str = ""


@dataclass(frozen=True)
class FaultSchedule:
    """Fixed events plus random-crash generators, and how the backend treats the jobs they hit."""

    events: tuple[FaultEvent, ...] = ()
    random: tuple[RandomCrashes, ...] = ()
    max_retries: int = 2
    partition_policy: str = "wait"
    name: str = "none"

    def __bool__(self) -> bool:
        return bool(self.events or self.random)

    def expand(self, horizon_ms: float, seed: int) -> tuple[FaultEvent, ...]:
        """Every concrete event, random crashes drawn from the seed, sorted by start time (ties: config order)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SEED_SPAWN_KEY,))))
        out = list(self.events)
        for rc in self.random:
            out += _draw_crashes(rc, horizon_ms, rng)
        order = {id(e): k for k, e in enumerate(out)}
        return tuple(sorted(out, key=lambda e: (e.start_ms, order[id(e)])))


def _draw_crashes(rc: RandomCrashes, horizon_ms: float, rng: np.random.Generator) -> list[FaultEvent]:
    """Alternate up ~ Exp(MTBF) and down ~ Exp(MTTR) per node, in node order, within [from, until)."""
    until = horizon_ms if rc.until_ms is None else rc.until_ms
    expected = (until - rc.from_ms) / (rc.mtbf_ms + rc.mttr_ms)
    if expected > MAX_CRASHES_PER_NODE / 2:  # checked before drawing, so a tiny MTBF cannot hang the run
        raise ConfigError(f"{rc.source}.mtbf_s", f"{rc.mtbf_ms / 1000.0:g} s with mttr_s {rc.mttr_ms / 1000.0:g} gives "
                          f"~{expected:.3g} crashes per node before the last arrival (at most "
                          f"{MAX_CRASHES_PER_NODE // 2:,}); use a longer MTBF")
    out = []
    for node in rc.nodes:
        t, k = rc.from_ms, 0
        while True:
            if k >= MAX_CRASHES_PER_NODE:
                raise ConfigError(f"{rc.source}.mtbf_s", f"more than {MAX_CRASHES_PER_NODE:,} crashes of node "
                                  f"{node} before the last arrival; use a longer MTBF")
            t += float(rng.exponential(rc.mtbf_ms))
            if t >= until:
                break
            down = float(rng.exponential(rc.mttr_ms))
            out.append(FaultEvent(CRASH, t, t + down, node=node, source=f"{rc.source}#{node}.{k}"))
            t += down
            k += 1
    return out


def merged_windows(events: Sequence[FaultEvent] | Any) -> list[tuple[float, float]]:
    """Union of the events' [start, end) periods (accepts events or a table with start_ms / end_ms columns)."""
    if hasattr(events, "columns"):
        spans = list(zip(events["start_ms"].tolist(), events["end_ms"].tolist()))
    else:
        spans = [(e.start_ms, e.end_ms) for e in events]
    out: list[list[float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


# ----------------------------------------------------------------------------- parsing
def faults_from_dict(cfg: Mapping[str, Any] | None, nodes: Sequence | None = None, network=None,
                     where: str = "faults") -> FaultSchedule:
    """Validate and build. Every problem raises ConfigError naming the key, e.g. ``faults.events[2].node``.

    ``nodes`` (``Node`` objects) and ``network`` (``Network``), when given, check names against the testbed.
    """
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(cfg).__name__}")
    for k in cfg:
        if k not in _TOP_KEYS:
            raise ConfigError(f"{where}.{k}", f"unknown key (known: {', '.join(_TOP_KEYS)})")
    retries = cfg.get("max_retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}.max_retries", f"must be an integer >= 0, got {retries!r}")
    pp = cfg.get("partition_policy", "wait")
    if pp not in PARTITION_POLICIES:
        raise ConfigError(f"{where}.partition_policy", f"must be one of {', '.join(PARTITION_POLICIES)}, got {pp!r}")
    raw = cfg.get("events") or []
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise ConfigError(f"{where}.events", f"must be a list, got {type(raw).__name__}")
    ctx = _Ctx(nodes, network)
    events, random = [], []
    for k, ev in enumerate(raw):
        w = f"{where}.events[{k}]"
        if not isinstance(ev, Mapping):
            raise ConfigError(w, f"must be a mapping, got {ev!r}")
        kind = ev.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{w}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        for key in ev:
            if key not in _EVENT_KEYS[kind]:
                raise ConfigError(f"{w}.{key}", f"unknown key for kind {kind} (known: {', '.join(_EVENT_KEYS[kind])})")
        if kind == RANDOM:
            random.append(_random(ev, w, ctx))
        else:
            events.append(_event(kind, ev, w, ctx))
    name = str(cfg.get("name", "none"))
    if name == "none" and (events or random):  # e.g. faults=none with events given on the command line
        name = "custom"
    return FaultSchedule(tuple(events), tuple(random), retries, pp, name)


@dataclass
class _Ctx:
    nodes: Sequence | None
    network: Any

    def node(self, v, key):
        if not isinstance(v, str) or not v:
            raise ConfigError(key, f"must be a node name, got {v!r}")
        if self.nodes is not None and v not in {n.name for n in self.nodes}:
            raise ConfigError(key, f"unknown node {v!r}")
        return v

    def site(self, v, key):
        if not isinstance(v, str) or not v:
            raise ConfigError(key, f"must be a site name, got {v!r}")
        if self.network is not None and v not in self.network.sites:
            raise ConfigError(key, f"unknown site {v!r}")
        return v


def _num(ev, key, w, default=Ellipsis, minimum=0.0, strict=False, finite=True, maximum=math.inf) -> float:
    if key not in ev or ev[key] is None:
        if default is Ellipsis:
            raise ConfigError(f"{w}.{key}", "missing")
        return default
    v = ev[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        raise ConfigError(f"{w}.{key}", f"must be a number, got {v!r}")
    if finite and math.isinf(v):
        raise ConfigError(f"{w}.{key}", f"must be finite, got {v!r}")
    if v < minimum or (strict and v == minimum):
        raise ConfigError(f"{w}.{key}", f"must be {'>' if strict else '>='} {minimum:g}, got {v!r}")
    if v > maximum:
        raise ConfigError(f"{w}.{key}", f"must be <= {maximum:g}, got {v!r}")
    return float(v)


def _event(kind, ev, w, ctx: _Ctx) -> FaultEvent:
    at_ms = _num(ev, "at_s", w) * 1000.0
    end_ms = at_ms + _num(ev, "for_s", w, strict=True) * 1000.0
    if kind in (CRASH, THROTTLE):
        node = ctx.node(ev.get("node"), f"{w}.node")
        factor = _num(ev, "factor", w, minimum=1.0, maximum=MAX_THROTTLE) if kind == THROTTLE else 1.0
        return FaultEvent(kind, at_ms, end_ms, node=node, factor=factor, source=w)
    a, b = ctx.site(ev.get("a"), f"{w}.a"), ctx.site(ev.get("b"), f"{w}.b")
    if a == b:
        raise ConfigError(f"{w}.b", f"a link joins two different sites, got {a!r} twice")
    if ctx.network is not None and not ctx.network.graph.has_edge(a, b):
        raise ConfigError(f"{w}.b", f"no link between {a!r} and {b!r} in the cluster")
    lat = bw = None
    if kind == DEGRADE:
        lat = _num(ev, "latency_ms", w, default=None)
        bw = _num(ev, "bandwidth_mbps", w, default=None, strict=True)
        if lat is None and bw is None:
            raise ConfigError(w, "degrade needs latency_ms and/or bandwidth_mbps")
    return FaultEvent(kind, at_ms, end_ms, a=a, b=b, latency_ms=lat, bandwidth_mbps=bw, source=w)


def _random(ev, w, ctx: _Ctx) -> RandomCrashes:
    mtbf = _num(ev, "mtbf_s", w, strict=True) * 1000.0
    mttr = _num(ev, "mttr_s", w, strict=True) * 1000.0
    frm = _num(ev, "from_s", w, default=0.0) * 1000.0
    until = _num(ev, "until_s", w, default=None)
    if until is not None:
        until *= 1000.0
        if until <= frm:
            raise ConfigError(f"{w}.until_s", f"must be > from_s ({frm / 1000.0:g}), got {ev['until_s']!r}")
    names, dt = ev.get("nodes"), ev.get("device_type")
    if names is not None and dt is not None:
        raise ConfigError(f"{w}.device_type", "give nodes or device_type, not both")
    if names is not None:
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not names:
            raise ConfigError(f"{w}.nodes", f"must be a non-empty list of node names, got {names!r}")
        nodes = tuple(ctx.node(v, f"{w}.nodes[{k}]") for k, v in enumerate(names))
        if len(set(nodes)) != len(nodes):
            raise ConfigError(f"{w}.nodes", "duplicate node name")
    elif dt is not None:
        if not isinstance(dt, str) or not dt:
            raise ConfigError(f"{w}.device_type", f"must be a device type name, got {dt!r}")
        if ctx.nodes is None:
            raise ConfigError(f"{w}.device_type", "needs the cluster's nodes to resolve")
        nodes = tuple(n.name for n in ctx.nodes if n.device_type == dt)
        if not nodes:
            raise ConfigError(f"{w}.device_type", f"no node of device type {dt!r} in the cluster")
    else:
        if ctx.nodes is None:
            raise ConfigError(f"{w}.nodes", "needs the cluster's nodes (or give nodes explicitly)")
        nodes = tuple(n.name for n in ctx.nodes)
    return RandomCrashes(nodes, mtbf, mttr, frm, until, w)
