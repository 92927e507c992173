"""Kubernetes objects <-> the policy domain (Node, Job, Placement), and the experiment clock.

Every conversion that can meet bad input raises ``InvalidObject`` naming the label or annotation, so the
scheduler can explain (Event + PodScheduled condition) instead of crashing.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from synergai.domain import CLOUD, EDGE, Config, Job, Node, Placement
from synergai.errors import SynergAIError

from . import names as N


class InvalidObject(SynergAIError):
    """A pod or node whose labels/annotations cannot be read: ``key`` names the offending one."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"{key}: {problem}")


class Clock:
    """Experiment time in ms: wall time since ``epoch_s`` divided by ``scale``.

    ``scale`` > 1 is slow motion: every emulated millisecond takes ``scale`` wall milliseconds, which makes the
    fixed costs of a live control plane (API round trips, watch delivery) small against service times. Uses
    ``time.time`` so that separate processes on one machine share the clock given the same epoch.
    """

    def __init__(self, epoch_s: float | None = None, scale: float = 1.0):
        if not (scale > 0 and math.isfinite(scale)):
            raise SynergAIError(f"backend.time_scale: must be a positive number, got {scale!r}")
        self.epoch_s = time.time() if epoch_s is None else epoch_s
        self.scale = scale

    def now_ms(self) -> float:
        return (time.time() - self.epoch_s) * 1000.0 / self.scale

    def wall_s(self, t_ms: float) -> float:
        """The wall-clock time (time.time) at which experiment time ``t_ms`` arrives."""
        return self.epoch_s + t_ms * self.scale / 1000.0

    def wall_delay_s(self, dt_ms: float) -> float:
        return max(0.0, dt_ms) * self.scale / 1000.0

    def annotation(self) -> str:
        """This clock as the ``synergai.io/clock`` annotation value."""
        return f"epoch_s={self.epoch_s!r},scale={self.scale!r}"

    def check(self, value: str) -> None:
        """Raise InvalidObject unless ``value`` (a pod's clock annotation) is this clock."""
        key = f"annotation {N.ANN_CLOCK}"
        try:
            kv = dict(part.split("=", 1) for part in value.split(","))
            epoch, scale = float(kv["epoch_s"]), float(kv["scale"])
        except (ValueError, KeyError):
            raise InvalidObject(key, f"expected 'epoch_s=<unix s>,scale=<factor>', got {value!r}") from None
        if abs(epoch - self.epoch_s) > 1e-3 or abs(scale - self.scale) > 1e-9 * max(1.0, scale):
            raise InvalidObject(key, f"the pod's times are on epoch_s={epoch!r}, scale={scale!r}; this scheduler "
                                     f"runs epoch_s={self.epoch_s!r}, scale={self.scale!r} (start it with "
                                     f"--epoch-s {epoch!r} --time-scale {scale!r})")


# ----------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class NodeState:
    """What the scheduler needs of a Node object: the domain node and whether new pods may go there."""

    node: Node
    schedulable: bool  # Ready and not cordoned (taints are per pod: constraints.TaintToleration)
    why_not: str = ""
    facts: object = None  # constraints.NodeFacts: labels, taints, allocatable


def _quantity_int(v) -> int:
    """Whole units of a resource quantity ('2', '2500m', '4k'); fractional cores round down."""
    from kubernetes.utils import parse_quantity

    return int(math.floor(parse_quantity(str(v))))


def node_state(obj, site_tiers: dict[str, str]) -> NodeState:
    """A core/v1 Node -> NodeState. Raises InvalidObject when a SynergAI label is missing or unknown."""
    meta, spec, status = obj.metadata, obj.spec, obj.status
    labels = meta.labels or {}
    ann = meta.annotations or {}
    dt = labels.get(N.LABEL_DEVICE_TYPE)
    if not dt:
        raise InvalidObject(f"label {N.LABEL_DEVICE_TYPE}", "missing")
    site = labels.get(N.LABEL_SITE)
    if not site:
        raise InvalidObject(f"label {N.LABEL_SITE}", "missing")
    if site not in site_tiers:
        raise InvalidObject(f"label {N.LABEL_SITE}", f"unknown site {site!r} (known: {', '.join(sorted(site_tiers))})")
    tier = labels.get(N.LABEL_TIER) or site_tiers[site]
    if tier not in (EDGE, CLOUD):
        raise InvalidObject(f"label {N.LABEL_TIER}", f"must be {EDGE} or {CLOUD}, got {tier!r}")
    alloc = (status.allocatable if status and status.allocatable else None) or \
            (status.capacity if status and status.capacity else {}) or {}
    try:
        cores = _quantity_int(alloc.get("cpu", 0))
        slots = _quantity_int(alloc.get(N.RESOURCE_ACCEL, 0))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidObject("status.allocatable", f"unreadable quantity: {exc}") from None
    if cores <= 0 and slots <= 0:
        raise InvalidObject("status.allocatable", f"no cpu and no {N.RESOURCE_ACCEL}: the node can run nothing")
    modes = tuple(m for m in (ann.get(f"{N.DOMAIN}/power-modes") or "").split(",") if m)
    node = Node(meta.name, dt, tier, labels.get(N.LABEL_ARCH, "unknown"), site, cores, slots, modes)
    why = ""
    ready = None
    for c in (status.conditions or []) if status else []:
        if c.type == "Ready":
            ready = c.status
    if ready != "True":
        why = f"Ready={ready or 'missing'}"
    elif spec is not None and spec.unschedulable:
        why = "cordoned"
    from .constraints import node_facts  # taints, labels, allocatable: read per pod by the Kubernetes filters

    return NodeState(node, not why, why, node_facts(obj))


# ----------------------------------------------------------------------------- pods -> jobs
def _ann_number(ann, key, kind=float, default=None, minimum=None, positive=False):
    """A required (default None) or optional annotation parsed as ``kind``; InvalidObject names it."""
    raw = ann.get(key)
    if raw is None or raw == "":
        if default is None:
            raise InvalidObject(f"annotation {key}", "missing")
        return default
    try:
        v = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise InvalidObject(f"annotation {key}", f"not {what}: {raw!r}") from None
    if not math.isfinite(v) or (positive and v <= 0) or (minimum is not None and v < minimum):
        raise InvalidObject(f"annotation {key}", f"out of range: {raw!r}" if minimum is None
                            else f"must be >= {minimum}, got {raw!r}")
    return v


def _ann_float(ann, key, default=None, minimum=None, positive=False) -> float:
    return _ann_number(ann, key, float, default, minimum, positive)


def _ann_int(ann, key, default=None, minimum=0) -> int:
    return _ann_number(ann, key, int, default, minimum)


def pod_job(pod, job_id: int, now_ms: float, models: set[str], sites: set[str], clock: Clock | None = None,
            constraints=None) -> Job:
    """A pending pod -> the Job the policy schedules. ``job_id`` is the scheduler's own sequence number.

    ``synergai.io/arrival-ms`` is read only with ``synergai.io/clock`` naming the clock it is on, which must be
    ``clock`` (when given); without it the job arrives now.
    """
    ann = pod.metadata.annotations or {}
    if ann.get(N.ANN_ARRIVAL_MS) not in (None, ""):
        if not ann.get(N.ANN_CLOCK):
            raise InvalidObject(f"annotation {N.ANN_ARRIVAL_MS}", f"needs {N.ANN_CLOCK} (the epoch and time scale "
                                "it was read on); leave both out to mean 'arrived when the scheduler sees it'")
        if clock is not None:
            clock.check(ann[N.ANN_CLOCK])
    model = ann.get(N.ANN_MODEL)
    if not model:
        raise InvalidObject(f"annotation {N.ANN_MODEL}", "missing")
    if model not in models:
        raise InvalidObject(f"annotation {N.ANN_MODEL}", f"no trace has model {model!r}")
    origin = ann.get(N.ANN_ORIGIN_SITE)
    if not origin:
        raise InvalidObject(f"annotation {N.ANN_ORIGIN_SITE}", "missing")
    if origin not in sites:
        raise InvalidObject(f"annotation {N.ANN_ORIGIN_SITE}", f"unknown site {origin!r}")
    private = ann.get(N.ANN_PRIVATE, "false").lower()
    if private not in ("true", "false"):
        raise InvalidObject(f"annotation {N.ANN_PRIVATE}", f"must be true or false, got {private!r}")
    return Job(job_id, model, _ann_float(ann, N.ANN_QOS_MS, positive=True), origin,
               _ann_float(ann, N.ANN_ARRIVAL_MS, default=now_ms), _ann_int(ann, N.ANN_QUERIES, 1, 1),
               _ann_int(ann, N.ANN_INPUT_BYTES, 0, 0), private == "true", constraints)


def placement_annotations(pl: Placement, policy: str, decision_ms: float, with_priority: bool,
                          hold_ms: float = 0.0) -> dict[str, str]:
    """The decision as pod annotations (set on the Binding, so they land atomically with the node); ``hold_ms``:
    the ms the job waited in the scheduler's central queue (late binding)."""
    c = pl.config
    ann = {
        N.ANN_ENGINE: c.engine, N.ANN_PRECISION: c.precision, N.ANN_BATCH: str(c.batch),
        N.ANN_THREADS: str(c.threads), N.ANN_POWER_MODE: c.power_mode, N.ANN_POLICY: policy,
        N.ANN_PREDICTED_LATENCY_MS: repr(float(pl.predicted_latency_ms)),
        N.ANN_PREDICTED_SERVICE_MS: repr(float(pl.predicted_service_ms)),
        N.ANN_DECISION_MS: repr(float(decision_ms)), N.ANN_HOLD_MS: repr(float(hold_ms)),
    }
    if with_priority:
        ann[N.ANN_PRIORITY] = repr(float(pl.priority))
    return ann


def pod_config(ann: dict[str, str]) -> Config:
    """The config a bound pod runs with, as the worker / node agent reads it back."""
    for k in (N.ANN_ENGINE, N.ANN_PRECISION, N.ANN_POWER_MODE):
        if not ann.get(k):
            raise InvalidObject(f"annotation {k}", "missing")
    return Config(ann[N.ANN_ENGINE], ann[N.ANN_PRECISION], _ann_int(ann, N.ANN_BATCH, minimum=1),
                  _ann_int(ann, N.ANN_THREADS, minimum=0), ann[N.ANN_POWER_MODE])


def scheduled_false(pod) -> tuple[str, str] | None:
    """(reason, message) of the ``PodScheduled=False`` condition a SynergAI scheduler set on the pod, if any."""
    for c in (pod.status.conditions or []) if pod.status else []:
        if c.type == "PodScheduled" and c.status == "False" and (c.reason or "").startswith("SynergAI"):
            return c.reason, c.message or c.reason
    return None


def rejection(pod) -> str | None:
    """The message of a SynergAI scheduler's rejection of the pod, if any (``SynergAIHeld`` is none: a held pod
    still waits for a node)."""
    c = scheduled_false(pod)
    return c[1] if c is not None and c[0] != N.REASON_HELD else None


def ann_float(ann, key, default=math.nan) -> float:
    """Lenient read for result annotations: NaN when absent or unreadable."""
    try:
        return float(ann.get(key, default))
    except (TypeError, ValueError):
        return default
