"""A pod's placement constraints and the Kubernetes filters that enforce them, as kube-scheduler's do.

``pod_constraints(pod)`` reads what kube-scheduler's filter plugins read into one hashable ``PodConstraints``
(it travels in ``Job.constraints``): the node selector (NodeAffinity plugin), required node affinity
(NodeAffinity), tolerations (TaintToleration), and resource requests (NodeResourcesFit: the sum of the
containers' requests, at least every init container's, plus the pod overhead, plus one ``pods`` slot). The
filters below implement ``synergai.filters.Filter``; ``NodeResourcesFit`` is dynamic: it compares the requests
with the node's allocatable minus what every pod on the node requests (``Ledger``), whoever scheduled them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from synergai.filters import OK, Code, Status

from .convert import InvalidObject

# ----------------------------------------------------------------------------- data
Expr = tuple[str, str, tuple[str, ...]]  # (key, operator, values)
Term = tuple[tuple[Expr, ...], tuple[Expr, ...]]  # (matchExpressions on labels, matchFields)
Toleration = tuple[str, str, str, str]  # (key, operator, value, effect)


@dataclass(frozen=True)
class PodConstraints:
    node_selector: tuple[tuple[str, str], ...] = ()
    affinity: tuple[Term, ...] | None = None  # None: no required node affinity
    tolerations: tuple[Toleration, ...] = ()
    requests: tuple[tuple[str, int], ...] = ()  # (resource, milli-units), "pods" included
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self):  # a filter-cache key on every decision: hash once
        object.__setattr__(self, "_hash", hash((self.node_selector, self.affinity, self.tolerations,
                                                self.requests)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True)
class NodeFacts:
    """What the Kubernetes filters read of a Node."""

    name: str
    labels: tuple[tuple[str, str], ...]
    taints: tuple[tuple[str, str, str], ...]  # (key, value, effect)
    allocatable: tuple[tuple[str, int], ...]  # (resource, milli-units)


def milli(q) -> int:
    """A quantity ('2', '500m', '1Gi') in thousandths of its unit, rounded up (requests) as kube does."""
    from kubernetes.utils import parse_quantity

    return int(math.ceil(parse_quantity(str(q)) * 1000))


def _requests(spec, where: str) -> dict[str, int]:
    total: dict[str, int] = {}
    try:
        for c in spec.containers or []:
            for r, q in ((c.resources.requests if c.resources else None) or {}).items():
                total[r] = total.get(r, 0) + milli(q)
        for c in spec.init_containers or []:  # init containers run one at a time, before the others
            for r, q in ((c.resources.requests if c.resources else None) or {}).items():
                total[r] = max(total.get(r, 0), milli(q))
        for r, q in (spec.overhead or {}).items():
            total[r] = total.get(r, 0) + milli(q)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidObject(where, f"unreadable quantity: {exc}") from None
    total["pods"] = 1000
    return {r: v for r, v in total.items() if v > 0}


def pod_constraints(pod) -> PodConstraints:
    spec = pod.spec
    sel = tuple(sorted((spec.node_selector or {}).items()))
    aff = None
    na = spec.affinity.node_affinity if spec.affinity else None
    req = na.required_during_scheduling_ignored_during_execution if na else None
    if req is not None:
        aff = tuple((tuple((e.key, e.operator, tuple(e.values or ())) for e in (t.match_expressions or [])),
                     tuple((e.key, e.operator, tuple(e.values or ())) for e in (t.match_fields or [])))
                    for t in (req.node_selector_terms or []))
    tol = tuple((t.key or "", t.operator or "Equal", t.value or "", t.effect or "") for t in (spec.tolerations or []))
    return PodConstraints(sel, aff, tol, tuple(sorted(_requests(spec, "spec.containers[].resources").items())))


def node_facts(obj) -> NodeFacts:
    meta, spec, status = obj.metadata, obj.spec, obj.status
    alloc = (status.allocatable if status and status.allocatable else None) or \
            (status.capacity if status and status.capacity else {}) or {}
    try:
        a = tuple(sorted((r, milli(q)) for r, q in alloc.items()))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidObject("status.allocatable", f"unreadable quantity: {exc}") from None
    taints = tuple((t.key, t.value or "", t.effect) for t in ((spec.taints or []) if spec else []))
    return NodeFacts(meta.name, tuple(sorted((meta.labels or {}).items())), taints, a)


# ----------------------------------------------------------------------------- matching (kube semantics)
def _match_expr(op: str, values: tuple[str, ...], have: str | None) -> bool:
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt"):
        try:
            h, v = int(have), int(values[0])
        except (TypeError, ValueError, IndexError):
            return False
        return h > v if op == "Gt" else h < v
    return False  # an unknown operator matches nothing (the apiserver rejects it anyway)


def _match_term(term: Term, labels: dict, name: str) -> bool:
    exprs, fields = term
    if not exprs and not fields:  # kube: an empty term matches no objects
        return False
    return all(_match_expr(op, vals, labels.get(k)) for k, op, vals in exprs) and \
        all(_match_expr(op, vals, name if k == "metadata.name" else None) for k, op, vals in fields)


def tolerates(tol: Toleration, taint: tuple[str, str, str]) -> bool:
    key, op, value, effect = tol
    tkey, tvalue, teffect = taint
    if effect and effect != teffect:
        return False
    if key and key != tkey:
        return False
    if op == "Exists":
        return True
    return op in ("Equal", "") and value == tvalue


# ----------------------------------------------------------------------------- filters
class _NodeFilter:
    """Base for filters that read node facts by name (``facts``: node name -> NodeFacts, set by the scheduler)."""

    static = True

    def __init__(self, facts: dict[str, NodeFacts]):
        self.facts = facts

    def check(self, job, node, entry=None) -> Status:
        c, f = job.constraints, self.facts.get(node.name)
        if c is None or f is None:
            return OK
        return self._check(c, f)


class NodeSelector(_NodeFilter):
    """spec.nodeSelector: every label must be on the node with that value."""

    name = "NodeSelector"

    def _check(self, c: PodConstraints, f: NodeFacts) -> Status:
        if c.node_selector:
            labels = dict(f.labels)
            if any(labels.get(k) != v for k, v in c.node_selector):
                return Status(Code.UNRESOLVABLE, "node(s) didn't match Pod's node selector", self.name)
        return OK


class NodeAffinity(_NodeFilter):
    """requiredDuringSchedulingIgnoredDuringExecution: at least one nodeSelectorTerm must match."""

    name = "NodeAffinity"

    def _check(self, c, f):
        if c.affinity is not None:
            labels = dict(f.labels)
            if not any(_match_term(t, labels, f.name) for t in c.affinity):
                return Status(Code.UNRESOLVABLE, "node(s) didn't match Pod's node affinity", self.name)
        return OK


class TaintToleration(_NodeFilter):
    """Every NoSchedule and NoExecute taint of the node must be tolerated (PreferNoSchedule is a preference)."""

    name = "TaintToleration"

    def _check(self, c, f):
        for taint in f.taints:
            if taint[2] in ("NoSchedule", "NoExecute") and not any(tolerates(t, taint) for t in c.tolerations):
                v = f"={taint[1]}" if taint[1] else ""
                return Status(Code.UNRESOLVABLE, f"node(s) had taint {{{taint[0]}{v}: {taint[2]}}}, that the pod "
                                                 "didn't tolerate", self.name)
        return OK


class Ledger:
    """Requests of every pod bound (or being bound) to a node, by pod uid: what kube-scheduler calls
    'requested'. Terminal pods hold nothing (their containers are gone)."""

    def __init__(self):
        self.holds: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
        self.used: dict[str, dict[str, int]] = {}

    def hold(self, uid: str, node: str, requests) -> None:
        old = self.holds.get(uid)
        if old == (node, requests):
            return
        if old is not None:
            self.release(uid)
        self.holds[uid] = (node, requests)
        u = self.used.setdefault(node, {})
        for r, v in requests:
            u[r] = u.get(r, 0) + v

    def release(self, uid: str) -> bool:
        old = self.holds.pop(uid, None)
        if old is None:
            return False
        u = self.used.get(old[0], {})
        for r, v in old[1]:
            u[r] = u.get(r, 0) - v
        return True


class NodeResourcesFit(_NodeFilter):
    """Requests <= allocatable - what every pod on the node requests (dynamic: depends on the node's pods)."""

    name, static = "NodeResourcesFit", False

    def __init__(self, facts, ledger: Ledger):
        super().__init__(facts)
        self.ledger = ledger

    def _check(self, c, f):
        if not c.requests:
            return OK
        alloc = dict(f.allocatable)
        used = self.ledger.used.get(f.name, {})
        short = []
        never = True
        for r, v in c.requests:
            have = alloc.get(r, 0)
            if have - used.get(r, 0) < v:
                short.append(r)
                never = never and have < v
        if not short:
            return OK
        what = ", ".join("Too many pods" if r == "pods" else f"Insufficient {r}" for r in short)
        return Status(Code.UNRESOLVABLE if never else Code.UNSCHEDULABLE, what, self.name)


def pod_filters(facts: dict[str, NodeFacts], ledger: Ledger) -> tuple:
    """The Kubernetes filters, in kube-scheduler's order (cheap static ones first, resources last)."""
    return (NodeSelector(facts), NodeAffinity(facts), TaintToleration(facts), NodeResourcesFit(facts, ledger))
