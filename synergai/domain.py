"""The scheduling domain: what a policy reasons about, independent of any backend.

Times are milliseconds (``*_ms``), sizes bytes, power watts, energy millijoules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

EDGE, CLOUD = "edge", "cloud"
CPU, ACCEL = "cpu", "accel"
RESOURCES = (CPU, ACCEL)


@dataclass(frozen=True, slots=True)
class Node:
    """A worker: a device of a known type at a network site, with cores and accelerator slots."""

    name: str
    device_type: str
    tier: str  # EDGE or CLOUD
    arch: str  # e.g. arm64, amd64
    site: str
    cpu_cores: int = 0
    accel_slots: int = 0
    power_modes: tuple[str, ...] = ()  # empty: every mode the profile knows for the device type

    def capacity(self, resource: str) -> int:
        return self.cpu_cores if resource == CPU else self.accel_slots

    @property
    def is_edge(self) -> bool:
        return self.tier == EDGE


@dataclass(frozen=True, slots=True, order=True)
class Config:
    """How a job executes on a node: the knobs SynergAI chooses besides the node itself."""

    engine: str
    precision: str
    batch: int
    threads: int
    power_mode: str
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self):
        # configs are dictionary keys on the simulator's hot path: hash once
        object.__setattr__(self, "_hash", hash((self.engine, self.precision, self.batch, self.threads,
                                                self.power_mode)))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"{self.engine}/{self.precision}/b{self.batch}/t{self.threads}/{self.power_mode}"


@dataclass(slots=True)
class Job:
    """One inference job: ``queries`` inputs of ``model`` that must finish within ``qos_ms``."""

    id: int
    model: str
    qos_ms: float
    origin_site: str
    arrival_ms: float
    queries: int = 1
    input_bytes: int = 0
    private: bool = False  # must stay on an edge node
    # hashable hard constraints a backend attaches and its own filters read (the Kubernetes scheduler: the pod's
    # node selector, required node affinity, tolerations and resource requests); None: none beyond the core's
    constraints: object = None


@dataclass(frozen=True, slots=True)
class Placement:
    """A policy's decision for one job. ``node is None`` means: fail the job with ``reason``; ``held`` (late
    binding, ``Placement.hold``): keep the job in the backend's central queue and decide it again later.
    ``riders`` (cross-job batching): ids of held jobs of the same model that run in this job's execution on the
    same node and config -- one sequence of ``ceil(total queries / batch)`` calls that all of them wait for,
    sharing its service time and energy (``synergai.central``, "Batches"). ``joins`` >= 0: run this job in the
    execution of job ``joins``, already bound to the same node and config and not started, if its last call has
    room for this job's queries (``ProfileEntry.has_room``; the fuller call may run longer, and every member
    waits for it); otherwise -- started, no room, or this job's input reaches the node after it starts -- the
    job runs on its own there."""

    job_id: int
    node: str | None
    config: Config | None
    predicted_latency_ms: float = float("nan")  # transfer + wait + service, as the policy predicts it
    predicted_service_ms: float = float("nan")
    reason: str = ""
    priority: float = 0.0  # queue order on the node (lower first) when the policy's queue_discipline is "priority"
    protect_until_ms: float = float("nan")  # finish time a priority view keeps this job within when others
    # overtake it (see ClusterView.overtaken_late); NaN: the job's deadline (arrival + QoS target)
    held: bool = False  # late binding: not placed yet (see synergai.central)
    recall_ms: float = math.inf  # held: when to be asked again at the latest (besides capacity events)
    riders: tuple[int, ...] = ()  # held jobs batched into this job's execution (cross-job batching)
    joins: int = -1  # >= 0: ride in that bound, unstarted execution (cross-job batching); -1: none

    @classmethod
    def reject(cls, job_id: int, reason: str) -> Placement:
        return cls(job_id, None, None, reason=reason)

    @classmethod
    def hold(cls, job_id: int, reason: str = "", recall_ms: float = math.inf) -> Placement:
        """Keep the job in the central queue: the policy is asked again when capacity frees on any node, at
        ``recall_ms`` and at the job's deadline (after which a job still held fails)."""
        return cls(job_id, None, None, reason=reason, held=True, recall_ms=recall_ms)


@dataclass(frozen=True, slots=True)
class Completion:
    """What a backend reports back when a job ends, as a live scheduler would observe it."""

    job_id: int
    node: str | None
    config: Config | None
    finish_ms: float
    service_ms: float = float("nan")
    ok: bool = True
    reason: str = ""
    model: str = ""
    queries: int = 1  # the inputs ``service_ms`` covers: a batch member's is its whole execution's


@dataclass
class Site:
    """A network location (an edge site or a cloud region) that jobs originate from or nodes sit in."""

    name: str
    tier: str
    lan_latency_ms: float = 0.0
    lan_bandwidth_mbps: float = float("inf")
    meta: dict = field(default_factory=dict)
