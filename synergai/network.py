"""Edge-to-cloud network: sites joined by links, a networkx graph, and transfer-time predictions.

A job's input travels from its origin site to the node's site: the origin site's LAN, the WAN path
(lowest total latency), then the destination site's LAN. Transfer time = sum of hop latencies + size /
bottleneck bandwidth. Policies use the same numbers a live scheduler would have configured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from .domain import Site


@dataclass(frozen=True, slots=True)
class Link:
    a: str
    b: str
    latency_ms: float
    bandwidth_mbps: float


@dataclass(frozen=True, slots=True)
class Route:
    latency_ms: float
    bandwidth_mbps: float

    def transfer_ms(self, size_bytes: int) -> float:
        if size_bytes <= 0 or math.isinf(self.bandwidth_mbps):
            return self.latency_ms
        return self.latency_ms + size_bytes * 8.0 / (self.bandwidth_mbps * 1e3)


class Network:
    def __init__(self, sites: list[Site], links: list[Link]):
        self.sites = {s.name: s for s in sites}
        self.graph = nx.Graph()
        for s in sites:
            self.graph.add_node(s.name, tier=s.tier)
        for ln in links:
            self.graph.add_edge(ln.a, ln.b, latency_ms=ln.latency_ms, bandwidth_mbps=ln.bandwidth_mbps)
        self._routes: dict[tuple[str, str], Route] = {}
        paths = dict(nx.all_pairs_dijkstra_path(self.graph, weight="latency_ms"))
        for a, sa in self.sites.items():
            for b, sb in self.sites.items():
                if a == b:
                    self._routes[a, b] = Route(sa.lan_latency_ms, sa.lan_bandwidth_mbps)
                    continue
                path = paths.get(a, {}).get(b)
                if path is None:
                    continue  # unreachable: no route
                hops = [self.graph.edges[u, v] for u, v in zip(path, path[1:])]
                lat = sa.lan_latency_ms + sb.lan_latency_ms + sum(h["latency_ms"] for h in hops)
                bw = min([sa.lan_bandwidth_mbps, sb.lan_bandwidth_mbps] + [h["bandwidth_mbps"] for h in hops])
                self._routes[a, b] = Route(lat, bw)

    def links(self) -> list[Link]:
        return [Link(a, b, d["latency_ms"], d["bandwidth_mbps"]) for a, b, d in self.graph.edges(data=True)]

    def with_links(self, changes: dict[frozenset, Link | None]) -> Network:
        """A copy where the links named by ``changes`` (key: frozenset of their two sites) are replaced, or
        removed where the value is None (a partition). Routes are recomputed: traffic takes the best path left."""
        links = []
        for ln in self.links():
            k = frozenset((ln.a, ln.b))
            if k in changes:
                ln = changes[k]
            if ln is not None:
                links.append(ln)
        return Network(list(self.sites.values()), links)

    def route(self, src: str, dst: str) -> Route | None:
        """The route between two sites, or None when they are not connected."""
        return self._routes.get((src, dst))

    def transfer_ms(self, src: str, dst: str, size_bytes: int) -> float:
        r = self._routes.get((src, dst))
        return math.inf if r is None else r.transfer_ms(size_bytes)
